"""What one check of ``mallsense doctor`` found: a status, the facts in words, and the fix."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["STATUSES", "Check", "Status"]

Status = Literal["pass", "warn", "fail", "skip"]
STATUSES: tuple[Status, ...] = ("pass", "warn", "fail", "skip")


@dataclass(frozen=True, slots=True)
class Check:
    """The outcome of one check.

    ``name`` is the area, with the sensor after a colon for sensor checks
    (``camera:door``). ``detail`` says what was found; ``fix`` what to do, in
    words, whenever the status is not ``pass`` (and None otherwise, unless a
    passing check has advice). ``facts`` are the measured values, for ``--json``.
    """

    name: str
    status: Status
    detail: str
    fix: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def area(self) -> str:
        """``camera`` for ``camera:door``."""
        return self.name.partition(":")[0]

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` form: one object per check."""
        return {
            "check": self.name,
            "area": self.area,
            "status": self.status,
            "detail": self.detail,
            "fix": self.fix,
            "facts": self.facts,
        }
