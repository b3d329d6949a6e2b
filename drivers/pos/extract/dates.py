"""The date and time printed on a receipt, in the formats POS software uses.

``2026-03-14 10:05:11``, ``2026/3/14 10:05``, ``2026.03.14``, ``2026年3月14日 10时05分``,
``14/03/2026``, ``03/14/26 10:05 AM``, ``14 Mar 2026``, ``March 14, 2026`` and
``Monday 6th of April 2015 02:56:25 PM``. Returned as ISO 8601 without a zone
(``2026-03-14T10:05:11``, or ``2026-03-14`` when no time is printed): the printed
clock is the shop's local time, and only the edge knows the box's time zone.
Invalid dates (``2026-02-30``) are skipped, never raised.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Final

__all__ = ["find_printed_at", "parse_time"]

_MONTHS: Final = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
_MONTH: Final = r"(?P<mon>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_TIME: Final = (
    r"(?P<h>\d{1,2})\s*[:时點点]\s*(?P<mi>\d{2})(?:\s*[:分]\s*(?P<s>\d{2})\s*秒?)?"
    r"(?:\s*(?P<ampm>[AaPp]\.?[Mm]\.?|上午|下午))?"
)
_YMD: Final = (
    r"(?<!\d)(?P<y>(?:19|20)\d{2})\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*"
    r"(?P<d>\d{1,2})(?!\d)\s*日?"
)
_DMY: Final = r"(?<![\d/.-])(?P<a>\d{1,2})[-/.](?P<b>\d{1,2})[-/.](?P<y>(?:19|20)?\d{2})(?![\d/.-])"
_D_MON_Y: Final = (
    r"(?<!\w)(?P<d>\d{1,2})(?:st|nd|rd|th)?(?:\s+of)?[\s-]+" + _MONTH + r",?[\s-]+(?P<y>\d{4})"
)
_MON_D_Y: Final = r"(?<!\w)" + _MONTH + r"\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<y>\d{4})"
_WITH_TIME: Final = r"(?:[\sT,]*(?:at\s+)?" + _TIME + r")?"
_PATTERNS: Final = tuple(
    re.compile(pattern + _WITH_TIME, re.IGNORECASE) for pattern in (_YMD, _D_MON_Y, _MON_D_Y, _DMY)
)
_TIME_ONLY: Final = re.compile(r"(?<!\d)(?<!\d:)" + _TIME + r"(?!\d)(?!:\d)")
_LABELLED: Final = re.compile(r"日期|时间|時間|DATE|TIME|DATUM|FECHA", re.IGNORECASE)


def parse_time(match: re.Match[str]) -> tuple[int, int, int] | None:
    """Hours, minutes, seconds of a match of ``_TIME``; None if out of range."""
    if match.group("h") is None:
        return None
    hour, minute = int(match.group("h")), int(match.group("mi"))
    second = int(match.group("s") or 0)
    ampm = (match.group("ampm") or "").lower().replace(".", "")
    if ampm in ("pm", "下午") and hour < 12:
        hour += 12
    elif ampm in ("am", "上午") and hour == 12:
        hour = 0
    if hour > 23 or minute > 59 or second > 59:
        return None
    return hour, minute, second


def _day_month(match: re.Match[str], day_first: bool) -> tuple[int, int]:
    groups = match.groupdict()
    if groups.get("mon"):
        return int(groups["d"]), _MONTHS[groups["mon"].lower()]
    if groups.get("m"):
        return int(groups["d"]), int(groups["m"])
    first, second = int(groups["a"]), int(groups["b"])
    if first > 12 or (day_first and second <= 12):
        return first, second
    return second, first


def _candidate(match: re.Match[str], day_first: bool) -> tuple[date, tuple[int, int, int] | None]:
    """The date (and time) of a match; raises ValueError for an impossible date."""
    day, month = _day_month(match, day_first)
    year = int(match.group("y"))
    if year < 100:
        year += 2000
    return date(year, month, day), parse_time(match)


def _iso(day: date, clock: tuple[int, int, int] | None) -> str:
    if clock is None:
        return day.isoformat()
    return datetime(day.year, day.month, day.day, *clock).isoformat()


def find_printed_at(text: str, day_first: bool = True) -> str | None:
    """The receipt's date (with its time when printed), preferring labelled lines.

    ``day_first`` settles ``03/04/2026`` (True: 3 April, as in Europe and most of
    Asia; False: March 4, as in the USA); a day above 12 settles it by itself.
    """
    found: list[tuple[int, int, date, tuple[int, int, int] | None]] = []
    for number, line in enumerate(text.split("\n")):
        for pattern in _PATTERNS:
            for match in pattern.finditer(line):
                try:
                    day, clock = _candidate(match, day_first)
                except ValueError:
                    continue
                rank = (0 if _LABELLED.search(line) else 1) + (0 if clock else 2)
                found.append((rank, number, day, clock))
            if found and found[-1][1] == number:
                break  # one date per line: the first pattern that matched
    if not found:
        return None
    _, number, day, clock = min(found, key=lambda item: (item[0], item[1]))
    if clock is None:
        clock = _nearby_time(text.split("\n"), number)
    return _iso(day, clock)


def _nearby_time(lines: list[str], number: int) -> tuple[int, int, int] | None:
    """A time printed on its own near the date (``日期: 2026-03-14`` / ``时间: 10:05``)."""
    for offset in (0, 1, -1, 2, -2):
        index = number + offset
        if 0 <= index < len(lines):
            for match in _TIME_ONLY.finditer(lines[index]):
                clock = parse_time(match)
                if clock is not None:
                    return clock
    return None
