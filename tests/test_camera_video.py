"""The whole camera pipeline on real footage, with the real model (onnxruntime).

``one-by-one-person-detection.mp4`` (Intel sample videos, CC-BY-4.0): six people walk in
from the bottom edge one at a time, stand at a table and leave to the right. The ground
truth in ``tests/data/camera/one_by_one_truth.json`` was annotated by eye (docs/accuracy.md).
Detections are cached per frame for the module, so each frame is detected at most once.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from shared_data import shared_data

from drivers.camera.count import Line, Zone
from drivers.camera.detect import Detections, DetectorConfig, OnnxDetector
from drivers.camera.motion import GateConfig, MotionGate
from drivers.camera.pipeline import CameraPipeline

pytestmark = pytest.mark.realdata

VIDEO = shared_data() / "video" / "one-by-one-person-detection.mp4"
TRUTH_FILE = Path(__file__).parent / "data" / "camera" / "one_by_one_truth.json"
TRUTH = json.loads(TRUTH_FILE.read_text())
ZONE = Zone("table", tuple((float(x), float(y)) for x, y in TRUTH["zone"]))
EXIT_ANGLES = (50, 70, 90, 110, 130)
ENTRY_ANGLES = (-10, 0, 10, 15)


def line_at(name: str, angle: float, centre: tuple[float, float], half: float) -> Line:
    a = math.radians(angle)
    dx, dy = half * math.cos(a), half * math.sin(a)
    return Line(name, (centre[0] - dx, centre[1] - dy), (centre[0] + dx, centre[1] + dy))


LINES = [line_at(f"exit{a}", a, (600, 365), 110) for a in EXIT_ANGLES] + [
    # Across the walk in from the bottom edge, below where people stand at the table
    # (their feet at y 386-398): a line through a standing crowd counts its fidgeting.
    line_at(f"entry{a}", a, (440, 414), 60)
    for a in ENTRY_ANGLES
]


@dataclass
class CachedDetector:
    """The real detector, remembering its answer per frame number (set before each call)."""

    detector: OnnxDetector
    frame: int = 0
    cache: dict[int, Detections] = field(default_factory=dict)

    def detect(self, image: npt.NDArray[np.uint8]) -> Detections:
        if self.frame not in self.cache:
            self.cache[self.frame] = self.detector.detect(image)
        return self.cache[self.frame]


def frames(last: int | None = None) -> Iterator[tuple[int, float, npt.NDArray[np.uint8]]]:
    cap = cv2.VideoCapture(str(VIDEO))
    number = 0
    while last is None or number <= last:
        ok, image = cap.read()
        if not ok:
            break
        yield number, cap.get(cv2.CAP_PROP_POS_MSEC) / 1000, np.asarray(image, np.uint8)
        number += 1
    cap.release()


def run(detector: CachedDetector, gated: bool, last: int | None = None) -> CameraPipeline:
    gate = MotionGate(GateConfig()) if gated else None
    pipeline = CameraPipeline("test", detector, LINES, [ZONE], gate=gate)
    for number, t, image in frames(last):
        detector.frame = number
        pipeline.process(t, image)
    pipeline.finish()
    return pipeline


@pytest.fixture(scope="module")
def detector() -> CachedDetector:
    if not VIDEO.exists():
        pytest.skip(f"{VIDEO} is absent")
    return CachedDetector(OnnxDetector(DetectorConfig(threads=2)))


@pytest.fixture(scope="module")
def gated(detector: CachedDetector) -> CameraPipeline:
    """The whole video, motion-gated (the default way a camera runs)."""
    return run(detector, gated=True)


def test_six_visits_to_the_table_with_their_dwell(gated: CameraPipeline) -> None:
    truth = [(v["exit_frame"] - v["enter_frame"]) / TRUTH["fps"] for v in TRUTH["visits"]]
    assert gated.zones[0].entries == 6
    dwell = [stay.dwell_s for stay in gated.stays]
    assert len(dwell) == 6
    for measured, expected in zip(dwell, truth, strict=True):
        assert measured == pytest.approx(expected, abs=1.0)
    # The track's foot point is the box's bottom: the lower foot, which crosses into the
    # zone after the midpoint between the feet (the truth) when people walk in from below,
    # and a track is in a zone after three confirming frames: up to 0.7 s late.
    starts = [stay.enter * TRUTH["fps"] for stay in gated.stays]
    for start, visit in zip(starts, TRUTH["visits"], strict=True):
        assert start == pytest.approx(visit["enter_frame"], abs=7)


def test_lines_at_several_angles_across_one_path_count_the_same(gated: CameraPipeline) -> None:
    counts = {c.line.name: (c.entered, c.exited) for c in gated.lines}
    for angle in EXIT_ANGLES:  # everybody leaves to the right: right to left of these lines
        assert counts[f"exit{angle}"] == (0, 6), counts
    for angle in ENTRY_ANGLES:  # everybody walks in from the bottom edge
        assert counts[f"entry{angle}"] == (0, 6), counts


def test_no_more_tracks_than_people(gated: CameraPipeline) -> None:
    assert gated.tracker._next_id - 1 == 6


def test_gating_skips_most_frames_and_counts_the_same(detector: CachedDetector) -> None:
    """The first person's whole visit (frames 0-220), every frame vs gated."""
    every = run(detector, gated=False, last=220)
    gated = run(detector, gated=True, last=220)
    assert every.stats.detector_runs == 221
    assert gated.stats.detector_runs < 221 / 3
    assert [s.track for s in every.stays] == [s.track for s in gated.stays] == [1]
    assert gated.stays[0].dwell_s == pytest.approx(every.stays[0].dwell_s, abs=0.3)
    assert [(c.entered, c.exited) for c in every.lines] == [
        (c.entered, c.exited) for c in gated.lines
    ]


def test_detection_precision_and_recall_on_annotated_frames(detector: CachedDetector) -> None:
    sampled = TRUTH["sampled"]
    person = {f for a, b in sampled["person"] for f in range(a, b + 1, sampled["step"])}
    tp = fp = fn = 0
    for number, _t, image in frames():
        if number % sampled["step"] or number in sampled["ignore"]:
            continue
        detector.frame = number
        scores = detector.detect(image).scores
        confident = int((scores >= 0.4).sum())
        hit = number in person and confident > 0
        tp += hit
        fn += number in person and not hit
        fp += confident - hit
    assert tp + fn == len(person) == 105
    assert tp / (tp + fp) >= 0.95
    assert tp / (tp + fn) >= 0.95
