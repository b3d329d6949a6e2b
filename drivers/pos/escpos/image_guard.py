"""ESC/POS image headers that lie about their size, and the data of commands spanning chunks.

A declared size is trusted only as far as a printer would: an image claiming
more than any receipt printer prints (``payloads.MAX_IMAGE_BYTES``), or whose
data runs over a receipt cut followed by a printer reset, or past the end of the
data or an idle gap (a POS sends an image in one burst), is rejected: counted in
``rejected_images``, warned about in one line ("ESC/POS image header claims
16,777,216 bytes at offset N; skipped, decoding resumed"), and decoding resumes
right after its header, so the receipts after it are read.

What gives a lie away is a cut inside the data: a POS program ends a receipt
with a cut (``GS V``) and starts the next one with a printer reset (``ESC @``).
Both in a row never occur inside a real bitmap by chance (ten specific bytes),
so an image whose declared data holds them has swallowed the end of one receipt
and the start of the next.

``DataGuard`` keeps the data of an image that spans chunks (at most
``MAX_IMAGE_BYTES`` x 4) until its end proves it; it returns what it finds and the
interpreter (``escpos``) applies it.
"""

from __future__ import annotations

import bisect
import logging
import re
from typing import Final, NamedTuple

__all__ = ["CutFinder", "DataCommand", "DataGuard", "Resume", "warn_rejected"]

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


class Resume(NamedTuple):
    """An image rejected once its data was complete or cut short, and what it swallowed."""

    image: DataCommand
    data: bytes
    """The bytes to interpret again, from stream offset ``image.start`` (its data)."""


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


class DataGuard:
    """The data of a command that goes on in the next chunks (one per interpreter).

    Its bytes are skipped by count as they arrive; an image's are also kept until
    its end proves it, as only the end can: a complete image that holds a cut and
    reset, or one cut short by an idle gap, comes back as a ``Resume``.
    """

    def __init__(self) -> None:
        self.missing = 0
        """Bytes of the open command's data still to come."""
        self._image: DataCommand | None = None
        self._held = bytearray()
        self._cuts = CutFinder()

    def swallowed(self, buf: bytes, base: int, image: DataCommand, end: int) -> bool:
        """The data of ``image``, in ``buf`` (at stream offset ``base``) up to stream
        offset ``end``, holds a cut and reset."""
        return self._cuts.spans(buf, base, image.start, end)

    def wait(self, buf: bytes, base: int, missing: int, image: DataCommand | None) -> None:
        """A command's data goes on for ``missing`` bytes after ``buf``; keep an image's."""
        self.missing = missing
        if image is not None:
            self._image, self._held = image, bytearray(buf[image.start - base :])

    def skip(self, buf: bytes) -> tuple[int, Resume | None]:
        """Skip the rest of the data at the start of ``buf``: how many bytes, and the image
        to reject if its data, now complete, swallowed a cut (``buf`` is then read again
        from the image's data instead)."""
        count = min(self.missing, len(buf))
        self.missing -= count
        image = self._image
        if image is None:
            return count, None
        self._held += buf[:count]
        if self.missing:
            return count, None
        held = bytes(self._held)
        self.drop()
        if not self._cuts.spans(held, image.start, image.start, image.start + len(held)):
            return count, None
        return count, Resume(image, held + buf[count:])

    def cut_short(self) -> Resume | None:
        """The image whose data an idle gap or the end of the data interrupted, if any:
        dropped, with the bytes it swallowed."""
        image = self._image
        if image is None:
            return None
        held = bytes(self._held)
        self.drop()
        return Resume(image, held)

    def drop(self) -> None:
        """Forget the open command's data (the rest of it is not awaited any more)."""
        self.missing = 0
        self._image = None
        self._held = bytearray()


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
