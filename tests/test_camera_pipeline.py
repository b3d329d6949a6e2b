"""CameraPipeline with a scripted detector: observations per interval, dwell, gating."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest

from drivers.camera.count import Line, Zone
from drivers.camera.detect import Detections
from drivers.camera.motion import MotionGate
from drivers.camera.observations import LineCount, ZoneDwell, ZoneOccupancy
from drivers.camera.pipeline import CameraPipeline

BLANK = np.zeros((120, 200, 3), np.uint8)
DOOR = Line("door", (100, 0), (100, 120))  # vertical, pointing down: walking right is "out"
ZONE = Zone("shelf", ((120, 0), (200, 0), (200, 120), (120, 120)))


@dataclass
class Script:
    """A detector that sees one person whose box moves as ``xs`` says (None: nobody)."""

    xs: list[float | None]
    frame: int = 0
    """Set by the caller before each frame."""
    calls: int = 0

    def detect(self, image: npt.NDArray[np.uint8]) -> Detections:
        self.calls += 1
        x = self.xs[self.frame]
        if x is None:
            return Detections.empty()
        box = np.array([[x - 10, 40, x + 10, 100]], np.float32)
        return Detections(box, np.array([0.9], np.float32))


def picture(x: float | None) -> npt.NDArray[np.uint8]:
    """What the camera sees: the person as a bright block (so the motion gate sees them)."""
    image = BLANK.copy()
    if x is not None:
        image[40:100, int(x) - 10 : int(x) + 10] = 255
    return image


def run(script: Script, gate: MotionGate | None = None) -> tuple[CameraPipeline, list[object]]:
    pipeline = CameraPipeline("cam1", script, [DOOR], [ZONE], gate=gate, interval_s=1.0)
    out: list[object] = []
    for i, x in enumerate(script.xs):
        script.frame = i
        out += pipeline.process(1000.0 + i * 0.1, picture(x))
    out += pipeline.finish()
    return pipeline, out


def walk() -> list[float | None]:
    """Walk right from x 20 to 160 (0.1 s a step), stand in the zone 2 s, vanish."""
    path: list[float | None] = [20.0 + 10 * i for i in range(15)]
    return path + [160.0] * 20 + [None] * 15


def test_line_counts_come_per_interval_with_the_crossing_when_confirmed() -> None:
    _pipeline, out = run(Script(walk()))
    counts = [o for o in out if isinstance(o, LineCount)]
    assert [c.start for c in counts] == [1000.0, 1001.0, 1002.0, 1003.0, 1004.0]
    assert all(c.end == c.start + 1 and c.camera == "cam1" and c.line == "door" for c in counts)
    # crossed at x 100 (step 8), counted once three frames stayed on the other side
    assert [(c.entered, c.exited) for c in counts] == [(0, 0), (0, 1), (0, 0), (0, 0), (0, 0)]


def test_a_stay_in_the_zone_becomes_one_dwell_and_occupancy() -> None:
    pipeline, out = run(Script(walk()))
    dwell = [o for o in out if isinstance(o, ZoneDwell)]
    assert len(dwell) == 1 and dwell[0].track == 1 and dwell[0].zone == "shelf"
    assert dwell[0].enter == pytest.approx(1001.1)  # x 130 at step 11: inside from there
    assert dwell[0].exit == pytest.approx(1003.4)  # last frame the person was seen
    assert pipeline.stays == dwell
    occupancy = [o for o in out if isinstance(o, ZoneOccupancy)]
    assert [o.entries for o in occupancy] == [0, 1, 0, 0, 0]
    assert [o.max_occupancy for o in occupancy] == [0, 1, 1, 1, 0]


def test_gated_and_every_frame_give_the_same_observations() -> None:
    every, out_every = run(Script(walk()))
    gated, out_gated = run(Script(walk()), MotionGate())
    assert every.stats.detector_runs == len(walk())
    assert gated.stats.detector_runs < every.stats.detector_runs - 10  # standing: skipped
    assert out_gated == out_every


def test_nothing_leaves_but_counts() -> None:
    _pipeline, out = run(Script(walk()))
    for record in out:
        assert isinstance(record, LineCount | ZoneOccupancy | ZoneDwell)
        assert not any(isinstance(v, np.ndarray) for v in record)
