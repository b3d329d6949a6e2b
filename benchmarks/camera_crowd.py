"""The crowded plaza's line, counted half by half: the honest evaluation protocol.

    python benchmarks/camera_crowd.py [--json] [--detector nanodet] [--every-frame]
                                      [--band 40] [--recover 1.0] ...

``vtest.avi`` (``tests/footage.py`` fetches it) has one annotated line, x = 330
(``tests/data/camera/vtest_truth.json``, 14 in and 18 out). The video is cut in two
halves, frames 0-397 and 398-794, each counted as a video of its own (a fresh pipeline,
as if the camera started there). Settings are tuned on one half and reported on the
other, then the other way round (docs/accuracy.md, "Counting band"): the options below
are the knobs, their defaults the settings chosen.

The detector's boxes (score >= 0.1) on every frame are computed once per detector and
kept in ``benchmarks/.cache/camera/``; a run then replays them through the real motion
gate, tracker and counter (the gate still sees the real frames), so a setting is tried in
seconds. ``--every-frame`` skips the gate and the video decoding altogether.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from camera_detectors import make_detector  # noqa: E402
from footage import vtest_path  # noqa: E402

from drivers.camera.count import Line  # noqa: E402
from drivers.camera.detect import Detections, Detector  # noqa: E402
from drivers.camera.motion import GateConfig, MotionGate  # noqa: E402
from drivers.camera.pipeline import CameraPipeline, Crossing  # noqa: E402
from drivers.camera.track import TrackerConfig  # noqa: E402

__all__ = ["HALVES", "CachedDetections", "Counted", "count_half", "detections", "truth"]

CACHE = ROOT / "benchmarks" / ".cache" / "camera"
TRUTH_FILE = ROOT / "tests" / "data" / "camera" / "vtest_truth.json"
HALVES = ((0, 398), (398, 795))
"""Frame ranges [start, end) of the two halves of vtest.avi."""


def truth() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(TRUTH_FILE.read_text())
    return loaded


def truth_line(band: float = 0.0) -> Line:
    line = truth()["line"]
    return Line("x330", tuple(line["start"]), tuple(line["end"]), band=band)


def truth_counts(start: int, end: int) -> tuple[int, int]:
    """(in, out) annotated on frames [start, end)."""
    directions = [c["direction"] for c in truth()["crossings"] if start <= c["frame"] < end]
    return directions.count("in"), directions.count("out")


class CachedDetections:
    """A detector's boxes on every frame of one video, replayed by frame number."""

    def __init__(
        self,
        boxes: npt.NDArray[np.float32],
        scores: npt.NDArray[np.float32],
        frame: npt.NDArray[np.int64],
        frames: int,
    ) -> None:
        order = np.argsort(frame, kind="stable")
        self._boxes, self._scores, self._frame = boxes[order], scores[order], frame[order]
        self.frames = frames
        self.at = 0
        """The frame the next ``detect`` call answers for (the caller sets it)."""

    def detect(self, frame: npt.NDArray[np.uint8]) -> Detections:
        lo, hi = np.searchsorted(self._frame, [self.at, self.at + 1])
        return Detections(self._boxes[lo:hi].copy(), self._scores[lo:hi].copy())


def frames_of(video: Path, start: int = 0) -> Iterator[npt.NDArray[np.uint8]]:
    cap = cv2.VideoCapture(str(video))
    try:
        cap.set(cv2.CAP_PROP_POS_FRAMES, start)
        while True:
            ok, image = cap.read()
            if not ok:
                return
            yield np.asarray(image, np.uint8)
    finally:
        cap.release()


def detections(
    key: str, detector: Detector | None = None, video: Path | None = None
) -> CachedDetections:
    """The cached boxes of detector ``key`` on ``video``, computed with ``detector`` if absent."""
    video = video or vtest_path()
    path = CACHE / f"{video.stem}-{key}.npz"
    if not path.exists():
        if detector is None:
            raise SystemExit(f"{path} is absent and no detector was given to compute it")
        boxes, scores, numbers = [], [], []
        for i, image in enumerate(frames_of(video)):
            found = detector.detect(image)
            boxes.append(found.boxes)
            scores.append(found.scores)
            numbers.append(np.full(len(found.scores), i, np.int64))
        CACHE.mkdir(parents=True, exist_ok=True)
        np.savez(
            path,
            boxes=np.concatenate(boxes),
            scores=np.concatenate(scores),
            frame=np.concatenate(numbers),
            frames=len(boxes),
        )
    data = np.load(path)
    return CachedDetections(data["boxes"], data["scores"], data["frame"], int(data["frames"]))


@dataclass
class Counted:
    """What one half counted, against its truth."""

    start: int
    end: int
    entered: int
    exited: int
    truth_in: int
    truth_out: int
    detector_runs: int
    recovered: int
    crossings: list[Crossing]

    def as_json(self) -> dict[str, Any]:
        def error(got: int, want: int) -> float:
            return round(100 * (got - want) / want, 1) if want else 0.0

        return {
            "frames": f"{self.start}-{self.end - 1}",
            "in": self.entered,
            "truth_in": self.truth_in,
            "in_error_pct": error(self.entered, self.truth_in),
            "out": self.exited,
            "truth_out": self.truth_out,
            "out_error_pct": error(self.exited, self.truth_out),
            "detector_runs": self.detector_runs,
            "recovered": self.recovered,
            "counted_at": [(c.frame + self.start, c.direction, c.track) for c in self.crossings],
        }


def count_half(
    cached: CachedDetections,
    span: tuple[int, int],
    line: Line,
    tracker: TrackerConfig,
    confirm: int,
    gated: bool,
    video: Path | None = None,
) -> Counted:
    """Count frames [start, end) as a video of their own, replaying the cached boxes."""
    start, end = span
    gate = MotionGate(GateConfig()) if gated else None
    pipeline = CameraPipeline("vtest", cached, (line,), (), gate, tracker, confirm)
    images = frames_of(video or vtest_path(), start) if gated else None
    blank = np.zeros((1, 1, 3), np.uint8)
    crossings: list[Crossing] = []
    for number in range(start, min(end, cached.frames)):
        cached.at = number
        image = next(images) if images is not None else blank
        pipeline.process(number / 10.0, image)
        crossings.extend(pipeline.crossings)
    pipeline.finish()
    counter = pipeline.lines[0]
    truth_in, truth_out = truth_counts(start, end)
    return Counted(
        start,
        end,
        counter.entered,
        counter.exited,
        truth_in,
        truth_out,
        pipeline.stats.detector_runs,
        pipeline.tracker.recovered,
        crossings,
    )


def _options(argv: Sequence[str] | None) -> argparse.Namespace:
    defaults = TrackerConfig()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--detector", default="nanodet", help="benchmarks/camera_detectors.py")
    parser.add_argument("--every-frame", action="store_true", help="no motion gate")
    parser.add_argument("--band", type=float, default=30.0, help="band width, pixels")
    parser.add_argument("--confirm", type=int, default=3)
    parser.add_argument("--recover", type=float, default=defaults.recover_distance)
    parser.add_argument("--recover-frames", type=int, default=defaults.recover_frames)
    parser.add_argument("--max-misses", type=int, default=defaults.max_misses)
    parser.add_argument("--birth", type=float, default=defaults.birth)
    parser.add_argument("--birth-hits", type=int, default=defaults.birth_hits)
    parser.add_argument("--high", type=float, default=defaults.high)
    parser.add_argument("--half", type=int, choices=(0, 1), help="only this half")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _options(argv)
    if not vtest_path().exists():
        print(f"{vtest_path()} is absent: `make footage` fetches it", file=sys.stderr)
        return 1
    cached = detections(args.detector, make_detector(args.detector, 2))
    tracker = replace(
        TrackerConfig(),
        recover_distance=args.recover,
        recover_frames=args.recover_frames,
        max_misses=args.max_misses,
        birth=args.birth,
        birth_hits=args.birth_hits,
        high=args.high,
    )
    halves = HALVES if args.half is None else (HALVES[args.half],)
    results = [
        count_half(
            cached, span, truth_line(args.band), tracker, args.confirm, not args.every_frame
        ).as_json()
        for span in halves
    ]
    if args.json:
        print(json.dumps(results))
    else:
        for r in results:
            print(
                f"frames {r['frames']}: in {r['in']}/{r['truth_in']} ({r['in_error_pct']}%),"
                f" out {r['out']}/{r['truth_out']} ({r['out_error_pct']}%),"
                f" runs {r['detector_runs']}, recovered {r['recovered']}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
