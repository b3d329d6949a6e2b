"""Shared building blocks of the configuration models."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["SensorBase", "Slug", "Strict"]

Slug = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$",
        description="lower-case letters, digits, '-' and '_' (it appears in MQTT topics)",
    ),
]


class Strict(BaseModel):
    """Unknown keys are errors; a loaded configuration does not change."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SensorBase(Strict):
    """What every ``[[sensors]]`` table has; each sensor type adds its own keys
    (``edge.sensors.<type>.config``)."""

    if TYPE_CHECKING:  # each type declares its own Literal (the union's discriminator)
        type: str
    name: Slug = Field(description="Sensor name used in logs, status and telemetry.")
    zone: Slug = Field(description="Id of the zone this sensor covers.")
