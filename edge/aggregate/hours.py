"""The hours of each (zone, radio): presence windows folded into hourly device sets.

An hour ends with its last window (or when time passes it across a silence); its
summary goes to ``edge.kpi``, which makes the ``traffic`` records. The open hours
can hold many thousand pseudonyms, so their JSON form is kept until they change
(once per window) and the pipeline writes it to its own checkpoint row only then.
"""

from __future__ import annotations

import math
from typing import Any

from edge.aggregate.state import HourState, WindowState

__all__ = ["HOUR_S", "HourBook"]

HOUR_S = 3600.0


class HourBook:
    """The open hours, and the summaries of those finished since the last ``drain``."""

    def __init__(self) -> None:
        self.open: dict[tuple[str, str], HourState] = {}
        """(zone, radio) -> the devices of the current hour, folded in window by window."""
        self.version = 0
        """Bumped whenever the hours change (once per interval)."""
        self._json: list[Any] | None = None
        """The hours as the last snapshot wrote them (None: changed since)."""
        self._done: list[dict[str, Any]] = []

    def fold(self, zone: str, source: str, w: WindowState, fixed: dict[str, float]) -> None:
        """Fold a closed window into its zone's hour; an hour ends with its last window."""
        start = math.floor(w.start / HOUR_S) * HOUR_S
        key = (zone, source)
        hour = self.open.get(key)
        if hour is not None and hour.start != start:
            self._done.append(_summary(key, hour, partial=False))
            hour = None
        if hour is None:
            hour = self.open[key] = HourState(start)
        hour.fold(w, fixed)
        self._changed()

    def finish(self, now: float) -> None:
        """Hours that ended before ``now`` (also across a silence with no windows)."""
        for key, hour in list(self.open.items()):
            if hour.start + HOUR_S <= now:
                self._done.append(_summary(key, hour, partial=False))
                del self.open[key]
                self._changed()

    def partial(self, windows: dict[str, dict[str, WindowState]], fixed: dict[str, float]) -> None:
        """The hours still open, with the open windows (by radio, by zone) in, as partial
        summaries."""
        for key, hour in self.open.items():
            zone, source = key
            probe = HourState.from_json(hour.to_json())
            w = windows[source].get(zone)
            if w is not None and math.floor(w.start / HOUR_S) * HOUR_S == hour.start:
                probe.fold(w, fixed)
            self._done.append(_summary(key, probe, partial=True))

    def drain(self) -> list[dict[str, Any]]:
        """Per (zone, radio), the device counts of each hour finished since the last call:
        ``{zone, source, start, devices, devices_raw, visitors, grouping_confidence,
        partial}``."""
        out, self._done = self._done, []
        return out

    def snapshot(self) -> list[Any]:
        """The open hours as JSON (replaced, never changed, when they move on)."""
        if self._json is None:
            self._json = [[z, src, h.to_json()] for (z, src), h in self.open.items()]
        return self._json

    def restore(self, hours: list[Any]) -> None:
        self.open = {(z, src): HourState.from_json(h) for z, src, h in hours}
        self._json = None

    def _changed(self) -> None:
        self._json = None
        self.version += 1


def _summary(key: tuple[str, str], hour: HourState, partial: bool) -> dict[str, Any]:
    return {"zone": key[0], "source": key[1], "partial": partial} | hour.summary()
