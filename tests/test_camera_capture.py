"""Capture: replay timestamps, frame-rate cap, the watchdog, errors, the camera process."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from camera_helpers import write_video

from drivers.camera.capture import (
    CameraError,
    CameraSpec,
    CaptureStats,
    Frame,
    FrameSource,
    RateCap,
    ReplaySource,
    open_source,
    redact_url,
    supervise,
)
from drivers.camera.count import Line
from drivers.camera.observations import LineCount
from drivers.camera.pipeline import PipelineConfig
from drivers.camera.process import CameraMessage, CameraProcess

RTSP = "rtsp://admin:hunter2@127.0.0.1:9/stream1"


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_video(tmp_path_factory.mktemp("video") / "synthetic.mp4", frames=20)


def test_redact_url() -> None:
    assert redact_url(RTSP) == "rtsp://admin:***@127.0.0.1:9/stream1"
    assert redact_url("rtsp://cam.local:554/live?x=1") == "rtsp://cam.local:554/live?x=1"
    assert redact_url("rtsp://u:p%40ss@[fe80::1]/s") == "rtsp://u:***@fe80::1/s"
    assert redact_url("/var/video/door.mp4") == "/var/video/door.mp4"
    assert redact_url("usb:0") == "usb:0"


def test_replay_event_time_is_start_plus_frame_timestamps(video: Path) -> None:
    source = ReplaySource(CameraSpec("door", str(video)), start=1_700_000_000.0)
    times = []
    while (frame := source.read()) is not None:
        times.append(frame.t - 1_700_000_000.0)
        assert frame.image.shape == (120, 160, 3)
    source.close()
    assert len(times) == 20
    assert times == pytest.approx([i * 0.1 for i in range(20)], abs=1e-6)


def test_rate_cap_keeps_at_most_the_configured_rate() -> None:
    cap = RateCap(5.0)
    admitted = [t / 25 for t in range(100) if cap.admit(t / 25)]  # 25 fps for 4 s
    assert len(admitted) == 20
    assert RateCap(None).admit(0.0) and RateCap(None).admit(0.0)


class StallingSource:
    """A file that freezes after ``frames`` frames, as a camera whose stream hangs."""

    finite = False

    def __init__(self, path: Path, frames: int, release: threading.Event) -> None:
        self._inner = ReplaySource(CameraSpec("x", str(path)))
        self._left = frames
        self._release = release
        self.closed = False

    def read(self) -> Frame | None:
        if self._left == 0:
            self._release.wait(30)  # blocks like a hung RTSP read
            return None
        self._left -= 1
        return self._inner.read()

    def close(self) -> None:
        self.closed = True
        self._inner.close()


def run_until(
    spec: CameraSpec,
    opener: Callable[[CameraSpec], FrameSource],
    enough: Callable[[CaptureStats], bool],
    timeout: float = 20,
) -> CaptureStats:
    """``supervise`` in a thread until ``enough(stats)``; returns the stats."""
    stats = CaptureStats()
    stop = threading.Event()
    thread = threading.Thread(
        target=supervise, args=(spec, lambda f: None, stop, opener, stats), daemon=True
    )
    thread.start()
    deadline = time.monotonic() + timeout
    while not enough(stats) and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join(10)
    assert not thread.is_alive()
    return stats


def test_a_stalled_stream_reconnects_in_the_same_process(
    video: Path, caplog: pytest.LogCaptureFixture
) -> None:
    release = threading.Event()
    sources: list[StallingSource] = []

    def opener(spec: CameraSpec) -> StallingSource:
        sources.append(StallingSource(video, 5, release))
        return sources[-1]

    spec = CameraSpec("door", RTSP, stall_s=0.3, backoff_s=0.05)
    with caplog.at_level(logging.WARNING, logger="mallsense.camera"):
        stats = run_until(spec, opener, lambda s: s.connects >= 3)
    release.set()
    assert stats.connects >= 3 and stats.reconnects == stats.connects - 1
    assert stats.frames >= 10  # frames flowed again after each reconnect
    assert stats.last_error is not None
    assert "camera door (rtsp://admin:***@127.0.0.1:9/stream1) sent no frame for 0.3 s" in (
        stats.last_error
    )
    assert "hunter2" not in caplog.text and "camera door" in caplog.text
    time.sleep(0.2)
    assert all(s.closed for s in sources[:-1])  # abandoned captures were released


def test_an_unreachable_rtsp_camera_is_retried_with_a_plain_error() -> None:
    spec = CameraSpec("door", RTSP, open_timeout_s=2, backoff_s=0.05, backoff_max_s=0.1)
    stats = run_until(spec, open_source, lambda s: len(s.errors) >= 2)
    assert stats.connects == 0
    message = stats.errors[0]
    assert message.startswith("camera door (rtsp://admin:***@127.0.0.1:9/stream1) cannot be opened")
    assert "hunter2" not in " ".join(stats.errors)
    assert "reconnecting in" in message


def test_a_missing_replay_file_fails_at_once(tmp_path: Path) -> None:
    spec = CameraSpec("door", str(tmp_path / "gone.mp4"), replay_start=0.0)
    with pytest.raises(CameraError, match=r"camera door \(.*gone\.mp4\): no such video file"):
        supervise(spec, lambda f: None, threading.Event())


def test_a_replay_ends_without_reconnecting(video: Path) -> None:
    frames: list[Frame] = []
    spec = CameraSpec("door", str(video), replay_start=100.0, fps_cap=5)
    stats = supervise(spec, frames.append, threading.Event())
    assert stats.connects == 1 and stats.errors == []
    assert len(frames) == 10  # 20 frames at 10 fps, capped at 5 fps
    assert frames[0].t == pytest.approx(100.0)


def collect(process: CameraProcess, timeout: float = 60) -> list[CameraMessage]:
    messages: list[CameraMessage] = []
    deadline = time.monotonic() + timeout
    while not process.finished and time.monotonic() < deadline:
        messages += process.poll(0.2)
    return messages


def test_the_camera_process_counts_and_reports_its_memory(video: Path) -> None:
    spec = CameraSpec("door", str(video), replay_start=0.0)
    line = Line("door", (80, 0), (80, 120))
    process = CameraProcess(spec, PipelineConfig("door", lines=(line,), interval_s=1.0))
    process.start()
    messages = collect(process)
    process.stop()
    done = [m for m in messages if m.kind == "done"]
    assert len(done) == 1 and done[0].health is not None
    assert done[0].health.frames == 20
    assert done[0].health.rss_mb is not None and 50 < done[0].health.rss_mb < 400
    counts = [o for m in messages for o in m.observations if isinstance(o, LineCount)]
    assert len(counts) == sum(len(m.observations) for m in messages)
    assert [(o.start, o.entered, o.exited) for o in counts] == [(0.0, 0, 0), (1.0, 0, 0)]


def test_a_killed_camera_process_is_restarted(tmp_path: Path) -> None:
    longer = write_video(tmp_path / "long.mp4", frames=60)
    spec = CameraSpec("door", str(longer), replay_start=0.0, fps_cap=100)
    process = CameraProcess(spec, PipelineConfig("door"), restart_backoff_s=0.1)
    process.start()
    first = process.pid
    assert first is not None
    time.sleep(0.3)  # still starting (spawn, imports, model): killed before it is done
    os.kill(first, signal.SIGKILL)
    messages = collect(process)
    process.stop()
    assert process.pid != first
    assert [m.kind for m in messages if m.kind in ("done", "error")] == ["done"]
