"""One advertisement -> ``Decoded``, from raw AD bytes or from bleak's parsed form.

Both entry points go through ``normalize_fields`` and ``decode_normalized``, so
``decode_ad(raw)`` equals ``decode_fields(...)`` of bleak's fields of the same
advertisement (whenever ``raw`` holds at least one well-framed AD structure). These
functions are pure and uncached; ``drivers.ble.cached_decoder.BleDecoder`` adds caches and counters.

Which format wins when an advertisement carries several (first match):
iBeacon (Apple company data, ``0x02 0x15``), AltBeacon (any company, ``0xBEAC``),
Eddystone (service data 0xFEAA, unless malformed), Apple Continuity, Microsoft CDP,
Google Fast Pair (0xFE2C), Exposure Notification (0xFD6F), Google company data, any
other company's data (the lowest company id), else ``unknown`` (with the subtype of
a malformed Eddystone frame, if that is why). An iBeacon or AltBeacon that also
carries an Eddystone TLM frame (BlueCharm beacons send both; BlueZ merges them)
gets the TLM's battery and temperature.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final, Protocol

from drivers.ble.decode.ad_structures import parse_ad, uuid16
from drivers.ble.decode.beacons import (
    APPLE_COMPANY_ID,
    decode_altbeacon,
    decode_eddystone,
    decode_ibeacon,
    telemetry_of,
)
from drivers.ble.decode.classify import device_class, feature_tuple, features_hash
from drivers.ble.decode.decoded import ALTBEACON, IBEACON, UNKNOWN, Decoded
from drivers.ble.decode.normalize import Fields, fields_from_ad, normalize_fields
from drivers.ble.decode.vendors import (
    GOOGLE_COMPANY_ID,
    MICROSOFT_COMPANY_ID,
    decode_apple,
    decode_exposure_notification,
    decode_fast_pair,
    decode_google_company,
    decode_microsoft,
    decode_unknown_company,
)

__all__ = [
    "EDDYSTONE_SERVICE",
    "EXPOSURE_NOTIFICATION_SERVICE",
    "FAST_PAIR_SERVICE",
    "AdvertisementLike",
    "decode_ad",
    "decode_advertisement",
    "decode_fields",
    "decode_hex",
    "decode_normalized",
]

EDDYSTONE_SERVICE: Final = uuid16(0xFEAA)
FAST_PAIR_SERVICE: Final = uuid16(0xFE2C)
EXPOSURE_NOTIFICATION_SERVICE: Final = uuid16(0xFD6F)
_HEX_JUNK: Final = str.maketrans("", "", " :-_\t\n")


class AdvertisementLike(Protocol):
    """What ``bleak.backends.scanner.AdvertisementData`` offers (read-only)."""

    @property
    def manufacturer_data(self) -> Mapping[int, bytes]: ...
    @property
    def service_data(self) -> Mapping[str, bytes]: ...
    @property
    def service_uuids(self) -> Iterable[str]: ...
    @property
    def local_name(self) -> str | None: ...
    @property
    def tx_power(self) -> int | None: ...


def decode_normalized(fields: Fields) -> Decoded:
    """Decode canonical fields: the format, then the device class and features."""
    result = _merge_telemetry(fields, _primary(fields))
    return result._replace(
        device_class=device_class(fields, result),
        features=features_hash(feature_tuple(fields, result)),
    )


def _primary(fields: Fields) -> Decoded:
    md = fields.manufacturer_data
    tx = fields.tx_power
    companies = sorted(md)
    apple = md.get(APPLE_COMPANY_ID)
    beacon = _beacon(md, companies, apple)
    if beacon is not None:
        return beacon
    frame = fields.service_data.get(EDDYSTONE_SERVICE)
    eddystone = decode_eddystone(frame, tx) if frame is not None else None
    if eddystone is not None and eddystone.kind != UNKNOWN:
        return eddystone
    if apple is not None:
        return decode_apple(apple, tx)
    if MICROSOFT_COMPANY_ID in md:
        return decode_microsoft(md[MICROSOFT_COMPANY_ID], tx)
    other = _google_or_other(fields, companies)
    if eddystone is not None and other.kind == UNKNOWN:  # keep why FEAA was not decoded
        return other._replace(subtype=eddystone.subtype)
    return other


def _beacon(md: dict[int, bytes], companies: list[int], apple: bytes | None) -> Decoded | None:
    if apple is not None:
        ibeacon = decode_ibeacon(apple)
        if ibeacon is not None:
            return ibeacon
    for company in companies:
        altbeacon = decode_altbeacon(company, md[company])
        if altbeacon is not None:
            return altbeacon
    return None


def _google_or_other(fields: Fields, companies: list[int]) -> Decoded:
    md = fields.manufacturer_data
    sd = fields.service_data
    tx = fields.tx_power
    if FAST_PAIR_SERVICE in sd:
        return decode_fast_pair(sd[FAST_PAIR_SERVICE], tx)
    if EXPOSURE_NOTIFICATION_SERVICE in sd:
        return decode_exposure_notification(sd[EXPOSURE_NOTIFICATION_SERVICE], tx)
    if GOOGLE_COMPANY_ID in md:
        return decode_google_company(md[GOOGLE_COMPANY_ID], tx)
    if companies:
        return decode_unknown_company(companies[0], md[companies[0]], tx)
    return Decoded(kind=UNKNOWN, tx_power=tx)


def _merge_telemetry(fields: Fields, result: Decoded) -> Decoded:
    frame = fields.service_data.get(EDDYSTONE_SERVICE)
    if frame is None or result.kind not in (IBEACON, ALTBEACON):
        return result
    battery, temperature = telemetry_of(frame)
    if battery is None and temperature is None:
        return result
    return result._replace(battery_mv=battery, temperature_c=temperature)


def decode_fields(
    manufacturer_data: Mapping[int, bytes],
    service_data: Mapping[str, bytes],
    service_uuids: Iterable[str],
    local_name: str | None = None,
    tx_power: int | None = None,
) -> Decoded:
    """Decode bleak's parsed form (``AdvertisementData`` fields, replay JSON lines).

    RSSI and the address are properties of the reception, not of the payload: they
    do not change the decoding (see ``address.address_kind`` for the address type).
    """
    fields = normalize_fields(manufacturer_data, service_data, service_uuids, local_name, tx_power)
    return decode_normalized(fields)


def decode_advertisement(adv: AdvertisementLike) -> Decoded:
    """Decode a bleak ``AdvertisementData`` (or anything with its five fields)."""
    return decode_fields(
        adv.manufacturer_data, adv.service_data, adv.service_uuids, adv.local_name, adv.tx_power
    )


def decode_ad(data: bytes) -> Decoded | None:
    """Decode raw advertising data; None when no AD structure could be read."""
    ad = parse_ad(data)
    if not ad.structures:
        return None
    return decode_normalized(fields_from_ad(ad))


def decode_hex(text: str) -> Decoded | None:
    """``decode_ad`` of a hex string (spaces, colons, dashes and ``0x`` allowed);
    None when it is not hex or holds no AD structure."""
    cleaned = text.translate(_HEX_JUNK)
    if cleaned[:2].lower() == "0x":
        cleaned = cleaned[2:]
    try:
        data = bytes.fromhex(cleaned)
    except ValueError:
        return None
    return decode_ad(data)
