"""The simulated mall: zones, sensors, visitors' walks and the radio path loss.

A corridor with four shops off it and a food court at its far end, one sensor
per zone (the sensor's name is the zone's id, as in a box's config). Visitors
enter at the corridor's west end, walk to one to four destinations, dwell
there (wandering between random points), may linger in the corridor, and walk
back out. What each sensor hears follows a log-distance path-loss model with
log-normal shadowing per stay and fast fading per frame, a wall loss between a
shop and the outside, and the sensor's sensitivity.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "OPENING_S",
    "SENSORS",
    "ZONES",
    "Mall",
    "Segment",
    "Visitor",
    "make_visitor",
]

Point = tuple[float, float]


@dataclass(frozen=True)
class Zone:
    """A rectangle with a door (where the corridor meets it) and a sensor in its middle."""

    name: str
    x0: float
    y0: float
    x1: float
    y1: float
    door: Point
    channel: int
    shop: bool
    """Walled: signals crossing its boundary lose ``WALL_DB``."""

    @property
    def sensor(self) -> Point:
        return ((self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2)

    def random_point(self, rng: random.Random) -> Point:
        return (rng.uniform(self.x0 + 1, self.x1 - 1), rng.uniform(self.y0 + 1, self.y1 - 1))


ZONES: Final[dict[str, Zone]] = {
    z.name: z
    for z in (
        Zone("corridor", 0, -4, 120, 4, (0.0, 0.0), 6, False),
        Zone("shop-a", 8, 4, 33, 24, (20.0, 4.0), 1, True),
        Zone("shop-b", 45, 4, 70, 24, (57.0, 4.0), 11, True),
        Zone("shop-c", 20, -24, 45, -4, (32.0, -4.0), 11, True),
        Zone("shop-d", 62, -24, 87, -4, (74.0, -4.0), 1, True),
        Zone("food-court", 120, -16, 150, 16, (120.0, 0.0), 6, False),
    )
}
SENSORS: Final = tuple(ZONES)
ENTRANCE: Final = (0.0, 0.0)
OPENING_S: Final = (10 * 3600.0, 21 * 3600.0)
"""Seconds after midnight: the mall opens at 10:00 and closes at 21:00."""
_HOURLY_ARRIVALS: Final = (4, 7, 10, 10, 8, 8, 9, 11, 12, 9, 4)
"""Relative arrivals per opening hour (a Saturday: midday and late-afternoon peaks)."""

TX_1M_DBM: Final = -40.0
PATH_LOSS_EXP: Final = 2.8
SHADOW_DB: Final = 4.0
FADING_DB: Final = 2.5
WALL_DB: Final = 8.0
SENSITIVITY_DBM: Final = -92
WALK_MPS: Final = 1.2


@dataclass
class Segment:
    """Part of a visit: walking in the corridor, or dwelling at random points in a zone."""

    zone: str
    start: float
    end: float
    points: list[Point]
    hop_s: float = 0.0
    """Dwell: the visitor moves to the next point every ``hop_s``; 0: walk ``points[0]->[1]``."""

    def where(self, t: float) -> Point:
        if self.hop_s <= 0:
            (ax, ay), (bx, by) = self.points[0], self.points[-1]
            f = 0.0 if self.end <= self.start else (t - self.start) / (self.end - self.start)
            f = min(max(f, 0.0), 1.0)
            return (ax + f * (bx - ax), ay + f * (by - ay))
        i = min(int((t - self.start) / self.hop_s), len(self.points) - 1)
        return self.points[i]


@dataclass
class Visitor:
    """One person: their phone and their walk."""

    pid: int
    model: str
    wifi_on: bool
    segments: list[Segment] = field(default_factory=list)

    @property
    def start(self) -> float:
        return self.segments[0].start

    @property
    def end(self) -> float:
        return self.segments[-1].end

    def stays(self) -> list[tuple[str, float, float]]:
        """Ordered (zone, enter, exit), consecutive segments in one zone merged."""
        out: list[tuple[str, float, float]] = []
        for s in self.segments:
            if out and out[-1][0] == s.zone:
                out[-1] = (s.zone, out[-1][1], s.end)
            else:
                out.append((s.zone, s.start, s.end))
        return out


class Mall:
    """Geometry and radio: mean signal of a point at a sensor."""

    def __init__(self, sensor_shift_m: float = 0.0) -> None:
        self.zones = ZONES
        self.sensors = {name: _shifted(z, sensor_shift_m) for name, z in ZONES.items()}

    def mean_rssi(self, where: Point, zone: str, sensor: str) -> float:
        """Path loss from ``where`` (in ``zone``) to ``sensor``, before shadowing and fading."""
        sx, sy = self.sensors[sensor]
        d = max(math.hypot(where[0] - sx, where[1] - sy), 1.0)
        loss = 10 * PATH_LOSS_EXP * math.log10(d)
        if zone != sensor and (self.zones[zone].shop or self.zones[sensor].shop):
            loss += WALL_DB
        return TX_1M_DBM - loss


def _shifted(z: Zone, shift: float) -> Point:
    """The zone's sensor moved ``shift`` metres towards its far corner (kept inside)."""
    x, y = z.sensor
    dx = min(shift, (z.x1 - z.x0) / 2 - 0.5)
    dy = min(shift, (z.y1 - z.y0) / 2 - 0.5) * (1 if y >= 0 else -1)
    return (x + dx, y + dy)


def arrival_time(rng: random.Random) -> float:
    """A time of arrival following the hourly profile (seconds after midnight)."""
    hour = rng.choices(range(len(_HOURLY_ARRIVALS)), weights=_HOURLY_ARRIVALS)[0]
    return OPENING_S[0] + (hour + rng.random()) * 3600.0


def _lognormal(rng: random.Random, median: float, sigma: float, lo: float, hi: float) -> float:
    return min(max(rng.lognormvariate(math.log(median), sigma), lo), hi)


def _walk(segs: list[Segment], t: float, a: Point, b: Point, rng: random.Random) -> float:
    seconds = math.hypot(b[0] - a[0], b[1] - a[1]) / (WALK_MPS * rng.uniform(0.8, 1.2))
    segs.append(Segment("corridor", t, t + seconds, [a, b]))
    return t + seconds


def _dwell(segs: list[Segment], t: float, zone: str, seconds: float, rng: random.Random) -> float:
    hop = rng.uniform(60.0, 150.0)
    points = [ZONES[zone].random_point(rng) for _ in range(int(seconds / hop) + 1)]
    segs.append(Segment(zone, t, t + seconds, points, hop))
    return t + seconds


def _destinations(rng: random.Random) -> list[str]:
    count = rng.choices((1, 2, 3, 4), weights=(35, 35, 20, 10))[0]
    shops = rng.sample(["shop-a", "shop-b", "shop-c", "shop-d"], k=min(count, 4))
    if rng.random() < 0.3:
        shops.insert(rng.randrange(len(shops) + 1), "food-court")
    return shops


def make_visitor(
    pid: int, rng: random.Random, model: str, wifi_on: bool, sitter_share: float = 0.0
) -> Visitor:
    """A visitor's walk: entrance, destinations with dwells, corridor lingering, exit.

    ``sitter_share`` of them (drawn only when it is above 0, so the default days stay as
    they were) sit still at one table of the food court for about an hour."""
    if sitter_share and rng.random() < sitter_share:
        return _sitter(pid, rng, model, wifi_on)
    segs: list[Segment] = []
    t = arrival_time(rng)
    here = ENTRANCE
    for dest in _destinations(rng):
        if rng.random() < 0.3:  # window-shopping along the corridor on the way
            spot = (rng.uniform(5, 115), rng.uniform(-3, 3))
            t = _walk(segs, t, here, spot, rng)
            t = _dwell_corridor(segs, t, spot, rng)
            here = spot
        door = ZONES[dest].door
        t = _walk(segs, t, here, door, rng)
        median, sigma, lo, hi = (
            (1500, 0.5, 300, 5400) if dest == "food-court" else (540, 0.7, 60, 3600)
        )
        t = _dwell(segs, t, dest, _lognormal(rng, median, sigma, lo, hi), rng)
        here = door
    _walk(segs, t, here, ENTRANCE, rng)
    return Visitor(pid, model, wifi_on, segs)


def _sitter(pid: int, rng: random.Random, model: str, wifi_on: bool) -> Visitor:
    segs: list[Segment] = []
    t = arrival_time(rng)
    t = _walk(segs, t, ENTRANCE, ZONES["food-court"].door, rng)
    seconds = _lognormal(rng, 3600, 0.25, 1800, 7200)
    spot = ZONES["food-court"].random_point(rng)
    segs.append(Segment("food-court", t, t + seconds, [spot], seconds + 1))
    _walk(segs, t + seconds, ZONES["food-court"].door, ENTRANCE, rng)
    return Visitor(pid, model, wifi_on, segs)


def _dwell_corridor(segs: list[Segment], t: float, spot: Point, rng: random.Random) -> float:
    seconds = _lognormal(rng, 150, 0.6, 30, 900)
    segs.append(Segment("corridor", t, t + seconds, [spot], seconds + 1))
    return t + seconds
