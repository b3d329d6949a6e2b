"""Devices per person, learned per zone, radio and hour of the day from camera counts.

A phone is not a person: some carry none, some two, some have Wi-Fi off, and
grouping leaves splits and merges whose balance moves with the crowd (see
docs/grouping.md). Where a zone has a camera line, its entries are the
reference: each hour the ratio of the zone's visitors (devices) to the people
the camera counted is folded into a running estimate for that hour of the day.
A zone without a camera borrows the mean of the box's calibrated zones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from edge.estimate.dwell import POOL

__all__ = ["Calibration", "DwellPool", "Ratio"]

_MIN_PEOPLE = 5
"""An hour with fewer camera entries says too little about the ratio to learn from."""
_SETTLE = 5
"""The first days are averaged; after that the ratio follows drift with this weight..."""
_DRIFT_WEIGHT = 0.2


@dataclass(frozen=True, slots=True)
class Ratio:
    value: float
    source: Literal["zone", "box"]


@dataclass(slots=True)
class Calibration:
    """``zone|radio|hour-of-day`` -> [ratio, hours learned]."""

    table: dict[str, list[float]] = field(default_factory=dict)

    def ratio(self, zone: str, radio: str, hour_of_day: int) -> Ratio | None:
        """The ratio to use for a zone's hour, learned there or borrowed from the box."""
        own = self.table.get(_key(zone, radio, hour_of_day))
        if own is not None:
            return Ratio(round(own[0], 4), "zone")
        suffix = f"|{radio}|{hour_of_day}"
        others = [r for k, (r, _n) in self.table.items() if k.endswith(suffix)]
        if not others:
            return None
        return Ratio(round(sum(others) / len(others), 4), "box")

    def learn(self, zone: str, radio: str, hour_of_day: int, devices: int, people: int) -> None:
        """Fold one hour's observed ratio in (hours with too few people are skipped)."""
        if people < _MIN_PEOPLE or devices <= 0:
            return
        observed = devices / people
        key = _key(zone, radio, hour_of_day)
        entry = self.table.get(key)
        if entry is None:
            self.table[key] = [observed, 1]
            return
        ratio, n = entry
        weight = 1.0 / (n + 1) if n < _SETTLE else _DRIFT_WEIGHT
        self.table[key] = [ratio + weight * (observed - ratio), n + 1]

    def to_json(self) -> dict[str, Any]:
        return {k: list(v) for k, v in self.table.items()}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Calibration:
        return cls({k: [float(v[0]), int(v[1])] for k, v in (data or {}).items()})


def _key(zone: str, radio: str, hour_of_day: int) -> str:
    return f"{zone}|{radio}|{hour_of_day}"


@dataclass(slots=True)
class DwellPool:
    """``zone|radio`` -> the most recent sure dwell sessions (at most ``POOL``): the shape
    of the zone's stays, which turns Little's mean stay into a median and a p90."""

    zones: dict[str, list[float]] = field(default_factory=dict)

    def add(self, key: str, sessions: list[float]) -> None:
        if sessions:
            kept = self.zones.setdefault(key, [])
            kept.extend(sessions)
            del kept[:-POOL]

    def get(self, key: str) -> list[float]:
        return self.zones.get(key, [])

    def box(self, key: str) -> list[float]:
        """Every zone's recent sure sessions heard by ``key``'s radio: the shape of the
        box's stays, for a zone that has too few of its own."""
        radio = key.partition("|")[2]
        return [s for k, v in self.zones.items() if k.partition("|")[2] == radio for s in v]

    def to_json(self) -> dict[str, Any]:
        return {k: list(v) for k, v in self.zones.items()}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> DwellPool:
        return cls({k: [float(x) for x in v] for k, v in (data or {}).items()})
