"""People present per zone and interval, without linking random MACs (a rate estimator).

Each Wi-Fi presence interval, the aggregator records per pseudonym its first and last
probe, its loudest RSSI, its *scan events* (runs of probes less than a second apart),
its fingerprint class and whether its MAC is randomized (``edge.aggregate.state.hear``),
and counts them per zone (``tally_window``, compiled: it runs over every pseudonym):

1. **Where**: a pseudonym heard by several sensors belongs to the zone whose sensor
   heard it loudest (its probes through a wall count for no one else), if that sensor
   heard it at the zone's visitor level (``visitor_rssi_dbm``): else it is passing by.
2. **Followed or not**: a MAC heard across scans (over ``FOLLOW_SPAN_S``: a global MAC,
   or one kept for minutes) belongs to a phone the box can follow: its scan events are
   its own. Every other MAC is a random one of a scan (or of a burst within one); a
   global MAC heard once proves nothing (an anonymizer may clear the local bit).

This module turns the counts into people:

3. **Scan events**: followed phones' events count as they are; a class's random MACs
   count ``1 / macs_per_scan`` each (``ScanRates``: several MACs per scan for phones
   that change MAC per burst).
4. **Phones present** = events x mean scan interval heard in the zone / interval, and
   **people** = phones / the share of people whose phone probes at all
   (``AggregationConfig.wifi_phone_share``).
5. **With the grouped devices** (``rate+devices``): the devices inside, scaled by their
   ratio to the rate estimate over the zone's last half hour: steadier per interval.

The interval (90 %) is log-normal around the estimate, from the count (Poisson), the
uncertainty of the learned interval and MACs per scan, the phone share and a model
term chosen on the tuning scenarios (docs/figures.md, "How each estimator fails").
The followed phones also teach ``ScanRates`` the zone's scan interval: each run of one
followed MAC in one zone gives its scans and how long it stayed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal, NamedTuple

from edge.estimate.rates import ScanRates

if TYPE_CHECKING:
    from edge.aggregate.state import Run, ZoneTally

__all__ = ["FOLLOW_SPAN_S", "Z90", "PeopleEstimator", "WindowPeople", "log_interval"]

Z90: Final = 1.645
"""Two-sided 90 %: the estimate's log +- 1.645 standard deviations."""
MODEL_REL_SD: Final = 0.12
"""What the count, interval and class terms do not explain (tuning scenarios only)."""
PHONE_SHARE_REL_SD: Final = 0.05
FOLLOW_SPAN_S: Final = 3.0
"""A MAC heard over more than this is kept across scans (one scan lasts up to 1.4 s)."""
_RATIO_FORGET: Final = 0.97
"""Weight kept per interval by the people-per-device ratio (about 30 intervals)."""
_RATIO_MIN_DEVICES: Final = 20.0
_EMPTY_UPPER: Final = 3.0
"""Scan events an empty zone might still hide (Poisson: 95 % of zero counts lie below)."""


class WindowPeople(NamedTuple):
    """One zone's interval: people present, and the parts the hour figures add up."""

    people: float
    low: float
    high: float
    count_var: float
    """Variance of ``people`` from the counts alone (independent between intervals)."""
    sys_rel_var: float
    """Relative variance shared by the intervals of an hour (interval, classes, share)."""
    followed_present: float
    """Phones with a global MAC present (phones, not people): the sample whose turnover
    the hour's figure uses (``edge.estimate.hourly``)."""
    followed: tuple[str, ...]
    """The global MACs (pseudonyms) heard in the zone."""
    method: Literal["rate", "rate+devices"] = "rate"
    scale: float = 0.0
    """People per scan event in this zone and interval."""
    interval: float = 0.0
    """The mean scan interval heard in the zone (s), as learned so far."""
    unseen: float = 0.0
    """Seconds a stay lasts beyond its first and last scan in the zone, on average
    (``ScanRates.unseen``): what a dwell session from first scan to last leaves out."""


def log_interval(value: float, rel_var: float) -> tuple[float, float]:
    """A 90 % log-normal interval around ``value`` with relative variance ``rel_var``."""
    spread = math.exp(Z90 * math.sqrt(rel_var))
    return round(value / spread, 1), round(value * spread, 1)


@dataclass
class PeopleEstimator:
    """Turns each interval's heard pseudonyms into people present per zone."""

    interval_s: float
    phone_share: float = 0.9
    gap_s: float = 300.0
    enter_dbm: dict[str, int] = field(default_factory=dict)
    """zone -> the RSSI at which a phone is inside (the zone's ``visitor_rssi_dbm``)."""
    rates: ScanRates = field(default_factory=ScanRates)
    runs: dict[str, Run] = field(default_factory=dict)
    """Followed MAC -> its current run in a zone (``edge.aggregate.state.tally_window``)."""
    _ratio: dict[str, list[float]] = field(default_factory=dict)
    """zone -> [rate people, grouped devices, scan events], summed with forgetting."""

    def close(
        self,
        tallies: dict[str, ZoneTally],
        runs: dict[str, list[float]],
        devices: dict[str, int],
    ) -> dict[str, WindowPeople]:
        """People per zone for one interval, from what ``tally_window`` counted in it;
        ``runs``: zone -> the sums of the followed MACs' runs that ended
        (``run_evidence``: the scan interval's evidence); ``devices``: zone -> grouped
        devices inside (visitors)."""
        for zone, sums in runs.items():
            self.rates.learn_runs(zone, sums)
        out = {
            z: self._combine(z, self._estimate(z, t), devices.get(z, 0)) for z, t in tallies.items()
        }
        for t in tallies.values():
            for fp, firsts in t.firsts.items():
                self.rates.learn_siblings(fp, firsts, self.interval_s)
        self.rates.decay()
        return out

    def _estimate(self, zone: str, t: ZoneTally) -> WindowPeople:
        events = float(t.followed_events)
        m_var = 0.0
        for fp, firsts in t.firsts.items():
            macs, rel_se = self.rates.macs_per_scan(fp)
            share = len(firsts) / macs
            events += share
            m_var += (share * rel_se) ** 2
        interval, interval_se = self.rates.interval(zone)
        scale = interval / self.interval_s / self.phone_share
        people = events * scale
        sys_rel_var = interval_se**2 + PHONE_SHARE_REL_SD**2 + MODEL_REL_SD**2
        if events > 0:
            sys_rel_var += m_var / events**2
            count_var = events * scale**2
            low, high = log_interval(people, sys_rel_var + 1.0 / max(events, 1.0))
        else:
            count_var = scale**2
            low, high = 0.0, round(_EMPTY_UPPER * scale, 1)
        followed = t.global_events * interval / self.interval_s
        return WindowPeople(
            round(people, 2), low, high, count_var, sys_rel_var, followed, tuple(t.followed),
            "rate", scale, interval, self.rates.unseen(zone),
        )  # fmt: skip

    def _combine(self, zone: str, rate: WindowPeople, devices: int) -> WindowPeople:
        """The grouped devices' count follows the crowd minute by minute, but its level is
        off by the grouping's splits and merges; the rate estimate has the level, but few
        scan events a minute. Their ratio, over the zone's last half hour or so, scales
        the devices to people: the level of one, the steadiness of the other."""
        sums = self._ratio.setdefault(zone, [0.0, 0.0, 0.0])
        sums[0] = sums[0] * _RATIO_FORGET + rate.people
        sums[1] = sums[1] * _RATIO_FORGET + devices
        sums[2] = sums[2] * _RATIO_FORGET + (rate.people / rate.scale if rate.scale else 0.0)
        if sums[1] < _RATIO_MIN_DEVICES or sums[0] <= 0 or devices == 0:
            return rate
        people = devices * sums[0] / sums[1]
        count_var = people**2 * (1.0 / max(sums[2], 1.0) + 1.0 / (devices + 1.0))
        low, high = log_interval(people, rate.sys_rel_var + count_var / people**2)
        return rate._replace(people=round(people, 2), low=low, high=high, count_var=count_var,
                             method="rate+devices")  # fmt: skip

    # -- checkpoints --------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        return {
            "rates": self.rates.to_json(),
            "ratio": {z: list(v) for z, v in self._ratio.items()},
        }

    def restore(self, snap: dict[str, Any] | None) -> None:
        if not snap:
            return
        self.rates = ScanRates.from_json(snap.get("rates", {}))
        self._ratio = {z: list(v) for z, v in snap.get("ratio", {}).items()}
