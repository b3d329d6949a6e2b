"""Scoring the box's own records per zone and hour against the simulator's truth.

Truth per zone-hour (every person, Wi-Fi on or off: the mall counts people, not phones):

- ``people``: distinct people whose stay in the zone overlaps the hour;
- ``present``: mean number of people in the zone over the hour;
- ``dwell_median_s``: median length of the stays in the zone that ended in the hour
  (what a ``traffic`` record's dwell figures describe).

The box's side is its ``traffic`` records (people with a 90 % interval, dwell median)
and its ``presence`` records (people present per interval, averaged over the hour). A
figure that is missing (``None``) is scored with the record's fallback (``visitors``
for people: what the box said before it had an estimate) and counted as missing.
"""

from __future__ import annotations

import statistics
from datetime import datetime
from typing import Any

__all__ = ["score_hours", "summarize", "truth_hours"]

HOUR_S = 3600.0


def truth_hours(truth: dict[str, Any]) -> dict[tuple[str, float], dict[str, Any]]:
    """(zone, hour start epoch) -> the true figures of that zone-hour."""
    day = truth["day_epoch"]
    people: dict[tuple[str, float], set[int]] = {}
    seconds: dict[tuple[str, float], float] = {}
    ended: dict[tuple[str, float], list[float]] = {}
    for person in truth["people"]:
        for zone, a, b in person["stays"]:
            start, end = day + a, day + b
            h = start // HOUR_S * HOUR_S
            while h < end:
                key = (zone, h)
                people.setdefault(key, set()).add(person["pid"])
                seconds[key] = seconds.get(key, 0.0) + min(end, h + HOUR_S) - max(start, h)
                h += HOUR_S
            ended.setdefault((zone, end // HOUR_S * HOUR_S), []).append(b - a)
    return {
        key: {
            "people": len(pids),
            "present": seconds[key] / HOUR_S,
            "dwell_median_s": statistics.median(ended[key]) if key in ended else None,
        }
        for key, pids in people.items()
    }


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def score_hours(
    truth: dict[str, Any], records: list[dict[str, Any]], min_people: int = 5
) -> list[dict[str, Any]]:
    """One row per zone-hour with at least ``min_people`` true people: truth and estimate."""
    true = truth_hours(truth)
    present: dict[tuple[str, float], list[float]] = {}
    for r in records:
        if r["kind"] == "presence" and r["source"] == "wifi" and not r["partial"]:
            value = r.get("people_estimate")
            if value is not None:
                key = (r["zone"], _epoch(r["start"]) // HOUR_S * HOUR_S)
                present.setdefault(key, []).append(value)
    rows = []
    for r in records:
        if r["kind"] != "traffic" or r["source"] != "wifi" or r["partial"]:
            continue
        key = (r["zone"], _epoch(r["start"]))
        t = true.get(key)
        if t is None or t["people"] < min_people:
            continue
        estimate = r.get("people_estimate")
        windows = present.get(key, [])
        rows.append({
            "zone": r["zone"], "hour": key[1], "truth": t,
            "people": estimate if estimate is not None else float(r["visitors"]),
            "people_missing": estimate is None,
            "people_low": r.get("people_low"), "people_high": r.get("people_high"),
            "people_method": r.get("people_method"),
            "present": sum(windows) / len(windows) if windows else None,
            "dwell_median_s": r.get("dwell_median_s"),
            "dwell_method": r.get("dwell_method"),
        })  # fmt: skip
    return rows


def _rel(value: float | None, truth: float | None) -> float | None:
    if value is None or not truth:
        return None
    return value / truth - 1


def _mape(errors: list[float | None]) -> float | None:
    kept = [abs(e) for e in errors if e is not None]
    return round(statistics.median(kept), 4) if kept else None


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Errors of a set of zone-hours: total error of the sums, median absolute error per
    zone-hour, interval coverage, dwell error."""
    if not rows:
        return {"zone_hours": 0}
    true_people = sum(r["truth"]["people"] for r in rows)
    est_people = sum(r["people"] for r in rows)
    covered = [
        r["people_low"] <= r["truth"]["people"] <= r["people_high"]
        for r in rows
        if r["people_low"] is not None and r["people_high"] is not None
    ]
    dwell = [_rel(r["dwell_median_s"], r["truth"]["dwell_median_s"]) for r in rows]
    present = [_rel(r["present"], r["truth"]["present"]) for r in rows]
    return {
        "zone_hours": len(rows),
        "people_total_error": round(est_people / true_people - 1, 4),
        "people_median_abs_error": _mape([_rel(r["people"], r["truth"]["people"]) for r in rows]),
        "people_missing": sum(r["people_missing"] for r in rows),
        "coverage_90": round(sum(covered) / len(covered), 4) if covered else None,
        "intervals": len(covered),
        "present_median_abs_error": _mape(present),
        "dwell_median_abs_error": _mape(dwell),
        "dwell_missing": sum(1 for r in rows if r["dwell_median_s"] is None),
    }
