"""Event time for recordings played as live devices (``mallsense run --simulate``, tests).

A ``Timeline`` maps recorded time onto "now": the first frame of every
recording played on one timeline happens at the moment the timeline starts,
and event time runs ``speed`` times faster than the wall clock. The daemon uses
the same timeline as its clock, so a two-hour recording played at 100x closes
its sessions and intervals exactly as it would live. Every simulated sensor
type (Wi-Fi pcap, BLE JSON lines, POS captures, video) plays on one.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["Timeline"]


class Timeline:
    """Event time for played recordings: starts now, runs ``speed`` times real time."""

    def __init__(
        self,
        speed: float = 1.0,
        wall: Callable[[], float] = time.monotonic,
        epoch: Callable[[], float] = time.time,
    ) -> None:
        if speed <= 0:
            raise ValueError("the playback speed must be positive")
        self.speed = speed
        self._wall = wall
        self._wall0 = wall()
        self.start = epoch()

    def now(self) -> float:
        """The current event time (epoch seconds)."""
        return self.start + (self._wall() - self._wall0) * self.speed

    def wall_delay(self, event_time: float) -> float:
        """Real seconds until ``event_time`` (negative if it has passed)."""
        return (event_time - self.now()) / self.speed
