"""What bleak reports about one advertisement -> an ``Advert`` observation.

The same builder serves the live scanner (``source.BleScannerSource``) and the
replay of a recording (``recording.BleRecord``), so both give the same adverts for
the same reports. The address is replaced here by a keyed pseudonym from the
pipeline's ``Pseudonymizer`` (the one Wi-Fi MACs use, with its key and rotation),
over a distinct input: ``b"\\x00ble:"`` and the address, so a Bluetooth address can
never give the pseudonym of a Wi-Fi MAC (a phone's two radios often have nearly the
same address). The local name, the address and every rotating identifier stay here;
only the decoded kind, class, features hash, company id and beacon identity leave.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, Final, Protocol

from drivers.ble.cached_decoder import BleDecoder
from drivers.ble.decode.address import address_kind
from drivers.ble.decode.advertisement import AdvertisementLike
from drivers.ble.decode.decoded import ALTBEACON, EDDYSTONE_UID, IBEACON, Decoded
from drivers.ble.recording import BleRecord
from drivers.observations import Advert
from drivers.privacy import Pseudonymizer

__all__ = [
    "ADDRESS_DOMAIN",
    "AdvertBuilder",
    "DeviceLike",
    "ReportLike",
    "address_type_of",
    "beacon_identity",
]

ADDRESS_DOMAIN: Final = b"\x00ble:"
"""Prefix of a Bluetooth address before pseudonymization (Wi-Fi MACs have none)."""
_HEX: Final = frozenset("0123456789abcdefABCDEF")
_CACHE_LIMIT: Final = 20_000


class DeviceLike(Protocol):
    """What bleak's ``BLEDevice`` offers."""

    @property
    def address(self) -> str: ...
    @property
    def details(self) -> Any: ...


class ReportLike(AdvertisementLike, Protocol):
    """What bleak's ``AdvertisementData`` offers, with the RSSI."""

    @property
    def rssi(self) -> int: ...


def beacon_identity(decoded: Decoded) -> str | None:
    """``uuid:major:minor`` of an iBeacon or AltBeacon, ``namespace:instance`` of an
    Eddystone-UID; None for anything else (the forms of fixed_beacons and staff_tags)."""
    if decoded.kind in (IBEACON, ALTBEACON) and decoded.uuid is not None:
        return f"{decoded.uuid}:{decoded.major}:{decoded.minor}"
    if decoded.kind == EDDYSTONE_UID and decoded.namespace is not None:
        return f"{decoded.namespace}:{decoded.instance}"
    return None


def address_type_of(device: DeviceLike) -> str | None:
    """BlueZ's ``AddressType`` (``public``/``random``) from a ``BLEDevice``, if known."""
    details = device.details
    if isinstance(details, dict):
        props = details.get("props")
        if isinstance(props, dict):
            value = props.get("AddressType")
            return value if isinstance(value, str) else None
    return None


class AdvertBuilder:
    """Builds the adverts of one sensor; counts what it received and rejected."""

    def __init__(
        self, sensor: str, pseudonymizer: Pseudonymizer, decoder: BleDecoder | None = None
    ) -> None:
        self.sensor = sensor
        self.pseudonymizer = pseudonymizer
        self.decoder = decoder or BleDecoder()
        self.frames = 0
        """Advertisements received (the rate `mallsense status` shows)."""
        self.adverts = 0
        self.rejected: Counter[str] = Counter()
        self.address_kinds: Counter[str] = Counter()
        self._inputs: dict[str, tuple[bytes, str]] = {}
        """(address, type) -> (pseudonymizer input, address kind); raw, never persisted."""

    def build(
        self,
        t: float,
        address: str,
        address_type: str | None,
        rssi: int | None,
        manufacturer_data: Mapping[int, bytes],
        service_data: Mapping[str, bytes],
        service_uuids: Iterable[str],
        local_name: str | None = None,
        tx_power: int | None = None,
    ) -> Advert | None:
        """One advertisement -> an Advert; None (counted) without a usable address."""
        self.frames += 1
        key = self._input(address, address_type)
        if key is None:
            self.rejected["no_address"] += 1
            return None
        data, kind = key
        decoded = self.decoder.decode_fields(
            manufacturer_data, service_data, service_uuids, local_name, tx_power
        )
        self.adverts += 1
        self.address_kinds[kind] += 1
        return Advert(
            t,
            self.sensor,
            self.pseudonymizer.pseudonym(data, t),
            kind,
            rssi if rssi is not None and -127 < rssi <= 20 else None,
            decoded.kind,
            decoded.device_class,
            decoded.features,
            decoded.company_id,
            beacon_identity(decoded),
        )

    def from_bleak(self, t: float, device: DeviceLike, adv: ReportLike) -> Advert | None:
        """A bleak detection callback's (BLEDevice, AdvertisementData) at time ``t``."""
        return self.build(
            t,
            device.address,
            address_type_of(device),
            adv.rssi,
            adv.manufacturer_data,
            adv.service_data,
            adv.service_uuids,
            adv.local_name,
            adv.tx_power,
        )

    def from_record(self, r: BleRecord) -> Advert | None:
        """One line of a recording."""
        return self.build(
            r.t, r.address, r.address_type, r.rssi, r.manufacturer_data, r.service_data,
            r.service_uuids, r.local_name, r.tx_power,
        )  # fmt: skip

    def _input(self, address: str, address_type: str | None) -> tuple[bytes, str] | None:
        cache_key = f"{address}/{address_type}"
        cached = self._inputs.get(cache_key)
        if cached is not None:
            return cached
        text = address.strip()
        if not text:
            return None
        digits = text.replace(":", "").replace("-", "")
        if len(digits) == 12 and _HEX.issuperset(digits):
            raw = bytes.fromhex(digits)  # a MAC-style address: its 6 octets
        else:
            raw = text.upper().encode()  # macOS reports a UUID per device instead
        result = (ADDRESS_DOMAIN + raw, address_kind(text, address_type))
        if len(self._inputs) >= _CACHE_LIMIT:
            self._inputs.clear()
        self._inputs[cache_key] = result
        return result

    def stats(self) -> dict[str, object]:
        """Counters for status, telemetry and the replay summary."""
        return {
            "frames": self.frames,
            "adverts": self.adverts,
            "rejected": dict(self.rejected),
            "address_kinds": dict(self.address_kinds),
        }
