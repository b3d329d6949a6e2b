"""Device class guess and stable payload features (pure, total).

``device_class`` is a coarse guess for aggregation, taken from the first rule that
gives an answer:

1. beacon frames (iBeacon, AltBeacon, Eddystone) -> ``beacon``;
2. Apple Continuity, by the messages present: proximity pairing -> ``earbuds``; Find
   My, by the device-type bits 4-5 of its status octet (Heinrich et al., "Who Can
   Find My Devices?", PETS 2021; the AirGuard scanner's filters): 1 AirTag and 2 Find
   My accessory -> ``tag``, 3 AirPods -> ``earbuds``, 0 Apple device -> ``phone``;
   magic switch -> ``wearable``; a lone 5-octet Nearby Info whose data-flags octet,
   bit 7 masked, is 0x18 -> ``wearable`` (Apple Watch, the rule of the Theengs
   decoder's observations); other Nearby Info, Handoff, AirDrop, Nearby Action, Hey
   Siri, tethering, AirPlay source -> ``phone``; AirPlay target -> ``computer``;
3. Microsoft CDP device type: iPhone, iPad, Android, Windows phone -> ``phone``;
   Windows desktop/laptop/tablet, Linux, Xbox, Surface Hub, Windows IoT -> ``computer``;
4. Google: Fast Pair (a provider: headphones in practice) -> ``earbuds``; Exposure
   Notification (phones only) -> ``phone``; Find Hub accessory -> ``tag``;
5. service UUIDs: Tile (0xFEED, 0xFEEC, 0xFD84), Samsung Find (0xFD5A), Chipolo
   (0xFE33) -> ``tag``; Estimote (0xFE9A) -> ``beacon``; Heart Rate (0x180D) -> ``wearable``;
6. company ids: Estimote (0x015D) -> ``beacon``; Garmin (0x0087) -> ``wearable``;
7. otherwise ``unknown``. Tablets count as phones, Macs with a phone's messages as
   phones: the classes are for presence figures, not inventories.

``feature_tuple`` keeps what a device repeats across its rotating resolvable private
addresses (Core Vol 6, Part B, §1.3.2.2): the kind, the company ids, the set of
service UUIDs (listed and with data), the TX power level, whether a name is sent,
and per vendor the stable parts only (Apple: Nearby Info length, proximity-pairing
model, Find My device type, magic switch; Microsoft: device type; Google: service
and model id; beacons: their ids and URL). Transient Apple messages (Handoff, AirDrop,
Nearby Action ...) and every rotating identifier are left out. ``features`` is its
64-bit BLAKE2b, hex.
"""

from __future__ import annotations

import hashlib
from typing import Final

from drivers.ble.decode.ad_structures import uuid16
from drivers.ble.decode.decoded import APPLE, BEACON_KINDS, GOOGLE, MICROSOFT, UNKNOWN, Decoded
from drivers.ble.decode.normalize import Fields
from drivers.ble.decode.vendors import APPLE_NEARBY_INFO, apple_messages

__all__ = ["device_class", "feature_tuple", "features_hash"]

_APPLE: Final = 0x004C
_PROXIMITY_PAIRING: Final = 0x07
_FIND_MY: Final = 0x12
_MAGIC_SWITCH: Final = 0x0B
_AIRPLAY_TARGET: Final = 0x09
_PHONE_MESSAGES: Final = frozenset({0x05, 0x08, 0x0A, 0x0C, 0x0D, 0x0E, 0x0F, APPLE_NEARBY_INFO})
_FIND_MY_DEVICE: Final = ("phone", "tag", "tag", "earbuds")
_WATCH_FLAGS: Final = 0x18

_MICROSOFT_PHONES: Final = frozenset({"iphone", "ipad", "android", "windows_phone"})
_MICROSOFT_COMPUTERS: Final = frozenset(
    {
        "windows_desktop",
        "windows_laptop",
        "windows_tablet",
        "linux",
        "xbox_one",
        "surface_hub",
        "windows_iot",
    }
)
_GOOGLE_CLASS: Final = {
    "fast_pair": "earbuds",
    "fast_pair_account": "earbuds",
    "exposure_notification": "phone",
    "find_hub": "tag",
}
_SERVICE_CLASS: Final = {
    uuid16(0xFEED): "tag",
    uuid16(0xFEEC): "tag",
    uuid16(0xFD84): "tag",
    uuid16(0xFD5A): "tag",
    uuid16(0xFE33): "tag",
    uuid16(0xFE9A): "beacon",
    uuid16(0x180D): "wearable",
}
_COMPANY_CLASS: Final = {0x015D: "beacon", 0x0087: "wearable"}


def device_class(fields: Fields, decoded: Decoded) -> str:
    """The device class guess (rules in the module docstring)."""
    kind = decoded.kind
    if kind in BEACON_KINDS:
        return "beacon"
    guess = UNKNOWN
    if kind == APPLE:
        guess = _apple_class(apple_messages(fields.manufacturer_data.get(_APPLE, b"")))
    elif kind == MICROSOFT:
        guess = _microsoft_class(decoded.subtype)
    elif kind == GOOGLE:
        guess = _GOOGLE_CLASS.get(decoded.subtype or "", UNKNOWN)
    if guess != UNKNOWN:
        return guess
    for uuid in sorted(fields.service_uuids | fields.service_data.keys()):
        if uuid in _SERVICE_CLASS:
            return _SERVICE_CLASS[uuid]
    for company in fields.manufacturer_data:
        if company in _COMPANY_CLASS:
            return _COMPANY_CLASS[company]
    return UNKNOWN


def _apple_class(messages: list[tuple[int, bytes]]) -> str:
    types = {message_type for message_type, _ in messages}
    if _PROXIMITY_PAIRING in types:
        return "earbuds"
    for message_type, body in messages:
        if message_type == _FIND_MY and body:
            return _FIND_MY_DEVICE[body[0] >> 4 & 0x3]
    if _MAGIC_SWITCH in types or _is_watch(messages):
        return "wearable"
    if types & _PHONE_MESSAGES:
        return "phone"
    if _AIRPLAY_TARGET in types:
        return "computer"
    return UNKNOWN


def _is_watch(messages: list[tuple[int, bytes]]) -> bool:
    if len(messages) != 1:
        return False
    message_type, body = messages[0]
    return message_type == APPLE_NEARBY_INFO and len(body) == 5 and body[1] & 0x7F == _WATCH_FLAGS


def _microsoft_class(subtype: str | None) -> str:
    if subtype in _MICROSOFT_PHONES:
        return "phone"
    if subtype in _MICROSOFT_COMPUTERS:
        return "computer"
    return UNKNOWN


def feature_tuple(fields: Fields, decoded: Decoded) -> tuple[object, ...]:
    """The stable payload features (see the module docstring)."""
    return (
        decoded.kind,
        tuple(sorted(fields.manufacturer_data)),
        tuple(sorted(fields.service_uuids | fields.service_data.keys())),
        fields.tx_power,
        fields.has_name,
        _vendor_features(fields, decoded),
    )


def _vendor_features(fields: Fields, decoded: Decoded) -> tuple[object, ...]:
    kind = decoded.kind
    if kind == APPLE:
        return _apple_features(apple_messages(fields.manufacturer_data.get(_APPLE, b"")))
    if kind in (MICROSOFT, GOOGLE):
        return (decoded.subtype, decoded.model_id)
    if kind in BEACON_KINDS:
        ids = (decoded.uuid, decoded.major, decoded.minor, decoded.namespace, decoded.instance)
        return (*ids, decoded.url)
    return (decoded.company_id, decoded.payload_len)


def _apple_features(messages: list[tuple[int, bytes]]) -> tuple[object, ...]:
    out: list[object] = []
    for message_type, body in messages:
        if message_type == APPLE_NEARBY_INFO:
            out.append(("nearby_info", len(body)))
        elif message_type == _PROXIMITY_PAIRING:
            out.append(("proximity_pairing", body[1:3].hex()))
        elif message_type == _FIND_MY:
            out.append(("find_my", len(body), body[0] >> 4 & 0x3 if body else None))
        elif message_type == _MAGIC_SWITCH:
            out.append(("magic_switch",))
    return tuple(out)


def features_hash(features: tuple[object, ...]) -> str:
    """64-bit BLAKE2b of a feature tuple, hex (repr of str/int/None/tuple is stable)."""
    return hashlib.blake2b(repr(features).encode(), digest_size=8).hexdigest()
