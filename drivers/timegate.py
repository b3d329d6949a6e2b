"""Event times from outside, checked before they drive anything: one gate per sensor.

A frame's time comes from a capture file, a JSON line or a radio's driver, and the
aggregation believes it: one frame dated 2106 in a 2022 capture closes every window
up to 2106 and piles what follows into one record. So every time is checked twice
before it reaches the aggregation, the same way for every sensor:

1. **Sane** (``time_problem``): a finite number of seconds between 2000-01-01 and
   2100-01-01 UTC (``EARLIEST``, ``LATEST``). Readers check this at their boundary
   (BLE recordings, played captures) and the gate checks it again for everything.
2. **Near its neighbours** (``TimeGate``): within ``MAX_JUMP_S`` (one hour) of the
   sensor's last accepted time. A frame further away is *held*, not believed: if
   ``CONFIRM_FRAMES`` (8) frames in a row agree with it (each within an hour of the
   one before), the sensor's clock really moved (a capture resumed after the night,
   a box's clock corrected) and all the held frames are let through, in order, as the
   new present. If a frame near the old present comes first, the held frames were
   outliers: they are rejected and counted (``time_jump``). The first frames of a
   recording are held the same way (``hold_start``), so one absurd first frame cannot
   become the present; a recording that ends before anything agreed lets its frames
   through when nothing was accepted yet (a tiny capture), and rejects them otherwise.
   A live radio's first frame is believed at once (its times come from the kernel's
   clock, and a daemon has no end of stream to release held frames at); a frame held
   for a jump when the daemon stops is not counted anywhere.

Why one hour: the aggregation already treats a silence over an hour as the sensor
being off (no empty records are filled in), so a frame an hour ahead costs at most
one hour of windows; and real captures are dense enough (a mall's sensor hears a
phone every few seconds when open) that a gap over an hour ends in a burst that
confirms the new time within seconds. What a longer pause costs is a delay of
eight frames, never the frames themselves. A sensor that hears a lone frame after
more than an hour of silence, followed by nothing for another hour, loses that
frame (counted): a lone frame cannot be told from a forged one.

Cost: a batch whose times all lie within an hour of the present and of each other
(the normal case) is checked with one ``sorted`` and one ``sum`` of its times, a few
tens of nanoseconds a frame; only batches with a jump take the per-frame path.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

__all__ = [
    "CONFIRM_FRAMES",
    "EARLIEST",
    "LATEST",
    "MAX_JUMP_S",
    "TimeGate",
    "show_time",
    "time_problem",
]

EARLIEST: Final = 946_684_800.0
"""2000-01-01T00:00:00Z: no capture this software reads is older."""
LATEST: Final = 4_102_444_800.0
"""2100-01-01T00:00:00Z: nothing this box records is dated later."""
MAX_JUMP_S: Final = 3600.0
"""How far a frame may be from its sensor's last accepted time (see the module docstring)."""
CONFIRM_FRAMES: Final = 8
"""Frames in a row that must agree before a jump of the sensor's clock is believed."""
_PROBLEMS_KEPT: Final = 5


def show_time(t: float) -> str:
    """``t`` as a UTC date when it is one, else as a number (never raises)."""
    try:
        return datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return f"{t:g}"


def time_problem(t: float) -> str | None:
    """Why ``t`` cannot be an event time (None when it can); never raises."""
    if not math.isfinite(t):
        return f"time {t} is not a number of seconds"
    if not EARLIEST <= t < LATEST:
        shown = show_time(t)
        date = "" if shown == f"{t:g}" else f" ({shown})"
        return f"time {t:.6g}{date} is not between 2000 and 2100"
    return None


T = TypeVar("T", bound=tuple[Any, ...])


class TimeGate:
    """Lets a sensor's frames through when their times are sane and near each other.

    Items are tuples whose first element is the time (capture frames, BLE records,
    ``Probe``, ``Advert``). ``admit`` returns the items to use, in order; it may hold
    some back (a possible jump) and return them with a later call.
    """

    def __init__(
        self, sensor: str, source: str = "", unit: str = "frame", hold_start: bool = True
    ) -> None:
        self.sensor = sensor
        self.hold_start = hold_start
        """Hold the first frames until they agree (recordings), or believe the first one."""
        self.source = source or f"sensor {sensor}"
        """What messages name: the recording's path, or the sensor."""
        self.unit = unit
        self.seen = 0
        """Items offered so far (the number messages give)."""
        self.rejected: Counter[str] = Counter()
        """``time_invalid`` (not a sane time) and ``time_jump`` (far from its neighbours)."""
        self.jumps = 0
        """Times the sensor's clock was believed to have moved (a confirmed jump)."""
        self.problems: deque[str] = deque(maxlen=_PROBLEMS_KEPT)
        """The last few rejections, one line each."""
        self._last = math.nan
        self._held: list[tuple[int, Any]] = []
        self._held_last = math.nan

    def admit(self, items: list[T]) -> list[T]:
        """The items whose times are believed (see the module docstring), in order."""
        if items and not self._held:
            times = [item[0] for item in items]
            # sorted() of times already in order is a few times cheaper than min() and max()
            ordered = sorted(times)
            lo, hi, last = ordered[0], ordered[-1], self._last
            if (
                hi - lo <= MAX_JUMP_S
                and lo >= last - MAX_JUMP_S
                and hi <= last + MAX_JUMP_S
                and lo >= EARLIEST
                and hi < LATEST
                and math.isfinite(sum(times))  # a NaN does not sort
            ):
                self.seen += len(items)
                self._last = times[-1]
                return items
        out: list[T] = []
        for item in items:
            self._one(item, out)
        return out

    def finish(self) -> list[T]:
        """The end of the stream: what is still held, if nothing was accepted before."""
        held = [item for _, item in self._held]
        if math.isnan(self._last):
            self._held = []
            return held
        self._drop_held("the stream ended before the new time was confirmed")
        return []

    def restart(self) -> None:
        """A new stream of the same sensor (a recording played again): no present yet."""
        self._last = math.nan
        self._held = []
        self.seen = 0

    def stats(self) -> dict[str, object]:
        """Counters for the sensor's figures (replay summary, status, metrics)."""
        return {
            "time_rejected": dict(self.rejected),
            "time_jumps": self.jumps,
            "time_problems": list(self.problems),
        }

    # -- the per-frame path (a batch with a jump, or the stream's start) ----------------

    def _one(self, item: T, out: list[T]) -> None:
        self.seen += 1
        t = item[0]
        problem = time_problem(t) if isinstance(t, float | int) else "no time"
        if problem is not None:
            self._reject("time_invalid", self.seen, problem)
            return
        if abs(t - self._last) <= MAX_JUMP_S or (math.isnan(self._last) and not self.hold_start):
            if self._held:
                self._drop_held(f"the frames around it are at {show_time(self._last)}")
            self._last = t
            out.append(item)
            return
        if self._held and abs(t - self._held_last) > MAX_JUMP_S:
            self._drop_held(f"the next frame is at {show_time(t)}")
        self._held.append((self.seen, item))
        self._held_last = t
        if len(self._held) >= CONFIRM_FRAMES:
            if not math.isnan(self._last):
                self.jumps += 1
            out.extend(held for _, held in self._held)
            self._held = []
            self._last = t

    def _drop_held(self, why: str) -> None:
        for number, item in self._held:
            self._reject(
                "time_jump", number, f"time {show_time(item[0])} is far from its neighbours ({why})"
            )
        self._held = []

    def _reject(self, reason: str, number: int, problem: str) -> None:
        self.rejected[reason] += 1
        self.problems.append(f"{self.source} {self.unit} {number}: {problem}; skipped")
