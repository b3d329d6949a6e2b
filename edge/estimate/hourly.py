"""People per zone and hour from the presence intervals: occupancy times turnover.

The rate estimator gives people *present* per interval. An hour's distinct people
are more: everyone who came and went. The followed phones (global MACs, MACs kept
for minutes: ``edge.estimate.people``) are a sample whose distinct count ``U_f`` and
mean presence ``L_f`` the box knows both of; their ratio, the **turnover**
``U_f / L_f``, is what turns mean people present into people in the hour
(``people = L x U_f / L_f``; Little's law says the same: distinct people =
people present + arrivals, arrivals = present / mean stay). Because ``L`` and ``L_f``
come from the same scan interval, an error in the learned interval cancels.

A quiet hour has few followed phones: the turnover is shrunk towards the zone's own
past hours (``Turnover``, with forgetting), and towards a prior before that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from edge.estimate.people import log_interval

__all__ = ["HourPeople", "Turnover", "hour_people"]

_PRIOR_TURNOVER: Final = 6.0
"""Distinct people per person present over an hour, before any evidence: stays of
about ten minutes."""
_PRIOR_WEIGHT: Final = 2.0
"""Followed phone-hours of presence the prior (or the zone's past) is worth."""
_FORGET: Final = 0.9
"""Weight kept per hour of a zone's past turnover."""
_TURNOVER_MODEL_REL_SD: Final = 0.08


@dataclass(frozen=True, slots=True)
class HourPeople:
    present: float
    """Mean people present over the hour."""
    people: float
    """Distinct people in the zone at some time in the hour."""
    low: float
    high: float
    method: Literal["rate"]
    turnover: float
    """Distinct people per person present over the hour."""
    turnover_rel_var: float


@dataclass(slots=True)
class Turnover:
    """zone -> [followed distinct, followed present], summed over past hours with forgetting."""

    zones: dict[str, list[float]] = field(default_factory=dict)

    def prior(self, zone: str) -> float:
        own = self.zones.get(zone)
        if own is not None and own[1] > 0.5:
            return max(own[0] / own[1], 1.0)
        totals = [v for v in self.zones.values() if v[1] > 0.5]
        if totals:
            return max(sum(v[0] for v in totals) / sum(v[1] for v in totals), 1.0)
        return _PRIOR_TURNOVER

    def learn(self, zone: str, followed: int, followed_present: float) -> None:
        entry = self.zones.setdefault(zone, [0.0, 0.0])
        entry[0] = entry[0] * _FORGET + followed
        entry[1] = entry[1] * _FORGET + followed_present

    def to_json(self) -> dict[str, Any]:
        return {z: list(v) for z, v in self.zones.items()}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Turnover:
        return cls({z: [float(v[0]), float(v[1])] for z, v in (data or {}).items()})


def hour_people(sums: list[float], followed: int, prior: float) -> HourPeople | None:
    """The hour of one zone from the sums of its intervals (``HourState.people``: windows,
    people, count variance, shared relative variance, followed present) and the number
    of distinct followed phones; None if no interval had an estimate."""
    windows, people_sum, count_var, sys_rel_var, followed_sum = sums[:5]
    if windows <= 0:
        return None
    present = people_sum / windows
    followed_present = followed_sum / windows
    weight = _PRIOR_WEIGHT
    turnover = max((followed + weight * prior) / (followed_present + weight), 1.0)
    turnover_rel_var = 1.0 / (followed + weight * prior) + _TURNOVER_MODEL_REL_SD**2
    people = present * turnover
    if present <= 0:
        high = math.sqrt(count_var / windows**2) * 3.0 * turnover
        return HourPeople(0.0, 0.0, 0.0, round(high, 1), "rate", turnover, turnover_rel_var)
    rel_var = count_var / people_sum**2 + sys_rel_var / windows + turnover_rel_var
    low, high = log_interval(people, rel_var)
    return HourPeople(
        round(present, 2), round(people, 1), low, high, "rate", turnover, turnover_rel_var
    )
