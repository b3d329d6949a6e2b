"""One child process per camera, so a crashed decoder cannot take the other sensors down.

The child (``multiprocessing`` with the *spawn* start method: no inherited
threads or locks) loads the model, captures with the watchdog of
``drivers.camera.capture`` and sends back only ``CameraMessage`` tuples:
observations (counts and times), health, a final message, or an error in plain
words. No frame crosses the process boundary. The parent restarts a child that
died, with a capped backoff and a restart limit; systemd is the outer ring.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import queue
import time
from dataclasses import dataclass, replace
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Literal, NamedTuple

from drivers.camera.capture import CameraError, CameraSpec, CaptureStats, Frame, supervise
from drivers.camera.detect import ModelError
from drivers.camera.observations import CameraObservation
from drivers.camera.pipeline import PipelineConfig, build_pipeline

__all__ = ["CameraHealth", "CameraMessage", "CameraProcess", "peak_rss_mb"]

log = logging.getLogger("mallsense.camera")
_HEALTH_S = 5.0


def peak_rss_mb(pid: int | str = "self") -> float | None:
    """Peak resident memory (VmHWM) of a process in MiB, from /proc (None if unknown)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


class CameraHealth(NamedTuple):
    """How one camera's process is doing."""

    camera: str
    frames: int
    detector_runs: int
    reconnects: int
    last_error: str | None
    rss_mb: float | None
    """Peak resident memory of the camera process (VmHWM)."""


class CameraMessage(NamedTuple):
    """What a camera process sends to its parent."""

    kind: Literal["observations", "health", "done", "error"]
    observations: tuple[CameraObservation, ...] = ()
    health: CameraHealth | None = None
    error: str | None = None


def _health(config: PipelineConfig, frames: int, runs: int, stats: CaptureStats) -> CameraHealth:
    return CameraHealth(
        config.camera, frames, runs, stats.reconnects, stats.last_error, peak_rss_mb()
    )


def _child(spec: CameraSpec, config: PipelineConfig, out: Any, stop: Any) -> None:
    """The child's main: build, capture, count, report (runs in the camera process)."""
    try:
        pipeline = build_pipeline(config)
    except ModelError as exc:
        out.put(CameraMessage("error", error=str(exc)))
        return
    stats = CaptureStats()
    next_health = time.monotonic() + _HEALTH_S

    def on_frame(frame: Frame) -> None:
        nonlocal next_health
        found = pipeline.process(frame.t, frame.image)
        if found:
            out.put(CameraMessage("observations", tuple(found)))
        if time.monotonic() >= next_health:
            next_health = time.monotonic() + _HEALTH_S
            run = pipeline.stats
            health = _health(config, run.frames, run.detector_runs, stats)
            out.put(CameraMessage("health", health=health))

    try:
        supervise(spec, on_frame, stop, stats=stats)
    except CameraError as exc:
        out.put(CameraMessage("error", error=str(exc)))
        return
    out.put(CameraMessage("observations", tuple(pipeline.finish())))
    run = pipeline.stats
    out.put(CameraMessage("done", health=_health(config, run.frames, run.detector_runs, stats)))


@dataclass
class _Restart:
    count: int = 0
    at: float = 0.0


class CameraProcess:
    """Runs one camera in a child process; ``poll`` collects its messages and restarts it."""

    def __init__(
        self,
        spec: CameraSpec,
        config: PipelineConfig,
        max_restarts: int = 5,
        restart_backoff_s: float = 2.0,
    ) -> None:
        self.spec = spec
        self.config = replace(config, camera=config.camera or spec.name)
        self.max_restarts = max_restarts
        self.restart_backoff_s = restart_backoff_s
        self._ctx = mp.get_context("spawn")
        self._queue: Any = self._ctx.Queue(maxsize=1000)
        self._stop: Any = self._ctx.Event()
        self._process: BaseProcess | None = None
        self._restart = _Restart()
        self.finished = False

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        self._stop.clear()
        self._process = self._ctx.Process(
            target=_child,
            args=(self.spec, self.config, self._queue, self._stop),
            name=f"camera-{self.spec.name}",
            daemon=True,
        )
        self._process.start()

    def poll(self, timeout: float = 0.5) -> list[CameraMessage]:
        """Messages that arrived within ``timeout``; restarts a child that died."""
        messages: list[CameraMessage] = []
        with contextlib.suppress(queue.Empty):
            messages.append(self._queue.get(timeout=timeout))
            while True:
                messages.append(self._queue.get_nowait())
        if any(m.kind in ("done", "error") for m in messages):
            self.finished = True
        self._restart_if_dead()
        return messages

    def _restart_if_dead(self) -> None:
        process = self._process
        if process is None or process.is_alive() or self.finished or self._stop.is_set():
            return
        restart = self._restart
        if restart.count >= self.max_restarts:
            self.finished = True
            log.error(
                "%s: its process died %d times (last exit code %s); giving up, check the"
                " journal for the decoder's error",
                self.spec.where, restart.count + 1, process.exitcode,
            )  # fmt: skip
            return
        if restart.at == 0.0:
            restart.at = time.monotonic() + min(60.0, self.restart_backoff_s * 2**restart.count)
            log.warning("%s: process died (exit code %s)", self.spec.where, process.exitcode)
        if time.monotonic() >= restart.at:
            restart.count += 1
            restart.at = 0.0
            self.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the child to finish (it sends its last counts), then end it."""
        self._stop.set()
        process = self._process
        if process is None:
            return
        process.join(timeout)
        if process.is_alive():
            process.terminate()
            process.join(2)
