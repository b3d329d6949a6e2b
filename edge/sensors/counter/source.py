"""The counter's live source: reads its feed every ``poll_s`` on its own thread.

A counter that cannot be reached fails the run (the daemon logs why and tries
again with growing pauses); a reply that is not a count feed is counted and
skipped, and if only such replies come, the silence watchdog says so.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

from edge.sensors.counter.config import CounterSensorConfig
from edge.sensors.counter.feed import FeedError, fetch, totals_from
from edge.sensors.counter.intervals import Interval, Intervals

__all__ = ["CounterSource"]

log = logging.getLogger("mallsense.counter")


class CounterSource:
    """Emits finished ``Interval`` batches; keeps its totals across restarts of its run."""

    def __init__(self, sensor: CounterSensorConfig, clock: Callable[[], float]) -> None:
        self.sensor = sensor
        self.clock = clock
        self.intervals = Intervals(sensor.interval_s)
        self.last_frame_at: float | None = None
        self.readings = 0
        self.rejected: Counter[str] = Counter()

    def run(self, emit: Callable[[list[Any]], None], stop: Any) -> None:
        """Read until ``stop`` is set; the open interval is emitted, cut, on the way out."""
        try:
            while not stop.is_set():
                finished = self._read_once()
                if finished:
                    emit(list(finished))
                stop.wait(self.sensor.poll_s)
        finally:
            cut = self.intervals.cut()
            if cut is not None:
                emit([cut])

    def _read_once(self) -> list[Interval]:
        body = fetch(self.sensor.url, self.sensor.timeout_s)  # OSError: the run fails
        t = self.clock()
        try:
            totals = totals_from(body, self.sensor.in_key, self.sensor.out_key)
        except FeedError as exc:
            self.rejected["bad_reply"] += 1
            if self.rejected["bad_reply"] == 1:
                log.warning("counter %s: %s; skipped", self.sensor.name, exc)
            return []
        self.readings += 1
        self.last_frame_at = t
        return self.intervals.add(t, totals)

    def stats(self) -> dict[str, object]:
        """What ``status`` and the metrics show."""
        return {
            "frames": self.readings,
            "readings": self.readings,
            "counter_resets": self.intervals.resets,
            "rejected": dict(self.rejected),
        }
