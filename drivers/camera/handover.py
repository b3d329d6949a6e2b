"""The counts a camera's process has reported but not yet handed over.

Each health report of a camera process carries its open interval so far
(``CameraHealth.open_counts``, twice a second). ``KeptCounts`` holds the latest;
the interval's own observations, or the process's final report after it finished,
make it moot. When a process ends without either (killed as hung, or it died and
was started again), its source hands the kept counts on, cut at that process's last
reported frame: the next process continues the same interval, and its record adds
both parts and supersedes this one (``edge.sensors.camera.records``). Only what the
process counted after its last report is lost, and stays still open end unseen.
"""

from __future__ import annotations

from drivers.camera.observations import CameraObservation, LineCount, ZoneOccupancy
from drivers.camera.process import CameraMessage

__all__ = ["KeptCounts"]

_INTERVAL_KINDS = (LineCount, ZoneOccupancy)


class KeptCounts:
    """The open interval of the camera's latest process, as it last reported it."""

    def __init__(self) -> None:
        self._pid = 0
        self._counts: tuple[CameraObservation, ...] = ()

    def note(self, message: CameraMessage) -> tuple[CameraObservation, ...]:
        """Take the process's next message; returns the counts of a process that ended
        without handing them over, when this message is the first of the one after it."""
        if any(type(o) in _INTERVAL_KINDS for o in message.observations):
            self._counts = ()  # the interval was handed over (closed, or cut at the end)
        health = message.health
        if health is None:
            return ()
        orphaned = self._counts if health.pid != self._pid else ()
        self._pid, self._counts = health.pid, health.open_counts
        return orphaned

    def take(self) -> tuple[CameraObservation, ...]:
        """The counts to hand on because the process ended without them; forgets them."""
        counts, self._counts = self._counts, ()
        return counts
