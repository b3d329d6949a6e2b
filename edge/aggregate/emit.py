"""Turning finished (or interrupted) state into contract records.

Records are built as plain dicts in the wire format: this runs tens of
thousands of times a second during a replay, and a validated pydantic model
costs five times as much. The pydantic models in ``edge.records`` stay the
contract: each literal is annotated with its kind's TypedDict, generated from
them (``edge.record_dicts``), so mypy checks its keys and values, and the tests
validate every record the aggregation produces against the models. Each leaves as
the one ``Record`` type the stream carries (a cast: to mypy a TypedDict is not a
``dict[str, Any]``; at run time both are the same dict).
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from edge.aggregate.ids import Record, iso, record_id
from edge.aggregate.state import DeviceState, SessionState, WindowState
from edge.record_dicts import DwellDict, PresenceDict, PresenceEstimateDict, VisitDict, ZoneStopDict

if TYPE_CHECKING:  # the states hold the radio as a plain str ("wifi" or "ble", set by the
    # engine); ``cast("Radio", ...)`` says so to mypy at no cost on the hot path
    from edge.records import Radio

__all__ = ["RecordFactory"]


@dataclass(frozen=True, slots=True)
class RecordFactory:
    """Builds records stamped with this box's identity."""

    mall: str
    box: str

    def dwell(self, dev: DeviceState, zone: str, s: SessionState, partial: bool) -> Record:
        start, last, device = s.start, s.last, dev.device
        key = (
            f"{self.mall}\x1f{self.box}\x1fdwell\x1f{zone}\x1f{device}\x1f{start!r}\x1f{s.revision}"
        )
        record: DwellDict = {
            "id": record_id(start, key),
            "kind": "dwell",
            "schema": "dwell/1",
            "mall": self.mall,
            "box": self.box,
            "supersedes": s.supersedes,
            "zone": zone,
            "device": device,
            "randomized": dev.randomized,
            "source": cast("Radio", dev.source),
            "start": iso(start),
            "end": iso(last),
            "duration_s": round(last - start, 3),
            "samples": s.samples,
            "rssi_max": s.rssi_max,
            "rssi_mean": round(s.rssi_sum / s.samples, 1),
            "partial": partial,
        }
        return cast(Record, record)

    def visit(
        self, dev: DeviceState, stops: list[tuple[str, float, float]], partial: bool
    ) -> Record:
        ordered = stops if len(stops) == 1 else sorted(stops, key=_by_start)
        start = ordered[0][1]
        end = max(b for _, _, b in stops)
        device = dev.device
        key = f"{self.mall}\x1f{self.box}\x1fvisit\x1f{device}\x1f{start!r}\x1f{dev.visit_revision}"
        start_iso, end_iso = iso(start), iso(end)
        path: list[ZoneStopDict]
        if len(ordered) == 1:
            path = [{"zone": ordered[0][0], "start": start_iso, "end": end_iso}]
        else:
            path = [{"zone": z, "start": iso(a), "end": iso(b)} for z, a, b in ordered]
        record: VisitDict = {
            "id": record_id(start, key),
            "kind": "visit",
            "schema": "visit/1",
            "mall": self.mall,
            "box": self.box,
            "supersedes": dev.visit_supersedes,
            "device": device,
            "randomized": dev.randomized,
            "source": cast("Radio", dev.source),
            "start": start_iso,
            "end": end_iso,
            "duration_s": round(end - start, 3),
            "path": path,
            "partial": partial,
        }
        return cast(Record, record)

    def presence(
        self,
        zone: str,
        w: WindowState,
        end: float,
        fixed: Container[str],
        partial: bool,
        source: str = "wifi",
    ) -> Record:
        """One zone's interval for one radio; a zone heard by both radios has two.

        The natural key of a Wi-Fi presence is what it was before BLE existed (its ids
        stay the same); any other radio's key ends with the radio's name.
        """
        devices = [d for d in w.seen if d not in fixed]
        raw = sum(1 for d in w.raw if d not in fixed) if w.raw else len(devices)
        visitors = sum(1 for d in devices if d in w.visitors)
        randomized = sum(1 for d in devices if w.seen[d])
        key = f"{self.mall}\x1f{self.box}\x1fpresence\x1f{zone}\x1f{w.start!r}\x1f{w.revision}"
        if source != "wifi":
            key += f"\x1f{source}"
        record: PresenceDict = {
            "id": record_id(w.start, key),
            "kind": "presence",
            "schema": "presence/1",
            "mall": self.mall,
            "box": self.box,
            "supersedes": w.supersedes,
            "zone": zone,
            "source": cast("Radio", source),
            "start": iso(w.start),
            "end": iso(end),
            "devices": len(devices),
            "devices_raw": raw,
            "grouping_confidence": w.confidence,
            "visitors": visitors,
            "passersby": len(devices) - visitors,
            "randomized_share": round(randomized / len(devices), 4) if devices else 0.0,
            "fixed": len(w.seen) - len(devices),
            "frames": w.frames,
            **_people(w),
            "partial": partial,
        }
        return cast(Record, record)


def _people(w: WindowState) -> PresenceEstimateDict:
    est = w.people
    if est is None:
        return _NO_PEOPLE
    return {
        "people_estimate": est.people,
        "people_low": est.low,
        "people_high": est.high,
        "people_method": est.method,
    }


_NO_PEOPLE: PresenceEstimateDict = {
    "people_estimate": None, "people_low": None, "people_high": None, "people_method": None,
}  # fmt: skip


def _by_start(stop: tuple[str, float, float]) -> float:
    return stop[1]
