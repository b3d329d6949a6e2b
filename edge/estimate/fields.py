"""The contract fields of the estimates (contract 1.3), mixed into ``presence`` and ``traffic``.

Kept beside the estimators that fill them: a field's description says how its value
is made, so it changes with the method. ``edge.records`` stays the contract's single
source: its ``Presence`` and ``Traffic`` models inherit these fields.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = ["PresenceEstimate", "TrafficEstimate"]


def _interval_end(end: Literal["Lower", "Upper"], of: str) -> Any:
    """A field holding one end of the 90 % interval of the field ``of`` (null: none)."""
    return Field(None, ge=0, description=f"{end} end of the 90 % interval of {of}.")


class PresenceEstimate(BaseModel):
    """People present in one zone and interval, with the 90 % interval."""

    people_estimate: float | None = Field(
        None,
        ge=0,
        description="Mean people present in the interval, estimated without linking random"
        " MACs: scan events per fingerprint class times the scan interval learned from the"
        " phones the box can follow, over the share of people whose phone probes"
        " (docs/figures.md); null where no estimator ran (BLE, grouping off).",
    )
    people_low: float | None = _interval_end("Lower", "people_estimate")
    people_high: float | None = _interval_end("Upper", "people_estimate")
    people_method: Literal["rate", "rate+devices"] | None = Field(
        None,
        description="How people_estimate was made: 'rate' (scan events alone);"
        " 'rate+devices' (the grouped devices inside, scaled to people by their ratio to"
        " the rate estimate over the zone's last half hour); null: none.",
    )


class TrafficEstimate(BaseModel):
    """How one zone's hourly people and dwell figures were made, and how sure they are."""

    people_low: float | None = _interval_end("Lower", "people_estimate")
    people_high: float | None = _interval_end("Upper", "people_estimate")
    people_method: Literal["rate", "camera-ratio"] | None = Field(
        None,
        description="'rate': mean people present (the presence records' rate estimator)"
        " times the turnover of the phones the box can follow (global MACs); 'camera-ratio':"
        " visitors / devices_per_person (the only method before contract 1.3); null: none.",
    )
    people_present: float | None = Field(
        None, ge=0, description="Mean people present in the zone over the hour (rate estimator)."
    )
    people_camera_weight: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Where a camera counts the zone's door: the weight of its count (people"
        " inside when the hour began plus its entries) in people_estimate, fused with the"
        " rate estimate by their uncertainties (1: the camera alone, when no rate estimate"
        " ran); null: no camera.",
    )
    dwell_method: Literal["sessions-sure", "little", "sessions"] | None = Field(
        None,
        description="How dwell_median_s and dwell_p90_s were made: 'sessions-sure' (the hour's"
        " sessions of global-MAC phones, one phone each for sure, shrunk towards the zone's"
        " recent ones), 'little' (Little's law:"
        " mean stay = people present / arrivals, shaped by the zone's recent sure sessions),"
        " 'sessions' (every device's sessions, as before contract 1.3: unreliable for random"
        " MACs, whose chains split and swap between people).",
    )
    dwell_sure_sessions: int | None = Field(
        None, ge=0, description="Sessions of global-MAC phones in the zone that ended in the hour."
    )
    dwell_median_low_s: float | None = _interval_end("Lower", "dwell_median_s")
    dwell_median_high_s: float | None = _interval_end("Upper", "dwell_median_s")
    dwell_p90_low_s: float | None = _interval_end("Lower", "dwell_p90_s")
    dwell_p90_high_s: float | None = _interval_end("Upper", "dwell_p90_s")
