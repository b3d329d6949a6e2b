"""Beacon frames: iBeacon, AltBeacon, Eddystone (pure, total).

- iBeacon: Apple "Proximity Beacon Specification" R1, §"iBeacon advertising packet":
  manufacturer data of company 0x004C whose payload is ``0x02 0x15``, then the
  16-octet proximity UUID, major and minor (big-endian uint16) and the measured power
  at 1 m (signed octet).
- AltBeacon: AltBeacon specification v1.0: manufacturer data of any company whose
  payload is the beacon code ``0xBE 0xAC``, a 20-octet beacon id, the reference RSSI
  at 1 m (signed octet) and one reserved octet. The id is read as a 16-octet UUID and
  two big-endian uint16 (major, minor), as the AltBeacon reference library's
  ``id1/id2/id3`` layout does.
- Eddystone (google/eddystone "protocol-specification.md" and the per-frame
  specifications): service data of UUID 0xFEAA; the first octet is the frame type:
  UID 0x00 (ranging data, 10-octet namespace, 6-octet instance, 2 RFU), URL 0x10
  (ranging data, URL scheme prefix, encoded URL), TLM 0x20 (version 0x00: battery
  mV, 8.8 fixed-point temperature, advertisement count, 0.1 s time since boot, all
  big-endian; version 0x01: encrypted TLM, recognized not decoded), EID 0x30
  (ranging data, 8-octet ephemeral id). Frame types 0x40/0x41 are Google's Find Hub
  Network accessory frames (Fast Pair "Find Hub Network Accessory Specification").
"""

from __future__ import annotations

import struct
from typing import Final

from drivers.ble.decode.decoded import (
    ALTBEACON,
    EDDYSTONE_EID,
    EDDYSTONE_TLM,
    EDDYSTONE_UID,
    EDDYSTONE_URL,
    GOOGLE,
    IBEACON,
    UNKNOWN,
    Decoded,
)

__all__ = [
    "APPLE_COMPANY_ID",
    "decode_altbeacon",
    "decode_eddystone",
    "decode_ibeacon",
    "format_uuid",
    "telemetry_of",
]

APPLE_COMPANY_ID: Final = 0x004C
_IBEACON_PREFIX: Final = b"\x02\x15"
_IBEACON: Final = struct.Struct(">16sHHb").unpack_from
_ALTBEACON_CODE: Final = b"\xbe\xac"
_ALTBEACON: Final = struct.Struct(">16sHHb").unpack_from
_TLM: Final = struct.Struct(">HhII").unpack_from
_TLM_NO_TEMPERATURE: Final = -0x8000  # 0x8000: "not supported" (TLM spec)
_SIGNED: Final = tuple(b - 256 if b > 127 else b for b in range(256))

_FRAME_UID: Final = 0x00
_FRAME_URL: Final = 0x10
_FRAME_TLM: Final = 0x20
_FRAME_EID: Final = 0x30
_FRAME_FIND_HUB: Final = frozenset({0x40, 0x41})

_URL_SCHEMES: Final = ("http://www.", "https://www.", "http://", "https://")
_URL_EXPANSIONS: Final = (
    ".com/",
    ".org/",
    ".edu/",
    ".net/",
    ".info/",
    ".biz/",
    ".gov/",
    ".com",
    ".org",
    ".edu",
    ".net",
    ".info",
    ".biz",
    ".gov",
)
_URL_CHARS: Final[tuple[str | None, ...]] = tuple(
    _URL_EXPANSIONS[b] if b < len(_URL_EXPANSIONS) else chr(b) if 0x21 <= b <= 0x7E else None
    for b in range(256)
)
"""Eddystone-URL octet -> text: expansion codes 0x00-0x0D, printable ASCII kept,
0x0E-0x20 and 0x7F-0xFF reserved (None: the URL is invalid)."""


def format_uuid(raw: bytes) -> str:
    """16 octets (big-endian, as iBeacon sends them) as a dashed lowercase UUID."""
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def decode_ibeacon(payload: bytes) -> Decoded | None:
    """An iBeacon from Apple manufacturer data (after the company id), else None."""
    if len(payload) < 23 or payload[:2] != _IBEACON_PREFIX:
        return None
    raw_uuid, major, minor, power = _IBEACON(payload, 2)
    return Decoded(
        kind=IBEACON,
        company_id=APPLE_COMPANY_ID,
        uuid=format_uuid(raw_uuid),
        major=major,
        minor=minor,
        tx_power=power,
        payload_len=len(payload),
    )


def decode_altbeacon(company_id: int, payload: bytes) -> Decoded | None:
    """An AltBeacon from any company's manufacturer data, else None."""
    if len(payload) < 24 or payload[:2] != _ALTBEACON_CODE:
        return None
    raw_uuid, major, minor, _ = _ALTBEACON(payload, 2)
    return Decoded(
        kind=ALTBEACON,
        company_id=company_id,
        uuid=format_uuid(raw_uuid),
        major=major,
        minor=minor,
        tx_power=_SIGNED[payload[22]],
        payload_len=len(payload),
    )


def decode_eddystone(frame: bytes, tx_level: int | None) -> Decoded:
    """An Eddystone frame (service data of 0xFEAA); malformed frames are ``unknown``."""
    frame_type = frame[0] if frame else -1
    result: Decoded | None = None
    if frame_type == _FRAME_UID:
        result = _uid(frame)
    elif frame_type == _FRAME_URL:
        result = _url(frame)
    elif frame_type == _FRAME_TLM:
        result = _tlm(frame, tx_level)
    elif frame_type == _FRAME_EID:
        result = _eid(frame)
    elif frame_type in _FRAME_FIND_HUB:
        result = _find_hub(frame, tx_level)
    if result is None:
        subtype = "eddystone_malformed" if frame_type >= 0 else "eddystone_empty"
        return Decoded(kind=UNKNOWN, subtype=subtype, tx_power=tx_level)
    return result


def _uid(frame: bytes) -> Decoded | None:
    if len(frame) < 18:  # the 2 RFU octets are often left out
        return None
    return Decoded(
        kind=EDDYSTONE_UID,
        tx_power=_SIGNED[frame[1]],
        namespace=frame[2:12].hex(),
        instance=frame[12:18].hex(),
    )


def _url(frame: bytes) -> Decoded | None:
    if len(frame) < 3 or frame[2] >= len(_URL_SCHEMES):
        return None
    parts = [_URL_SCHEMES[frame[2]]]
    for octet in frame[3:]:
        text = _URL_CHARS[octet]
        if text is None:
            return Decoded(kind=EDDYSTONE_URL, subtype="invalid_url", tx_power=_SIGNED[frame[1]])
        parts.append(text)
    return Decoded(kind=EDDYSTONE_URL, tx_power=_SIGNED[frame[1]], url="".join(parts))


def _tlm(frame: bytes, tx_level: int | None) -> Decoded | None:
    version = frame[1] if len(frame) > 1 else -1
    if version == 0x01:
        return Decoded(kind=EDDYSTONE_TLM, subtype="encrypted", tx_power=tx_level)
    if version != 0x00 or len(frame) < 14:
        return None
    battery, temperature, count, tenths = _TLM(frame, 2)
    return Decoded(
        kind=EDDYSTONE_TLM,
        subtype="plain",
        tx_power=tx_level,
        battery_mv=battery or None,  # 0: not supported (USB powered)
        temperature_c=None if temperature == _TLM_NO_TEMPERATURE else temperature / 256,
        adv_count=count,
        uptime_s=tenths / 10,
    )


def _eid(frame: bytes) -> Decoded | None:
    if len(frame) < 10:
        return None
    return Decoded(kind=EDDYSTONE_EID, tx_power=_SIGNED[frame[1]], identifier=frame[2:10].hex())


def _find_hub(frame: bytes, tx_level: int | None) -> Decoded | None:
    if len(frame) < 21:  # frame type, 20-octet ephemeral id, optional hashed flags
        return None
    return Decoded(kind=GOOGLE, subtype="find_hub", tx_power=tx_level, identifier=frame[1:21].hex())


def telemetry_of(frame: bytes) -> tuple[int | None, float | None]:
    """Battery and temperature of a plain TLM frame, for merging into another kind."""
    result = _tlm(frame, None) if frame[:1] == b"\x20" else None
    if result is None:
        return None, None
    return result.battery_mv, result.temperature_c
