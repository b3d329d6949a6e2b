"""Camera counting benchmark: detection on every frame against motion gating, in one run.

    python benchmarks/camera_count.py [--json] [--runs 3] [--threads 2] [--video FILE]

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
Targets on the 2-core box: >= 20 fps every frame, gated >= 3x faster, rss < 400 MB.
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

from drivers.camera.capture import CameraSpec, Frame, supervise
from drivers.camera.count import Line, Zone
from drivers.camera.detect import DetectorConfig
from drivers.camera.motion import GateConfig
from drivers.camera.pipeline import PipelineConfig, build_pipeline
from drivers.camera.process import peak_rss_mb

ROOT = Path(__file__).resolve().parent.parent
VIDEO = ROOT.parent / "shared" / "data" / "video" / "one-by-one-person-detection.mp4"
LINE = Line("exit", (580, 250), (580, 432))
ZONE = Zone("table", ((360, 320), (540, 320), (540, 400), (360, 400)))


def camera_process(video: str, gated: bool, threads: int, out: Any) -> None:
    """One camera process: load, count the file, report counts, speed and memory."""
    config = PipelineConfig(
        "bench",
        detector=DetectorConfig(threads=threads),
        gate=GateConfig() if gated else None,
        lines=(LINE,),
        zones=(ZONE,),
    )
    pipeline = build_pipeline(config)
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


def run_once(video: Path, gated: bool, threads: int) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    process = ctx.Process(target=camera_process, args=(str(video), gated, threads, out))
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--video", type=Path, default=VIDEO)
    args = parser.parse_args()
    if not args.video.exists():
        print(f"{args.video} is absent: nothing to measure", file=sys.stderr)
        return 1
    runs: dict[str, list[dict[str, Any]]] = {"every": [], "gated": []}
    for _ in range(args.runs):
        for mode in ("every", "gated"):
            runs[mode].append(run_once(args.video, mode == "gated", args.threads))
    summary = summarize(runs, args.threads)
    if args.json:
        print(json.dumps(summary))
    else:
        for key, value in summary.items():
            print(f"{key:>22}: {value}")
    return 0 if summary["counts_identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
