"""Numbers in words for people: shared by the terminal and the HTML report."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "SPARKS", "doubt", "duration", "estimate", "hour_label", "money", "number", "percent",
    "sparkline",
]  # fmt: skip

WEAK_SPREAD = 1.5
"""A people figure whose 90 % interval reaches past x1.5 (or below /1.5) of it is weak."""

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


def estimate(value: float | None, low: float | None, high: float | None, digits: int = 1) -> str:
    """``42.0 (31.5–57.3)``: a figure with its 90 % interval; the figure alone without one."""
    if value is None or low is None or high is None:
        return number(value, digits)
    return f"{number(value, digits)} ({number(low, digits)}–{number(high, digits)})"


def doubt(hour: dict[str, object]) -> str:
    """Why a traffic hour's figures are weak, in words ("" when they are not)."""
    notes = []
    people, low, high = hour.get("people_estimate"), hour.get("people_low"), hour.get("people_high")
    if isinstance(people, float | int) and isinstance(high, float | int) and people > 0:
        if high > WEAK_SPREAD * people or (
            isinstance(low, float | int) and low * WEAK_SPREAD < people
        ):
            notes.append("people: wide interval")
    elif people is None:
        notes.append("people: no estimate")
    method = hour.get("dwell_method")
    if method == "sessions":
        notes.append("dwell: device sessions (unreliable)")
    elif method == "little":
        notes.append("dwell: Little's law")
    return "; ".join(notes)


def hour_label(hour: int) -> str:
    return f"{hour:02d}:00"
