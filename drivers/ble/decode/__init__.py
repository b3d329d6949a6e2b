"""Pure decoding of one advertisement: bytes or bleak's fields -> ``Decoded``.

The steps, each in its module, none reading a clock or keeping state:

- ``ad_structures``: raw advertising data -> AD structures (``parse_ad``);
- ``normalize``: either form (AD structures, or bleak's parsed ``AdvertisementData``
  and the replay's JSON lines) -> the one canonical ``Fields`` the decoders read;
- ``beacons`` (iBeacon, AltBeacon, Eddystone), ``vendors`` (Apple Continuity,
  Microsoft CDP, Google) and ``classify`` (device class, stable features): the
  per-format decoders;
- ``advertisement``: the entry points, which pick the format that wins;
- ``decoded``: the result, ``Decoded``, and its JSON contract (``to_json``);
- ``address``: the kind of a device address (public, static, resolvable...).

``drivers.ble.cached_decoder.BleDecoder`` wraps these with caches and counters.
"""

from drivers.ble.decode.ad_structures import AdStructures, canonical_uuid, encode_ad, parse_ad
from drivers.ble.decode.address import ADDRESS_KINDS, address_kind
from drivers.ble.decode.advertisement import (
    AdvertisementLike,
    decode_ad,
    decode_advertisement,
    decode_fields,
    decode_hex,
)
from drivers.ble.decode.decoded import CONTRACT_FIELDS, DEVICE_CLASSES, KINDS, Decoded, to_json

__all__ = [
    "ADDRESS_KINDS",
    "CONTRACT_FIELDS",
    "DEVICE_CLASSES",
    "KINDS",
    "AdStructures",
    "AdvertisementLike",
    "Decoded",
    "address_kind",
    "canonical_uuid",
    "decode_ad",
    "decode_advertisement",
    "decode_fields",
    "decode_hex",
    "encode_ad",
    "parse_ad",
    "to_json",
]
