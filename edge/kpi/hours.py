"""What one hour collects before its traffic and kpi records are made.

Plain containers with JSON forms, so the tracker's state goes into the
daemon's checkpoint with the aggregator's and survives a restart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["HOUR_S", "HourBucket", "Inside", "Sale", "epoch", "hour_of"]

HOUR_S = 3600.0


def epoch(text: str) -> float:
    """A record's ISO 8601 UTC time as seconds since the epoch."""
    return datetime.fromisoformat(text).timestamp()


def hour_of(t: float) -> float:
    """Start of the UTC hour containing ``t``."""
    return (t // HOUR_S) * HOUR_S


@dataclass(slots=True)
class Sale:
    """The part of a transaction record the store figures need."""

    total: float | None
    items: int | None
    refund: bool
    currency: str | None

    def to_json(self) -> list[Any]:
        return [self.total, self.items, self.refund, self.currency]

    @classmethod
    def from_json(cls, data: list[Any]) -> Sale:
        return cls(*data)


@dataclass(slots=True)
class HourBucket:
    """Everything known about one hour, keyed by zone (and radio) or by store."""

    start: float
    zone_hours: dict[str, dict[str, Any]] = field(default_factory=dict)
    """``zone|radio`` -> the aggregator's device counts of the hour."""
    dwells: dict[str, list[float]] = field(default_factory=dict)
    """``zone|radio`` -> lengths of the visitor dwell sessions that ended in the hour."""
    repeats: dict[str, int] = field(default_factory=dict)
    """``zone|radio`` -> visits ended in the hour that returned to the zone."""
    entries: dict[str, int] = field(default_factory=dict)
    """zone -> camera line entries (``in``) in the hour."""
    exits: dict[str, int] = field(default_factory=dict)
    """zone -> camera line exits (``out``) in the hour."""
    sales: dict[str, list[Sale]] = field(default_factory=dict)
    """store -> receipts printed in the hour."""
    sure_dwells: dict[str, list[float]] = field(default_factory=dict)
    """``zone|radio`` -> lengths of the dwell sessions of phones whose linking is sure (a
    global MAC: one phone from first to last probe) that ended in the hour."""

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "zone_hours": self.zone_hours,
            "dwells": self.dwells,
            "repeats": self.repeats,
            "entries": self.entries,
            "exits": self.exits,
            "sales": {k: [s.to_json() for s in v] for k, v in self.sales.items()},
            "sure_dwells": self.sure_dwells,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HourBucket:
        return cls(
            start=data["start"],
            zone_hours=dict(data["zone_hours"]),
            dwells={k: list(v) for k, v in data["dwells"].items()},
            repeats=dict(data["repeats"]),
            entries=dict(data["entries"]),
            exits=dict(data.get("exits", {})),
            sales={k: [Sale.from_json(s) for s in v] for k, v in data["sales"].items()},
            sure_dwells={k: list(v) for k, v in data.get("sure_dwells", {}).items()},
        )


@dataclass(slots=True)
class Inside:
    """People inside each zone whose door a camera counts, at the start of the next hour
    to close: entries minus exits since the local day began (malls close at night; a
    day's miscounts do not carry into the next), never below zero; and the crossings
    counted since then, whose miscounts that running figure has gathered."""

    zones: dict[str, list[Any]] = field(default_factory=dict)
    """zone -> [local date, people inside, crossings (entries and exits) so far]."""

    def at(
        self, zone: str, start: float, day: str, open_hours: dict[float, HourBucket]
    ) -> tuple[float, float]:
        """(people inside, crossings so far) of ``zone`` when the hour ``start`` (of local
        date ``day``) began: the closed hours' count, plus the hours still open before it."""
        counts = self._closed(zone, day)
        for hour in sorted(open_hours):
            if hour >= start:
                break
            counts = _fold(counts, open_hours[hour], zone)
        return counts

    def close_hour(self, bucket: HourBucket, day: str) -> None:
        """Fold a closed hour's entries and exits in."""
        for zone in bucket.entries.keys() | bucket.exits.keys():
            self.zones[zone] = [day, *_fold(self._closed(zone, day), bucket, zone)]

    def _closed(self, zone: str, day: str) -> tuple[float, float]:
        """(inside, crossings) after the last closed hour, if that hour was of ``day``."""
        known = self.zones.get(zone)
        if known is None or known[0] != day:
            return 0.0, 0.0
        return float(known[1]), float(known[2]) if len(known) > 2 else 0.0

    def to_json(self) -> dict[str, list[Any]]:
        return {z: list(v) for z, v in self.zones.items()}

    @classmethod
    def from_json(cls, data: dict[str, list[Any]] | None) -> Inside:
        return cls({z: list(v) for z, v in (data or {}).items()})


def _fold(counts: tuple[float, float], bucket: HourBucket, zone: str) -> tuple[float, float]:
    """(inside, crossings) after one more hour of ``zone``'s door counts."""
    inside, crossings = counts
    came, went = bucket.entries.get(zone, 0), bucket.exits.get(zone, 0)
    return max(inside + came - went, 0.0), crossings + came + went
