"""The camera pipeline on a crowded outdoor scene: OpenCV's ``vtest.avi``.

The video comes from Debian's ``opencv-doc`` package (``make footage``, part of ``make test``,
fetches only this file; see ``tests/footage.py``). People walk both ways across a plaza seen
from above, in groups, turning back and hiding each other. The ground truth in
``tests/data/camera/vtest_truth.json`` was annotated by eye (docs/accuracy.md, "Crowded
plaza"). The figures asserted are what the pipeline measured, with a small tolerance: this
test guards against regressions. The video is detected once for the module (as
``mallsense camera count`` runs it, motion-gated); the two halves of the evaluation
protocol (``benchmarks/camera_crowd.py``) replay those detections through fresh pipelines.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from footage import VTEST_SHA256, vtest_path

from drivers.camera.count import Line
from drivers.camera.detect import Detections, DetectorConfig, OnnxDetector, detector_config
from drivers.camera.pipeline import CameraPipeline, PipelineConfig, build_pipeline
from drivers.camera.track import TrackerConfig, iou_matrix
from edge.cli.camera_video import count_video

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

VIDEO = vtest_path()
TRUTH = json.loads((Path(__file__).parent / "data" / "camera" / "vtest_truth.json").read_text())
START = tuple(float(v) for v in TRUTH["line"]["start"])
END = tuple(float(v) for v in TRUTH["line"]["end"])
ANGLES = (80, 90, 100)
"""Degrees from the picture's x axis, all through the middle of the truth line (90)."""
BAND = 30
"""The counting band chosen on the halves (docs/accuracy.md, "Counting band")."""
HALVES = ((0, 398), (398, 795))


def line_at(angle: float, band: float = 0) -> Line:
    cx, cy = (START[0] + END[0]) / 2, (START[1] + END[1]) / 2
    half = math.dist(START, END) / 2
    dx, dy = half * math.cos(math.radians(angle)), half * math.sin(math.radians(angle))
    name = f"a{angle}" if not band else f"band{angle}"
    return Line(name, (cx + dx, cy + dy), (cx - dx, cy - dy), band=band)  # bottom to top


class Recorder:
    """The real detector, keeping what it found on each frame for the replays below."""

    def __init__(self, inner: OnnxDetector) -> None:
        self.inner = inner
        self.found: dict[int, Detections] = {}
        self.pipeline: CameraPipeline | None = None

    def detect(self, frame: npt.NDArray[np.uint8]) -> Detections:
        assert self.pipeline is not None
        found = self.inner.detect(frame)
        self.found[self.pipeline.stats.frames - 1] = found
        return found


class Replay:
    """Detections recorded on the whole video, answered by frame number."""

    def __init__(self, found: dict[int, Detections]) -> None:
        self.found = found
        self.at = 0

    def detect(self, frame: npt.NDArray[np.uint8]) -> Detections:
        return self.found[self.at]


def truth_counts() -> tuple[int, int]:
    directions = [c["direction"] for c in TRUTH["crossings"]]
    return directions.count("in"), directions.count("out")


@pytest.fixture(scope="module")
def recorded() -> tuple[CameraPipeline, Recorder]:
    """The whole video, as ``mallsense camera count`` runs it (default model, gated)."""
    skip_without_video()
    lines = tuple(line_at(a) for a in ANGLES) + tuple(line_at(a, BAND) for a in ANGLES)
    detector = detector_config(None, "nanodet", 2)
    config = PipelineConfig(camera="vtest", detector=detector, lines=lines)
    recorder = Recorder(OnnxDetector(detector))
    pipeline = build_pipeline(config, recorder)
    recorder.pipeline = pipeline
    count_video(VIDEO, config, pipeline=pipeline)
    return pipeline, recorder


@pytest.fixture(scope="module")
def counted(recorded: tuple[CameraPipeline, Recorder]) -> CameraPipeline:
    return recorded[0]


def count_half(found: dict[int, Detections], start: int, end: int) -> tuple[int, int]:
    """(in, out) on the band line of a fresh pipeline fed frames [start, end) only."""
    replay = Replay(found)
    pipeline = CameraPipeline("half", replay, (line_at(90, BAND),), (), None, TrackerConfig())
    blank = np.zeros((1, 1, 3), np.uint8)
    for number in range(start, end):
        replay.at = number
        pipeline.process(number / 10, blank)
    return pipeline.lines[0].entered, pipeline.lines[0].exited


def truth_half(start: int, end: int) -> tuple[int, int]:
    directions = [c["direction"] for c in TRUTH["crossings"] if start <= c["frame"] < end]
    return directions.count("in"), directions.count("out")


def test_in_a_crowd_the_gate_detects_every_frame(counted: CameraPipeline) -> None:
    """Someone is always walking: the gate holds no track still (and loses no crossing)."""
    assert counted.stats.detector_runs == TRUTH["frames"]


def test_the_band_counts_both_halves(recorded: tuple[CameraPipeline, Recorder]) -> None:
    """Measured: first half 6/6 in, 8/8 out; second half 7/8 in, 10/10 out."""
    found = recorded[1].found
    assert sorted(found) == list(range(TRUTH["frames"]))
    first, second = (count_half(found, *span) for span in HALVES)
    assert [truth_half(*span) for span in HALVES] == [(6, 8), (8, 10)]
    assert first == (6, 8)
    assert second[0] == pytest.approx(7, abs=1) and second[1] == pytest.approx(10, abs=1)


def test_the_band_on_the_whole_video(counted: CameraPipeline) -> None:
    """Measured: 13 in, 18 out for 14 and 18 (the bare line: 13 and 15)."""
    counts = {c.line.name: (c.entered, c.exited) for c in counted.lines}
    entered, exited = counts["band90"]
    assert entered == pytest.approx(13, abs=1) and exited == pytest.approx(18, abs=1)
    for angle in ANGLES:
        tilted_in, tilted_out = counts[f"band{angle}"]
        assert abs(tilted_in - entered) <= 1 and abs(tilted_out - exited) <= 1, counts


def test_the_truth_line_is_the_one_the_cli_counts() -> None:
    vertical = line_at(90)
    assert vertical.p1 == pytest.approx(START)
    assert vertical.p2 == pytest.approx(END)
    assert truth_counts() == (14, 18)
    assert TRUTH["sha256"] == VTEST_SHA256


def test_line_counts_on_a_crowded_plaza(counted: CameraPipeline) -> None:
    """A bare line: 13 in, 15 out for 14 and 18 (10 and 15 before track recovery)."""
    assert counted.stats.frames == TRUTH["frames"]
    vertical = next(c for c in counted.lines if c.line.name == "a90")
    truth_in, truth_out = truth_counts()
    assert vertical.entered == pytest.approx(13, abs=2)
    assert vertical.exited == pytest.approx(15, abs=2)
    assert vertical.entered <= truth_in
    assert vertical.exited <= truth_out


def test_tilting_the_line_changes_the_counts_little(counted: CameraPipeline) -> None:
    """The same people cross all three lines here (checked by eye for the vertical one)."""
    counts = {c.line.name: (c.entered, c.exited) for c in counted.lines if c.line.band == 0}
    base_in, base_out = counts["a90"]
    for entered, exited in counts.values():
        assert abs(entered - base_in) <= 1, counts
        assert abs(exited - base_out) <= 2, counts


def test_vtest_sha256_is_checked_by_the_fetcher() -> None:
    skip_without_video()
    import hashlib

    assert hashlib.sha256(VIDEO.read_bytes()).hexdigest() == VTEST_SHA256
    cap = cv2.VideoCapture(str(VIDEO))
    ok, image = cap.read()
    cap.release()
    assert ok and np.asarray(image).shape == (576, 768, 3)


def skip_without_video() -> None:
    if not VIDEO.exists():
        pytest.skip(f"{VIDEO} is absent: `make footage` fetches it from Debian's opencv-doc")


@pytest.fixture(scope="module")
def detected() -> dict[int, Detections]:
    """The detector's boxes (score >= 0.1) on the annotated frames."""
    skip_without_video()
    detector = OnnxDetector(DetectorConfig(threads=2))
    wanted = set(TRUTH["detection"]["frames"])
    found: dict[int, Detections] = {}
    cap = cv2.VideoCapture(str(VIDEO))
    number = 0
    while wanted - found.keys():
        ok, image = cap.read()
        assert ok, f"{VIDEO} ended before frame {number}"
        if number in wanted:
            found[number] = detector.detect(np.asarray(image, np.uint8))
        number += 1
    cap.release()
    return found


def match(frame: int, found: Detections, threshold: float) -> tuple[int, int, int]:
    """(TP, FP, FN) on one annotated frame at ``threshold`` (rules in the truth's note)."""
    truth = TRUTH["detection"]
    people = np.asarray(truth["people"][str(frame)], np.float64)
    ignore = np.asarray(truth["ignore"].get(str(frame), []), np.float64).reshape(-1, 4)
    keep = found.scores >= threshold
    boxes = found.boxes[keep][np.argsort(-found.scores[keep], kind="stable")]
    iou, iou_ignored = iou_matrix(boxes, people), iou_matrix(boxes, ignore)
    taken: set[int] = set()
    tp = fp = 0
    for i, box in enumerate(boxes):
        free = [(iou[i, j], j) for j in range(len(people)) if j not in taken]
        best = max(free, default=(0.0, -1))
        if best[0] >= 0.4:
            taken.add(best[1])
            tp += 1
        elif (box[1] + box[3]) / 2 >= truth["top"] and not (iou_ignored[i] >= 0.4).any():
            fp += 1
    return tp, fp, len(people) - tp


@pytest.mark.parametrize(
    ("threshold", "precision", "recall"),
    [(0.3, 0.65, 0.95), (0.4, 0.85, 0.95), (0.5, 0.95, 0.95)],
)
def test_detection_precision_and_recall_on_annotated_frames(
    detected: dict[int, Detections], threshold: float, precision: float, recall: float
) -> None:
    """Measured (IoU >= 0.4): 0.70/1.00 at 0.3, 0.88/0.98 at 0.4, 1.00/0.98 at 0.5."""
    tp = fp = fn = 0
    for frame, found in detected.items():
        t, f, n = match(frame, found, threshold)
        tp, fp, fn = tp + t, fp + f, fn + n
    assert tp + fn == 62
    assert tp / (tp + fp) >= precision, (tp, fp, fn)
    assert tp / (tp + fn) >= recall, (tp, fp, fn)
