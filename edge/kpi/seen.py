"""The (device, zone) pairs seen in the current key period, for repeat visits.

A busy mall's box closes thousands of visits a minute; a set of "device|zone" strings
grew to half a million entries (about 50 MB, and a list as long in every slow
checkpoint) before it was cleared. A Bloom filter of fixed size answers the same
question, "was this device in this zone before today?", in 1 MiB from the first
minute: at half a million pairs one answer in 2,000 is a wrong "yes" (a first visit
counted as a repeat), and never a wrong "no".
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from typing import Any, Final

__all__ = ["SeenPairs"]

_BITS: Final = 1 << 23
"""8 Mibit: 1 MiB."""
_HASHES: Final = 7
CAPACITY: Final = 500_000
"""Pairs after which the filter starts again (wrong "yes" answers would grow past 1 in
2,000); a mall's day stays far below this."""


class SeenPairs:
    """A Bloom filter of ``device|zone`` keys (Kirsch-Mitzenmacher double hashing)."""

    __slots__ = ("_bits", "count")

    def __init__(self) -> None:
        self._clear()

    def _clear(self) -> None:
        self._bits = bytearray(_BITS // 8)
        self.count = 0
        """Keys added (each once, as far as the filter knows)."""

    def seen_before(self, key: str) -> bool:
        """Whether ``key`` was added before; adds it. A new filter once full."""
        if self.count >= CAPACITY:
            self._clear()  # start again, as the set of keys did
        digest = hashlib.blake2b(key.encode(), digest_size=16).digest()
        first, step = int.from_bytes(digest[:8], "little"), int.from_bytes(digest[8:], "little")
        bits, seen = self._bits, True
        for i in range(_HASHES):
            bit = (first + i * step) % _BITS
            byte, mask = bit >> 3, 1 << (bit & 7)
            if not bits[byte] & mask:
                seen = False
                bits[byte] |= mask
        if not seen:
            self.count += 1
        return seen

    def to_json(self) -> dict[str, Any]:
        packed = base64.b64encode(zlib.compress(bytes(self._bits), 6)).decode("ascii")
        return {"bloom": packed, "count": self.count}

    @classmethod
    def from_json(cls, data: Any) -> SeenPairs:
        """From ``to_json``; also from the list of keys older checkpoints hold."""
        seen = cls()
        if isinstance(data, dict) and "bloom" in data:
            bits = zlib.decompress(base64.b64decode(data["bloom"]))
            if len(bits) == len(seen._bits):
                seen._bits[:] = bits
                seen.count = int(data.get("count", 0))
        elif isinstance(data, list):
            for key in data:
                seen.seen_before(str(key))
        return seen
