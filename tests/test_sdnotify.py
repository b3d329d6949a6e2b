"""sd_notify against a real AF_UNIX datagram socket, as systemd's manager listens on one.

The daemons run as real processes (``mallsense run --simulate``, ``mallsense sync``)
with ``NOTIFY_SOCKET`` and ``WATCHDOG_USEC`` set the way systemd sets them for a
``Type=notify`` unit with ``WatchdogSec=``. The hang is real too: another process
holds the database's write lock, so the edge daemon's flush blocks inside SQLite
exactly as it would on a stalled disk, and the pings must stop until it is released.
"""

from __future__ import annotations

import itertools
import logging
import os
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from broker import Broker, free_port
from cli_helpers import KEY, MALLSENSE, SHOP

from edge.runtime.sdnotify import STATUS_PERIOD_S, Notifier

WATCHDOG_USEC = 1_000_000  # pings every 0.5 s
_SETTINGS = (
    "MALLSENSE_KEY",
    "MALLSENSE_CONFIG",
    "MALLSENSE_MQTT_PASSWORD",
    "CREDENTIALS_DIRECTORY",
)


@dataclass(frozen=True)
class Datagram:
    at: float
    fields: dict[str, str]


class NotifySocket:
    """What systemd's manager does: receive datagrams of KEY=VALUE lines, remember them."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        bound = b"\0" + address[1:].encode() if address.startswith("@") else address
        self.sock.bind(bound)
        self.sock.settimeout(0.1)
        self.received: list[Datagram] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._closed.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            lines = data.decode().split("\n")
            fields = dict(line.split("=", 1) for line in lines if "=" in line)
            self.received.append(Datagram(time.monotonic(), fields))

    def with_field(self, name: str, after: float = 0.0) -> list[Datagram]:
        return [d for d in list(self.received) if name in d.fields and d.at >= after]

    def wait_for(self, name: str, after: float = 0.0, timeout: float = 20.0) -> Datagram:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.with_field(name, after)
            if found:
                return found[0]
            time.sleep(0.05)
        raise AssertionError(f"no {name} within {timeout} s; got {self.received[-5:]}")

    def statuses(self, after: float = 0.0) -> list[str]:
        return [d.fields["STATUS"] for d in self.with_field("STATUS", after)]

    def close(self) -> None:
        self._closed.set()
        self.sock.close()
        self._thread.join(timeout=2)


@pytest.fixture
def notify_socket() -> Iterator[NotifySocket]:
    # A short directory: an AF_UNIX path must fit in 108 bytes.
    with tempfile.TemporaryDirectory(prefix="ms-notify-", dir="/tmp") as tmp:
        listener = NotifySocket(str(Path(tmp) / "notify"))
        try:
            yield listener
        finally:
            listener.close()


def service_env(listener: NotifySocket) -> dict[str, str]:
    """The environment systemd gives a Type=notify unit with WatchdogSec=1."""
    env = {k: v for k, v in os.environ.items() if k not in _SETTINGS}
    return env | {
        "NOTIFY_SOCKET": listener.address,
        "WATCHDOG_USEC": str(WATCHDOG_USEC),
        "MALLSENSE_KEY": KEY,
    }


def box_config(tmp_path: Path, broker_url: str) -> Path:
    config = tmp_path / "box.toml"
    config.write_text(
        f"""mall = "m1"
box = "b1"
[[zones]]
id = "shop"
[[sensors]]
type = "wifi"
name = "shop"
zone = "shop"
interface = "wlan1mon"
channels = [6]
[aggregation]
flush_interval_s = 0.5
[store]
path = "{tmp_path / "box.db"}"
[mqtt]
url = "{broker_url}"
""",
        encoding="utf-8",
    )
    return config


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([*MALLSENSE, *args], env=env, stdout=out, stderr=out)


def stop(proc: subprocess.Popen[bytes], log: Path) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(log.read_text()) from None


def pings(listener: NotifySocket, start: float, end: float) -> list[Datagram]:
    return [d for d in listener.with_field("WATCHDOG", start) if d.at <= end]


def wait_until(predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


# -- the daemons ------------------------------------------------------------------------


def test_edge_daemon_ready_watchdog_stall_and_stopping(
    tmp_path: Path, notify_socket: NotifySocket
) -> None:
    config = box_config(tmp_path, "mqtt://127.0.0.1:1883")
    log = tmp_path / "edge.log"
    args = ["run", "--config", str(config), "--simulate", f"shop={SHOP}"]
    proc = start(args, service_env(notify_socket), log)
    try:
        ready = notify_socket.wait_for("READY", timeout=30)
        assert ready.fields["READY"] == "1"
        assert ready.fields["STATUS"].startswith("sensors: shop")
        time.sleep(2.5)
        healthy = pings(notify_socket, ready.at, ready.at + 2.5)
        assert len(healthy) >= 3, notify_socket.received  # every 0.5 s
        assert all(p.fields["WATCHDOG"] == "1" for p in healthy)
        assert "records written" in healthy[-1].fields["STATUS"]

        # Another process takes the write lock: the daemon's next flush blocks in SQLite.
        holder = sqlite3.connect(tmp_path / "box.db", isolation_level=None, timeout=10)
        holder.execute("BEGIN IMMEDIATE")
        locked = time.monotonic()
        time.sleep(4.0)
        # Two flush intervals (1 s) plus one ping period after the lock, no ping may come.
        assert pings(notify_socket, locked + 2.0, locked + 4.0) == []
        assert any(s.startswith("unhealthy: no flush") for s in notify_socket.statuses(locked))
        holder.execute("ROLLBACK")
        released = time.monotonic()
        notify_socket.wait_for("WATCHDOG", after=released, timeout=5)
    finally:
        code = stop(proc, log)
    text = log.read_text()
    assert code == 0, text
    stopping = notify_socket.wait_for("STOPPING", timeout=5)
    assert stopping.fields["STOPPING"] == "1"
    assert "not feeding the systemd watchdog" in text
    assert "Traceback" not in text


def test_sync_agent_ready_watchdog_status_and_stopping(
    tmp_path: Path, notify_socket: NotifySocket, broker: Broker
) -> None:
    config = box_config(tmp_path, broker.url)
    log = tmp_path / "sync.log"
    proc = start(["sync", "--config", str(config)], service_env(notify_socket), log)
    try:
        ready = notify_socket.wait_for("READY", timeout=30)
        wait_until(lambda: any("connected to" in s for s in notify_socket.statuses()), 10)
        time.sleep(1.5)
        assert len(pings(notify_socket, ready.at, time.monotonic())) >= 3
        assert any(s.startswith(f"connected to {broker.url}") for s in notify_socket.statuses())
    finally:
        code = stop(proc, log)
    assert code == 0, log.read_text()
    assert notify_socket.wait_for("STOPPING", timeout=5).fields["STATUS"].startswith("stopping")


def test_sync_agent_keeps_feeding_the_watchdog_while_backing_off(
    tmp_path: Path, notify_socket: NotifySocket
) -> None:
    """No broker: the agent waits between attempts, and waiting is not a hang."""
    config = box_config(tmp_path, f"mqtt://127.0.0.1:{free_port()}")
    log = tmp_path / "sync.log"
    proc = start(["sync", "--config", str(config)], service_env(notify_socket), log)
    try:
        ready = notify_socket.wait_for("READY", timeout=30)
        time.sleep(3.0)
        beats = pings(notify_socket, ready.at, ready.at + 3.0)
        assert len(beats) >= 5, notify_socket.received
        gaps = [b.at - a.at for a, b in itertools.pairwise(beats)]
        assert max(gaps) < 0.9  # never near the 1 s timeout
        assert any("not connected (cannot connect" in s for s in notify_socket.statuses())
    finally:
        code = stop(proc, log)
    assert code == 0, log.read_text()


# -- the protocol -------------------------------------------------------------------------


def test_without_notify_socket_nothing_is_sent() -> None:
    notifier = Notifier.from_environment({})
    assert not notifier.enabled
    assert notifier.send("READY=1") is False
    assert notifier.period == STATUS_PERIOD_S
    assert notifier.next_pulse_in() == float("inf")  # a waiting loop sleeps its whole wait


def test_messages_and_abstract_socket() -> None:
    listener = NotifySocket(f"@mallsense-test-{os.getpid()}")
    try:
        env = {"NOTIFY_SOCKET": listener.address, "WATCHDOG_USEC": "30000000"}
        notifier = Notifier.from_environment(env)
        assert notifier.watchdog_s == 30 and notifier.period == 15
        notifier.ready("starting\nsecond line")
        notifier.watchdog("fine")
        notifier.extend_timeout(60)
        notifier.stopping("bye")
        wait_until(lambda: len(listener.received) == 4, 5)
        fields = [d.fields for d in listener.received]
        assert fields == [
            {"READY": "1", "STATUS": "starting second line"},
            {"WATCHDOG": "1", "STATUS": "fine"},
            {"EXTEND_TIMEOUT_USEC": "60000000"},
            {"STOPPING": "1", "STATUS": "bye"},
        ]
        notifier.close()
    finally:
        listener.close()


def test_watchdog_meant_for_another_process_is_ignored() -> None:
    env = {"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}
    assert Notifier.from_environment(env).watchdog_s is None
    env["WATCHDOG_PID"] = str(os.getpid())
    assert Notifier.from_environment(env).watchdog_s == 30


def test_pulse_is_rate_limited(notify_socket: NotifySocket) -> None:
    now = [100.0]
    notifier = Notifier(notify_socket.address, 2_000_000, clock=lambda: now[0])
    calls = []

    def status() -> str:
        calls.append(now[0])
        return "ok"

    for step in range(40):  # 4 s in 0.1 s steps, one ping a second
        now[0] = 100.0 + step / 10
        notifier.pulse(status)
    assert calls == [100.0, 101.0, 102.0, 103.0]
    now[0] = 103.25
    assert notifier.next_pulse_in() == 0.75
    notifier.close()


def test_a_vanished_socket_warns_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    notifier = Notifier(str(tmp_path / "gone"))
    with caplog.at_level(logging.WARNING, "mallsense.systemd"):
        assert notifier.send("WATCHDOG=1") is False
        assert notifier.send("WATCHDOG=1") is False
    assert len(caplog.records) == 1
    assert "cannot notify systemd" in caplog.records[0].getMessage()
