"""Cameras in the edge daemon: records, privacy, recovery, isolation from the other sensors.

Everything is the real daemon, the real camera process (spawned, with the real
model) and real SQLite; only the camera's stream is a video file played on a
``Timeline`` (``mallsense run --simulate``). The sample video
(``one-by-one-person-detection.mp4``: six people, one at a time, stand at a
table and leave to the right; docs/accuracy.md) runs through the daemon at 50x
once per module, and its first 22 s twice more for determinism (the whole video
twice would double the module's CPU time on a shared 2-core machine).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from camera_helpers import write_video
from fixtures.video import clip
from shared_data import shared_data

from drivers.camera.replay import VideoReplay
from drivers.camera.source import CameraSource
from drivers.timeline import Timeline
from edge.config import Config, parse_config
from edge.contract import schema_errors
from edge.records import RECORD_MODELS
from edge.runtime.daemon import EdgeDaemon
from edge.sensors.table import plugin_for
from edge.store import Store

KEY = bytes(range(32))
VIDEO = shared_data() / "video" / "one-by-one-person-detection.mp4"
SHOP = Path(__file__).resolve().parent.parent / "edge" / "demo" / "samples" / "shop.pcap"
EPOCH = 1_800_000_000.0
"""Event time of the video's first frame (fixed, so that two runs give the same ids)."""
TABLE = "[[360, 320], [540, 320], [540, 400], [360, 400]]"  # docs/accuracy.md's zone
EXIT = "start = [600, 255]\nend = [600, 475]"  # vertical, crossed right to left when leaving
IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG", b"/9j/", b"iVBOR")  # JPEG, PNG, and in base64


def config(db: Path, *, wifi: bool = False, silence: float = 600, interval: int = 60) -> Config:
    wifi_block = (
        '[[sensors]]\ntype = "wifi"\nname = "shop"\nzone = "shop"\ninterface = "mon0"\n'
        if wifi
        else ""
    )
    return parse_config(
        f"""
mall = "m1"
box = "b1"
[[zones]]
id = "shop"
{wifi_block}
[[sensors]]
type = "camera"
name = "cam"
zone = "shop"
url = "rtsp://10.0.0.9/stream1"
silence_timeout_s = {silence}
interval_s = {interval}
[[sensors.lines]]
name = "exit"
{EXIT}
[[sensors.areas]]
name = "table"
points = {TABLE}
[aggregation]
flush_interval_s = 0.3
[store]
path = "{db}"
"""
    )


async def until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        await asyncio.sleep(0.05)


async def run_daemon(daemon: EdgeDaemon, body: Callable[[], Any]) -> None:
    """Run ``daemon`` while ``body`` runs, then stop it (as SIGTERM would)."""
    task = asyncio.create_task(daemon.run())
    try:
        await body()
    finally:
        daemon.stop()
        await asyncio.wait_for(task, 30)


def camera(daemon: EdgeDaemon) -> CameraSource:
    source = daemon._sources["cam"]
    assert isinstance(source, CameraSource)
    return source


def counting(daemon: EdgeDaemon) -> bool:
    """The camera's process runs and has analysed frames."""
    source = daemon._sources.get("cam")
    return isinstance(source, CameraSource) and source.stats.frames > 0


# -- the sample video, end to end ------------------------------------------------------------


@dataclass
class VideoRun:
    db: Path
    daemon: EdgeDaemon
    pid: int | None

    def records(self, kind: str | None = None) -> list[dict[str, Any]]:
        with Store(self.db) as store:
            return list(store.records(kind))


async def play_video(video: Path, db: Path) -> VideoRun:
    """A whole video through the daemon at 50x; stop once it was counted."""
    timeline = Timeline(50, epoch=lambda: EPOCH)
    playback: dict[str, Any] = {"cam": VideoReplay(video, timeline, loop=False)}
    pids: list[int | None] = []
    with Store(db) as store:
        daemon = EdgeDaemon(config(db), KEY, store, radios=playback, clock=timeline.now)

        async def body() -> None:
            await until(lambda: counting(daemon), 30, "camera counting")
            pids.append(camera(daemon).pid)
            await until(lambda: camera(daemon).replay_ended, 90, "video counted")

        await run_daemon(daemon, body)
    return VideoRun(db, daemon, pids[0])


@dataclass
class Played:
    video: VideoRun
    """The whole sample video."""
    clips: tuple[VideoRun, VideoRun]
    """Its first 22 s (the first person's whole visit), twice."""


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> Played:
    """One after the other: the camera processes would only compete for the two cores."""
    if not VIDEO.exists():
        pytest.skip(f"{VIDEO} is absent")
    folder = tmp_path_factory.mktemp("camera-daemon")
    first = clip(VIDEO, folder / "clip.mp4", 0, 221)
    video = asyncio.run(play_video(VIDEO, folder / "video.db"))
    clips = (
        asyncio.run(play_video(first, folder / "clip1.db")),
        asyncio.run(play_video(first, folder / "clip2.db")),
    )
    return Played(video, clips)


@pytest.mark.realdata
def test_records_of_the_video_validate_against_the_models_and_schemas(
    played: Played,
) -> None:
    records = played.video.records()
    assert {r["kind"] for r in records} == {"footfall", "occupancy"}
    for record in records:
        RECORD_MODELS[record["kind"]].model_validate(record)
        assert schema_errors(record["kind"], record) == [], record
        assert record["camera"] == "cam" and record["zone"] == "shop"


@pytest.mark.realdata
def test_six_visits_to_the_table_and_six_people_leaving(
    played: Played,
) -> None:
    run = played.video
    occupancy = run.records("occupancy")
    assert {r["area"] for r in occupancy} == {"table"}
    assert sum(r["visits"] for r in occupancy) == 6
    dwell = [d for r in occupancy for d in r["dwell_s"]]
    assert len(dwell) == 6 and all(8 < d < 26 for d in dwell), dwell  # docs/accuracy.md
    footfall = run.records("footfall")
    assert sum(r["out"] for r in footfall) == 6 and sum(r["in"] for r in footfall) == 0
    # 139.4 s from a minute boundary: two whole minutes, then the end of the video
    assert [(r["start"][11:19], r["end"][11:23], r["partial"]) for r in footfall] == [
        ("08:00:00", "08:01:00.000", False),
        ("08:01:00", "08:02:00.000", False),
        ("08:02:00", "08:02:19.300", True),
    ]
    assert run.daemon.health["cam"].restarts == 0


@pytest.mark.realdata
def test_two_runs_of_a_video_give_the_same_records_and_ids(
    played: Played,
) -> None:
    first, second = (run.records() for run in played.clips)
    assert first == second
    footfall, occupancy = first  # one minute, cut at the clip's end
    assert footfall["partial"] and footfall["end"].endswith("08:00:22.000Z")
    assert (footfall["out"], occupancy["visits"]) == (1, 1)
    # the first person's stay, as in the whole video
    assert occupancy["dwell_s"] == played.video.records("occupancy")[0]["dwell_s"][:1]


@pytest.mark.realdata
def test_the_database_holds_counts_and_no_picture(played: Played) -> None:
    db = played.video.db
    conn = sqlite3.connect(db)
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    for table in tables:
        for row in conn.execute(f'SELECT * FROM "{table}"'):
            for value in row:
                data = value if isinstance(value, bytes) else str(value).encode()
                assert len(data) < 2000, (table, data[:80])
                assert not any(magic in data for magic in IMAGE_MAGIC), (table, data[:80])
    outbox = conn.execute(
        "SELECT o.kind, r.body FROM outbox o JOIN records r ON r.seq = o.record"
    ).fetchall()
    conn.close()
    assert len(outbox) == 6 and {kind for kind, _ in outbox} == {"footfall", "occupancy"}
    for file in db.parent.iterdir():
        if file.name.startswith(db.name):  # the database, its WAL and shared memory
            raw = file.read_bytes()
            assert b"\x89PNG" not in raw and b"JFIF" not in raw, file


@pytest.mark.realdata
def test_the_camera_ran_in_its_own_process_and_reported_its_health(
    played: Played,
) -> None:
    run = played.video
    assert run.pid is not None and run.pid != os.getpid()
    counters = plugin_for("camera").counters(
        run.daemon.config.sensors[0], run.daemon.pipeline, camera(run.daemon)
    )
    assert counters["frames"] == 1394 and counters["child_restarts"] == 0
    assert 0 < int(str(counters["detector_runs"])) < 1394 / 2  # motion gating
    assert 0 < float(str(counters["rss_mb"])) < 400


# -- recovery and isolation (a short synthetic video, looped) -----------------------------


@pytest.fixture(scope="module")
def loop_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_video(tmp_path_factory.mktemp("loop") / "loop.mp4", frames=40)


def test_wifi_keeps_producing_while_a_camera_process_is_killed(
    tmp_path: Path, loop_video: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "box.db"
    cfg = config(db, wifi=True, silence=20)
    timeline = Timeline(30)  # shop.pcap: a probe every 4 s on average
    simulate_wifi = plugin_for("wifi").simulate
    assert simulate_wifi is not None
    radios: dict[str, Any] = {
        "shop": simulate_wifi(cfg.sensors[0], SHOP, timeline),
        "cam": VideoReplay(loop_video, timeline),
    }
    probes: dict[str, int] = {}
    with Store(db) as store:
        daemon = EdgeDaemon(cfg, KEY, store, radios=radios, clock=timeline.now)
        parser = daemon.pipeline.parsers["shop"]

        async def body() -> None:
            await until(lambda: counting(daemon), 30, "camera counting")
            first = camera(daemon).pid
            assert first is not None and first != os.getpid()
            probes["before"] = parser.probes
            os.kill(first, signal.SIGKILL)
            await until(lambda: camera(daemon).stats.child_restarts == 1, 15, "camera restarted")
            frames = camera(daemon).stats.frames
            probes["camera down"] = parser.probes
            await until(lambda: camera(daemon).stats.frames > frames, 15, "frames again")
            assert camera(daemon).pid not in (None, first)

        with caplog.at_level(logging.INFO, logger="mallsense.camera"):
            asyncio.run(run_daemon(daemon, body))
    assert probes["camera down"] > probes["before"]  # Wi-Fi went on while the camera was down
    assert daemon.health["shop"].restarts == 0 and daemon.health["cam"].restarts == 0
    text = caplog.text
    assert "camera cam (" in text and "its process died (killed by SIGKILL)" in text
    assert "frames are coming in again" in text


def test_a_hung_camera_process_is_killed_and_started_again_by_the_watchdog(
    tmp_path: Path, loop_video: Path, caplog: pytest.LogCaptureFixture, monkeypatch: Any
) -> None:
    monkeypatch.setattr(CameraSource, "stop_timeout_s", 0.5)
    db = tmp_path / "box.db"
    timeline = Timeline(1)
    radios: dict[str, Any] = {"cam": VideoReplay(loop_video, timeline)}
    with Store(db) as store:
        daemon = EdgeDaemon(config(db, silence=0.5), KEY, store, radios=radios)
        hung: list[int] = []

        async def body() -> None:
            await until(lambda: counting(daemon), 30, "camera counting")
            pid = camera(daemon).pid
            assert pid is not None
            hung.append(pid)
            os.kill(pid, signal.SIGSTOP)  # a decoder stuck in a C call
            await until(lambda: daemon.health["cam"].restarts >= 1, 15, "watchdog")
            await until(lambda: camera(daemon).pid not in (None, pid), 15, "new process")
            frames = camera(daemon).stats.frames
            await until(lambda: camera(daemon).stats.frames > frames, 15, "frames again")

        with caplog.at_level(logging.WARNING):
            asyncio.run(run_daemon(daemon, body))
    with pytest.raises(ProcessLookupError):
        os.kill(hung[0], 0)  # the hung process was killed and reaped
    assert "nothing received for 2 s on rtsp://10.0.0.9/stream1" in daemon.health["cam"].last_error
    assert "camera cam (" in caplog.text and "does not respond (hung); killing it" in caplog.text


@pytest.mark.realdata
def test_a_hung_camera_process_leaves_the_counts_of_its_open_interval(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: Any
) -> None:
    """Killed as hung, a process cannot hand over its open interval: the counts of its
    last health report are kept, and the next process's record of the same interval adds
    to them. Every crossing either process reported reaches the store once."""
    if not VIDEO.exists():
        pytest.skip(f"{VIDEO} is absent")
    monkeypatch.setattr(CameraSource, "stop_timeout_s", 0.5)
    db = tmp_path / "box.db"
    timeline = Timeline(10, epoch=lambda: EPOCH)
    radios: dict[str, Any] = {"cam": VideoReplay(VIDEO, timeline, loop=False)}
    reported: list[int] = []
    with Store(db) as store:
        daemon = EdgeDaemon(
            config(db, silence=5, interval=600), KEY, store, radios=radios, clock=timeline.now
        )

        def crossed() -> int:
            return camera(daemon).stats.lines.get("exit", {}).get("out", 0)

        async def body() -> None:
            await until(lambda: counting(daemon) and crossed() >= 1, 60, "a crossing")
            pid = camera(daemon).pid
            assert pid is not None
            os.kill(pid, signal.SIGSTOP)
            await asyncio.sleep(0.5)  # its last report is in
            reported.append(crossed())
            await until(lambda: daemon.health["cam"].restarts >= 1, 30, "watchdog")
            await until(lambda: camera(daemon).replay_ended, 60, "video counted")
            reported.append(crossed())  # the second process's, from zero

        with caplog.at_level(logging.WARNING):
            asyncio.run(run_daemon(daemon, body))
    footfall = VideoRun(db, daemon, None).records("footfall")
    assert len(footfall) == 2 and footfall[1]["supersedes"] == footfall[0]["id"]
    assert footfall[0]["partial"] and footfall[0]["out"] == reported[0]
    assert footfall[1]["out"] == sum(reported)  # one interval, both processes' parts
    assert "the counts of its last report (twice a second) are kept" in caplog.text


def test_an_unreachable_camera_is_retried_with_its_url_redacted_in_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: Any
) -> None:
    monkeypatch.setenv("MALLSENSE_CAMERA_DOOR_PASSWORD", "hunter2")
    cfg = parse_config(
        f"""
mall = "m1"
box = "b1"
[[zones]]
id = "shop"
[[sensors]]
type = "camera"
name = "door"
zone = "shop"
url = "rtsp://127.0.0.1:9/stream1"
username = "admin"
[store]
path = "{tmp_path / "box.db"}"
"""
    )
    plugin = plugin_for("camera")
    sensor = cfg.sensors[0]
    assert plugin.device(sensor) == "rtsp://admin:***@127.0.0.1:9/stream1"
    with Store(tmp_path / "box.db") as store:
        daemon = EdgeDaemon(cfg, KEY, store)

        async def body() -> None:
            await until(lambda: "reconnecting in" in caplog.text, 30, "a reconnect logged")

        with caplog.at_level(logging.WARNING, logger="mallsense.camera"):
            asyncio.run(run_daemon(daemon, body))
    assert "camera door (rtsp://admin:***@127.0.0.1:9/stream1) cannot be opened" in caplog.text
    assert "hunter2" not in caplog.text
    assert daemon.health["door"].state != "restarting"  # the camera's process retries itself
