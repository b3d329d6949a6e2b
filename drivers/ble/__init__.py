"""Bluetooth LE advertisements: pure decoding (AD structures, beacons, vendors).

``decode_ad`` / ``decode_hex`` take raw advertising data, ``decode_fields`` /
``decode_advertisement`` take bleak's parsed form; both give the same ``Decoded``.
``BleDecoder`` adds per-payload caches and counters for the scanner and the replay.
Nothing here reads a clock, touches a radio or imports from ``edge`` or ``sync``.

Around the decoder, imported from their modules: ``adverts`` (bleak's report ->
pseudonymous ``Advert``), ``recording`` (JSON lines recordings), ``scanner`` (the live
source: bleak, BlueZ, its watchdog) and ``playback`` (a recording as a bleak backend);
the last two need bleak, the rest does not.
"""

from drivers.ble.ad import AdStructures, canonical_uuid, encode_ad, parse_ad
from drivers.ble.address import ADDRESS_KINDS, address_kind
from drivers.ble.decode import (
    AdvertisementLike,
    decode_ad,
    decode_advertisement,
    decode_fields,
    decode_hex,
)
from drivers.ble.decoder import BleDecoder
from drivers.ble.result import CONTRACT_FIELDS, DEVICE_CLASSES, KINDS, Decoded, to_json

__all__ = [
    "ADDRESS_KINDS",
    "CONTRACT_FIELDS",
    "DEVICE_CLASSES",
    "KINDS",
    "AdStructures",
    "AdvertisementLike",
    "BleDecoder",
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
