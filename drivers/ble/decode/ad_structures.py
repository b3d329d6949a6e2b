"""Advertising data: raw AD structures -> fields, totally (never raises).

An advertisement's data (Bluetooth Core Specification v5.4, Vol 3, Part C, §11) is a
sequence of AD structures: one length octet covering the type and the data, one AD
type octet (Assigned Numbers §2.3), then ``length - 1`` data octets. A zero length
ends the significant part early; what follows is padding. The data formats of the
types kept here are those of the Core Specification Supplement (CSS) v11, Part A:

- §1.1 service UUIDs: incomplete/complete lists of 16-bit (0x02/0x03), 32-bit
  (0x04/0x05) and 128-bit (0x06/0x07) UUIDs, each little-endian;
- §1.2 local name: shortened (0x08) or complete (0x09), UTF-8;
- §1.3 flags (0x01); §1.5 TX power level (0x0A), a signed octet in dBm;
- §1.4 manufacturer specific data (0xFF): a little-endian company identifier, then
  the company's payload;
- §1.11 service data: a 16-bit (0x16), 32-bit (0x20) or 128-bit (0x21) UUID, then data;
- §1.12 appearance (0x19), a little-endian uint16.

16- and 32-bit UUIDs are written as the 128-bit strings of the Bluetooth Base UUID
(Core Vol 3, Part B, §2.5.1), lowercase, as bleak reports them; everything else is
kept by type. A structure whose length runs past the end of the data stops the parse
(what came before is kept); a structure too short for its type is skipped. Both are
counted in ``errors`` and explained, one line each, in ``problems`` ("AD structure at
byte 12 claims 9 bytes, 4 left: truncated"), which ``mallsense ble decode`` shows.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Final, NamedTuple

__all__ = [
    "AD_APPEARANCE",
    "AD_COMPLETE_NAME",
    "AD_FLAGS",
    "AD_MANUFACTURER",
    "AD_SERVICE_DATA_16",
    "AD_SERVICE_DATA_32",
    "AD_SERVICE_DATA_128",
    "AD_SHORT_NAME",
    "AD_TX_POWER",
    "AD_UUID16_COMPLETE",
    "AD_UUID16_INCOMPLETE",
    "AD_UUID32_COMPLETE",
    "AD_UUID32_INCOMPLETE",
    "AD_UUID128_COMPLETE",
    "AD_UUID128_INCOMPLETE",
    "BASE_UUID_SUFFIX",
    "AdStructures",
    "canonical_uuid",
    "encode_ad",
    "parse_ad",
    "uuid16",
    "uuid128_le",
]

AD_FLAGS: Final = 0x01
AD_UUID16_INCOMPLETE: Final = 0x02
AD_UUID16_COMPLETE: Final = 0x03
AD_UUID32_INCOMPLETE: Final = 0x04
AD_UUID32_COMPLETE: Final = 0x05
AD_UUID128_INCOMPLETE: Final = 0x06
AD_UUID128_COMPLETE: Final = 0x07
AD_SHORT_NAME: Final = 0x08
AD_COMPLETE_NAME: Final = 0x09
AD_TX_POWER: Final = 0x0A
AD_SERVICE_DATA_16: Final = 0x16
AD_APPEARANCE: Final = 0x19
AD_SERVICE_DATA_32: Final = 0x20
AD_SERVICE_DATA_128: Final = 0x21
AD_MANUFACTURER: Final = 0xFF

BASE_UUID_SUFFIX: Final = "-0000-1000-8000-00805f9b34fb"
"""The Bluetooth Base UUID after its first 32 bits (Core Vol 3, Part B, §2.5.1)."""

_UUID_LIST_WIDTH: Final = {
    AD_UUID16_INCOMPLETE: 2,
    AD_UUID16_COMPLETE: 2,
    AD_UUID32_INCOMPLETE: 4,
    AD_UUID32_COMPLETE: 4,
    AD_UUID128_INCOMPLETE: 16,
    AD_UUID128_COMPLETE: 16,
}
_SERVICE_DATA_WIDTH: Final = {AD_SERVICE_DATA_16: 2, AD_SERVICE_DATA_32: 4, AD_SERVICE_DATA_128: 16}
_SIGNED: Final = tuple(b - 256 if b > 127 else b for b in range(256))
_HEX: Final = frozenset("0123456789abcdef")
_CANONICAL_CACHE_LIMIT: Final = 4096
_canonical_cache: dict[str, str] = {}


class AdStructures(NamedTuple):
    """Everything in one advertisement's AD structures (CSS Part A)."""

    structures: tuple[tuple[int, bytes], ...]
    """Every well-framed structure as ``(AD type, data)``, in order."""
    flags: int | None
    service_uuids: list[str]
    """From all six UUID-list types, in order (CSS A §1.1)."""
    local_name: str | None
    """The complete name if present, else the shortened one (CSS A §1.2)."""
    tx_power: int | None
    """TX power level in dBm (CSS A §1.5)."""
    service_data: dict[str, bytes]
    manufacturer_data: dict[int, bytes]
    appearance: int | None
    other: dict[int, list[bytes]]
    """Data of every other AD type, by type."""
    errors: int
    """Structures skipped: too short for their type, or running past the end."""
    problems: tuple[str, ...] = ()
    """Why, one line per error (the byte offset of the structure's length octet)."""


def uuid16(value: int) -> str:
    """The 128-bit string of a 16- or 32-bit UUID (Core Vol 3, Part B, §2.5.1)."""
    return f"{value:08x}{BASE_UUID_SUFFIX}"


def uuid128_le(data: bytes) -> str:
    """The string of a 128-bit UUID written little-endian, as AD structures do."""
    h = data[::-1].hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def canonical_uuid(text: str) -> str:
    """A UUID as bleak writes it: 128-bit, lowercase, with dashes.

    Accepts ``"feaa"``, ``"0xFEAA"``, 8-digit 32-bit UUIDs, 32 hex digits without
    dashes and the dashed form in any case. Anything else is returned lowercased.
    """
    cached = _canonical_cache.get(text)
    if cached is not None:
        return cached
    raw = text.strip().lower()
    bare = raw[2:] if raw.startswith("0x") else raw
    digits = bare.replace("-", "")
    if not digits or not _HEX.issuperset(digits):
        result = raw
    elif "-" not in bare and len(bare) in (4, 8):
        result = uuid16(int(bare, 16))
    elif len(digits) == 32 and (len(bare) == 32 or _dashed(bare)):
        result = f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"
    else:
        result = raw
    if len(_canonical_cache) >= _CANONICAL_CACHE_LIMIT:
        _canonical_cache.clear()
    _canonical_cache[text] = result
    return result


def _dashed(text: str) -> bool:
    return len(text) == 36 and all(text[i] == "-" for i in (8, 13, 18, 23))


class _Builder:
    """Mutable state of one parse."""

    __slots__ = (
        "appearance",
        "errors",
        "flags",
        "manufacturer",
        "name",
        "name_complete",
        "other",
        "service_data",
        "tx_power",
        "uuids",
    )

    def __init__(self) -> None:
        self.flags: int | None = None
        self.uuids: list[str] = []
        self.name: str | None = None
        self.name_complete = False
        self.tx_power: int | None = None
        self.service_data: dict[str, bytes] = {}
        self.manufacturer: dict[int, bytes] = {}
        self.appearance: int | None = None
        self.other: dict[int, list[bytes]] = {}
        self.errors = 0

    def add(self, ad_type: int, body: bytes) -> None:
        """Apply one structure; a body too short for its type is counted, not kept."""
        if ad_type == AD_MANUFACTURER:
            if len(body) < 2:
                self.errors += 1
            else:
                self.manufacturer[body[0] | body[1] << 8] = body[2:]
        elif ad_type in _SERVICE_DATA_WIDTH:
            self._service_data(_SERVICE_DATA_WIDTH[ad_type], body)
        elif ad_type in _UUID_LIST_WIDTH:
            self._uuid_list(_UUID_LIST_WIDTH[ad_type], body)
        elif ad_type in (AD_SHORT_NAME, AD_COMPLETE_NAME):
            self._name(ad_type == AD_COMPLETE_NAME, body)
        elif ad_type == AD_TX_POWER:
            self._single(body, "tx_power")
        elif ad_type == AD_FLAGS:
            self._single(body, "flags")
        elif ad_type == AD_APPEARANCE and len(body) == 2:
            self.appearance = body[0] | body[1] << 8
        elif ad_type == AD_APPEARANCE:
            self.errors += 1
        else:
            self.other.setdefault(ad_type, []).append(body)

    def _single(self, body: bytes, field: str) -> None:
        if len(body) != 1:
            self.errors += 1
        elif field == "tx_power":
            self.tx_power = _SIGNED[body[0]]
        else:
            self.flags = body[0]

    def _name(self, complete: bool, body: bytes) -> None:
        if complete or not self.name_complete:
            self.name = body.decode("utf-8", "replace")
            self.name_complete = complete

    def _service_data(self, width: int, body: bytes) -> None:
        if len(body) < width:
            self.errors += 1
            return
        key = (
            uuid128_le(body[:16]) if width == 16 else uuid16(int.from_bytes(body[:width], "little"))
        )
        self.service_data[key] = body[width:]

    def _uuid_list(self, width: int, body: bytes) -> None:
        usable = len(body) - len(body) % width
        if usable != len(body):
            self.errors += 1
        for at in range(0, usable, width):
            chunk = body[at : at + width]
            self.uuids.append(
                uuid128_le(chunk) if width == 16 else uuid16(int.from_bytes(chunk, "little"))
            )


def parse_ad(data: bytes) -> AdStructures:
    """Every AD structure of ``data`` (Core Vol 3, Part C, §11); never raises."""
    out = _Builder()
    structures: list[tuple[int, bytes]] = []
    problems: list[str] = []
    pos = 0
    size = len(data)
    while pos < size:
        length = data[pos]
        if length == 0:
            break  # early termination: the rest is padding (Core Vol 3, Part C, §11)
        end = pos + 1 + length
        if end > size:
            out.errors += 1
            problems.append(
                f"AD structure at byte {pos} claims {length} bytes, {size - pos - 1} left:"
                " truncated"
            )
            break
        ad_type = data[pos + 1]
        body = bytes(data[pos + 2 : end])
        structures.append((ad_type, body))
        errors = out.errors
        out.add(ad_type, body)
        if out.errors != errors:
            problems.append(
                f"AD structure at byte {pos} (type 0x{ad_type:02x}) has {len(body)} data bytes,"
                " not a valid length for its type: skipped (a UUID list: its last partial UUID)"
            )
        pos = end
    return AdStructures(
        tuple(structures),
        out.flags,
        out.uuids,
        out.name,
        out.tx_power,
        out.service_data,
        out.manufacturer,
        out.appearance,
        out.other,
        out.errors,
        tuple(problems),
    )


_HEAD: Final = struct.Struct("BB").pack


def encode_ad(structures: Iterable[tuple[int, bytes]]) -> bytes:
    """AD structures as advertising data; the inverse of ``parse_ad(...).structures``.

    Raises ValueError for a type outside 0..255 or data longer than 254 octets (a
    builder for tests and tools, not a parser).
    """
    out = bytearray()
    for ad_type, body in structures:
        if not 0 <= ad_type <= 255 or len(body) > 254:
            raise ValueError(
                f"AD structure type {ad_type} with {len(body)} octets cannot be encoded"
            )
        out += _HEAD(len(body) + 1, ad_type)
        out += body
    return bytes(out)
