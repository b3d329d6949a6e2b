"""Numbers in words for people: shared by the terminal and the HTML report."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["SPARKS", "duration", "hour_label", "money", "number", "percent", "sparkline"]

SPARKS = "▁▂▃▄▅▆▇█"
MISSING = "—"


def sparkline(values: Sequence[float | None]) -> str:
    """One block per value, scaled from 0 to the largest; a blank where there is none."""
    known = [v for v in values if v is not None]
    top = max(known, default=0)
    out = []
    for v in values:
        if v is None:
            out.append(" ")
        elif top <= 0:
            out.append(SPARKS[0])
        else:
            out.append(SPARKS[min(len(SPARKS) - 1, round(v / top * (len(SPARKS) - 1)))])
    return "".join(out)


def percent(value: float | None) -> str:
    return MISSING if value is None else f"{value * 100:.1f}%"


def duration(seconds: float | None) -> str:
    """``45 s``, ``4 min 16 s``, ``1 h 05 min``."""
    if seconds is None:
        return MISSING
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def money(value: float | None, currency: str | None = None) -> str:
    if value is None:
        return MISSING
    return f"{value:,.2f}" + (f" {currency}" if currency else "")


def number(value: float | None, digits: int = 0) -> str:
    if value is None:
        return MISSING
    if digits == 0 and float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.{digits or 1}f}"


def hour_label(hour: int) -> str:
    return f"{hour:02d}:00"
