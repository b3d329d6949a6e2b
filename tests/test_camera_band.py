"""Counting bands: a person counts when they pass from one side of the strip to the other."""

from __future__ import annotations

from collections.abc import Sequence

import click
import numpy as np
import numpy.typing as npt
import pytest

from drivers.camera.count import LEFT, RIGHT, Line, LineCounter, band_edges, band_side
from drivers.camera.detect import Detections
from drivers.camera.pipeline import Anchor, CameraPipeline
from edge.cli.camera_video import parse_line
from edge.sensors.camera.config import CameraSensorConfig
from edge.sensors.camera.settings import pipeline_config

VERTICAL = Line("door", (100, 200), (100, 0), band=40)
"""x = 100 from the bottom up, a 40 px strip (x 80-120); in = left to right."""


def walk(counter: LineCounter, xs: Sequence[float], track: int = 1, y: float = 100) -> list[str]:
    events = []
    for i, x in enumerate(xs):
        events += [d for _, d in counter.update(float(i), [(track, (x, y))])]
    return events


def test_the_strip_gives_no_side() -> None:
    assert band_side(VERTICAL, (50, 100)) == LEFT
    assert band_side(VERTICAL, (150, 100)) == RIGHT
    assert band_side(VERTICAL, (85, 100)) is None
    assert band_side(VERTICAL, (119, 100)) is None
    assert band_side(VERTICAL, (150, 250)) == 0  # beyond the segment's end
    assert band_side(Line("bare", (100, 200), (100, 0)), (101, 100)) == RIGHT


def test_band_edges_are_drawn_half_a_band_either_side() -> None:
    edges = band_edges(VERTICAL)
    assert sorted(round(a[0]) for a, _ in edges) == [80, 120]
    assert all(a[1] == 200 and b[1] == 0 for a, b in edges)
    assert band_edges(Line("bare", (0, 0), (10, 0))) == []


def test_crossing_the_band_counts_once() -> None:
    counter = LineCounter(VERTICAL, confirm_frames=2)
    assert walk(counter, [50, 60, 70, 90, 100, 110, 130, 140, 150]) == ["in"]
    assert (counter.entered, counter.exited) == (1, 0)


def test_turning_inside_the_band_counts_nothing() -> None:
    """Standing and swaying on the line, then going back where one came from."""
    counter = LineCounter(VERTICAL, confirm_frames=2)
    xs = [50, 60, 75, 95, 105, 115, 105, 95, 115, 100, 85, 70, 60, 50]
    assert walk(counter, xs) == []


def test_a_bare_line_counts_the_same_sway() -> None:
    bare = LineCounter(Line("door", (100, 200), (100, 0)), confirm_frames=2)
    xs = [50, 60, 75, 95, 105, 115, 105, 95, 115, 100, 85, 70, 60, 50]
    assert walk(bare, xs) == ["in", "out"]


def test_hidden_inside_the_band_still_counts() -> None:
    """The foot is not seen while in the strip (someone in front): the side carries over."""
    counter = LineCounter(VERTICAL, confirm_frames=2)
    assert walk(counter, [40, 50, 60, 140, 150]) == ["in"]


def test_a_band_counts_every_crossing_of_one_track() -> None:
    """Out, in, out by the same person: three crossings (a bare line allows one of each)."""
    counter = LineCounter(VERTICAL, confirm_frames=2)
    xs = [150, 150, 50, 50, 150, 150, 50, 50]
    assert walk(counter, xs) == ["out", "in", "out"]
    bare = LineCounter(Line("door", (100, 200), (100, 0)), confirm_frames=2)
    assert walk(bare, xs) == ["out", "in"]


def test_the_band_is_measured_across_a_tilted_line() -> None:
    diagonal = Line("d", (0, 0), (200, 200), band=40)  # 20 px either side, perpendicular
    assert band_side(diagonal, (100 + 13, 100 - 13)) is None  # 18.4 px off the line
    assert band_side(diagonal, (100 + 15, 100 - 15)) is not None  # 21.2 px


class Scripted:
    """A detector that reports one person box per frame from a list (the lowest layer)."""

    def __init__(self, tops: Sequence[float]) -> None:
        self.tops = list(tops)

    def detect(self, frame: npt.NDArray[np.uint8]) -> Detections:
        y = self.tops.pop(0)
        box = np.asarray([[40, y, 80, y + 80]], np.float32)
        return Detections(box, np.asarray([0.9], np.float32))


def crossings(anchor: Anchor) -> list[str]:
    """A person walking down the picture: feet from y 80 to 125, middle from 40 to 85."""
    tops = [float(y) for y in range(0, 46, 3)]
    line = Line("door", (0, 100), (200, 100), band=10)
    pipeline = CameraPipeline("c", Scripted(tops), (line,), anchor=anchor)
    found = []
    for i in range(len(tops)):
        pipeline.process(i / 10, np.zeros((200, 200, 3), np.uint8))
        found += [c.direction for c in pipeline.crossings]
    return found


def test_overhead_cameras_count_the_middle_of_the_box() -> None:
    """Seen from above the box is a head or a body: its middle is where the person is."""
    assert crossings("foot") == ["in"]
    assert crossings("centre") == []


def test_the_configuration_sets_bands_and_mounting() -> None:
    sensor = CameraSensorConfig.model_validate(
        {
            "type": "camera",
            "name": "door",
            "zone": "entrance",
            "url": "usb:0",
            "mounting": "overhead",
            "lines": [{"name": "door", "start": [0, 100], "end": [200, 100], "band_px": 30}],
        }
    )
    config = pipeline_config(sensor)
    assert config.anchor == "centre"
    assert config.lines[0].band == 30


def test_the_command_line_takes_a_band() -> None:
    assert parse_line("330,575,330,140", 30).band == 30
    assert parse_line("330,575,330,140").band == 0
    with pytest.raises(click.BadParameter, match="--band -5"):
        parse_line("330,575,330,140", -5)
