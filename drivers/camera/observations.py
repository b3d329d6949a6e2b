"""What the camera pipeline hands to the aggregation: counts and times, never pixels.

NamedTuples like ``drivers.observations`` (cheap, typed, immutable). Times are
event times in seconds (UTC epoch for live cameras, the configured start plus the
frame timestamp for replays); they come from the source, never from a clock here.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["CameraObservation", "LineCount", "ZoneDwell", "ZoneOccupancy"]


class LineCount(NamedTuple):
    """Footfall across one counting line during one interval."""

    camera: str
    line: str
    start: float
    """Interval start (inclusive), event time in seconds."""
    end: float
    """Interval end (exclusive)."""
    entered: int
    """Crossings from the line's out side to its in side."""
    exited: int
    """Crossings from the in side to the out side."""
    cut: float | None = None
    """None for a whole interval; else the interval was cut short (the camera stopped or
    the recording ended) and this is the event time of its last frame."""


class ZoneOccupancy(NamedTuple):
    """How many tracked people stood in one zone during one interval."""

    camera: str
    zone: str
    start: float
    end: float
    entries: int
    """Tracks that entered the zone during the interval."""
    max_occupancy: int
    mean_occupancy: float
    """Mean over the frames of the interval."""
    frames: int = 0
    """Frames the mean is taken over (to merge two parts of one interval)."""
    cut: float | None = None
    """As ``LineCount.cut``: set when the interval was cut short."""


class ZoneDwell(NamedTuple):
    """One track's stay in one zone (emitted when it leaves or is lost)."""

    camera: str
    zone: str
    track: int
    """Track number, unique per camera process run (not a person's identity)."""
    enter: float
    exit: float

    @property
    def dwell_s(self) -> float:
        return self.exit - self.enter


CameraObservation = LineCount | ZoneOccupancy | ZoneDwell
