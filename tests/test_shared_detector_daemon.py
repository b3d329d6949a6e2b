"""The shared detector in the real edge daemon: one service for its cameras, restarted
when killed while the cameras wait, stopped after the last camera.

The daemon, its camera processes and the service are real (spawned, the bundled model,
the sample video played looped on a ``Timeline`` as ``mallsense run --simulate`` does).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fixtures.video import clip
from shared_detector_helpers import EPOCH, VIDEO

from drivers.camera.replay import VideoReplay
from drivers.camera.shared_detector import DetectorService
from drivers.camera.source import CameraSource
from drivers.timeline import Timeline
from edge.config import Config, parse_config
from edge.runtime.daemon import EdgeDaemon
from edge.sensors.camera import runtime
from edge.store import Store

pytestmark = pytest.mark.realdata

KEY = bytes(range(32))


def config(db: Path, shared: bool) -> Config:
    cameras = "".join(
        f'[[sensors]]\ntype = "camera"\nname = "{name}"\nzone = "shop"\n'
        f'url = "rtsp://10.0.0.9/{name}"\nmotion_gating = false\n'
        f"shared_detector = {str(shared).lower()}\n"
        for name in ("a", "b")
    )
    return parse_config(
        f'mall = "m1"\nbox = "b1"\n[[zones]]\nid = "shop"\n{cameras}'
        f'[aggregation]\nflush_interval_s = 0.3\n[store]\npath = "{db}"\n'
    )


async def until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        await asyncio.sleep(0.05)


def frames(daemon: EdgeDaemon, name: str) -> int:
    source = daemon._sources.get(name)
    return source.stats.frames if isinstance(source, CameraSource) else 0


def services() -> list[DetectorService]:
    return runtime._hub[0].services() if runtime._hub else []


def run(tmp_path: Path, shared: bool, body: Callable[[EdgeDaemon], Any]) -> None:
    if not VIDEO.exists():
        pytest.skip(f"{VIDEO} is absent")
    video = clip(VIDEO, tmp_path / "clip.mp4", start=120, frames=40)
    timeline = Timeline(1.0, epoch=lambda: EPOCH)
    playback: dict[str, Any] = {n: VideoReplay(video, timeline, loop=True) for n in ("a", "b")}
    db = tmp_path / "box.db"

    async def main() -> None:
        with Store(db) as store:
            daemon = EdgeDaemon(config(db, shared), KEY, store, radios=playback, clock=timeline.now)
            task = asyncio.create_task(daemon.run())
            try:
                await until(lambda: frames(daemon, "a") > 5 and frames(daemon, "b") > 5, 60, "both")
                await body(daemon)
            finally:
                daemon.stop()
                await asyncio.wait_for(task, 30)

    asyncio.run(main())


def maps_onnxruntime(pid: int | None) -> bool:
    assert pid is not None
    return "onnxruntime" in Path(f"/proc/{pid}/maps").read_text()


def test_one_service_for_both_cameras_restarted_when_killed_and_stopped_last(
    tmp_path: Path,
) -> None:
    seen: list[DetectorService] = []

    async def body(daemon: EdgeDaemon) -> None:
        (service,) = services()
        seen.append(service)
        a, b = daemon._sources["a"], daemon._sources["b"]
        assert isinstance(a, CameraSource) and isinstance(b, CameraSource)
        assert not maps_onnxruntime(a.pid) and not maps_onnxruntime(b.pid)
        camera_pids, old = (a.pid, b.pid), service.pid
        assert old is not None
        os.kill(old, signal.SIGKILL)
        await until(lambda: service.restarts == 1 and service.alive, 60, "service restarted")
        before = frames(daemon, "a"), frames(daemon, "b")
        await until(
            lambda: frames(daemon, "a") > before[0] + 20 and frames(daemon, "b") > before[1] + 20,
            60,
            "counting goes on",
        )
        assert (a.pid, b.pid) == camera_pids  # no camera process died
        assert a.stats.detector_waits >= 1 and b.stats.detector_waits >= 1
        assert a.stats.as_counters()["detector_waits"] == a.stats.detector_waits
        await until(lambda: a.stats.as_counters()["detector_restarts"] == 1, 10, "counted")

    run(tmp_path, True, body)
    assert services() == [] and not seen[0].alive  # stopped with the last camera


def test_with_the_key_off_each_camera_loads_its_own_model(tmp_path: Path) -> None:
    async def body(daemon: EdgeDaemon) -> None:
        assert services() == []
        for name in ("a", "b"):
            source = daemon._sources[name]
            assert isinstance(source, CameraSource) and maps_onnxruntime(source.pid)

    run(tmp_path, False, body)
