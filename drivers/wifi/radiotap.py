"""Radiotap header layout (https://www.radiotap.org), resolved once per layout.

A radiotap header is a version byte, a pad byte, a little-endian length, then
one or more 32-bit "present" bitmaps (bit 31 says another word follows). The
fields follow in bit order, each aligned to its natural size relative to the
start of the header. Bit 29 switches (back) to the radiotap namespace and
resets the bit numbering, bit 30 switches to a vendor namespace whose fields
are skipped by the length in its 6-byte header.

Phones probe from a handful of drivers, so a capture holds only a few
distinct layouts: ``RadiotapLayouts`` computes where FLAGS, CHANNEL and the
first dBm antenna signal sit for each distinct (length, bitmaps) key and keeps
the answer. A layout that does not fit in the header is ``None`` (rejected).
"""

from __future__ import annotations

import struct
from typing import NamedTuple

__all__ = [
    "FLAG_BAD_FCS",
    "FLAG_FCS_AT_END",
    "NO_PSDU",
    "Layout",
    "RadiotapLayouts",
    "compute_layout",
    "present_words_end",
]

FLAG_FCS_AT_END = 0x10
FLAG_BAD_FCS = 0x40

_BIT_FLAGS = 1
_BIT_CHANNEL = 3
_BIT_DBM_SIGNAL = 5
_BIT_XCHANNEL = 18
_BIT_TLV = 28
_BIT_RADIOTAP_NS = 29
_BIT_VENDOR_NS = 30
_BIT_EXT = 31
_MAX_PRESENT_WORDS = 64

# (alignment, size) of the radiotap-namespace fields 0..27, from radiotap.org.
_FIELDS: dict[int, tuple[int, int]] = {
    0: (8, 8),  # TSFT
    1: (1, 1),  # Flags
    2: (1, 1),  # Rate
    3: (2, 4),  # Channel: freq u16, flags u16
    4: (2, 2),  # FHSS (hop set u8, pattern u8; Linux and Wireshark align it to 2)
    5: (1, 1),  # dBm antenna signal
    6: (1, 1),  # dBm antenna noise
    7: (2, 2),  # Lock quality
    8: (2, 2),  # TX attenuation
    9: (2, 2),  # dB TX attenuation
    10: (1, 1),  # dBm TX power
    11: (1, 1),  # Antenna
    12: (1, 1),  # dB antenna signal
    13: (1, 1),  # dB antenna noise
    14: (2, 2),  # RX flags
    15: (2, 2),  # TX flags
    16: (1, 1),  # RTS retries
    17: (1, 1),  # data retries
    18: (4, 8),  # XChannel: flags u32, freq u16, channel u8, maxpower u8
    19: (1, 3),  # MCS
    20: (4, 8),  # A-MPDU status
    21: (2, 12),  # VHT
    22: (8, 12),  # timestamp
    23: (2, 12),  # HE
    24: (2, 12),  # HE-MU
    25: (2, 6),  # HE-MU-other-user
    26: (1, 1),  # 0-length PSDU
    27: (2, 4),  # L-SIG
}


class Layout(NamedTuple):
    """Byte offsets inside the header, -1 where the field is absent."""

    flags: int
    freq: int
    signal: int


NO_PSDU = Layout(-3, -3, -3)
"""The 0-length-PSDU field is present: the header describes a frame that carries no 802.11 data."""
_UNKNOWN = Layout(-2, -2, -2)  # cache-miss sentinel; never a real layout
_BIT_NO_PSDU = 26


def present_words_end(data: bytes, length: int) -> int:
    """Offset just after the last present bitmap, or -1 if they overrun ``length``."""
    pos = 4
    while True:
        if pos + 4 > length:
            return -1
        word = struct.unpack_from("<I", data, pos)[0]
        pos += 4
        if not word & (1 << _BIT_EXT):
            return pos
        if (pos - 4) // 4 >= _MAX_PRESENT_WORDS:
            return -1


class _Walk:
    """State of one walk through the fields of a header."""

    def __init__(self, data: bytes, length: int, offset: int) -> None:
        self.data = data
        self.length = length
        self.offset = offset
        self.flags = -1
        self.freq = -1
        self.signal = -1
        self.no_psdu = False

    def align(self, alignment: int) -> None:
        self.offset = (self.offset + alignment - 1) & ~(alignment - 1)

    def take(self, bit: int) -> bool:
        """Consume radiotap field ``bit``; False when its size is unknown or it overruns."""
        spec = _FIELDS.get(bit)
        if spec is None:
            return False
        alignment, size = spec
        self.align(alignment)
        if self.offset + size > self.length:
            raise ValueError("field overruns header")
        if bit == _BIT_FLAGS:
            self.flags = self.offset
        elif bit == _BIT_CHANNEL and self.freq < 0:
            self.freq = self.offset
        elif bit == _BIT_XCHANNEL and self.freq < 0:
            self.freq = self.offset + 4
        elif bit == _BIT_DBM_SIGNAL and self.signal < 0:
            self.signal = self.offset
        elif bit == _BIT_NO_PSDU:
            self.no_psdu = True
        self.offset += size
        return True

    def skip_vendor(self) -> None:
        self.align(2)
        if self.offset + 6 > self.length:
            raise ValueError("vendor namespace header overruns")
        skip = struct.unpack_from("<H", self.data, self.offset + 4)[0]
        self.offset += 6 + skip


def compute_layout(data: bytes, length: int, words_end: int) -> Layout | None:
    """Walk the present bitmaps of one header; None if the header is inconsistent."""
    walk = _Walk(data, length, words_end)
    in_vendor = False
    word_in_namespace = 0
    try:
        for index in range((words_end - 4) // 4):
            word = struct.unpack_from("<I", data, 4 + 4 * index)[0]
            if not in_vendor:
                if not _walk_word(walk, word, 32 * word_in_namespace):
                    break  # a field of unknown size: nothing after it can be located
            elif word_in_namespace == 0:
                walk.skip_vendor()
            if word & (1 << _BIT_RADIOTAP_NS):
                in_vendor, word_in_namespace = False, 0
            elif word & (1 << _BIT_VENDOR_NS):
                in_vendor, word_in_namespace = True, 0
            else:
                word_in_namespace += 1
    except ValueError:
        return None
    if walk.no_psdu:
        return NO_PSDU
    return Layout(walk.flags, walk.freq, walk.signal)


def _walk_word(walk: _Walk, word: int, base: int) -> bool:
    """Take the fields of one radiotap-namespace word; False to stop the whole walk."""
    for bit in range(_BIT_RADIOTAP_NS):
        if word & (1 << bit) and (bit == _BIT_TLV or not walk.take(base + bit)):
            return False
    return True


class RadiotapLayouts:
    """Cache of layouts keyed by the header's length and present bitmaps."""

    def __init__(self, limit: int = 4096) -> None:
        self._cache: dict[bytes, Layout | None] = {}
        self._limit = limit

    def get(self, data: bytes, length: int) -> Layout | None:
        """The layout for a header of ``length`` bytes at the start of ``data``."""
        first = data[2:8]
        if not data[7] & 0x80:
            key = first
        else:
            end = present_words_end(data, length)
            if end < 0:
                return None
            key = data[2:end]
        layout = self._cache.get(key, _UNKNOWN)
        if layout is not _UNKNOWN:
            return layout
        end = present_words_end(data, length)
        layout = None if end < 0 else compute_layout(data, length, end)
        if _has_vendor_namespace(key):
            return layout  # its length is in the field data, not the key: never cached
        if len(self._cache) >= self._limit:
            self._cache.clear()
        self._cache[key] = layout
        return layout


def _has_vendor_namespace(key: bytes) -> bool:
    """True if a present bitmap in ``key`` (length, then bitmaps) switches to a vendor namespace."""
    return any(key[i] & 0x40 for i in range(5, len(key), 4))
