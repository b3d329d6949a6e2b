"""The decoded form of one advertisement, and its JSON contract.

``mallsense ble decode HEX --json`` prints ``to_json(decoded)``. The names in
``CONTRACT_FIELDS`` and the values of ``KINDS`` are a contract with the central
platform (issue 5): always present, ``null`` when the kind has no such field. The
other names are additions and may grow.
"""

from __future__ import annotations

from typing import Final, NamedTuple

__all__ = [
    "ALTBEACON",
    "APPLE",
    "BEACON_KINDS",
    "CONTRACT_FIELDS",
    "DEVICE_CLASSES",
    "EDDYSTONE_EID",
    "EDDYSTONE_TLM",
    "EDDYSTONE_UID",
    "EDDYSTONE_URL",
    "GOOGLE",
    "IBEACON",
    "KINDS",
    "MICROSOFT",
    "UNKNOWN",
    "Decoded",
    "to_json",
]

IBEACON: Final = "ibeacon"
EDDYSTONE_UID: Final = "eddystone_uid"
EDDYSTONE_URL: Final = "eddystone_url"
EDDYSTONE_TLM: Final = "eddystone_tlm"
EDDYSTONE_EID: Final = "eddystone_eid"
ALTBEACON: Final = "altbeacon"
APPLE: Final = "apple"
MICROSOFT: Final = "microsoft"
GOOGLE: Final = "google"
UNKNOWN: Final = "unknown"

KINDS: Final = (
    IBEACON,
    EDDYSTONE_UID,
    EDDYSTONE_URL,
    EDDYSTONE_TLM,
    EDDYSTONE_EID,
    ALTBEACON,
    APPLE,
    MICROSOFT,
    GOOGLE,
    UNKNOWN,
)
BEACON_KINDS: Final = frozenset(
    {IBEACON, EDDYSTONE_UID, EDDYSTONE_URL, EDDYSTONE_TLM, EDDYSTONE_EID, ALTBEACON}
)
DEVICE_CLASSES: Final = ("phone", "wearable", "earbuds", "beacon", "tag", "computer", "unknown")

CONTRACT_FIELDS: Final = (
    "kind",
    "uuid",
    "major",
    "minor",
    "tx_power",
    "namespace",
    "instance",
    "url",
    "battery_mv",
    "temperature_c",
    "company_id",
)


class Decoded(NamedTuple):
    """What one advertisement says, decoded; the same for equal payloads.

    Built only from what bleak also reports (manufacturer data, service data, service
    UUIDs, TX power level, whether a name is present), so decoding the raw AD
    structures and decoding bleak's parsed form of them give equal values.
    """

    kind: str
    """One of ``KINDS``."""
    subtype: str | None = None
    """Finer type: Apple's first Continuity message, Microsoft's device type, the
    Google service (``fast_pair``, ``fast_pair_account``, ``exposure_notification``,
    ``find_hub``), ``encrypted`` for an encrypted Eddystone TLM."""
    company_id: int | None = None
    """Bluetooth SIG company identifier of the manufacturer data that was decoded."""
    uuid: str | None = None
    """iBeacon proximity UUID, or the first 16 octets of an AltBeacon beacon id."""
    major: int | None = None
    minor: int | None = None
    tx_power: int | None = None
    """dBm: the beacon's calibrated power when the frame carries one (iBeacon measured
    power at 1 m, Eddystone ranging data at 0 m, AltBeacon reference RSSI at 1 m),
    otherwise the advertisement's TX power level (CSS Part A §1.5), else None."""
    namespace: str | None = None
    """Eddystone-UID namespace, 20 hex digits."""
    instance: str | None = None
    """Eddystone-UID instance, 12 hex digits."""
    url: str | None = None
    battery_mv: int | None = None
    temperature_c: float | None = None
    adv_count: int | None = None
    """Eddystone TLM: advertisements sent since boot."""
    uptime_s: float | None = None
    """Eddystone TLM: time since boot, seconds (0.1 s resolution)."""
    identifier: str | None = None
    """A rotating identifier (Eddystone EID, Exposure Notification RPI, Find Hub EID).
    Like an address, it must not be stored or sent: it is for diagnostics only."""
    metadata: str | None = None
    """Exposure Notification associated encrypted metadata, hex."""
    model_id: str | None = None
    """Fast Pair model id, or Apple proximity-pairing device model, hex."""
    apple_types: tuple[str, ...] = ()
    """Names of the Apple Continuity messages, in order."""
    payload_len: int | None = None
    """Length of the manufacturer payload (after the company id) that was decoded."""
    device_class: str = "unknown"
    """A guess for aggregation, one of ``DEVICE_CLASSES`` (see ``classify``)."""
    features: str = ""
    """Hash of the stable payload features, to group rotating addresses (``classify``)."""


def to_json(decoded: Decoded) -> dict[str, object]:
    """The ``--json`` form: contract fields first, then the others; tuples as lists."""
    values = decoded._asdict()
    out: dict[str, object] = {name: values.pop(name) for name in CONTRACT_FIELDS}
    for name, value in values.items():
        out[name] = list(value) if isinstance(value, tuple) else value
    return out
