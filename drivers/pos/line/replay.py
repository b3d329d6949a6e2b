"""A capture file played as if it were the POS line: chunks arrive at their recorded pace.

Used by ``mallsense run --simulate SENSOR=FILE`` (a whole box tested with a
shop's recording) and by the daemon tests, where it stands in for the serial
port: it is the lowest layer, everything above it (source threads, decoder,
handler, store) is real. The recording's first chunk happens when the
``Timeline`` starts; its gaps (receipt boundaries) are kept, scaled by the
timeline's speed. It plays once: a receipt repeated would be a sale invented.
"""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

from drivers.pos.line.capture_format import read_capture_file
from drivers.pos.line.line import Line, LineError, LineSettings
from drivers.timegate import MAX_JUMP_S
from drivers.timeline import Timeline

__all__ = ["CaptureOpener", "LineReplay"]


class LineReplay:
    """Implements ``serial_line.Line`` over the POS -> printer chunks of a capture."""

    tunable = False

    def __init__(self, path: str | Path, timeline: Timeline, port: str | None = None) -> None:
        self.path = Path(path)
        try:
            capture = read_capture_file(self.path)
        except OSError as exc:
            raise LineError(f"recording {self.path} cannot be read: {exc}") from exc
        if capture.header is None and capture.error:
            raise LineError(f"recording {self.path} is damaged: {capture.error}")
        self.port = port or str(self.path)
        self.device = str(self.path)
        self.baudrate = capture.header.baudrate if capture.header else None
        self.encoding = capture.header.encoding if capture.header else None
        self.skipped_gaps = 0
        """Gaps between chunks not played as recorded (not a number, backwards, or more
        than ``MAX_JUMP_S``): the chunk came right after the one before."""
        self._chunks = self._paced(capture.to_printer(), timeline.start)
        self._next = 0
        self._timeline = timeline

    def _paced(self, chunks: list[tuple[float, bytes]], start: float) -> list[tuple[float, bytes]]:
        """When each chunk is due on ``start``'s timeline: after the recorded gap, unless a
        damaged chunk time makes it absurd (a chunk dated 2106 stalled the line for ever)
        or it is longer than ``MAX_JUMP_S`` (a night between two receipts): then at once."""
        paced: list[tuple[float, bytes]] = []
        due, previous = start, None
        for t, data in chunks:
            gap = 0.0 if previous is None else t - previous
            if math.isfinite(gap) and 0.0 <= gap <= MAX_JUMP_S:
                due += gap
            else:
                self.skipped_gaps += 1
            if math.isfinite(t):
                previous = t  # an outlier costs no wait going there nor coming back
            paced.append((due, data))
        return paced

    @property
    def exhausted(self) -> bool:
        return self._next >= len(self._chunks)

    def read(self, timeout: float) -> bytes:
        if self.exhausted:
            time.sleep(timeout)
            return b""
        due, data = self._chunks[self._next]
        delay = self._timeline.wall_delay(due)
        if delay > timeout:
            time.sleep(timeout)
            return b""
        if delay > 0:
            time.sleep(delay)
        self._next += 1
        return data

    def write(self, data: bytes, stop: threading.Event | None = None) -> int:
        return len(data)  # nobody listens on a recording (a DLE EOT poll gets no answer)

    def set_baudrate(self, rate: int) -> None:
        pass

    def discard_input(self) -> None:
        pass

    def close(self) -> None:
        pass  # kept open: a reconnect continues where the recording was


class CaptureOpener:
    """A ``LineOpener`` giving the one ``LineReplay`` for every open (state kept)."""

    def __init__(self, path: str | Path, timeline: Timeline) -> None:
        self.path = Path(path)
        self.timeline = timeline
        self._line: LineReplay | None = None

    def __call__(self, port: str, settings: LineSettings) -> Line:
        if self._line is None:
            self._line = LineReplay(self.path, self.timeline, port)
        return self._line
