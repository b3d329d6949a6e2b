"""Running totals -> counts per interval, as the counter's readings come.

The feed gives running totals; what happened between two readings is their
difference, counted in the interval of the later reading. A total that went
down means the counter restarted (or was reset at midnight, as many are): it
counted from zero since, so its new total is what happened. The first reading
only sets the baseline: what the counter saw before the box listened is not ours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from edge.sensors.counter.feed import Totals

__all__ = ["Interval", "Intervals"]


@dataclass(frozen=True)
class Interval:
    """People counted in and out from ``start`` to ``end`` (event time, epoch seconds)."""

    start: float
    end: float
    entered: int
    exited: int
    cut: bool = False
    """The interval was cut short (the source stopped): ``end`` is its last reading."""


class Intervals:
    """Folds readings into UTC-aligned intervals of ``interval_s`` seconds; a reading at
    ``t`` belongs to the interval ``(start, end]`` that holds it."""

    def __init__(self, interval_s: int) -> None:
        self.interval_s = interval_s
        self._last: Totals | None = None
        self._last_t = 0.0
        self._from: float | None = None
        """Start of the open interval: its aligned start, or the baseline or cut that began
        it (the record then covers only the time the box was listening)."""
        self._entered = self._exited = 0
        self.resets = 0
        """Readings whose totals went down: the counter restarted."""

    def add(self, t: float, totals: Totals) -> list[Interval]:
        """Fold one reading in; the interval it finished, if any."""
        if self._last is None or self._from is None:
            self._last, self._last_t, self._from = totals, t, t
            return []
        finished: list[Interval] = []
        end = (math.floor(self._from / self.interval_s) + 1) * self.interval_s
        if t > end:
            finished.append(Interval(self._from, end, self._entered, self._exited))
            # Intervals with no reading (the counter was unreachable) are not made up:
            # what it counted meanwhile lands in the interval of this reading.
            self._from = (math.ceil(t / self.interval_s) - 1) * self.interval_s
            self._entered = self._exited = 0
        self._entered += self._delta(self._last.entered, totals.entered)
        self._exited += self._delta(self._last.exited, totals.exited)
        self._last, self._last_t = totals, t
        return finished

    def cut(self) -> Interval | None:
        """The open interval up to the last reading, when the source stops; the next
        reading goes on from there (nothing counted twice, nothing left out)."""
        if self._from is None or self._last_t <= self._from:
            return None  # no reading since it began: nothing counted in it
        done = Interval(self._from, self._last_t, self._entered, self._exited, cut=True)
        self._from = self._last_t
        self._entered = self._exited = 0
        return done

    def _delta(self, before: int, now: int) -> int:
        if now >= before:
            return now - before
        self.resets += 1
        return now
