"""Phone and accessory adverts: Apple Continuity, Microsoft CDP, Google (pure, total).

- Apple Continuity (manufacturer data of company 0x004C): a sequence of messages,
  each a type octet, a length octet and that many octets. Apple does not publish
  it; the type names follow the reverse-engineering of Martin et al., "Handoff All
  Your Privacy" (PETS 2019), Celosia and Cunche, "Discontinued Privacy" (PETS 2020)
  and the furiousMAC/continuity dissector. Type 0x02 is the iBeacon (``beacons``).
  Messages are read up to the first one that runs past the payload.
- Microsoft Connected Devices Platform beacon (company 0x0006), [MS-CDP] §2.2.2.2.2
  "Bluetooth Advertising Beacon": scenario type (1 = Bluetooth), then version (3
  high bits) and device type (5 low bits), flags, reserved, salt, device hash.
- Google Fast Pair (service data of 0xFE2C), Fast Pair "Provider Advertising
  signal": a 3-octet model id when discoverable; otherwise version/flags 0x00 and
  account key data (``0bLLLLTTTT`` fields), or, with LE Audio, a model-id field of
  type 0b0111.
- Exposure Notification (service data of 0xFD6F), Apple/Google "Exposure
  Notification Bluetooth Specification" v1.2 §"Advertising payload": a 16-octet
  rolling proximity identifier and 4 octets of associated encrypted metadata.
"""

from __future__ import annotations

from typing import Final

from drivers.ble.decode.beacons import APPLE_COMPANY_ID
from drivers.ble.decode.decoded import APPLE, GOOGLE, MICROSOFT, UNKNOWN, Decoded

__all__ = [
    "APPLE_NEARBY_INFO",
    "APPLE_TYPE_NAMES",
    "GOOGLE_COMPANY_ID",
    "MICROSOFT_COMPANY_ID",
    "MICROSOFT_DEVICE_TYPES",
    "apple_messages",
    "decode_apple",
    "decode_exposure_notification",
    "decode_fast_pair",
    "decode_google_company",
    "decode_microsoft",
    "decode_unknown_company",
]

MICROSOFT_COMPANY_ID: Final = 0x0006
GOOGLE_COMPANY_ID: Final = 0x00E0
APPLE_PROXIMITY_PAIRING: Final = 0x07
APPLE_NEARBY_INFO: Final = 0x10

APPLE_TYPE_NAMES: Final = {
    0x02: "ibeacon",
    0x03: "airprint",
    0x05: "airdrop",
    0x06: "homekit",
    0x07: "proximity_pairing",
    0x08: "hey_siri",
    0x09: "airplay_target",
    0x0A: "airplay_source",
    0x0B: "magic_switch",
    0x0C: "handoff",
    0x0D: "tethering_target",
    0x0E: "tethering_source",
    0x0F: "nearby_action",
    0x10: "nearby_info",
    0x12: "find_my",
}
"""Continuity message types (furiousMAC/continuity; 0x12 is Find My offline finding)."""

MICROSOFT_DEVICE_TYPES: Final = {
    1: "xbox_one",
    6: "iphone",
    7: "ipad",
    8: "android",
    9: "windows_desktop",
    11: "windows_phone",
    12: "linux",
    13: "windows_iot",
    14: "surface_hub",
    15: "windows_laptop",
    16: "windows_tablet",
}
"""[MS-CDP] §2.2.2.2.2 device types (the low 5 bits of the second octet)."""

_APPLE_NAMES: Final = tuple(APPLE_TYPE_NAMES.get(t, f"type_0x{t:02x}") for t in range(256))
_FAST_PAIR_MODEL_TYPE: Final = 0b0111
_APPLE_LENGTH_MASK: Final = 0x1F
"""The length is the low 5 bits of the length octet: HomeKit puts a subtype in the
high 3 (HomeKit Accessory Protocol, BLE advertisement "SubType/Length", 0x31 =
subtype 1, 17 octets), and no legacy advertisement has room for more than 27."""


def apple_messages(payload: bytes) -> list[tuple[int, bytes]]:
    """The Continuity messages of Apple manufacturer data, up to the first overrun."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    size = len(payload)
    while pos + 2 <= size:
        end = pos + 2 + (payload[pos + 1] & _APPLE_LENGTH_MASK)
        if end > size:
            break
        out.append((payload[pos], payload[pos + 2 : end]))
        pos = end
    return out


def decode_apple(payload: bytes, tx_level: int | None) -> Decoded:
    """Apple Continuity (the iBeacon case is ``beacons.decode_ibeacon``)."""
    messages = apple_messages(payload)
    names = tuple(_APPLE_NAMES[t] for t, _ in messages)
    model: str | None = None
    for message_type, body in messages:
        if message_type == APPLE_PROXIMITY_PAIRING and len(body) >= 3:
            model = body[1:3].hex()  # after the 0x01 prefix (AirPods, Beats)
            break
    return Decoded(
        kind=APPLE,
        subtype=names[0] if names else None,
        company_id=APPLE_COMPANY_ID,
        tx_power=tx_level,
        model_id=model,
        apple_types=names,
        payload_len=len(payload),
    )


def decode_microsoft(payload: bytes, tx_level: int | None) -> Decoded:
    """A Microsoft CDP beacon; the subtype names the device type."""
    if len(payload) < 2:
        subtype = "malformed"
    elif payload[0] != 1:
        subtype = f"scenario_{payload[0]}"
    else:
        device_type = payload[1] & 0x1F
        subtype = MICROSOFT_DEVICE_TYPES.get(device_type, f"device_type_{device_type}")
    return Decoded(
        kind=MICROSOFT,
        subtype=subtype,
        company_id=MICROSOFT_COMPANY_ID,
        tx_power=tx_level,
        payload_len=len(payload),
    )


def decode_fast_pair(data: bytes, tx_level: int | None) -> Decoded:
    """Fast Pair provider service data: model id (discoverable) or account data."""
    model: str | None = None
    if len(data) == 3:
        model = data.hex()
    elif len(data) >= 2 and data[0] == 0 and data[1] & 0x0F == _FAST_PAIR_MODEL_TYPE:
        model = data[2 : 2 + (data[1] >> 4)].hex() or None
    if model is not None:
        subtype = "fast_pair"
    elif data[:1] == b"\x00":
        subtype = "fast_pair_account"
    else:
        subtype = "fast_pair_unknown"
    return Decoded(kind=GOOGLE, subtype=subtype, tx_power=tx_level, model_id=model)


def decode_exposure_notification(data: bytes, tx_level: int | None) -> Decoded:
    """Exposure Notification: rolling proximity identifier and encrypted metadata."""
    if len(data) < 20:
        return Decoded(kind=GOOGLE, subtype="exposure_notification_malformed", tx_power=tx_level)
    return Decoded(
        kind=GOOGLE,
        subtype="exposure_notification",
        tx_power=tx_level,
        identifier=data[:16].hex(),
        metadata=data[16:20].hex(),
    )


def decode_google_company(payload: bytes, tx_level: int | None) -> Decoded:
    """Manufacturer data of Google's company id (contents not decoded)."""
    return Decoded(
        kind=GOOGLE,
        subtype="manufacturer_data",
        company_id=GOOGLE_COMPANY_ID,
        tx_power=tx_level,
        payload_len=len(payload),
    )


def decode_unknown_company(company_id: int, payload: bytes, tx_level: int | None) -> Decoded:
    """Manufacturer data of a company not decoded: kept as company id and length."""
    return Decoded(kind=UNKNOWN, company_id=company_id, tx_power=tx_level, payload_len=len(payload))
