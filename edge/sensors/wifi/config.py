"""A Wi-Fi sensor's ``[[sensors]]`` table."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from edge.config.base import SensorBase

__all__ = ["WifiSensorConfig"]


class WifiSensorConfig(SensorBase):
    """A monitor-mode Wi-Fi interface listening for probe requests."""

    type: Literal["wifi"] = Field(description="Sensor kind.")
    interface: str = Field(
        "wlan0mon",
        pattern=r"^[A-Za-z0-9_.:-]{1,15}$",
        description="Network interface already in monitor mode.",
    )
    channels: list[Annotated[int, Field(ge=1, le=233)]] = Field(
        default_factory=lambda: [1, 6, 11],
        min_length=1,
        description="Channels to listen on; with more than one, the sensor hops between them.",
    )
    hop_dwell_s: float = Field(
        0.25, gt=0, le=60, description="Seconds spent on each channel when hopping."
    )
    silence_timeout_s: float = Field(
        120, gt=0, description="Restart the capture when no frame arrived for this long."
    )
