"""The figures of the crowd benchmark: errors of each counting method against the truth."""

from __future__ import annotations

import statistics
from typing import Any

from .evaluate import Evaluation, Tracker
from .mall import SENSORS

__all__ = ["figures", "true_path"]


def true_path(stays: list[list[Any]]) -> tuple[str, ...]:
    """The ordered shops and food court of a visit (the corridor connects them all)."""
    zones = [z for z, _a, _b in stays if z != "corridor"]
    return tuple(z for i, z in enumerate(zones) if i == 0 or zones[i - 1] != z)


def _rel(value: float, truth: float) -> float:
    return round((value - truth) / truth, 4) if truth else 0.0


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def _truth(truth: dict[str, Any], heard: set[int]) -> dict[str, Any]:
    zone_visitors = dict.fromkeys(SENSORS, 0)
    dwell: dict[str, list[float]] = {z: [] for z in SENSORS}
    paths: dict[int, tuple[str, ...]] = {}
    for person in truth["people"]:
        if person["pid"] not in heard:
            continue
        stays = person["stays"]
        for zone in {z for z, _a, _b in stays}:
            zone_visitors[zone] += 1
        for zone, a, b in stays:
            dwell[zone].append(b - a)
        paths[person["pid"]] = true_path(stays)
    return {
        "people": len(truth["people"]),
        "wifi_on": sum(1 for p in truth["people"] if p["wifi_on"]),
        "heard": len(heard),
        "zone_visitors": zone_visitors,
        "median_dwell_s": {z: round(_median(v), 1) for z, v in dwell.items()},
        "median_visit_s": round(
            _median([p["stays"][-1][2] - p["stays"][0][1] for p in truth["people"]]), 1
        ),
        "paths": paths,
    }


def _method(t: Tracker, ref: dict[str, Any]) -> dict[str, Any]:
    paths = ref["paths"]
    right = sum(1 for pid, path in paths.items() if t.best.get(pid, (0, ()))[1] == path)
    zones = {}
    for z in SENSORS:
        med = _median(t.dwell.get(z, []))
        zones[z] = {
            "visitors": t.zone_devices[z],
            "visitors_error": _rel(t.zone_devices[z], ref["zone_visitors"][z]),
            "median_dwell_s": round(med, 1),
            "median_dwell_error": _rel(med, ref["median_dwell_s"][z]),
        }
    main, frames = sum(a for a, _ in t.purity), sum(b for _, b in t.purity)
    return {
        "visitors": t.devices,
        "visitors_error": _rel(t.devices, ref["heard"]),
        "path_accuracy": round(right / len(paths), 4) if paths else 0.0,
        "purity": round(main / frames, 4) if frames else 0.0,
        "devices_per_visitor": round(t.devices / ref["heard"], 3) if ref["heard"] else 0.0,
        "zones": zones,
    }


def figures(ev: Evaluation, truth: dict[str, Any]) -> dict[str, Any]:
    """Everything run.py prints, as one JSON-ready dict."""
    ref = _truth(truth, set(ev.oracle.best))
    methods = {
        name: _method(t, ref)
        for name, t in (("raw", ev.raw), ("grouped", ev.grouped), ("oracle", ev.oracle))
    }
    raw_err, grouped_err = methods["raw"]["visitors_error"], methods["grouped"]["visitors_error"]
    return {
        "truth": {k: v for k, v in ref.items() if k != "paths"},
        "methods": methods,
        "grouping": ev.grouper,
        "mean_group_confidence": round(statistics.fmean(ev.confidences), 4)
        if ev.confidences
        else 0.0,
        "probes": ev.probes,
        "grouping_probes_per_s": round(ev.probes / ev.group_seconds) if ev.group_seconds else 0,
        "target_met": abs(grouped_err) <= 0.10 and abs(raw_err) > 1.0,
        "raw_over_grouped_error": round(abs(raw_err) / abs(grouped_err), 1)
        if grouped_err
        else None,
    }
