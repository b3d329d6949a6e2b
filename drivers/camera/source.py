"""The camera as the edge daemon sees it: a source thread in front of the camera's process.

``CameraSource.run(emit, stop)`` runs on one of the daemon's threads. It starts
a ``CameraProcess`` (the decoder, the detector and the counting live in that
child), forwards the child's observations (``LineCount``, ``ZoneOccupancy``,
``ZoneDwell``) with a ``Watermark`` per health report, logs the child's
warnings, and keeps counters for ``mallsense status``. It never sees a frame.

Recovery, from the inside out: the child reconnects a stalled or dropped stream
itself (``drivers.camera.capture.supervise``); ``CameraProcess`` starts a child
that died again; and the daemon's silence watchdog restarts this source (a new
child) when no frame came for long. ``last_frame_at`` is on the daemon's clock:
the moment a health report showed new frames; while a child is starting, or
dead and waiting for ``CameraProcess`` to start it again, it is kept current, so
that the watchdog leaves that recovery alone (it is bounded by the restart limit).

On stop the child finishes its open interval (observations marked ``cut``) and
its stays, which this source forwards before returning. A child that ends without
that (killed as hung, or dead) leaves the counts of its last health report, which
this source hands on in its place (``drivers.camera.handover``).

Given the daemon's ``DetectorHub``, each run takes the address of the shared detector
for its model (started with the daemon's first camera) and hands it to its child, which
then loads no model of its own; the run lets go of it after its child ended, so the
service stops after the last camera (``drivers.camera.shared_detector``).
"""

from __future__ import annotations

import importlib.util
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from drivers.camera.capture import CameraError, CameraSpec, restarted
from drivers.camera.detect import check_model_file
from drivers.camera.handover import KeptCounts
from drivers.camera.pipeline import PipelineConfig
from drivers.camera.process import CameraHealth, CameraMessage, CameraProcess
from drivers.camera.replay import VideoReplay
from drivers.camera.shared_detector import DetectorHub, shareable
from drivers.observations import Watermark

__all__ = ["CameraSource", "CameraStats", "VideoReplay"]

# Loading the camera driver is where a missing onnxruntime must show (the registry names what
# to install). Only looked for, not imported: the model runs in the detector's process or the
# camera's, and importing it here would hold 13 MB in the daemon for nothing.
if importlib.util.find_spec("onnxruntime") is None:
    raise ModuleNotFoundError("No module named 'onnxruntime'", name="onnxruntime")

log = logging.getLogger("mallsense.camera")
_POLL_S = 0.25

Emit = Callable[[list[Any]], None]


@dataclass
class CameraStats:
    """Counters over every child this source started (``mallsense status``)."""

    frames: int = 0
    detector_runs: int = 0
    reconnects: int = 0
    child_restarts: int = 0
    fps: float = 0.0
    inference_ms: float = 0.0
    tracks: int = 0
    rss_mb: float | None = None
    last_error: str | None = None
    lines: dict[str, dict[str, int]] = field(default_factory=dict)
    areas: dict[str, dict[str, int]] = field(default_factory=dict)
    damaged: int = 0
    """Damaged frames skipped (corrupt data in the stream or file), read on past."""
    detector_waits: int = 0
    """Frames that waited for the shared detector to restart (it died or hung)."""
    detector_restarts: int = 0
    """Restarts of the shared detector this camera uses (0 with a model of its own)."""
    _before: list[int] = field(default_factory=lambda: [0] * 5)
    """Frames, detector runs, reconnects, damaged frames and detector waits of the children
    before the current one."""
    _current: list[int] = field(default_factory=lambda: [0] * 5)

    def child_started(self) -> None:
        """A new child counts from zero: keep what the previous ones counted."""
        self._before = [b + c for b, c in zip(self._before, self._current, strict=True)]
        self._current = [0] * 5

    def update(self, health: CameraHealth) -> bool:
        """Take a child's report; True when it analysed frames since the previous one."""
        fresh = health.frames > self._current[0]
        self._current = [
            health.frames, health.detector_runs, health.reconnects, health.damaged,
            health.detector_waits,
        ]  # fmt: skip
        total = [b + c for b, c in zip(self._before, self._current, strict=True)]
        self.frames, self.detector_runs, self.reconnects, self.damaged = total[:4]
        self.detector_waits = total[4]
        self.fps, self.inference_ms, self.tracks = health.fps, health.detect_ms, health.tracks
        self.rss_mb = health.rss_mb
        self.last_error = health.last_error or self.last_error
        self.lines = {n: {"in": a, "out": b} for n, a, b in health.lines}
        self.areas = {n: {"now": a, "visits": b} for n, a, b in health.zones}
        return fresh

    def as_counters(self) -> dict[str, object]:
        return {
            "frames": self.frames,
            "fps": self.fps,
            "detector_runs": self.detector_runs,
            "inference_ms": self.inference_ms,
            "tracks": self.tracks,
            "reconnects": self.reconnects,
            "child_restarts": self.child_restarts,
            "rss_mb": None if self.rss_mb is None else round(self.rss_mb, 1),
            "camera_error": self.last_error,
            "damaged_frames": self.damaged,
            "detector_waits": self.detector_waits,
            "detector_restarts": self.detector_restarts,
            # as the other sensors' rejected frames: `status` and mallsense_sensor_rejected
            "rejected": {"damaged_frame": self.damaged},
        }


class CameraSource:
    """One camera for the daemon: ``run`` until ``stop``, emitting what its process counts."""

    stop_timeout_s: float = 5.0
    """How long a stopping child may take to hand over its last counts (it may still be
    loading its model); a hung one is killed after that."""
    restart_backoff_s: float = 2.0
    """First pause before a child that died is started again (doubling, up to a minute)."""

    def __init__(
        self,
        spec: CameraSpec,
        config: PipelineConfig,
        clock: Callable[[], float] = time.time,
        resolve_url: Callable[[], str] | None = None,
        detectors: DetectorHub | None = None,
    ) -> None:
        """``resolve_url`` gives the URL with its password at each start (credentials are
        read when needed, never kept in the configuration); it raises ``CameraError``.
        ``detectors``: the daemon's shared detectors, used when the model can be shared
        (None: the camera's process loads its own model)."""
        self.spec = spec
        self.config = config
        self.detectors = detectors if detectors and shareable(config.detector) else None
        self.stats = CameraStats()
        self.last_frame_at: float | None = None
        self.replay_ended = False
        """A played (not looped) video reached its end: there is nothing more to run."""
        self._clock = clock
        self._resolve_url = resolve_url
        self._process: CameraProcess | None = None
        self._runs = 0
        self._children = 0
        self._waiting = True
        """No frame yet from the current child (it is starting or restarting)."""
        self._done = False
        """The current child said it finished (a replay that ended)."""
        self._kept = KeptCounts()

    @property
    def pid(self) -> int | None:
        """The camera process's id (None when not running)."""
        return self._process.pid if self._process is not None else None

    def run(self, emit: Emit, stop: threading.Event) -> None:
        """Run the camera's process until ``stop``; OSError says why it cannot."""
        self.last_frame_at = self._clock()
        if self.replay_ended:
            self._idle(stop)
            return
        first, self._runs = self._runs == 0, self._runs + 1
        check_model_file(self.config.detector)  # ModelError (an OSError) naming the file
        spec = self.spec if first else restarted(self.spec)
        if self._resolve_url is not None:
            spec = replace(spec, url=self._resolve_url())
        config = self.config
        if self.detectors is not None:  # started with the first camera, stopped after the last
            config = replace(config, detector_service=self.detectors.acquire(config.detector))
        process = self._process = CameraProcess(
            spec, config, restart_backoff_s=self.restart_backoff_s
        )
        process.start()
        self._child_started(process)
        try:
            error = self._pump(process, emit, stop)
        finally:
            if not process.finished:
                self._finish(process, emit)
            process.stop(timeout=1.0 if process.finished else 0.0)  # a hung child is killed
            kept = self._handed_on(self._kept.take())
            if kept:
                emit(kept)
            self._process = None
            if self.detectors is not None:
                self.detectors.release(config.detector)
        if error is not None:
            raise CameraError(error)
        if stop.is_set():
            return
        if not self._done:
            raise CameraError(f"{spec.where}: its process kept dying; starting over")
        if spec.replay_start is not None and not spec.loop:
            self.replay_ended = True  # the whole video was counted
            self._idle(stop)

    def _pump(self, process: CameraProcess, emit: Emit, stop: threading.Event) -> str | None:
        """Forward messages until stop or the child is done; the child's error, if any."""
        pid = process.pid
        while not stop.is_set() and not process.finished:
            error = self._forward(process.poll(_POLL_S), emit)
            if error is not None:
                return error
            if process.pid != pid:  # CameraProcess started a child that died again
                pid = process.pid
                self._child_started(process)
            if self._waiting or not process.alive:  # starting, or dead and about to restart
                self._waiting = True
                self.last_frame_at = self._clock()
        return None

    def _finish(self, process: CameraProcess, emit: Emit) -> None:
        """Ask the child for its last counts and forward them (bounded wait)."""
        process.request_stop()
        deadline = time.monotonic() + self.stop_timeout_s
        while not process.finished and time.monotonic() < deadline:
            messages = process.poll(_POLL_S)
            self._forward(messages, emit)
            if not messages and not process.alive:
                break  # it died before it could finish: nothing more will come
        if not process.finished:
            log.warning(
                "%s did not hand over its last counts within %g s", self.spec.where,
                self.stop_timeout_s, extra={"sensor": self.spec.name, "reason": "stop_timeout"},
            )  # fmt: skip

    def _handed_on(self, counts: tuple[Any, ...]) -> list[Any]:
        """The counts a child reported but never handed over itself, to forward in its
        place (said in the log)."""
        if not counts:
            return []
        log.warning(
            "%s: its process ended without handing over its open interval; the counts of its"
            " last report (twice a second) are kept, anything it counted after that is lost",
            self.spec.where, extra={"sensor": self.spec.name, "reason": "counts_kept"},
        )  # fmt: skip
        return list(counts)

    def _forward(self, messages: list[CameraMessage], emit: Emit) -> str | None:
        batch: list[Any] = []
        error = None
        for message in messages:
            batch.extend(self._handed_on(self._kept.note(message)))  # a dead child's counts
            if message.kind == "observations":
                batch.extend(message.observations)
            elif message.kind == "log":
                log.log(message.level, "%s", message.error, extra={"sensor": self.spec.name})
            elif message.kind == "error":
                error = message.error or f"{self.spec.where} failed"
            elif message.kind == "done":
                self._done = True
            if message.health is not None:
                self._health(message.health, batch)
        if batch:
            emit(batch)
        return error

    def _health(self, health: CameraHealth, batch: list[Any]) -> None:
        if self.detectors is not None:
            self.stats.detector_restarts = self.detectors.restarts(self.config.detector)
        if self.stats.update(health):
            if self._waiting and self._children > 1:
                log.info("%s: frames are coming in again", self.spec.where)
            self._waiting = False
            self.last_frame_at = self._clock()
        if health.last_t is not None:
            batch.append(Watermark(health.last_t, health.camera))

    def _child_started(self, process: CameraProcess) -> None:
        self._children += 1
        self.stats.child_started()
        self.stats.child_restarts = self._children - 1
        self._waiting = True
        self._done = False
        self.last_frame_at = self._clock()

    def _idle(self, stop: threading.Event) -> None:
        """A finished recording: nothing to do, and not a silent camera."""
        while not stop.wait(_POLL_S):
            self.last_frame_at = self._clock()
