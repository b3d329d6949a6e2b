"""One detector for all cameras against a model per camera: memory and frames/s, one run.

    python benchmarks/shared_detector.py [--seconds 15] [--rounds 1] [--gated] [--json]

Real camera processes (``CameraProcess``, spawned) play a clip of
``../shared/data/video/one-by-one-person-detection.mp4`` (frames 100-299: people walking)
looped as fast as they can, detecting on every frame (``--gated``: with the motion gate,
as cameras run by default), with the bundled NanoDet-m at 2 onnxruntime threads:

- ``own``: each camera process loads its own onnxruntime session (``shared_detector = false``);
- ``shared``: one ``DetectorService`` process owns the one session, the cameras send it
  their letterboxed tensors through shared memory.

For 2 and 4 cameras, each setup in turn (rounds alternate the order so that noise from other
jobs on the machine hits both alike): after every camera counted its first frames, frames/s
of all cameras together over ``--seconds`` of wall time, and the PSS of the process tree
(every descendant of this script: camera processes, the service, multiprocessing's
resource tracker; summed from /proc/<pid>/smaps_rollup, highest sample). It prints the
figures and the ratios shared / own, and the memory each camera beyond the second adds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fixtures.video import clip
from shared_detector_helpers import EPOCH, VIDEO

from drivers.camera.capture import CameraSpec
from drivers.camera.detect import detector_config
from drivers.camera.motion import GateConfig
from drivers.camera.pipeline import PipelineConfig
from drivers.camera.process import CameraProcess
from drivers.camera.shared_detector import DetectorService

SETUPS = ("own", "shared")


def descendants(root: int) -> list[int]:
    """Every process under ``root`` (from each process's parent id in /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        children = [p for p, parent in parents.items() if parent == pid]
        found += children
        frontier += children
    return found


def cpu_s(pids: list[int]) -> float:
    """User + system CPU time the processes used so far (seconds)."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def pss_mb(pids: list[int]) -> float:
    total_kb = 0
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("Pss:"):
                total_kb += int(line.split()[1])
    return total_kb / 1024


class Run:
    """``cameras`` camera processes (and the service for ``shared``), counting on a loop."""

    def __init__(self, video: Path, cameras: int, setup: str, gated: bool) -> None:
        self.service = DetectorService(detector_config()) if setup == "shared" else None
        config = PipelineConfig(
            "", detector=detector_config(), gate=GateConfig() if gated else None
        )
        if self.service is not None:
            self.service.start()
            config = PipelineConfig(**{**config.__dict__, "detector_service": self.service.address})
        self.processes = []
        for i in range(cameras):
            spec = CameraSpec(f"cam{i}", str(video), replay_start=EPOCH, loop=True)
            camera = PipelineConfig(**{**config.__dict__, "camera": spec.name})
            self.processes.append(CameraProcess(spec, camera, health_s=0.25))
        self.frames = [0] * cameras

    def measure(self, seconds: float) -> dict[str, float]:
        for process in self.processes:
            process.start()
        self._poll_until(lambda: all(f > 10 for f in self.frames), 120)
        tree = descendants(os.getpid())
        start, frames0, cpu0, peak = time.monotonic(), sum(self.frames), cpu_s(tree), 0.0
        while time.monotonic() - start < seconds:
            self._poll_once()
            peak = max(peak, pss_mb(tree))
        elapsed, frames = time.monotonic() - start, sum(self.frames) - frames0
        cpu_ms = 1000 * (cpu_s(tree) - cpu0) / max(frames, 1)
        return {"fps": frames / elapsed, "cpu_ms_per_frame": cpu_ms, "pss_mb": peak}

    def stop(self) -> None:
        for process in self.processes:
            process.stop(timeout=10)
        if self.service is not None:
            self.service.stop()

    def _poll_once(self) -> None:
        for i, process in enumerate(self.processes):
            for message in process.poll(0.02):
                if message.kind == "error":
                    raise SystemExit(f"camera {i}: {message.error}")
                if message.health is not None:
                    self.frames[i] = message.health.frames

    def _poll_until(self, done: Any, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise SystemExit("the cameras did not start counting")
            self._poll_once()


def measure(video: Path, cameras: int, setup: str, seconds: float, gated: bool) -> dict[str, float]:
    run = Run(video, cameras, setup, gated)
    try:
        return run.measure(seconds)
    finally:
        run.stop()


def summarize(samples: dict[tuple[int, str], list[dict[str, float]]]) -> dict[str, Any]:
    def median(cameras: int, setup: str, key: str) -> float:
        return statistics.median(s[key] for s in samples[(cameras, setup)])

    out: dict[str, Any] = {}
    for cameras in (2, 4):
        for setup in SETUPS:
            out[f"{setup}_{cameras}_fps"] = round(median(cameras, setup, "fps"), 1)
            out[f"{setup}_{cameras}_pss_mb"] = round(median(cameras, setup, "pss_mb"), 1)
            out[f"{setup}_{cameras}_cpu_ms"] = round(median(cameras, setup, "cpu_ms_per_frame"), 1)
        for key in ("fps", "cpu_ms_per_frame", "pss_mb"):
            ratio = median(cameras, "shared", key) / median(cameras, "own", key)
            out[f"ratio_{cameras}_{key}"] = round(ratio, 2)
    for setup in SETUPS:  # what a third and fourth camera cost, each
        added = (median(4, setup, "pss_mb") - median(2, setup, "pss_mb")) / 2
        out[f"{setup}_mb_per_camera"] = round(added, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--gated", action="store_true", help="with the motion gate")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not VIDEO.exists():
        raise SystemExit(f"{VIDEO} is absent")
    samples: dict[tuple[int, str], list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as folder:
        video = clip(VIDEO, Path(folder) / "clip.mp4", start=100, frames=200)
        for round_ in range(args.rounds):
            order = SETUPS if round_ % 2 == 0 else SETUPS[::-1]
            for cameras in (2, 4):
                for setup in order:
                    result = measure(video, cameras, setup, args.seconds, args.gated)
                    samples.setdefault((cameras, setup), []).append(result)
                    print(f"# {cameras} cameras, {setup}: {result}", file=sys.stderr)
    summary = summarize(samples)
    summary.update(seconds=args.seconds, rounds=args.rounds, gated=args.gated, cores=os.cpu_count())
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    for n in (2, 4):
        print(
            f"{n} cameras: frames/s own {summary[f'own_{n}_fps']}, shared"
            f" {summary[f'shared_{n}_fps']} (x{summary[f'ratio_{n}_fps']});"
            f" CPU ms per frame own {summary[f'own_{n}_cpu_ms']}, shared"
            f" {summary[f'shared_{n}_cpu_ms']} (x{summary[f'ratio_{n}_cpu_ms_per_frame']});"
            f" PSS own {summary[f'own_{n}_pss_mb']} MB, shared"
            f" {summary[f'shared_{n}_pss_mb']} MB (x{summary[f'ratio_{n}_pss_mb']})"
        )
    print(
        f"each camera beyond the second adds: own {summary['own_mb_per_camera']} MB,"
        f" shared {summary['shared_mb_per_camera']} MB"
    )


if __name__ == "__main__":
    main()
