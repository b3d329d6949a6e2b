"""What a POS line tells a technician: rate-limited warnings and the source's counters.

A line with the wrong baud rate produces garbage on every read, and an
unplugged adapter fails every retry: the first occurrence is logged at once,
then at most one reminder per interval saying how many more there were, so
the journal stays readable and the message is never lost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from drivers.pos.line.quality import CAUSES, LineScore

__all__ = ["LineCounters", "RateLimitedLog", "garbage_message"]

REMIND_S: Final = 600.0


class RateLimitedLog:
    """Log each kind of message at once, then at most every ``interval`` s with a count."""

    def __init__(
        self,
        log: logging.Logger,
        interval: float = REMIND_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log
        self._interval = interval
        self._clock = clock
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def warning(self, key: str, message: str, *args: object) -> bool:
        """Log unless ``key`` was logged less than ``interval`` ago; True if it was logged."""
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self._interval:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return False
        more = self._suppressed.pop(key, 0)
        suffix = f" ({more} more like this since the last message)" if more else ""
        self._log.warning(message + suffix, *args)
        self._last[key] = now
        return True

    def reset(self, key: str) -> None:
        """The condition is over: its next occurrence is logged at once."""
        self._last.pop(key, None)
        self._suppressed.pop(key, None)


def garbage_message(port: str, score: LineScore, settings: str, dropped: bool) -> str:
    """The warning for bytes that do not decode as receipts, naming the likely cause."""
    cause = CAUSES.get(score.cause or "baud", CAUSES["baud"])
    fate = "nothing is recorded from them" if dropped else "their fields may be wrong"
    return (
        f"POS line {port} ({settings}): {score.bytes} bytes do not look like ESC/POS receipts"
        f" (score {score.score:.2f}, {score.printable:.0%} printable text,"
        f" {score.bytes_per_command:g} bytes per command); likely cause: {cause}; {fate}."
        " Check the printer's settings page, or record the line with"
        " `mallsense pos capture PORT --baud auto` and look at it with `mallsense pos parse`"
    )


@dataclass
class LineCounters:
    """Counters of one POS source (``mallsense status``, telemetry); plain ints, one writer."""

    state: str = "starting"
    """``starting``, ``waiting`` (for the port), ``detecting`` (the rate), ``reading``,
    ``stopped``."""
    device: str | None = None
    baudrate: int | None = None
    baud_method: str | None = None
    baud_scores: dict[str, float] = field(default_factory=dict)
    chunks: int = 0
    bytes: int = 0
    receipts: int = 0
    garbage_receipts: int = 0
    garbage_bytes: int = 0
    """Bytes that printed nothing or were judged garbage (wrong rate, noise)."""
    suspect_encoding: int = 0
    """Receipts kept whose text does not decode well (wrong encoding)."""
    parser_errors: int = 0
    parse_dropped_bytes: int = 0
    """Bytes forwarded but not decoded because the decoder fell hopelessly behind."""
    open_failures: int = 0
    disconnects: int = 0
    last_error: str = ""
    detection_discarded_bytes: int = 0

    def as_dict(self) -> dict[str, object]:
        return dict(vars(self))
