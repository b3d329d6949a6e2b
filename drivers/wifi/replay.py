"""A recording played as if it were a radio: frames arrive at their recorded pace.

Used by ``mallsense wifi watch --file`` (a technician can check what a capture
looked like live), by ``mallsense run --simulate-radio`` (a whole box tested
without phones around) and by the daemon's tests, where it stands in for the
monitor-mode card: it is the lowest layer, everything above it is real.

A ``Timeline`` maps recorded time onto "now": the first frame of every
recording played on one timeline happens at the moment the timeline starts,
and event time runs ``speed`` times faster than the wall clock. The daemon
uses the same timeline as its clock, so a two-hour recording played at 100x
closes its sessions and intervals exactly as it would live.

The recording's frames pass a time gate (``drivers.timegate``) before they are paced:
one frame dated 2106 would otherwise make the radio wait eighty years for it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

from drivers.timegate import TimeGate
from drivers.timeline import Timeline
from drivers.wifi.pcap import open_capture

__all__ = ["RadioReplay", "Timeline"]  # Timeline re-exported: it began here

_LOOP_PAUSE_S = 1.0


class RadioReplay:
    """Implements ``drivers.wifi.live.Radio`` over a pcap file."""

    def __init__(
        self, path: str | Path, timeline: Timeline | None = None, loop: bool = False
    ) -> None:
        self.path = Path(path)
        self.timeline = timeline or Timeline()
        self.loop = loop
        self.exhausted = False
        self._frames: Iterator[tuple[float, int, bytes]] = iter(())
        self._next: tuple[float, bytes] | None = None
        self._shift = 0.0
        self._last_event = self.timeline.start
        self.gate = TimeGate(self.path.stem, str(self.path), "record")
        """Frames of the recording left out for their time (counted over every loop)."""
        self._rewind(self.timeline.start)

    def _rewind(self, at: float) -> None:
        """Start the recording (again) so that its first frame happens at event time ``at``."""
        self._frames = _believed(self.path, self.gate)
        first = next(self._frames, None)
        if first is None:
            self._next = None
            self.exhausted = True
            return
        self._shift = at - first[0]
        self._next = (first[0] + self._shift, first[2])

    def wait(self, timeout: float) -> bool:
        if self._next is None:
            time.sleep(timeout)
            return False
        delay = self.timeline.wall_delay(self._next[0])
        if delay > timeout:
            time.sleep(timeout)
            return False
        if delay > 0:
            time.sleep(delay)
        return True

    def recv(self) -> tuple[bytes, float | None] | None:
        if self._next is None:
            return None
        event_time, data = self._next
        self._last_event = event_time
        following = next(self._frames, None)
        if following is not None:
            self._next = (following[0] + self._shift, following[2])
        elif self.loop:
            self._rewind(event_time + _LOOP_PAUSE_S)
        else:
            self._next = None
            self.exhausted = True
        return data, event_time

    def close(self) -> None:
        self._next = None


def _believed(path: Path, gate: TimeGate) -> Iterator[tuple[float, int, bytes]]:
    """The recording's frames whose times the gate believes (a new pass: a new start)."""
    gate.restart()
    for batch in open_capture(path).batches():
        yield from gate.admit(batch)
    yield from gate.finish()
