"""Camera processes around a shared detector, for the shared-detector tests."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from shared_data import shared_data

from drivers.camera.capture import CameraSpec
from drivers.camera.pipeline import PipelineConfig
from drivers.camera.process import CameraHealth, CameraProcess
from drivers.camera.shared_detector import ServiceAddress
from drivers.timeline import Timeline

__all__ = ["EPOCH", "VIDEO", "Camera", "Fleet", "spec"]

VIDEO = shared_data() / "video" / "one-by-one-person-detection.mp4"
EPOCH = 1_800_000_000.0


def spec(name: str, video: Path, speed: float | None = None) -> CameraSpec:
    """``video`` as a camera: counted as fast as it goes, or played looped at ``speed``."""
    if speed is None:
        return CameraSpec(name, str(video), replay_start=EPOCH)
    return CameraSpec(
        name, str(video), replay_start=EPOCH, pace=Timeline(speed, epoch=lambda: EPOCH), loop=True
    )


@dataclass
class Camera:
    process: CameraProcess
    observations: list[Any] = field(default_factory=list)
    health: CameraHealth | None = None
    pids: list[int] = field(default_factory=list)
    """Every pid its process had (a restart adds one)."""
    maps_onnxruntime: bool = False
    """onnxruntime's library was seen in the process's memory map."""
    parent: int | None = None
    """The parent of its first process (the server it was forked from)."""
    comm: str = ""
    """The name its first process gave itself (``/proc/PID/comm``)."""


class Fleet:
    """Camera processes polled together; stopped (and their children ended) on exit."""

    def __init__(self) -> None:
        self.cameras: dict[str, Camera] = {}

    def add(
        self, spec: CameraSpec, config: PipelineConfig, service: ServiceAddress | None = None
    ) -> Camera:
        config = PipelineConfig(**{**config.__dict__, "camera": spec.name})
        if service is not None:
            config = PipelineConfig(**{**config.__dict__, "detector_service": service})
        process = CameraProcess(spec, config, restart_backoff_s=0.5)
        process.start()
        camera = self.cameras[spec.name] = Camera(process)
        return camera

    def poll(self) -> None:
        for camera in self.cameras.values():
            for message in camera.process.poll(0.05):
                camera.observations.extend(message.observations)
                if message.health is not None:
                    camera.health = message.health
                    self._note_process(camera)

    def frames(self, name: str) -> int:
        health = self.cameras[name].health
        return 0 if health is None else health.frames

    def run_until_done(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not all(c.process.finished for c in self.cameras.values()):
            assert time.monotonic() < deadline, "the cameras did not finish in time"
            self.poll()
        self.poll()

    def run_until(self, done: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
            self.poll()

    def _note_process(self, camera: Camera) -> None:
        pid = camera.process.pid
        if pid is None or pid in camera.pids:
            return
        camera.pids.append(pid)
        with contextlib.suppress(OSError):  # it ended already
            camera.maps_onnxruntime = "onnxruntime" in Path(f"/proc/{pid}/maps").read_text()
            stat = Path(f"/proc/{pid}/stat").read_text()
            camera.parent = camera.parent or int(stat.rsplit(")", 1)[1].split()[1])
            camera.comm = camera.comm or Path(f"/proc/{pid}/comm").read_text().strip()

    def __enter__(self) -> Fleet:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for camera in self.cameras.values():
            camera.process.stop(timeout=5)
