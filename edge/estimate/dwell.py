"""Dwell per zone and hour that does not rest on linking every random MAC.

- ``sessions-sure``: the hour has enough dwell sessions of phones whose linking is
  sure (a global MAC is one phone from its first probe to its last): their median and
  90th percentile, with distribution-free 90 % intervals (order statistics).
- ``little``: too few sure sessions. Little's law gives the mean stay from the hour's
  occupancy and arrivals: mean stay = people present / arrival rate, and arrivals =
  distinct people - people present (``edge.estimate.hourly``), so mean stay =
  3600 s / (turnover - 1). The shape (median and p90 over the mean) comes from the
  zone's recent sure sessions, pooled over hours; while the zone has too few of those
  (its first hours, a zone where few phones keep their MAC), from every zone's of the
  box, with a wider interval: stays differ between zones more in length than in shape.
- ``none``: neither (no sure session ever, or no turnover): the figures are null.

Grouped sessions of random MACs are never used for dwell: chains of random MACs swap
between people and split (docs/grouping.md), which made "1 s" medians possible.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final

from edge.estimate.people import log_interval

__all__ = ["MIN_SURE", "POOL", "dwell_figures", "quantile_interval"]

MIN_SURE: Final = 8
"""Sure sessions an hour needs for its own median (the 90 % interval of a median of 8
spans the 2nd to the 7th of them)."""
_MIN_FEW: Final = 3
"""Without Little's law (no pool yet), this many sure sessions still make the median."""
SHRINK: Final = 20.0
"""Sure sessions the zone's recent ones are worth against an hour's own (tuning set)."""
POOL: Final = 400
"""Recent sure sessions kept per zone for the shape of the stay distribution."""
_SHAPE_REL_SD: Final = 0.2
_BOX_SHAPE_REL_SD: Final = 0.35
"""The shape of the box's stays, not the zone's: a median-to-mean ratio from 0.6 (a few
very long stays) to 1.1 (short stays only) is 0.35 either way around 0.8."""
_HOUR_S: Final = 3600.0


def _quantile(ordered: Sequence[float], q: float) -> float:
    rank = (len(ordered) - 1) * q
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def quantile_interval(ordered: Sequence[float], q: float) -> tuple[float, float, float]:
    """(estimate, low, high) of the q-quantile of sorted ``ordered``: a 90 % interval from
    the binomial ranks around ``n q`` (normal approximation)."""
    n = len(ordered)
    half = 1.645 * math.sqrt(n * q * (1 - q))
    lo = min(max(math.floor(n * q - half) - 1, 0), n - 1)
    hi = min(max(math.ceil(n * q + half), 0), n - 1)
    return round(_quantile(ordered, q), 1), round(ordered[lo], 1), round(ordered[hi], 1)


def dwell_figures(
    sure: Sequence[float],
    pooled: Sequence[float],
    turnover: tuple[float, float] | None,
    box_pooled: Sequence[float] = (),
) -> dict[str, Any]:
    """The dwell fields of a traffic record: ``sure`` the hour's sure sessions, ``pooled``
    the zone's recent ones, ``turnover`` (value, relative variance) of the hour,
    ``box_pooled`` every zone's recent ones (the shape while the zone has too few)."""
    if len(sure) >= MIN_SURE or (len(sure) >= _MIN_FEW and len(pooled) >= MIN_SURE):
        return _sure(sure, pooled)
    if len(pooled) < MIN_SURE and len(sure) >= _MIN_FEW:
        # a few of the zone's own sure stays beat a shape borrowed from other zones
        ordered = sorted(sure)
        median, m_low, m_high = quantile_interval(ordered, 0.5)
        p90, p_low, p_high = quantile_interval(ordered, 0.9)
        return _fields("sessions-sure", median, m_low, m_high, p90, p_low, p_high)
    shape, shape_rel_sd = (pooled, _SHAPE_REL_SD)
    if len(pooled) < MIN_SURE:
        shape, shape_rel_sd = (box_pooled, _BOX_SHAPE_REL_SD)
    if turnover is None or turnover[0] <= 1.0 or len(shape) < MIN_SURE:
        return _fields("none", None, None, None, None, None, None)
    return _little(turnover, shape, shape_rel_sd)


def _little(
    turnover: tuple[float, float], shape: Sequence[float], shape_rel_sd: float
) -> dict[str, Any]:
    """Little's law: the hour's mean stay from its turnover, made a median and a p90 by
    the ratios of sure sessions' quantiles to their mean (``shape``)."""
    value, rel_var = turnover
    mean = _HOUR_S / (value - 1.0)
    ordered = sorted(shape)
    pooled_mean = sum(ordered) / len(ordered)
    if pooled_mean <= 0:
        return _fields("none", None, None, None, None, None, None)
    # d(mean)/mean = -turnover/(turnover - 1) * d(turnover)/turnover
    mean_rel_var = rel_var * (value / (value - 1.0)) ** 2 + shape_rel_sd**2
    median = mean * _quantile(ordered, 0.5) / pooled_mean
    p90 = mean * _quantile(ordered, 0.9) / pooled_mean
    m_low, m_high = log_interval(median, mean_rel_var)
    p_low, p_high = log_interval(p90, mean_rel_var)
    return _fields("little", round(median, 1), m_low, m_high, round(p90, 1), p_low, p_high)


def _sure(sure: Sequence[float], pooled: Sequence[float]) -> dict[str, Any]:
    """The hour's sure sessions, their median and p90 shrunk towards the zone's recent
    ones (``pooled``) by ``SHRINK`` sessions' worth: an hour has ten or twenty sure
    sessions, whose median alone wanders by a fifth; the interval stays the hour's own,
    widened to hold the shrunk value."""
    ordered = sorted(sure)
    median, m_low, m_high = quantile_interval(ordered, 0.5)
    p90, p_low, p_high = quantile_interval(ordered, 0.9)
    if len(pooled) >= MIN_SURE:
        share = len(ordered) / (len(ordered) + SHRINK)
        past = sorted(pooled)
        median = round(share * median + (1 - share) * _quantile(past, 0.5), 1)
        p90 = round(share * p90 + (1 - share) * _quantile(past, 0.9), 1)
        m_low, m_high = min(m_low, median), max(m_high, median)
        p_low, p_high = min(p_low, p90), max(p_high, p90)
    return _fields("sessions-sure", median, m_low, m_high, p90, p_low, p_high)


def _fields(
    method: str,
    median: float | None,
    m_low: float | None,
    m_high: float | None,
    p90: float | None,
    p_low: float | None,
    p_high: float | None,
) -> dict[str, Any]:
    return {
        "dwell_method": method,
        "dwell_median_s": median,
        "dwell_median_low_s": m_low,
        "dwell_median_high_s": m_high,
        "dwell_p90_s": p90,
        "dwell_p90_low_s": p_low,
        "dwell_p90_high_s": p_high,
    }
