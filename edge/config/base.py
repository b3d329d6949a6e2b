"""Shared building blocks of the configuration models."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Slug", "Strict"]

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
