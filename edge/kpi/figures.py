"""The arithmetic of the hourly figures: pure functions of what an hour collected.

`mallsense report` reads the records these make, so the figures a store manager
sees and the ones the platform receives are the same numbers.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from edge.aggregate.state import people_sums
from edge.estimate.camera import camera_people
from edge.estimate.dwell import dwell_figures
from edge.estimate.hourly import HourPeople, hour_people
from edge.kpi.calibration import Ratio
from edge.kpi.hours import Sale
from edge.record_dicts import HourFiguresDict, StoreFiguresDict, TrafficEstimateDict

__all__ = ["hour_estimates", "percentile", "store_figures", "traffic_figures"]


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100), linear between closest ranks; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    value = ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
    return round(value, 1)


def traffic_figures(
    zone_hour: dict[str, Any],
    dwells: Sequence[float],
    repeats: int,
    people: int | None,
    ratio: Ratio | None,
) -> HourFiguresDict:
    """One zone's hour: devices, visitors, capture rate, dwell, repeats, people estimate."""
    devices, visitors = zone_hour["devices"], zone_hour["visitors"]
    return {
        "devices": devices,
        "devices_raw": zone_hour["devices_raw"],
        "grouping_confidence": zone_hour["grouping_confidence"],
        "visitors": visitors,
        "passersby": devices - visitors,
        "capture_rate": round(visitors / devices, 4) if devices else None,
        "dwell_sessions": len(dwells),
        "dwell_median_s": percentile(dwells, 50),
        "dwell_p90_s": percentile(dwells, 90),
        "repeat_visits": repeats,
        "people_counted": people,
        "devices_per_person": ratio.value if ratio is not None else None,
        "ratio_source": ratio.source if ratio is not None else None,
        "people_estimate": round(visitors / ratio.value, 1) if ratio is not None else None,
        "people_method": "camera-ratio" if ratio is not None else None,
    }


def _unseen(sums: list[float] | None) -> float:
    """The hour's mean time a stay lasts beyond its first-to-last scans (s): a session runs
    from a phone's first scan in the zone to its last, and the stay began and ended, on
    average, a forward and a backward recurrence time of its scans away
    (``ScanRates.unseen``, summed in ``people_sums[6]``; an hour checkpointed before that
    gets what was assumed then, ``edge.aggregate.state.people_sums``)."""
    if not sums or not sums[0] or len(sums) < 6:
        return 0.0
    return people_sums(sums)[6] / sums[0]


def hour_estimates(
    zone_hour: dict[str, Any],
    figures: HourFiguresDict,
    sure: Sequence[float],
    pooled: tuple[Sequence[float], Sequence[float]],
    turnover: float,
    counted: tuple[float, float, float] | None = None,
) -> tuple[HourFiguresDict, TrafficEstimateDict]:
    """The estimates of one zone's hour that need no linking (``edge.estimate``): people
    with a 90 % interval, and dwell from sure sessions or Little's law. They replace the
    camera ratio's people estimate where the rate estimator ran (Wi-Fi with grouping),
    and the sessions' dwell where a method made one: the figures come back with those
    replaced, beside the estimate fields. ``pooled``: the zone's recent sure sessions,
    and the whole box's (empty where the zone's suffice). ``counted``: (people inside at
    the hour's start, entries, crossings counted since the day began) where a camera
    counts the zone's door; fused in (``edge.estimate.camera``)."""
    sums = zone_hour.get("people_sums")
    hour = hour_people(sums, zone_hour["followed"], turnover) if sums else None
    unseen = _unseen(sums)
    zone_pool, box_pool = pooled
    dwell = dwell_figures(
        [s + unseen for s in sure],
        [s + unseen for s in zone_pool],
        (hour.turnover, hour.turnover_rel_var) if hour is not None else None,
        [s + unseen for s in box_pool],
    )
    method = dwell["dwell_method"]
    if method == "none":  # neither: the devices' own sessions, said so
        method = "sessions"
    else:
        median, p90 = dwell["dwell_median_s"], dwell["dwell_p90_s"]
        figures = {**figures, "dwell_median_s": median, "dwell_p90_s": p90}
    figures, (low, high, weight) = _people(figures, hour, counted)
    estimates: TrafficEstimateDict = {
        "dwell_sure_sessions": len(sure),
        "dwell_method": method,
        "dwell_median_low_s": dwell["dwell_median_low_s"],
        "dwell_median_high_s": dwell["dwell_median_high_s"],
        "dwell_p90_low_s": dwell["dwell_p90_low_s"],
        "dwell_p90_high_s": dwell["dwell_p90_high_s"],
        "people_low": low,
        "people_high": high,
        "people_method": figures["people_method"],
        "people_present": hour.present if hour is not None else None,
        "people_camera_weight": weight,
    }
    return figures, estimates


def _people(
    figures: HourFiguresDict, hour: HourPeople | None, counted: tuple[float, float, float] | None
) -> tuple[HourFiguresDict, tuple[float | None, float | None, float | None]]:
    """The hour's people: the rate estimate where it ran, fused with the door camera's
    count where there is one; the figures with them, and (low, high, camera weight)."""
    low, high = (hour.low, hour.high) if hour is not None else (None, None)
    if hour is not None:
        figures = {**figures, "people_estimate": hour.people, "people_method": hour.method}
    if counted is None:
        return figures, (low, high, None)
    rate = (hour.people, hour.low, hour.high) if hour is not None else None
    people, low, high, weight = camera_people(*counted, rate)
    rate_method = hour.method if hour is not None else None  # null: the camera alone
    figures = {**figures, "people_estimate": people, "people_method": rate_method}
    return figures, (low, high, weight)


def store_figures(sales: Sequence[Sale], entries: float | None) -> StoreFiguresDict:
    """One store's hour: receipts, net sales, ticket, items, conversion."""
    tickets = [s for s in sales if not s.refund]
    totals = [s.total for s in tickets if s.total is not None]
    items = [s.items for s in tickets if s.items is not None]
    average = round(sum(totals) / len(totals), 2) if totals else None
    conversion = round(len(tickets) / entries, 4) if entries else None
    contribution = None
    if conversion is not None and average is not None:
        contribution = round(conversion * average, 2)
    currencies = Counter(s.currency for s in sales if s.currency)
    return {
        "transactions": len(tickets),
        "refunds": len(sales) - len(tickets),
        "sales": round(sum(s.total for s in sales if s.total is not None), 2),
        "currency": currencies.most_common(1)[0][0] if currencies else None,
        "average_ticket": average,
        "items_per_ticket": round(sum(items) / len(items), 2) if items else None,
        "conversion": conversion,
        "expected_contribution": contribution,
        "unread_receipts": sum(1 for s in sales if s.total is None),
    }
