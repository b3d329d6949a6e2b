"""The edge daemon with the radio replaced (the only fake): sessions, restarts, watchdog.

Everything above the radio is the real daemon: the source thread, the
parser, the asyncio aggregation, the SQLite store and its checkpoints.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fixtures.probe_frames import PHONE_MODELS, probe_request

from edge.config import Config, parse_config
from edge.runtime.daemon import EdgeDaemon
from edge.store import Store

KEY = bytes(range(32))
ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "edge" / "demo" / "samples"
MAC = bytes((0x02, 0x11, 0x22, 0x33, 0x44, 0x55))


def config(db: Path, gap: float = 300, silence: float = 120, sensors: int = 1) -> Config:
    blocks = "".join(
        f'[[sensors]]\ntype = "wifi"\nname = "s{i}"\nzone = "shop"\ninterface = "mon{i}"\n'
        f"silence_timeout_s = {silence}\n"
        for i in range(sensors)
    )
    return parse_config(
        f"""
mall = "m1"
box = "b1"
[[zones]]
id = "shop"
{blocks}
[aggregation]
session_gap_s = {gap}
flush_interval_s = 0.2
[store]
path = "{db}"
"""
    )


class QueueRadio:
    """A radio whose frames the test puts in; stamped on delivery like the kernel does."""

    def __init__(self) -> None:
        self.frames: queue.Queue[bytes] = queue.Queue()
        self.opened = 0

    def factory(self, _interface: str) -> QueueRadio:
        self.opened += 1
        return self

    def wait(self, timeout: float) -> bool:
        try:
            self._next = self.frames.get(timeout=timeout)
        except queue.Empty:
            return False
        return True

    def recv(self) -> tuple[bytes, float | None] | None:
        return self._next, time.time()

    def close(self) -> None:
        pass

    def send(self, count: int, rssi: int = -50, mac: bytes = MAC) -> None:
        for seq in range(count):
            self.frames.put(probe_request(mac, seq, rssi, 6, PHONE_MODELS["ios"].stable_ies))


class BrokenRadio:
    """An interface that cannot be opened (unplugged adapter)."""

    def __init__(self) -> None:
        self.attempts = 0

    def factory(self, interface: str) -> Any:
        self.attempts += 1
        raise FileNotFoundError(f"Wi-Fi interface {interface} does not exist")


async def run_daemon(daemon: EdgeDaemon, body: Callable[[], Any]) -> None:
    task = asyncio.create_task(daemon.run())
    try:
        await body()
    finally:
        daemon.stop()
        await asyncio.wait_for(task, 10)


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


def records(db: Path, kind: str) -> list[dict[str, Any]]:
    with Store(db) as store:
        return list(store.records(kind))


def test_probes_become_records_and_a_stop_writes_partial_sessions(tmp_path: Path) -> None:
    db = tmp_path / "edge.db"
    radio = QueueRadio()
    with Store(db) as store:
        daemon = EdgeDaemon(config(db), KEY, store, radios={"s0": radio.factory})

        async def body() -> None:
            radio.send(5)
            await until(lambda: daemon.pipeline.parsers["s0"].probes == 5)

        asyncio.run(run_daemon(daemon, body))
        stats = {s["sensor"]: s for s in store.sensor_stats()}
        assert stats["s0"]["probes"] == 5 and stats["s0"]["state"] == "running"
        assert store.load_checkpoint("edge") is not None
    (dwell,) = records(db, "dwell")
    assert dwell["partial"] is True and dwell["samples"] == 5
    assert dwell["device"] != MAC.hex() and ":" not in dwell["device"]


def test_a_session_continues_across_a_restart_and_supersedes_its_partial(tmp_path: Path) -> None:
    db = tmp_path / "edge.db"
    cfg = config(db, gap=2.0)
    radio = QueueRadio()
    with Store(db) as store:
        first = EdgeDaemon(cfg, KEY, store, radios={"s0": radio.factory})

        async def before() -> None:
            radio.send(3)
            await until(lambda: first.pipeline.parsers["s0"].probes == 3)

        asyncio.run(run_daemon(first, before))
        second = EdgeDaemon(cfg, KEY, store, radios={"s0": radio.factory})

        async def after() -> None:
            radio.send(2)
            await until(lambda: any(not d["partial"] for d in records(db, "dwell")), timeout=8)

        asyncio.run(run_daemon(second, after))
    dwells = records(db, "dwell")
    partial = [d for d in dwells if d["partial"]]
    final = [d for d in dwells if not d["partial"]]
    assert len(final) == 1
    assert final[0]["supersedes"] == partial[0]["id"]
    assert final[0]["samples"] == 5  # one session, counted once
    assert final[0]["start"] == partial[0]["start"]


def test_a_silent_radio_is_restarted_by_the_watchdog(tmp_path: Path) -> None:
    db = tmp_path / "edge.db"
    radio = QueueRadio()
    with Store(db) as store:
        daemon = EdgeDaemon(config(db, silence=0.5), KEY, store, radios={"s0": radio.factory})

        async def body() -> None:
            await until(lambda: radio.opened >= 2, timeout=8)

        asyncio.run(run_daemon(daemon, body))
    health = daemon.health["s0"]
    assert health.restarts >= 1
    assert "nothing received for" in health.last_error and "mon0" in health.last_error


class StampedRadio(QueueRadio):
    """A queue radio whose frames carry the daemon's (sped-up) clock, as a recording does."""

    def __init__(self, clock: Callable[[], float]) -> None:
        super().__init__()
        self._clock = clock

    def recv(self) -> tuple[bytes, float | None] | None:
        return self._next, self._clock()


def test_a_sped_up_clock_leaves_a_starting_sensor_its_grace_in_real_time(tmp_path: Path) -> None:
    """``--simulate-speed 300``: a minute of the daemon's clock passes in 0.2 real seconds,
    less than a camera process takes to start; the silence timeout waits for the start
    in real time instead of restarting the sensor before its first frame, for ever."""
    db = tmp_path / "edge.db"
    t0, m0 = time.time(), time.monotonic()

    def clock() -> float:
        return t0 + (time.monotonic() - m0) * 300

    radio = StampedRadio(clock)
    with Store(db) as store:
        daemon = EdgeDaemon(
            config(db, silence=60), KEY, store, radios={"s0": radio.factory}, clock=clock
        )

        async def body() -> None:
            await asyncio.sleep(2.5)  # two watchdog polls: 750 s of the clock, no frame yet
            radio.send(1)
            await until(lambda: daemon.health["s0"].state == "running", timeout=8)

        asyncio.run(run_daemon(daemon, body))
    assert radio.opened == 1 and daemon.health["s0"].restarts == 0


def test_a_broken_sensor_does_not_stop_the_others(tmp_path: Path, caplog: Any) -> None:
    db = tmp_path / "edge.db"
    good, bad = QueueRadio(), BrokenRadio()
    with Store(db) as store:
        daemon = EdgeDaemon(
            config(db, sensors=2), KEY, store, radios={"s0": good.factory, "s1": bad.factory}
        )

        async def body() -> None:
            good.send(4)
            await until(lambda: daemon.pipeline.parsers["s0"].probes == 4)
            # the failure is counted once the supervisor has seen it, not when the radio
            # raised (stopping in between left the sensor "waiting": a flaky test)
            await until(lambda: daemon.health["s1"].state == "restarting")

        asyncio.run(run_daemon(daemon, body))
    assert daemon.health["s1"].state == "restarting"
    assert "mon1" in daemon.health["s1"].last_error
    assert any(
        "sensor s1" in r.getMessage() and "restarting in" in r.getMessage() for r in caplog.records
    )


def test_more_sensors_than_the_default_thread_pool_all_run_and_flushes_go_on(
    tmp_path: Path,
) -> None:
    """Every sensor's source blocks a thread for as long as it runs. On asyncio's default
    executor (min(32, cores + 4) threads: 6 on a 2-core box) the seventh sensor never
    started and the flushes waited behind the sources; each now has its own thread."""
    db = tmp_path / "edge.db"
    count = (os.cpu_count() or 1) + 6
    radios = [QueueRadio() for _ in range(count)]
    with Store(db) as store:
        factories: dict[str, Any] = {f"s{i}": r.factory for i, r in enumerate(radios)}
        daemon = EdgeDaemon(config(db, sensors=count), KEY, store, radios=factories)

        async def body() -> None:
            for radio in radios:
                radio.send(2)
            await until(lambda: all(p.probes == 2 for p in daemon.pipeline.parsers.values()))
            flushed = store.load_checkpoint("edge")
            await until(lambda: store.load_checkpoint("edge") != flushed)

        asyncio.run(run_daemon(daemon, body))
    assert len(daemon.pipeline.parsers) == count


RUN_CONFIG = """
mall = "m1"
box = "b1"
[[zones]]
id = "shop"
visitor_rssi_dbm = -70
[[sensors]]
type = "wifi"
name = "shop"
zone = "shop"
interface = "wlan9mon"
[aggregation]
flush_interval_s = 0.2
[store]
path = "{db}"
"""


def start_run(cfg: Path, log: Path) -> subprocess.Popen[bytes]:
    env = os.environ | {"MALLSENSE_KEY": KEY.hex()}
    argv = [sys.executable, "-m", "edge.cli", "run", "--config", str(cfg)]
    argv += ["--simulate-radio", f"shop={SAMPLES / 'shop.pcap'}", "--simulate-speed", "400"]
    with log.open("ab") as out:
        return subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)


def wait_for_records(db: Path, minimum: int, timeout: float = 20) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if db.exists():
            try:
                with sqlite3.connect(db) as conn:
                    count = int(conn.execute("SELECT COUNT(*) FROM records").fetchone()[0])
            except sqlite3.OperationalError:
                count = 0
            if count >= minimum:
                return count
        time.sleep(0.1)
    raise AssertionError(f"fewer than {minimum} records in {db} after {timeout} s")


@pytest.mark.slow
def test_kill_9_then_restart_keeps_the_database_whole(tmp_path: Path) -> None:
    db = tmp_path / "edge.db"
    cfg = tmp_path / "box.toml"
    cfg.write_text(RUN_CONFIG.format(db=db))
    log = tmp_path / "edge.log"
    proc = start_run(cfg, log)
    wait_for_records(db, 20)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        before = conn.execute("SELECT COUNT(*) FROM records").fetchone()[0]
        assert conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == before
    proc = start_run(cfg, log)
    wait_for_records(db, before + 10)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0, log.read_text()
    with Store(db) as store:
        all_records = list(store.records())
    ids = [r["id"] for r in all_records]
    assert len(ids) == len(set(ids))
    assert any(r.get("partial") for r in all_records)  # the SIGTERM wrote open sessions
    text = log.read_text()
    assert "Traceback" not in text
    assert "continuing open sessions from the last checkpoint" in text


def test_watching_a_recording_as_a_radio_paces_it(tmp_path: Path) -> None:
    """RadioReplay is the fake radio of the two tests above: check it keeps time."""
    from drivers.wifi.pcap import open_capture
    from drivers.wifi.replay import RadioReplay, Timeline

    timeline = Timeline(speed=1000)
    radio = RadioReplay(SAMPLES / "shop.pcap", timeline)
    recorded = [t for t, _, _ in open_capture(SAMPLES / "shop.pcap")][:50]
    got: list[float | None] = []
    while len(got) < 50:
        if radio.wait(0.1):
            frame = radio.recv()
            assert frame is not None
            got.append(frame[1])
            assert frame[1] is not None and frame[1] <= timeline.now() + 0.5  # never early
    shift = timeline.start - recorded[0]
    assert got == pytest.approx([t + shift for t in recorded])
    assert json.loads((SAMPLES / "truth.json").read_text())["frames"]["shop"] > 50


def test_the_daemon_thread_safety_of_stop(tmp_path: Path) -> None:
    """stop() from another thread via the loop (as the signal handler does) ends run()."""
    db = tmp_path / "edge.db"
    radio = QueueRadio()
    with Store(db) as store:
        daemon = EdgeDaemon(config(db), KEY, store, radios={"s0": radio.factory})

        async def main() -> None:
            loop = asyncio.get_running_loop()
            threading.Timer(0.5, lambda: loop.call_soon_threadsafe(daemon.stop)).start()
            await asyncio.wait_for(daemon.run(), 10)

        asyncio.run(main())


def test_a_costly_flush_stretches_the_flush_period() -> None:
    """A checkpoint of a huge crowd takes a share of a second: the daemon then flushes
    less often, so flushing keeps to a tenth of the time; a cheap flush changes nothing."""
    from edge.runtime.daemon import flush_pause

    assert flush_pause(1.0, 0.01) == (1.0, 1.0)
    period, pause = flush_pause(1.0, 0.3)
    assert period == pytest.approx(3.0) and pause == pytest.approx(2.7)
    assert flush_pause(5.0, 0.2) == (5.0, 5.0)
    assert flush_pause(1.0, 2.0)[0] == 5.0  # records still wait 5 s at most
    # a saturated core: 0.05 s of CPU took 1.5 s of waiting for the core; the flush cost
    # the sensors 0.05 s, so the period stays at the interval
    assert flush_pause(1.0, 0.05, 1.5) == (1.0, 1.0)
    assert flush_pause(1.0, 0.3, 0.4) == pytest.approx((3.0, 2.6))  # 3 s from start to start
