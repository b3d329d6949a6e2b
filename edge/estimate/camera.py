"""People in a zone whose door a camera counts, fused with the rate estimate.

A camera line at a zone's door counts everyone who comes in. The zone's distinct
people in an hour are then those inside when the hour began (the camera's running
occupancy: entries minus exits since the day began) plus those who came in during the
hour. That count is only as good as the camera: people walking in pairs or turning on
the line are missed or doubled (docs/accuracy.md), and a door that is not the zone's
only way in makes it too low. The rate estimator (``edge.estimate.hourly``) errs in
other ways, so the two are combined in log space, each weighted by the inverse of its
relative variance: the camera's by ``CAMERA_REL_SD``, the rate's by its own interval.
"""

from __future__ import annotations

import math
from typing import Final

from edge.estimate.people import Z90, log_interval

__all__ = ["CAMERA_REL_SD", "camera_people"]

CAMERA_REL_SD: Final = 0.05
"""Relative error of a door camera's hourly count: sold on 95-99 % accuracy; the
plaza's line is within 5 % on the half not tuned on (docs/accuracy.md)."""


def camera_people(
    inside_at_start: float,
    entries: float,
    crossings: float,
    rate: tuple[float, float, float] | None,
) -> tuple[float, float, float, float]:
    """(people, low, high, weight of the camera) of the hour from the camera's occupancy
    at its start, its entries, and the crossings counted since the day began (the
    running occupancy holds their miscounts), fused with the rate estimate
    ``(people, low, high)`` if there is one."""
    counted = max(inside_at_start, 0.0) + entries
    scale = max(counted, 1.0)
    # A share CAMERA_REL_SD of the count wrong, and as a share of every crossing so far,
    # each wrong one way or the other (binomial), in the running occupancy; plus one
    # person, when few.
    drift = CAMERA_REL_SD * (1 - CAMERA_REL_SD) * max(crossings, 0.0)
    camera_var = CAMERA_REL_SD**2 + (drift + 1.0) / scale**2
    if rate is None or rate[0] <= 0 or rate[1] <= 0 or rate[2] <= rate[1] or counted <= 0:
        low, high = log_interval(counted, camera_var)
        return round(counted, 1), low, high, 1.0
    rate_var = (math.log(rate[2] / rate[1]) / (2 * Z90)) ** 2
    w_camera = (1 / camera_var) / (1 / camera_var + 1 / rate_var)
    fused = math.exp(w_camera * math.log(counted) + (1 - w_camera) * math.log(rate[0]))
    low, high = log_interval(fused, 1 / (1 / camera_var + 1 / rate_var))
    return round(fused, 1), low, high, round(w_camera, 3)
