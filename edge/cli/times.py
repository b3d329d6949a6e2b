"""Times as a technician reads them: in the mall's time zone, labelled; ``--utc`` for UTC.

Records carry UTC (``2026-03-14T10:00:00.000Z``); the terminal shows them in the
configuration's ``timezone`` with its name in the column header, so the hour in
``records`` is the hour in ``report``. JSON output stays UTC.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import ParamSpec, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from edge.config import load_config
from edge.config.models import DEFAULT_CONFIG_PATH

__all__ = ["Clock", "mall_clock", "mall_timezone", "utc_option"]

P = ParamSpec("P")
R = TypeVar("R")


def utc_option() -> Callable[[Callable[P, R]], Callable[P, R]]:
    return click.option(
        "--utc", is_flag=True, help="Show times in UTC (default: the mall's time zone)."
    )


def mall_timezone(option: str | None, db: Path | None, config_path: Path | None) -> str:
    """``option`` (``--tz``), else the configuration's time zone (when the database comes
    from it or a configuration is named), else UTC."""
    if option is not None:
        try:
            ZoneInfo(option)
        except (ZoneInfoNotFoundError, ValueError):
            raise click.BadParameter(
                f"{option!r} is not an IANA time zone name (e.g. UTC, Asia/Shanghai)",
                param_hint="--tz",
            ) from None
        return option
    path = config_path
    if path is None and db is None and DEFAULT_CONFIG_PATH.exists():
        path = DEFAULT_CONFIG_PATH
    return load_config(path).timezone if path is not None else "UTC"


@dataclass(frozen=True)
class Clock:
    """How times are shown: a zone and its name."""

    zone: tzinfo
    label: str

    def show(self, value: str | float | None, *, seconds: bool = True) -> str:
        """A record's time (ISO text, UTC) or an epoch time, in this zone, without the date's
        'T' and the zone's name (the header says it)."""
        if value is None or value == "":
            return ""
        moment = (
            datetime.fromtimestamp(value, UTC)
            if isinstance(value, int | float)
            else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        )
        return moment.astimezone(self.zone).strftime(
            "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
        )


def mall_clock(utc: bool, db: Path | None, config_path: Path | None) -> Clock:
    """UTC with ``--utc``, else the mall's zone (``mall_timezone``)."""
    name = "UTC" if utc else mall_timezone(None, db, config_path)
    return Clock(UTC if name == "UTC" else ZoneInfo(name), name)
