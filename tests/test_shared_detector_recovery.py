"""kill -9 around the shared detector: a camera's death touches nobody else, and the
detector's death makes the cameras wait for its restart, not die.

Two camera processes play a clip of the sample video looped at its real rate (10 fps),
detecting on every frame (no motion gate), so that jobs are in flight when a process
is killed. Everything is real: spawned processes, onnxruntime, OpenCV, shared memory.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fixtures.video import clip
from shared_detector_helpers import VIDEO, Fleet, spec

from drivers.camera.detect import detector_config
from drivers.camera.pipeline import PipelineConfig
from drivers.camera.shared_detector import DetectorService

pytestmark = pytest.mark.realdata


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[tuple[Fleet, DetectorService]]:
    """Two cameras on one service, both counting."""
    if not VIDEO.exists():
        pytest.skip(f"{VIDEO} is absent")
    video = clip(VIDEO, tmp_path / "clip.mp4", start=120, frames=40)
    service = DetectorService(detector_config(), backoff_s=0.5, hung_s=3.0)
    service.start()
    config = PipelineConfig(camera="", detector=detector_config(), gate=None)
    with Fleet() as cameras:
        for name in ("a", "b"):
            cameras.add(spec(name, video, speed=1.0), config, service.address)
        cameras.run_until(
            lambda: cameras.frames("a") > 5 and cameras.frames("b") > 5, 60, "both counting"
        )
        yield cameras, service
    service.stop()


def test_a_killed_camera_leaves_the_service_and_the_other_camera_running(
    fleet: tuple[Fleet, DetectorService],
) -> None:
    cameras, service = fleet
    a, b = cameras.cameras["a"], cameras.cameras["b"]
    service_pid, victim = service.pid, a.process.pid
    assert victim is not None
    os.kill(victim, signal.SIGKILL)
    b_before = cameras.frames("b")
    cameras.run_until(lambda: cameras.frames("b") > b_before + 20, 60, "b counting on")
    assert service.pid == service_pid and service.alive and service.restarts == 0
    assert b.process.restarts == 0 and len(b.pids) == 1
    # a's slot is unlinked by the service (a could not); its new process counts again
    assert not Path(f"/dev/shm/mallsense-detector-a-{victim}").exists()
    cameras.run_until(lambda: a.process.restarts == 1 and len(a.pids) == 2, 60, "a restarted")
    cameras.run_until(lambda: cameras.frames("a") > 5, 60, "a counting again")


def test_a_killed_service_is_restarted_and_the_cameras_wait_for_it(
    fleet: tuple[Fleet, DetectorService],
) -> None:
    cameras, service = fleet
    pids = {name: camera.process.pid for name, camera in cameras.cameras.items()}
    old = service.pid
    assert old is not None
    os.kill(old, signal.SIGKILL)
    cameras.run_until(lambda: service.restarts == 1 and service.alive, 60, "service restarted")
    assert service.pid != old
    before = {name: cameras.frames(name) for name in pids}
    cameras.run_until(
        lambda: all(cameras.frames(n) > before[n] + 20 for n in pids), 60, "counting goes on"
    )
    for name, camera in cameras.cameras.items():
        assert camera.process.pid == pids[name] and camera.process.restarts == 0  # none died
        assert camera.health is not None and camera.health.detector_waits >= 1


def test_a_hung_service_is_killed_and_restarted(fleet: tuple[Fleet, DetectorService]) -> None:
    """Stopped (SIGSTOP) is the hang nothing else notices: its socket stays open."""
    cameras, service = fleet
    pids = {name: camera.process.pid for name, camera in cameras.cameras.items()}
    hung = service.pid
    assert hung is not None
    os.kill(hung, signal.SIGSTOP)
    cameras.run_until(lambda: service.restarts == 1 and service.alive, 60, "service restarted")
    before = {name: cameras.frames(name) for name in pids}
    cameras.run_until(
        lambda: all(cameras.frames(n) > before[n] + 20 for n in pids), 60, "counting goes on"
    )
    assert all(camera.process.pid == pids[n] for n, camera in cameras.cameras.items())


def test_a_camera_waiting_on_a_hung_service_hands_over_as_soon_as_it_is_asked(
    fleet: tuple[Fleet, DetectorService],
) -> None:
    """A stop ends the wait for an answer: the daemon gives a stopping camera 5 s before
    it kills it and loses its open interval, and a busy or hung service may take longer."""
    cameras, service = fleet
    a = cameras.cameras["a"]
    hung = service.pid
    assert hung is not None
    os.kill(hung, signal.SIGSTOP)  # restarted after hung_s = 3 s
    time.sleep(0.5)  # a's next frame is a job the stopped service holds
    cameras.poll()
    asked = time.monotonic()
    a.process.request_stop()
    cameras.run_until(lambda: a.process.finished, 10, "a handed over")
    assert time.monotonic() - asked < 1.5  # before the hung service was restarted
    assert service.restarts == 0
