"""The one exception tree of mallsense.

Third-party errors are converted at the boundary (``raise ... from exc``) and
every message names the device or file and says what to do next, because the
person reading it is a field technician, not the author.
"""

from __future__ import annotations

__all__ = [
    "CaptureError",
    "ConfigError",
    "MallsenseError",
    "SecretError",
    "SensorError",
    "StoreError",
    "UplinkError",
]


class MallsenseError(Exception):
    """Base of every error mallsense raises on purpose."""


class ConfigError(MallsenseError):
    """The configuration file is missing, unreadable or invalid."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []

    def __str__(self) -> str:
        head = super().__str__()
        return "\n".join([head, *(f"  - {p}" for p in self.problems)])


class SecretError(MallsenseError):
    """A secret (pseudonymization key, broker password) is missing or unusable."""


class SensorError(MallsenseError):
    """A sensor cannot be opened or stopped working."""


class CaptureError(MallsenseError):
    """A recording cannot be read."""


class StoreError(MallsenseError):
    """The local database cannot be opened or written."""


class UplinkError(MallsenseError):
    """The broker cannot be reached or refused us."""
