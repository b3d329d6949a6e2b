"""What the edge daemon knows of each sensor's health, and the row `mallsense status` reads."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

__all__ = ["SupervisedSensor"]


@dataclass
class SupervisedSensor:
    """One sensor as the daemon supervises it: its state, restarts and last error (what
    `mallsense status` shows; the published form is ``edge.messages.SensorHealth``)."""

    state: str = "starting"
    restarts: int = 0
    restarts_by_reason: Counter[str] = field(default_factory=Counter)
    """``silence`` (the watchdog found no data) or ``failure`` (the source failed or ended)."""
    last_error: str = ""
    frames_at_last_report: int = 0
    reported_at: float = field(default_factory=time.time)

    def report(
        self,
        counters: dict[str, object],
        now: float,
        last_frame_at: float | None,
        dropped_batches: int,
    ) -> dict[str, object]:
        """The sensor's status row: its plugin's counters, state and frame rate since the
        last report (which this starts the next rate from)."""
        frames = int(str(counters.get("frames", 0)))
        elapsed = max(now - self.reported_at, 1e-6)
        rate = (frames - self.frames_at_last_report) / elapsed
        self.frames_at_last_report, self.reported_at = frames, now
        if self.state == "waiting" and frames > 0:
            self.state = "running"  # the watchdog would say so at its next poll
        return counters | {
            "state": self.state,
            "rate_per_s": round(max(rate, 0.0), 2),
            "last_frame_at": last_frame_at,
            "restarts": self.restarts,
            "last_error": self.last_error,
            "dropped_batches": dropped_batches,
        }
