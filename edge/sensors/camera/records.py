"""A camera's observations -> ``footfall`` and ``occupancy`` records.

Record mapping (``edge.records``), one record per camera interval (``interval_s``,
UTC-aligned) and per configured line or area:

- ``footfall``: a ``LineCount`` -> ``in``/``out`` crossings of the line.
- ``occupancy``: a ``ZoneOccupancy`` -> ``visits`` (people who entered the area),
  ``occupancy_max``/``occupancy_mean`` (people in it, over the interval's frames),
  and ``dwell_s``: the stays (``ZoneDwell``) that ended since the area's previous
  record, i.e. the people whose leaving the camera established in this interval.

An interval the camera did not finish (the daemon stopped, the camera's
process was restarted, a played video ended) comes ``cut``: its record is
``partial`` and ends at its last frame. When the camera continues the same
interval (a restart inside the daemon), the next record of that interval adds
both parts and ``supersedes`` the partial one, as the Wi-Fi sessions do.
After a restart of the daemon itself the two parts stay two records (the first
partial): the consumer adds them. Ids are ``record_id(start, natural key)`` with
the interval's end in the key, so re-processing the same video gives the same ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple, cast

from drivers.camera.observations import LineCount, ZoneDwell, ZoneOccupancy
from edge.aggregate.ids import Record, iso, record_id
from edge.record_dicts import FootfallDict, OccupancyDict

__all__ = ["CameraRecords"]


@dataclass
class _Cut:
    """The record of an interval cut short, which a restarted camera may continue."""

    start: float
    record: Record
    frames: int
    revision: int


@dataclass
class CameraRecords:
    """Folds one camera's observations into ``footfall`` and ``occupancy`` records."""

    mall: str
    box: str
    zone: str
    _cuts: dict[tuple[str, str], _Cut] = field(default_factory=dict)
    _dwell: dict[str, list[float]] = field(default_factory=dict)
    """Per area: stays that ended since its last record."""

    def fold(self, batch: list[Any]) -> list[Record]:
        """Records for the observations in ``batch`` (other items are ignored)."""
        out: list[Record] = []
        for item in batch:
            kind = type(item)
            if kind is LineCount:
                out.append(self.footfall(item))
            elif kind is ZoneOccupancy:
                out.append(self.occupancy(item))
            elif kind is ZoneDwell:
                self._dwell.setdefault(item.zone, []).append(item.dwell_s)
        return out

    def footfall(self, obs: LineCount) -> Record:
        prev = self._continued(("footfall", obs.line), obs.start)
        stamp = self._stamp("footfall", obs, obs.line, prev)
        record: FootfallDict = {
            "id": stamp.id,
            "kind": "footfall",
            "schema": "footfall/1",
            "mall": self.mall,
            "box": self.box,
            "supersedes": stamp.supersedes,
            "camera": obs.camera,
            "line": obs.line,
            "zone": self.zone,
            "start": stamp.start,
            "end": stamp.end,
            "in": obs.entered + (prev.record["in"] if prev else 0),
            "out": obs.exited + (prev.record["out"] if prev else 0),
            "partial": stamp.partial,
        }
        return self._keep(("footfall", obs.line), stamp, cast(Record, record), 0)

    def occupancy(self, obs: ZoneOccupancy) -> Record:
        prev = self._continued(("occupancy", obs.zone), obs.start)
        dwell = [round(d, 1) for d in self._dwell.pop(obs.zone, [])]
        frames = obs.frames + (prev.frames if prev else 0)
        total = obs.mean_occupancy * obs.frames
        if prev is not None:
            total += prev.record["occupancy_mean"] * prev.frames
            dwell = prev.record["dwell_s"] + dwell
        mean = total / frames if frames else obs.mean_occupancy
        stamp = self._stamp("occupancy", obs, obs.zone, prev)
        record: OccupancyDict = {
            "id": stamp.id,
            "kind": "occupancy",
            "schema": "occupancy/1",
            "mall": self.mall,
            "box": self.box,
            "supersedes": stamp.supersedes,
            "camera": obs.camera,
            "area": obs.zone,
            "zone": self.zone,
            "start": stamp.start,
            "end": stamp.end,
            "visits": obs.entries + (prev.record["visits"] if prev else 0),
            "occupancy_max": max(obs.max_occupancy, prev.record["occupancy_max"] if prev else 0),
            "occupancy_mean": round(mean, 3),
            "dwell_s": dwell,
            "partial": stamp.partial,
        }
        return self._keep(("occupancy", obs.zone), stamp, cast(Record, record), frames)

    def _continued(self, series: tuple[str, str], start: float) -> _Cut | None:
        """The cut record this interval continues, if any (older cuts are forgotten)."""
        cut = self._cuts.pop(series, None)
        return cut if cut is not None and cut.start == start else None

    def _stamp(
        self, kind: str, obs: LineCount | ZoneOccupancy, name: str, prev: _Cut | None
    ) -> _Stamp:
        """What a record takes from its interval: id, the record it supersedes, times."""
        start, cut = obs.start, obs.cut
        end = obs.end if cut is None else max(cut, start)
        revision = prev.revision + 1 if prev is not None else 0
        key = "\x1f".join(
            (self.mall, self.box, kind, obs.camera, name, repr(start), repr(end), str(revision))
        )
        supersedes = prev.record["id"] if prev is not None else None
        return _Stamp(record_id(start, key), supersedes, iso(start), iso(end), start, cut, revision)

    def _keep(self, series: tuple[str, str], stamp: _Stamp, record: Record, frames: int) -> Record:
        """Remember the record of an interval cut short: a restarted camera may continue it."""
        if stamp.cut is not None:
            self._cuts[series] = _Cut(stamp.t_start, record, frames, stamp.revision)
        return record


class _Stamp(NamedTuple):
    id: str
    supersedes: str | None
    start: str
    end: str
    t_start: float
    cut: float | None
    revision: int

    @property
    def partial(self) -> bool:
        return self.cut is not None
