"""How long people stayed and which way they walked: from ``dwell`` and ``visit`` records.

- The dwell histogram counts the day's dwell sessions per zone and radio in bins
  of minutes (partial sessions, cut short by a stop, are counted at their length
  so far, and their number is given).
- The zone flow counts, per radio, the transitions between consecutive zones of
  the visits' paths (``A -> B``), with where visits arrived first and left last.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from edge.kpi.figures import percentile
from edge.records import Record

__all__ = ["DWELL_BINS", "DWELL_EDGES_S", "DwellHistogram", "ZoneFlow", "dwell", "flows"]

DWELL_EDGES_S = (60.0, 300.0, 900.0, 1800.0, 3600.0)
"""Bin edges in seconds: a session of exactly 5 minutes is in the 5-15 minute bin."""
DWELL_BINS = ("<1 min", "1-5 min", "5-15 min", "15-30 min", "30-60 min", ">60 min")


@dataclass(frozen=True, slots=True)
class DwellHistogram:
    """The dwell sessions of one zone heard by one radio."""

    zone: str
    source: str
    counts: list[int]
    """Sessions per bin of ``DWELL_BINS``."""
    partial: int
    median_s: float | None
    p90_s: float | None

    @property
    def sessions(self) -> int:
        return sum(self.counts)

    def to_json(self) -> dict[str, Any]:
        return {
            "zone": self.zone,
            "source": self.source,
            "sessions": self.sessions,
            "counts": self.counts,
            "partial": self.partial,
            "median_s": self.median_s,
            "p90_s": self.p90_s,
        }


@dataclass(frozen=True, slots=True)
class ZoneFlow:
    """Transitions between zones on the visits heard by one radio."""

    source: str
    zones: list[str]
    matrix: list[list[int]]
    """``matrix[i][j]``: visits that went from ``zones[i]`` straight to ``zones[j]``."""
    visits: int
    arrivals: dict[str, int]
    """First zone of a visit -> visits."""
    departures: dict[str, int]
    """Last zone of a visit -> visits."""

    @property
    def transitions(self) -> int:
        return sum(map(sum, self.matrix))

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "visits": self.visits,
            "transitions": self.transitions,
            "zones": self.zones,
            "matrix": self.matrix,
            "arrivals": self.arrivals,
            "departures": self.departures,
        }


def dwell(records: list[Record]) -> list[DwellHistogram]:
    """One histogram per zone and radio."""
    groups: dict[tuple[str, str], list[Record]] = {}
    for r in records:
        groups.setdefault((r["zone"], r.get("source", "wifi")), []).append(r)
    out = []
    for (zone, source), sessions in sorted(groups.items()):
        counts = [0] * len(DWELL_BINS)
        for r in sessions:
            counts[bisect_right(DWELL_EDGES_S, r["duration_s"])] += 1
        lengths = [r["duration_s"] for r in sessions]
        partial = sum(1 for r in sessions if r.get("partial"))
        out.append(
            DwellHistogram(
                zone, source, counts, partial, percentile(lengths, 50), percentile(lengths, 90)
            )
        )
    return out


def flows(visits: list[Record], zone: str | None = None) -> list[ZoneFlow]:
    """One flow per radio; with ``zone``, only the visits and transitions through it."""
    by_source: dict[str, list[list[str]]] = {}
    for r in visits:
        path = _path(r)
        if path and (zone is None or zone in path):
            by_source.setdefault(r.get("source", "wifi"), []).append(path)
    return [_flow(source, paths, zone) for source, paths in sorted(by_source.items())]


def _path(visit: Record) -> list[str]:
    """The zones of a visit in order, a zone repeated back to back counted once."""
    path: list[str] = []
    for stop in visit["path"]:
        if not path or path[-1] != stop["zone"]:
            path.append(stop["zone"])
    return path


def _flow(source: str, paths: list[list[str]], zone: str | None) -> ZoneFlow:
    moves: Counter[tuple[str, str]] = Counter()
    for path in paths:
        for a, b in pairwise(path):
            if zone is None or zone in (a, b):
                moves[a, b] += 1
    zones = sorted({z for path in paths for z in path})
    if zone is not None:
        zones = sorted({zone} | {z for pair in moves for z in pair})
    matrix = [[moves[a, b] for b in zones] for a in zones]
    arrivals = Counter(path[0] for path in paths)
    departures = Counter(path[-1] for path in paths)
    first, last = dict(sorted(arrivals.items())), dict(sorted(departures.items()))
    return ZoneFlow(source, zones, matrix, len(paths), first, last)
