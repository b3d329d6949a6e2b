"""Camera counting benchmark: detectors side by side, every frame against gating, one run.

    python benchmarks/camera_count.py [--json] [--runs 3] [--threads 2] [--video FILE]
                                      [--detectors nanodet,centernet,...]

On ``../shared/data/video/one-by-one-person-detection.mp4`` (768 x 432, 10 fps, 1,394
frames; six people, one at a time), each run starts a fresh camera process (spawn) that
loads the NanoDet model and counts the file the way a camera process does: the capture
watchdog (``supervise``) with a replay source, then ``CameraPipeline`` with an exit line
and a zone around the standing table. Modes alternate (every frame, gated, every frame,
...) so that noise from other jobs on the machine hits both alike.

- ``fps_every_frame`` / ``fps_gated``: frames per second of wall time from the first
  frame to the end (model loading excluded), median over the runs (best also given);
- ``gating_speedup``: the ratio of the two medians;
- ``counts_identical``: in, out, visits and the dwell times (to 0.5 s) agree between modes;
- ``rss_mb``: the highest peak resident memory (VmHWM) of any camera process.
Targets on the 2-core box: >= 20 fps every frame, gated >= 3x faster, rss < 400 MB
(issue 13: >= 15 fps every frame for the default detector).

``--detectors`` measures several detectors (``benchmarks/camera_detectors.py``) in the
same run, the default first, and adds their accuracy: the counts on the one-by-one video
above (truth: 0 in, 6 out, 6 visits) and on the two halves of the crowded plaza
(``benchmarks/camera_crowd.py``, band 30, truth 6/8 and 8/10 in/out), then prints one
table. Detectors whose model file is absent are skipped with a note.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from camera_detectors import DETECTORS, available, make_detector
from footage import vtest_path

from drivers.camera.capture import CameraSpec, Frame, supervise
from drivers.camera.count import Line, Zone
from drivers.camera.motion import GateConfig
from drivers.camera.pipeline import PipelineConfig, build_pipeline
from drivers.camera.process import peak_rss_mb
from drivers.camera.track import TrackerConfig

ROOT = Path(__file__).resolve().parent.parent
VIDEO = ROOT.parent / "shared" / "data" / "video" / "one-by-one-person-detection.mp4"
LINE = Line("exit", (580, 250), (580, 432))
ZONE = Zone("table", ((360, 320), (540, 320), (540, 400), (360, 400)))


def camera_process(video: str, gated: bool, threads: int, out: Any, name: str) -> None:
    """One camera process: load, count the file, report counts, speed and memory."""
    config = PipelineConfig(
        "bench", gate=GateConfig() if gated else None, lines=(LINE,), zones=(ZONE,)
    )
    pipeline = build_pipeline(config, make_detector(name, threads))
    first: list[float] = []

    def on_frame(frame: Frame) -> None:
        if not first:
            first.append(time.perf_counter())
        pipeline.process(frame.t, frame.image)

    supervise(CameraSpec("bench", video, replay_start=0.0), on_frame, threading.Event())
    pipeline.finish()
    seconds = time.perf_counter() - first[0]
    line = pipeline.lines[0]
    out.put(
        {
            "frames": pipeline.stats.frames,
            "seconds": seconds,
            "detector_runs": pipeline.stats.detector_runs,
            "detect_ms": 1000 * pipeline.stats.detect_s / max(pipeline.stats.detector_runs, 1),
            "in": line.entered,
            "out": line.exited,
            "visits": pipeline.zones[0].entries,
            "dwell_s": [round(s.dwell_s, 1) for s in pipeline.stays],
            "rss_mb": peak_rss_mb(),
        }
    )


def run_once(video: Path, gated: bool, threads: int, name: str = "nanodet") -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    args = (str(video), gated, threads, out, name)
    process = ctx.Process(target=camera_process, args=args)
    process.start()
    result: dict[str, Any] = out.get(timeout=600)
    process.join(30)
    return result


def same_counts(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if (a["in"], a["out"], a["visits"]) != (b["in"], b["out"], b["visits"]):
        return False
    pairs = zip(a["dwell_s"], b["dwell_s"], strict=False)
    return len(a["dwell_s"]) == len(b["dwell_s"]) and all(abs(x - y) <= 0.5 for x, y in pairs)


def summarize(runs: dict[str, list[dict[str, Any]]], threads: int) -> dict[str, Any]:
    fps = {mode: [r["frames"] / r["seconds"] for r in rs] for mode, rs in runs.items()}
    speedup = statistics.median(fps["gated"]) / statistics.median(fps["every"])
    every, gated = runs["every"][0], runs["gated"][0]
    everything = runs["every"] + runs["gated"]
    return {
        "video": VIDEO.name,
        "frames": every["frames"],
        "threads": threads,
        "runs": len(runs["every"]),
        "fps_every_frame": round(statistics.median(fps["every"]), 1),
        "fps_every_frame_best": round(max(fps["every"]), 1),
        "fps_gated": round(statistics.median(fps["gated"]), 1),
        "fps_gated_best": round(max(fps["gated"]), 1),
        "gating_speedup": round(speedup, 2),
        "detector_runs_gated": gated["detector_runs"],
        "detect_ms": round(statistics.median(r["detect_ms"] for r in runs["every"]), 1),
        "counts_identical": all(same_counts(every, r) for r in everything),
        "counts": {k: every[k] for k in ("in", "out", "visits", "dwell_s")},
        "counts_gated": {k: gated[k] for k in ("in", "out", "visits", "dwell_s")},
        "rss_mb": round(max(r["rss_mb"] or 0.0 for r in everything), 1),
    }


def plaza_halves(name: str, threads: int) -> list[tuple[int, int]] | None:
    """(in, out) on each half of the plaza with the band, or None without the video."""
    import camera_crowd

    if not vtest_path().exists():
        return None
    cached = camera_crowd.detections(name, make_detector(name, threads))
    line = camera_crowd.truth_line(30)
    tracker = TrackerConfig()
    halves = [
        camera_crowd.count_half(cached, s, line, tracker, 3, False) for s in camera_crowd.HALVES
    ]
    return [(h.entered, h.exited) for h in halves]


def measure(name: str, args: argparse.Namespace) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {"every": [], "gated": []}
    for _ in range(args.runs):
        for mode in ("every", "gated"):
            runs[mode].append(run_once(args.video, mode == "gated", args.threads, name))
    summary = {"detector": name, **summarize(runs, args.threads)}
    summary["plaza_halves_in_out"] = plaza_halves(name, args.threads)
    return summary


def table(summaries: list[dict[str, Any]]) -> str:
    """One line per detector: speed, then accuracy."""
    head = f"{'detector':<14}{'fps every':>10}{'fps gated':>10}{'x':>6}{'ms':>7}"
    head += f"{'1-by-1 in/out/visits':>22}{'plaza A in/out':>16}{'plaza B in/out':>16}"
    truth = f"{'(truth)':<47}{'0/6/6':>22}{'6/8':>16}{'8/10':>16}"
    rows = [head, truth]
    for s in summaries:
        c = s["counts"]
        halves = s["plaza_halves_in_out"] or [("-", "-"), ("-", "-")]
        row = f"{s['detector']:<14}{s['fps_every_frame']:>10}{s['fps_gated']:>10}"
        row += f"{s['gating_speedup']:>6}{s['detect_ms']:>7}"
        one_by_one = f"{c['in']}/{c['out']}/{c['visits']}"
        row += f"{one_by_one:>22}"
        row += "".join(f"{f'{i}/{o}':>16}" for i, o in halves)
        rows.append(row)
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--video", type=Path, default=VIDEO)
    parser.add_argument("--detectors", default="nanodet", help=", ".join(DETECTORS))
    args = parser.parse_args()
    if not args.video.exists():
        print(f"{args.video} is absent: nothing to measure", file=sys.stderr)
        return 1
    names = args.detectors.split(",")
    for missing in sorted(set(names) - set(available(names))):
        print(f"{missing}: model absent (models/convert_human_models.py)", file=sys.stderr)
    summaries = [measure(name, args) for name in available(names)]
    if args.json:
        print(json.dumps(summaries[0] if len(summaries) == 1 else summaries))
    else:
        for key, value in summaries[0].items():
            print(f"{key:>22}: {value}")
        print(table(summaries))
    return 0 if all(s["counts_identical"] for s in summaries) else 1


if __name__ == "__main__":
    sys.exit(main())
