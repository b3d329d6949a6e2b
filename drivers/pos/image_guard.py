"""What gives away an ESC/POS image header that lies about its size: a cut inside its data.

A POS program ends a receipt with a cut (``GS V``) and starts the next one with a
printer reset (``ESC @``). Both in a row never occur inside a real bitmap by
chance (ten specific bytes), so an image whose declared data holds them has
swallowed the end of one receipt and the start of the next (``escpos``).
"""

from __future__ import annotations

import bisect
import logging
import re
from typing import Final, NamedTuple

__all__ = ["CutFinder", "DataCommand", "warn_rejected"]

_CUT_THEN_RESET: Final = re.compile(
    rb"\x1dV(?:[\x00\x01\x30\x31]|[\x41\x42\x61\x62\x67\x68][\x00-\xff])[\x00\n\r]{0,4}\x1b@"
)
_CUT_LENGTH: Final = 10
"""The longest match of ``_CUT_THEN_RESET``."""
LOGGED_REJECTIONS: Final = 20
"""Warnings logged per interpreter; every rejection is counted all the same."""
log = logging.getLogger("mallsense.pos")


class DataCommand(NamedTuple):
    """A data-carrying command being interpreted: where it is and what it declared."""

    offset: int
    """Stream offset of its first byte."""
    start: int
    """Stream offset of its data (after the header)."""
    payload: int
    effect: int
    name: str


class CutFinder:
    """Finds a receipt cut and printer reset in stream offsets, searching each byte once.

    Offsets below ``searched_to`` were searched already and the cuts found there are
    remembered, so nested lying headers over the same bytes cost linear time.
    """

    def __init__(self) -> None:
        self.searched_to = 0
        self.cuts: list[int] = []

    def spans(self, buf: bytes, base: int, start: int, end: int) -> bool:
        """A cut and reset lie in stream offsets ``start``..``end`` (``buf`` starts at ``base``)."""
        index = bisect.bisect_left(self.cuts, start)
        if index < len(self.cuts) and self.cuts[index] < end:
            return True
        begin = max(start, self.searched_to - _CUT_LENGTH)
        if begin >= end:
            return False
        found = _CUT_THEN_RESET.search(buf, begin - base, end - base)
        if found is None:
            self.searched_to = max(self.searched_to, end)
            return False
        bisect.insort(self.cuts, base + found.start())
        self.searched_to = max(self.searched_to, base + found.start() + 1)
        return True


def warn_rejected(count: int, offset: int, size: int, name: str, why: str) -> None:
    """The one-line warning of the ``count``-th rejected image (the first few only)."""
    if count > LOGGED_REJECTIONS:
        return
    more = "; further ones are counted, not logged" if count == LOGGED_REJECTIONS else ""
    log.warning(
        "ESC/POS image header claims %s bytes at offset %d; skipped, decoding resumed"
        " (%s, %s%s)",
        f"{size:,}", offset, name, why, more,
    )  # fmt: skip
