"""Receipt boundaries: a cut, else an idle gap on the line, else a size bound.

A POS terminal sends a receipt in one burst and most end it with ``GS V``
(cut). Some printers have no cutter, or the POS never sends the cut; then a
pause on the line longer than ``idle_gap`` seconds ends the receipt. The size
bound (``max_bytes`` of text and commands, image data not counted) keeps noise
on a wrongly configured line from growing one endless receipt. Times are the
chunk times the caller passes in: this module never reads a clock.
"""

from __future__ import annotations

from typing import Final

from drivers.pos.escpos.escpos import DEFAULT_MAX_BYTES, EscPosInterpreter
from drivers.pos.result import Segment

__all__ = ["DEFAULT_IDLE_GAP", "ReceiptSegmenter"]

DEFAULT_IDLE_GAP: Final = 3.0


class ReceiptSegmenter:
    """Chunks with their read times -> segments of printed text (one per receipt)."""

    def __init__(
        self,
        encoding: str = "cp437",
        double_byte: str = "gb18030",
        idle_gap: float = DEFAULT_IDLE_GAP,
        max_bytes: int = DEFAULT_MAX_BYTES,
        known: str | None = None,
    ) -> None:
        if not idle_gap > 0:
            raise ValueError(f"idle_gap must be positive seconds, not {idle_gap}")
        self.idle_gap = idle_gap
        self.interpreter = EscPosInterpreter(encoding, double_byte, max_bytes, known)
        self._last: float | None = None

    def feed(self, t: float, data: bytes) -> list[Segment]:
        """One chunk read at time ``t``: the segments it completed, oldest first."""
        done = self.advance(t)
        if data:
            done += self.interpreter.feed(data, t)
            self._last = t
        return done

    def advance(self, t: float) -> list[Segment]:
        """The line is known to be quiet up to ``t``: close a receipt idle for long enough.

        Live sources call this on their watermark tick, so the last receipt of a
        burst is emitted without waiting for the next one. A clock stepping back
        (``t`` before the last chunk) never closes anything.
        """
        if self._last is None or t - self._last < self.idle_gap:
            return []
        self._last = None
        return self.interpreter.close("idle") if self.interpreter.is_open else []

    def flush(self) -> list[Segment]:
        """End of input: the open receipt, if it printed anything."""
        self._last = None
        return self.interpreter.close("end")

    def stats(self) -> dict[str, object]:
        """Counters for status and telemetry."""
        return self.interpreter.stats()
