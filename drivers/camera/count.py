"""Counting lines and zones over tracked foot points (pure: no frames, no clocks).

Lines: which side of the line a track's foot point is on comes from the sign of
the cross product of (p2 - p1) and (foot - p1), so the rule is the same for a
line of any slope (OpenDataCam's per-angle drift came from pixel bands, its
issue #204). A side is only *settled* after the foot point stayed on it for
``confirm_frames`` consecutive observations, and a crossing is counted when the
settled side changes, so a box flickering across the line counts nothing
(supervision's LineZone double counts, its issues #2578 and #1540). Each track
counts at most one ``in`` and one ``out`` per line. Points beyond the ends of
the segment unsettle the side, so walking around a line's end is no crossing.

Bands: a line with a ``band`` width is a strip of that many pixels centred on it. A
foot point inside the strip says nothing (it neither settles a side nor breaks a run),
so a person counts when they pass from one side of the strip to the other: standing,
turning or swaying on the line counts nothing, and people hidden while inside the strip
still count once they come out on the other side under the same track. As a strip
cannot flicker, a track on a band counts every crossing it makes (out, in, out for
someone who walks back and forth), where a bare line allows one of each per track.

Zones: polygons; a track enters after ``confirm_frames`` observations inside,
leaves after as many outside or when it ends; its dwell runs from the first of
the inside observations to the last one.

Image coordinates (y grows downwards): looking from ``p1`` to ``p2``, *left* is
where the cross product is negative.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "LEFT",
    "RIGHT",
    "Line",
    "LineCounter",
    "Point",
    "Stay",
    "Zone",
    "ZoneCounter",
    "along",
    "band_edges",
    "band_side",
    "inside_polygon",
    "side_of",
]

Point = tuple[float, float]
Side = Literal[-1, 0, 1]
LEFT: Side = -1
RIGHT: Side = 1


def side_of(p1: Point, p2: Point, point: Point) -> Side:
    """LEFT (-1), RIGHT (+1) or on the line (0), looking from ``p1`` to ``p2`` on screen."""
    cross = (p2[0] - p1[0]) * (point[1] - p1[1]) - (p2[1] - p1[1]) * (point[0] - p1[0])
    return RIGHT if cross > 0 else LEFT if cross < 0 else 0


def along(p1: Point, p2: Point, point: Point) -> float:
    """Where ``point`` projects on the segment: 0 at ``p1``, 1 at ``p2``."""
    dx, dy = p2[0] - p1[0], p2[1] - p1[1]
    length2 = dx * dx + dy * dy
    if length2 == 0:
        return 0.0
    return ((point[0] - p1[0]) * dx + (point[1] - p1[1]) * dy) / length2


def inside_polygon(points: Sequence[Point], point: Point) -> bool:
    """Even-odd ray casting (a point on an edge may fall either way)."""
    x, y = point
    inside = False
    j = len(points) - 1
    for i in range(len(points)):
        xi, yi = points[i]
        xj, yj = points[j]
        if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


@dataclass(frozen=True)
class Line:
    """A counting line: ``in`` is a crossing towards ``in_side`` (default: left to right)."""

    name: str
    p1: Point
    p2: Point
    in_side: Literal["left", "right"] = "right"
    band: float = 0.0
    """Width in pixels of the counting strip centred on the line (0: a bare line)."""


def band_edges(line: Line) -> list[tuple[Point, Point]]:
    """The two edges of the line's band, parallel to it (none for a bare line)."""
    if line.band <= 0:
        return []
    (x1, y1), (x2, y2) = line.p1, line.p2
    length = max(((x2 - x1) ** 2 + (y2 - y1) ** 2) ** 0.5, 1e-6)
    nx, ny = -(y2 - y1) / length * line.band / 2, (x2 - x1) / length * line.band / 2
    return [((x1 + s * nx, y1 + s * ny), (x2 + s * nx, y2 + s * ny)) for s in (-1, 1)]


def band_side(line: Line, point: Point) -> Side | None:
    """The side of ``line``'s strip ``point`` is on; None inside the strip (no news).

    0 beyond the ends of the segment (there the side is unknown, and forgotten).
    """
    p1, p2 = line.p1, line.p2
    if not 0.0 <= along(p1, p2, point) <= 1.0:
        return 0
    if line.band <= 0:
        return side_of(p1, p2, point)
    cross = (p2[0] - p1[0]) * (point[1] - p1[1]) - (p2[1] - p1[1]) * (point[0] - p1[0])
    distance = cross / max((p2[0] - p1[0]) ** 2 + (p2[1] - p1[1]) ** 2, 1e-12) ** 0.5
    if abs(distance) <= line.band / 2:
        return None
    return RIGHT if distance > 0 else LEFT


@dataclass
class _Hysteresis:
    settled: int = 0
    pending: int = 0
    run: int = 0
    since: float = 0.0
    """Event time of the first observation of the pending run."""
    counted: set[str] = field(default_factory=set)

    def observe(self, value: int, t: float, confirm: int) -> int | None:
        """Feed one observation; returns the previous settled value when it changes."""
        if value != self.pending:
            self.pending, self.run, self.since = value, 0, t
        self.run += 1
        if self.run >= confirm and self.pending != self.settled:
            previous, self.settled = self.settled, self.pending
            return previous
        return None


class LineCounter:
    """Counts confirmed crossings of one line by tracks (feed it every frame)."""

    def __init__(self, line: Line, confirm_frames: int = 3) -> None:
        self.line = line
        self.confirm = confirm_frames
        self.entered = 0
        self.exited = 0
        self._in: Side = RIGHT if line.in_side == "right" else LEFT
        self._state: dict[int, _Hysteresis] = {}

    def update(self, t: float, feet: Iterable[tuple[int, Point]]) -> list[tuple[int, str]]:
        """Observe foot points; returns (track, "in" | "out") for each new crossing."""
        events = []
        once_each = self.line.band <= 0  # a bare line may flicker: one in, one out per track
        for track, foot in feet:
            side = band_side(self.line, foot)
            if side is None:
                continue
            state = self._state.setdefault(track, _Hysteresis())
            previous = state.observe(side, t, self.confirm)
            if previous is None or previous == 0 or state.settled == 0:
                continue
            direction = "in" if state.settled == self._in else "out"
            if once_each and direction in state.counted:
                continue
            state.counted.add(direction)
            if direction == "in":
                self.entered += 1
            else:
                self.exited += 1
            events.append((track, direction))
        return events

    def forget(self, track: int) -> None:
        self._state.pop(track, None)


@dataclass(frozen=True)
class Zone:
    """A polygon on the image (pixel coordinates, at least three points)."""

    name: str
    points: tuple[Point, ...]


@dataclass(frozen=True)
class Stay:
    """One track's time in a zone."""

    track: int
    enter: float
    exit: float


@dataclass
class _ZoneState:
    hysteresis: _Hysteresis = field(default_factory=_Hysteresis)
    enter: float = 0.0
    last_inside: float = 0.0
    last_seen: float = float("-inf")


class ZoneCounter:
    """Entries, occupancy and dwell of tracks in one zone (feed it every frame)."""

    def __init__(self, zone: Zone, confirm_frames: int = 3) -> None:
        if len(zone.points) < 3:
            raise ValueError(f"zone {zone.name} needs at least three points")
        self.zone = zone
        self.confirm = confirm_frames
        self.entries = 0
        self._state: dict[int, _ZoneState] = {}
        self._now = float("-inf")

    @property
    def occupancy(self) -> int:
        """Tracks in the zone and seen on the last update (a missed track is not counted)."""
        return sum(
            1
            for s in self._state.values()
            if s.hysteresis.settled == 1 and s.last_seen == self._now
        )

    def update(self, t: float, feet: Iterable[tuple[int, Point]]) -> list[Stay]:
        """Observe foot points; returns the stays that ended (left the zone)."""
        ended = []
        self._now = t
        for track, foot in feet:
            state = self._state.setdefault(track, _ZoneState())
            state.last_seen = t
            inside = 1 if inside_polygon(self.zone.points, foot) else -1
            if inside == 1:
                state.last_inside = t
            previous = state.hysteresis.observe(inside, t, self.confirm)
            if previous is None:
                continue
            if inside == 1:
                state.enter = state.hysteresis.since
                self.entries += 1
            elif previous == 1:
                ended.append(Stay(track, state.enter, state.last_inside))
        return ended

    def end(self, track: int) -> Stay | None:
        """The track ended: its stay, if it was in the zone."""
        state = self._state.pop(track, None)
        if state is None or state.hysteresis.settled != 1:
            return None
        return Stay(track, state.enter, state.last_inside)
