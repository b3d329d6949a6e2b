"""One child process per camera, so a crashed decoder cannot take the other sensors down.

The child (``multiprocessing`` with the *forkserver* start method: no inherited
threads or locks, see ``_start_method``) loads the model (or, given the shared
detector's address, feeds that service through shared memory:
``drivers.camera.shared_detector``), captures with the watchdog of
``drivers.camera.capture`` and sends back only ``CameraMessage`` tuples:
observations (counts and times), health, its warnings (a child has no log handlers:
the parent logs them, so they reach the journal with the daemon's format), a final
message, or an error in plain words. No frame crosses the process boundary. The
parent restarts a child that died, with a capped backoff and a restart limit;
systemd is the outer ring.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import queue
import signal
import time
from dataclasses import dataclass, replace
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Literal, NamedTuple

from drivers.camera.capture import (
    CameraError,
    CameraSpec,
    CaptureStats,
    Frame,
    restarted,
    supervise,
)
from drivers.camera.child import ChildProcess, name_this_process
from drivers.camera.detect import ModelError
from drivers.camera.observations import CameraObservation
from drivers.camera.pipeline import CameraPipeline, PipelineConfig, build_pipeline
from drivers.camera.shared_detector.client import SharedDetectorClient
from drivers.memory import tune_allocator

__all__ = ["CameraHealth", "CameraMessage", "CameraProcess", "peak_rss_mb"]

log = logging.getLogger("mallsense.camera")
_HEALTH_S = 0.5

Totals = tuple[tuple[str, int, int], ...]


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
    """How one camera's process is doing (counters since that process started)."""

    camera: str
    frames: int
    detector_runs: int
    reconnects: int
    last_error: str | None
    rss_mb: float | None
    """Peak resident memory of the camera process (VmHWM)."""
    fps: float = 0.0
    """Frames analysed per wall-clock second since the previous report."""
    detect_ms: float = 0.0
    """Mean time of one detector run."""
    tracks: int = 0
    """Confirmed tracks now."""
    lines: Totals = ()
    """(line, in, out) since the process started."""
    zones: Totals = ()
    """(zone, people now, visits) since the process started."""
    last_t: float | None = None
    """Event time of the last frame analysed."""
    damaged: int = 0
    """Damaged frames skipped (read failures followed by a good frame)."""
    detector_waits: int = 0
    """Frames that waited for the shared detector to come back (it died or hung)."""
    pid: int = 0
    """The camera process that reports."""
    open_counts: tuple[CameraObservation, ...] = ()
    """Its open interval so far (``CameraPipeline.open_counts``): what the parent hands on
    if this process ends without finishing."""


class CameraMessage(NamedTuple):
    """What a camera process sends to its parent."""

    kind: Literal["observations", "health", "log", "done", "error"]
    observations: tuple[CameraObservation, ...] = ()
    health: CameraHealth | None = None
    error: str | None = None
    """The error (``error``) or the logged message (``log``), in plain words."""
    level: int = logging.WARNING
    """Level of a ``log`` message."""


class _Relay(logging.Handler):
    """Sends the child's log records (INFO and above) to the parent as ``log`` messages."""

    def __init__(self, out: Any) -> None:
        super().__init__(logging.INFO)
        self._out = out

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):  # a full pipe must not stop the capture
            self._out.put_nowait(
                CameraMessage("log", error=record.getMessage(), level=record.levelno)
            )


@dataclass
class _Reporter:
    """Builds health messages in the child."""

    config: PipelineConfig
    pipeline: CameraPipeline
    stats: CaptureStats
    at: float = 0.0
    frames: int = 0

    def health(self) -> CameraHealth:
        run, now = self.pipeline.stats, time.monotonic()
        fps = (run.frames - self.frames) / (now - self.at) if self.at and now > self.at else 0.0
        self.at, self.frames = now, run.frames
        lines, zones = self.pipeline.totals()
        return CameraHealth(
            self.config.camera, run.frames, run.detector_runs, self.stats.reconnects,
            self.stats.last_error, peak_rss_mb(), round(fps, 1),
            round(1000 * run.detect_s / run.detector_runs, 1) if run.detector_runs else 0.0,
            sum(1 for t in self.pipeline.tracks if t.confirmed), lines, zones, self.pipeline.last_t,
            self.stats.damaged, _detector_waits(self.pipeline), os.getpid(),
            self.pipeline.open_counts(),
        )  # fmt: skip


def _detector_waits(pipeline: CameraPipeline) -> int:
    detector = pipeline.detector
    return detector.waits if isinstance(detector, SharedDetectorClient) else 0


def _child(spec: CameraSpec, config: PipelineConfig, out: Any, stop: Any, health_s: float) -> None:
    """The child's main: build, capture, count, report (runs in the camera process)."""
    tune_allocator()  # before the capture thread: see drivers.memory
    name_this_process(f"cam {config.camera}")
    # Ctrl-C and systemd's stop signal reach the whole process group; the parent then asks
    # us to finish, so that the open interval is handed over instead of lost.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    log.addHandler(_Relay(out))
    log.setLevel(logging.INFO)
    log.propagate = False
    try:
        pipeline = build_pipeline(config, stop=stop)
    except ModelError as exc:
        out.put(CameraMessage("error", error=str(exc)))
        return
    reporter = _Reporter(config, pipeline, CaptureStats())
    next_health = 0.0

    def on_frame(frame: Frame) -> None:
        nonlocal next_health
        found = pipeline.process(frame.t, frame.image)
        if found:
            out.put(CameraMessage("observations", tuple(found)))
        if time.monotonic() >= next_health:
            next_health = time.monotonic() + health_s
            out.put(CameraMessage("health", health=reporter.health()))

    try:
        supervise(spec, on_frame, stop, stats=reporter.stats)
    except CameraError as exc:
        out.put(CameraMessage("error", error=str(exc)))
        return
    finally:
        if isinstance(pipeline.detector, SharedDetectorClient):
            pipeline.detector.close()  # frees its shared-memory slot
    out.put(CameraMessage("observations", tuple(pipeline.finish())))
    out.put(CameraMessage("done", health=reporter.health()))


@dataclass
class _Restart:
    count: int = 0
    at: float = 0.0


class CameraProcess(ChildProcess):
    """Runs one camera in a child process; ``poll`` collects its messages and restarts it."""

    def __init__(
        self,
        spec: CameraSpec,
        config: PipelineConfig,
        max_restarts: int = 5,
        restart_backoff_s: float = 2.0,
        health_s: float = _HEALTH_S,
    ) -> None:
        self.spec = spec
        self.config = replace(config, camera=config.camera or spec.name)
        self.max_restarts = max_restarts
        self.restart_backoff_s = restart_backoff_s
        self.health_s = health_s
        self._ctx = _start_method()
        self._queue: Any = None
        self._left: list[CameraMessage] = []
        """Messages of a dead child, read before its queue was replaced."""
        self._stop: Any = self._ctx.Event()
        self._process: BaseProcess | None = None
        self._restart = _Restart()
        self.finished = False

    @property
    def restarts(self) -> int:
        """How many times the child was started again after it died."""
        return self._restart.count

    def start(self) -> None:
        """Start the child, with a queue of its own (a killed child may hold the old one's lock)."""
        if self._queue is not None:
            self._left += self._drain()
        self._queue = self._ctx.Queue(maxsize=1000)
        self._stop.clear()
        self._process = self._ctx.Process(
            target=_child,
            args=(self.spec, self.config, self._queue, self._stop, self.health_s),
            name=f"camera-{self.spec.name}",
            daemon=True,
        )
        self._process.start()

    def poll(self, timeout: float = 0.5) -> list[CameraMessage]:
        """Messages that arrived within ``timeout``; restarts a child that died."""
        if self._queue is None:
            return []
        messages, self._left = self._left, []
        if not messages:
            with contextlib.suppress(queue.Empty):
                messages.append(self._queue.get(timeout=timeout))
        messages += self._drain()
        if any(m.kind in ("done", "error") for m in messages):
            self.finished = True
        self._restart_if_dead()
        return messages

    def _drain(self) -> list[CameraMessage]:
        messages: list[CameraMessage] = []
        with contextlib.suppress(queue.Empty):
            while True:
                messages.append(self._queue.get_nowait())
        return messages

    def _restart_if_dead(self) -> None:
        process = self._process
        if process is None or process.is_alive() or self.finished or self._stop.is_set():
            return
        restart = self._restart
        if restart.count >= self.max_restarts:
            self.finished = True
            log.error(
                "%s: its process died %d times (last exit code %s); giving up on it for now,"
                " check the journal for the decoder's error",
                self.spec.where, restart.count + 1, process.exitcode,
                extra={"sensor": self.spec.name, "reason": "process_died"},
            )  # fmt: skip
            return
        if restart.at == 0.0:
            wait = min(60.0, self.restart_backoff_s * 2**restart.count)
            restart.at = time.monotonic() + wait
            log.warning(
                "%s: its process died (%s); starting it again in %g s",
                self.spec.where, _exit_reason(process.exitcode), wait,
                extra={"sensor": self.spec.name, "reason": "process_died"},
            )  # fmt: skip
        if time.monotonic() >= restart.at:
            restart.count += 1
            restart.at = 0.0
            self.spec = restarted(self.spec)
            self.start()

    def request_stop(self) -> None:
        """Ask the child to finish: it sends its last counts, then ``done``."""
        self._stop.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the child to finish, then end it (killed if it hangs: it ignores SIGTERM)."""
        self._stop.set()
        process = self._process
        if process is None:
            return
        process.join(timeout)
        if process.is_alive():
            log.warning(
                "%s: its process does not respond (hung); killing it", self.spec.where,
                extra={"sensor": self.spec.name, "reason": "process_hung"},
            )  # fmt: skip
            process.kill()
            process.join(5)


def _start_method() -> ForkServerContext:
    """*forkserver*: one server process imports the camera's modules (OpenCV, numpy, the
    pipeline) and forks every camera process from there, so that they share that memory
    until one writes to it: 12 MB less in each than with *spawn*, where every camera
    imported them anew. As with spawn, a child inherits no thread or lock of the daemon
    (the server is a fresh single-threaded process), and the server is started again if
    it died. The shared detector stays on spawn: onnxruntime has no place in a camera."""
    context = mp.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


def _exit_reason(code: int | None) -> str:
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"
