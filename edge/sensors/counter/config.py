"""A people counter's ``[[sensors]]`` table: where its count feed is, and how to read it."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from edge.config.base import SensorBase, Slug

__all__ = ["CounterSensorConfig"]

_KEY_PATTERN = r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$"


class CounterSensorConfig(SensorBase):
    """A door counter the mall already has (overhead stereo, time-of-flight, a beam), read
    over HTTP: its JSON reply carries the running totals of people in and out."""

    type: Literal["counter"] = Field(description="Sensor kind.")
    url: str = Field(
        description="The counter's count feed, e.g. 'http://10.0.0.20/api/counts'. Its reply"
        ' is JSON with the running totals, e.g. {"in": 1520, "out": 1498}.',
    )
    line: Slug = Field("door", description="Name of the counted doorway in footfall records.")
    in_key: str = Field(
        "in", pattern=_KEY_PATTERN, description="Where the reply holds the total in ('a.b')."
    )
    out_key: str = Field(
        "out", pattern=_KEY_PATTERN, description="Where the reply holds the total out ('a.b')."
    )
    poll_s: float = Field(10, ge=0.01, le=600, description="Seconds between two readings.")
    timeout_s: float = Field(5, gt=0, le=60, description="Seconds a reading may take.")
    interval_s: int = Field(
        60,
        ge=1,
        le=3600,
        description="Length of the intervals of footfall records (seconds, aligned to UTC).",
    )
    silence_timeout_s: float = Field(
        300,
        gt=0,
        description="Say the counter is silent, and start reading afresh, when no good"
        " reading came for this long.",
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r}: expected an http:// or https:// address")
        if parts.password is not None:
            raise ValueError("no password in the URL: this file is not a secret store")
        return value
