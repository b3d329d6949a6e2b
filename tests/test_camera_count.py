"""Counting lines and zones on foot points fed directly (no detector, no video)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.camera.count import (
    LEFT,
    RIGHT,
    Line,
    LineCounter,
    Point,
    Zone,
    ZoneCounter,
    along,
    inside_polygon,
    side_of,
)


def walk(start: Point, end: Point, steps: int) -> list[Point]:
    return [
        (start[0] + (end[0] - start[0]) * i / steps, start[1] + (end[1] - start[1]) * i / steps)
        for i in range(steps + 1)
    ]


def feed(counter: LineCounter, points: list[Point], track: int = 1) -> list[tuple[int, str]]:
    events = []
    for i, p in enumerate(points):
        events += counter.update(i * 0.1, [(track, p)])
    return events


def line_at(angle_deg: float, centre: Point, half: float, name: str = "l") -> Line:
    a = math.radians(angle_deg)
    dx, dy = half * math.cos(a), half * math.sin(a)
    return Line(name, (centre[0] - dx, centre[1] - dy), (centre[0] + dx, centre[1] + dy))


def test_side_is_left_of_the_direction_on_screen() -> None:
    # A line pointing right on screen: "left" (looking along it) is up, smaller y.
    assert side_of((0, 0), (10, 0), (5, -1)) == LEFT
    assert side_of((0, 0), (10, 0), (5, 1)) == RIGHT
    assert side_of((0, 0), (10, 0), (5, 0)) == 0
    assert along((0, 0), (10, 0), (5, 3)) == pytest.approx(0.5)


def test_crossing_left_to_right_is_in() -> None:
    counter = LineCounter(Line("door", (0, 0), (100, 0)), confirm_frames=3)
    events = feed(counter, walk((50, -40), (50, 40), 20))  # up -> down = left -> right
    assert events == [(1, "in")]
    assert (counter.entered, counter.exited) == (1, 0)
    back = LineCounter(Line("door", (0, 0), (100, 0), in_side="left"))
    assert feed(back, walk((50, -40), (50, 40), 20)) == [(1, "out")]


def test_flicker_on_the_line_counts_nothing_and_a_real_crossing_once() -> None:
    counter = LineCounter(Line("door", (0, 0), (100, 0)), confirm_frames=3)
    jitter = [(50.0, -2.0 if i % 2 else 2.0) for i in range(30)]  # on the line, both sides
    before = [(50.0, -30.0)] * 5
    assert feed(counter, before + jitter) == []
    # Settles below for a while, wobbles back above for two frames, settles below again.
    after = [(50.0, 30.0)] * 5 + [(50.0, -5.0)] * 2 + [(50.0, 30.0)] * 5
    counter2 = LineCounter(Line("door", (0, 0), (100, 0)), confirm_frames=3)
    assert feed(counter2, before + after) == [(1, "in")]


def test_a_track_counts_at_most_one_in_and_one_out() -> None:
    counter = LineCounter(Line("door", (0, 0), (100, 0)), confirm_frames=2)
    path = (walk((50, -30), (50, 30), 6) + walk((50, 30), (50, -30), 6)) * 3
    assert feed(counter, path) == [(1, "in"), (1, "out")]


def test_walking_around_the_end_of_a_line_is_no_crossing() -> None:
    counter = LineCounter(Line("door", (0, 0), (100, 0)), confirm_frames=2)
    path = walk((50, -30), (130, -30), 8) + walk((130, -30), (130, 30), 8)
    path += walk((130, 30), (50, 30), 8)
    assert feed(counter, path) == []


@pytest.mark.parametrize("angle", [0, 15, 30, 45, 60, 75, 90, 105, 135, 160])
def test_lines_at_any_angle_count_the_same_walk(angle: float) -> None:
    """One straight walk (left to right, slightly down) across lines of ten slopes."""
    path = walk((100, 200), (500, 260), 40)
    line = line_at(angle + 90, (300, 230), 150)  # +90: crosses the walk for every angle here
    counter = LineCounter(line, confirm_frames=3)
    events = feed(counter, path)
    crossed_towards = side_of(line.p1, line.p2, path[-1])
    expected = "in" if crossed_towards == RIGHT else "out"
    assert events == [(1, expected)]


@settings(max_examples=200, deadline=None)
@given(
    angle=st.floats(-80, 80),
    offset=st.floats(-40, 40),
    jitter=st.lists(st.floats(-3, 3), min_size=41, max_size=41),
)
def test_one_crossing_per_walk_for_any_slope_and_jitter(
    angle: float, offset: float, jitter: list[float]
) -> None:
    """A noisy walk to the right across a line of any (non-parallel) slope: one count."""
    path = [(x, y + j) for (x, y), j in zip(walk((100, 230), (500, 230), 40), jitter, strict=True)]
    line = line_at(angle + 90, (300 + offset, 230), 200)
    events = feed(LineCounter(line, confirm_frames=3), path)
    assert len(events) == 1


def test_several_tracks_are_independent() -> None:
    counter = LineCounter(Line("door", (0, 0), (100, 0)), confirm_frames=2)
    a = walk((20, -30), (20, 30), 10)
    b = walk((80, 30), (80, -30), 10)
    events = []
    for i, (pa, pb) in enumerate(zip(a, b, strict=True)):
        events += counter.update(i * 0.1, [(1, pa), (2, pb)])
    assert sorted(events) == [(1, "in"), (2, "out")]


SQUARE = Zone("table", ((0, 0), (100, 0), (100, 100), (0, 100)))


def test_inside_polygon() -> None:
    assert inside_polygon(SQUARE.points, (50, 50))
    assert not inside_polygon(SQUARE.points, (150, 50))
    triangle = ((0, 0), (100, 0), (0, 100))
    assert inside_polygon(triangle, (10, 10))
    assert not inside_polygon(triangle, (90, 90))


def test_zone_dwell_from_first_to_last_inside_observation() -> None:
    zone = ZoneCounter(SQUARE, confirm_frames=3)
    stays = []
    points = [(-50.0, 50.0)] * 5 + [(50.0, 50.0)] * 30 + [(150.0, 50.0)] * 5
    for i, p in enumerate(points):
        stays += zone.update(i * 0.1, [(7, p)])
        if i == 20:
            assert zone.occupancy == 1
    assert zone.entries == 1
    assert len(stays) == 1
    assert stays[0].track == 7
    assert stays[0].enter == pytest.approx(0.5)
    assert stays[0].exit == pytest.approx(3.4)
    assert zone.occupancy == 0


def test_zone_flicker_at_the_edge_is_one_stay() -> None:
    zone = ZoneCounter(SQUARE, confirm_frames=3)
    stays = []
    points = [(50.0, 50.0)] * 10 + [(101.0, 50.0), (99.0, 50.0)] * 10 + [(50.0, 50.0)] * 5
    for i, p in enumerate(points):
        stays += zone.update(i * 0.1, [(1, p)])
    assert stays == []
    assert zone.entries == 1
    end = zone.end(1)
    assert end is not None
    assert end.exit == pytest.approx((len(points) - 1) * 0.1)


def test_a_track_lost_inside_ends_its_stay_at_its_last_sighting() -> None:
    zone = ZoneCounter(SQUARE, confirm_frames=2)
    for i in range(10):
        zone.update(i * 0.1, [(3, (50.0, 50.0))])
    stay = zone.end(3)
    assert stay is not None
    assert stay.enter == pytest.approx(0.0)
    assert stay.exit == pytest.approx(0.9)
    assert zone.end(3) is None


def test_a_zone_needs_three_points() -> None:
    with pytest.raises(ValueError, match="zone bad needs at least three points"):
        ZoneCounter(Zone("bad", ((0, 0), (1, 1))))
