"""SIGHUP: both daemons read their configuration again without a restart.

The daemons are real processes (``mallsense run --simulate`` on the demo
recordings, ``mallsense sync`` against real mosquittos) with a real notify socket
for RELOADING=1 / READY=1. The test edits the file, sends SIGHUP and checks what
the daemon says and does: a valid change is applied (only changed sensors
restart, open sessions are not cut: no partial record is written by a reload),
an invalid one or one that needs a restart is refused with its key path and the
daemon goes on with the running configuration.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import FrozenInstanceError
from pathlib import Path
from typing import Any

import pytest
from broker import Broker, Message, Subscriber, free_port, running_broker
from cli_helpers import DEMO_CONFIG, KEY, MALLSENSE, SAMPLES, invoke
from test_sdnotify import NotifySocket

from edge.config import parse_config
from edge.config.load import config_hash
from edge.config.reload import EDGE_RESTART_KEYS, SYNC_RESTART_KEYS, compare, refusal
from edge.errors import ConfigError
from sync.reload import Reload, read_again
from sync.settings import AgentSettings

RECORDINGS = {
    "entrance": SAMPLES / "entrance.pcap",
    "shop": SAMPLES / "shop.pcap",
    "shop-ble": SAMPLES / "ble.jsonl",
}
BLE_SECTION = (
    "[[sensors]]" + DEMO_CONFIG.read_text().split("[[sensors]]")[3].split("[aggregation]")[0]
)
"""The demo's third sensor (shop-ble), header included."""


# -- what changed -------------------------------------------------------------------------


def test_changes_are_named_by_key_path_and_sensor() -> None:
    old = parse_config(DEMO_CONFIG.read_text())
    text = DEMO_CONFIG.read_text()
    text = text.replace("visitor_rssi_dbm = -70", "visitor_rssi_dbm = -72")
    text = text.replace("channels = [6]", "channels = [6, 11]")
    text = text.replace(BLE_SECTION, "")  # shop-ble removed
    text += '\n[[sensors]]\ntype = "wifi"\nname = "door"\nzone = "entrance"\n'
    text = text.replace('path = "demo-output/mallsense.db"', 'path = "x.db"\nmax_mb = 10')
    change = compare(old, parse_config(text), EDGE_RESTART_KEYS)
    assert change.changed == ["shop"] and change.added == ["door"]
    assert change.removed == ["shop-ble"]
    assert "zones[shop].visitor_rssi_dbm" in change.paths
    assert "store.max_mb" in change.paths
    assert change.restart_needed == ["store.path (from 'demo-output/mallsense.db' to 'x.db')"]
    assert change.describe() == (
        "zones[shop].visitor_rssi_dbm, store.path, store.max_mb,"
        " sensors (restarted: shop; added: door; removed: shop-ble)"
    )
    assert change.sections() == {"zones", "store", "sensors"}
    same = compare(old, parse_config(DEMO_CONFIG.read_text()), SYNC_RESTART_KEYS)
    assert same.empty and same.describe() == "nothing"


def test_refusals_say_why_and_that_the_running_config_stays() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(DEMO_CONFIG.read_text().replace('url = "mqtt', 'url = "http'), "box.toml")
    line = refusal(caught.value, "mallsense-sync")
    assert line.startswith("config refused: box.toml has 1 problem(s); mqtt.url (got 'http://")
    assert line.endswith("; keeping the running config")
    old = parse_config(DEMO_CONFIG.read_text())
    moved = parse_config(DEMO_CONFIG.read_text().replace('box = "shop-12"', 'box = "shop-14"'))
    line = refusal(compare(old, moved, SYNC_RESTART_KEYS), "mallsense-sync")
    assert line == (
        "config refused: box (from 'shop-12' to 'shop-14') needs a restart"
        " (systemctl restart mallsense-sync); keeping the running config"
    )


def test_a_sync_reload_is_a_frozen_decision_that_leaves_the_running_settings_alone() -> None:
    text = DEMO_CONFIG.read_text()
    config = parse_config(text)
    running = AgentSettings.build(
        config.mall, config.box, config.mqtt, None, config_hash(config), config
    )

    def read(new_text: str, broker: str | None = None) -> Reload | None:
        return read_again(running, lambda: parse_config(new_text), broker)

    same = read(text)
    assert same is not None and not same.changed
    assert same.message() == f"config reloaded: nothing changed (config {running.config_hash})"
    slower = read(text.replace('1883"', '1883"\ntelemetry_interval_s = 120'))
    assert slower is not None and slower.changed and not slower.reconnect and not slower.moved
    assert slower.settings.mqtt.telemetry_interval_s == 120
    assert slower.settings.config_hash != running.config_hash
    elsewhere = text.replace("127.0.0.1:1883", "127.0.0.2:1884")
    moved = read(elsewhere)
    assert moved is not None and moved.reconnect and moved.moved
    assert "; reconnecting to mqtt://127.0.0.2:1884" in moved.message()
    # --broker keeps overriding mqtt.url: the file's new address moves nothing.
    kept = read(elsewhere, broker="mqtt://127.0.0.1:1883")
    assert kept is not None and not kept.reconnect and not kept.moved
    assert read(text.replace('box = "shop-12"', 'box = "shop-14"')) is None
    # What runs is untouched until its owner takes the new value whole.
    assert running.url.port == 1883 and running.mqtt.telemetry_interval_s != 120
    with pytest.raises(FrozenInstanceError):
        moved.settings.__setattr__("password", "x")


# -- the edge daemon ----------------------------------------------------------------------


@pytest.fixture
def notify() -> Iterator[NotifySocket]:
    with tempfile.TemporaryDirectory(prefix="ms-reload-", dir="/tmp") as tmp:
        listener = NotifySocket(str(Path(tmp) / "notify"))
        try:
            yield listener
        finally:
            listener.close()


def env_for(listener: NotifySocket) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLSENSE_")}
    return env | {"MALLSENSE_KEY": KEY, "NOTIFY_SOCKET": listener.address}


class Daemon:
    """A daemon process, its log, and SIGHUP with the outcome it logs."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path, notify: NotifySocket):
        self.log = log
        self.notify = notify
        with log.open("wb") as out:
            self.proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)

    def text(self) -> str:
        return self.log.read_text()

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert self.proc.poll() is None, self.text()[-4000:]
            assert time.monotonic() < deadline, self.text()[-4000:]
            time.sleep(0.1)

    def reload(self, expect: str) -> str:
        """SIGHUP; the log line starting with ``expect``; RELOADING=1 then READY=1."""
        before = self.text().count("config re")
        sent = time.monotonic()
        self.proc.send_signal(signal.SIGHUP)
        self.wait_for(lambda: self.text().count("config re") > before)
        line = [li for li in self.text().splitlines() if "config re" in li][before]
        assert expect in line, line
        reloading = self.notify.wait_for("RELOADING", after=sent)
        ready = self.notify.wait_for("READY", after=reloading.at)
        assert reloading.fields["MONOTONIC_USEC"].isdigit()
        assert ready.fields["STATUS"].startswith(("sensors:", "connected to", "not connected"))
        return line

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


def query(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        return conn.execute(sql).fetchall()


def count(db: Path, table: str) -> int:
    return int(str(query(db, f"SELECT COUNT(*) FROM {table}")[0][0]))


def partial_records(db: Path) -> int:
    rows = query(db, "SELECT body FROM records")
    return sum(bool(json.loads(str(body)).get("partial")) for (body,) in rows)


def test_the_edge_daemon_reloads_without_cutting_sessions(
    tmp_path: Path, notify: NotifySocket
) -> None:
    db = tmp_path / "box.db"
    config = tmp_path / "box.toml"
    original = DEMO_CONFIG.read_text().replace(
        'path = "demo-output/mallsense.db"', f'path = "{db}"\nretention_interval_s = 5'
    )
    config.write_text(original)
    simulate = [f"--simulate={n}={p}" for n, p in RECORDINGS.items()]
    argv = [*MALLSENSE, "run", "--config", str(config), *simulate, "--simulate-speed", "100"]
    edge = Daemon(argv, env_for(notify), tmp_path / "edge.log", notify)
    try:
        notify.wait_for("READY")
        edge.wait_for(lambda: db.exists() and count(db, "records") > 20)

        # Thresholds, one sensor's channels, retention: applied; only "shop" restarts.
        scans = edge.text().count("sensor shop-ble: scanning")
        text = original.replace("visitor_rssi_dbm = -70", "visitor_rssi_dbm = -72")
        text = text.replace("channels = [6]", "channels = [6, 11]")
        config.write_text(text.replace("retention_interval_s = 5", "retention_interval_s = 7"))
        line = edge.reload("config reloaded: changed")
        assert "zones[shop].visitor_rssi_dbm" in line and "store.retention_interval_s" in line
        assert "sensors (restarted: shop)" in line
        assert "aggregation continues its open sessions" in line
        assert edge.text().count("sensor shop-ble: scanning") == scans  # not restarted

        # A sensor removed, then added again.
        config.write_text(config.read_text().replace(BLE_SECTION, ""))
        assert "removed: shop-ble" in edge.reload("config reloaded: changed")
        edge.wait_for(lambda: ("shop-ble",) not in query(db, "SELECT sensor FROM sensor_stats"))
        config.write_text(text)
        assert "added: shop-ble" in edge.reload("config reloaded: changed")

        # Invalid: refused with its key path; the daemon keeps producing.
        config.write_text(text.replace("visitor_rssi_dbm = -65", "visitor_rssi_dbm = 5"))
        line = edge.reload("config refused:")
        assert "zones[0].visitor_rssi_dbm (got 5)" in line
        assert line.endswith("keeping the running config")
        config.write_text(text.replace(f'path = "{db}"', f'path = "{tmp_path / "other.db"}"'))
        assert "store.path (from" in edge.reload("config refused:")
        config.write_text(text + "\n[oops\n")
        assert "is not valid TOML" in edge.reload("config refused:")
        written = count(db, "records")
        edge.wait_for(lambda: count(db, "records") > written + 5)

        # No reload cut a session: partial records come only from the stop.
        assert partial_records(db) == 0
    finally:
        code = edge.stop()
    assert code == 0, edge.text()[-3000:]
    log = edge.text()
    assert partial_records(db) > 0  # the stop wrote the open sessions
    assert log.count("config reloaded") == 3 and log.count("config refused") == 3
    assert "Traceback" not in log


# -- the sync daemon ----------------------------------------------------------------------


@pytest.mark.broker
def test_the_sync_daemon_reloads_its_mqtt_settings(
    tmp_path: Path, broker: Broker, notify: NotifySocket
) -> None:
    db = tmp_path / "box.db"
    replay = ("replay", "--config", DEMO_CONFIG, "--db", db)
    assert invoke(*replay, "--wifi", f"entrance={RECORDINGS['entrance']}", key=KEY).exit_code == 0
    config = tmp_path / "box.toml"
    text = DEMO_CONFIG.read_text().replace('path = "demo-output/mallsense.db"', f'path = "{db}"')
    text = text.replace("mqtt://127.0.0.1:1883", broker.url)
    config.write_text(text)
    status = "mallsense/v1/demo-mall/shop-12/status"
    with (
        running_broker(tmp_path / "second") as second,
        Subscriber(second.host, second.port, "mallsense/v1/demo-mall/shop-12/#") as on_second,
        # The platform takes the data on both brokers: the box keeps what nobody took.
        Subscriber(broker.host, broker.port, "mallsense/v1/demo-mall/shop-12/#") as on_first,
    ):
        argv = [*MALLSENSE, "sync", "--config", str(config)]
        sync = Daemon(argv, env_for(notify), tmp_path / "sync.log", notify)
        try:
            notify.wait_for("READY")
            sync.wait_for(lambda: count(db, "outbox") == 0)

            # Not a connection setting: applied on the running connection.
            config.write_text(text + "telemetry_interval_s = 30\n")
            line = sync.reload("config reloaded: changed mqtt.telemetry_interval_s")
            assert "reconnecting" not in line
            assert sync.text().count("connected to ") == 1

            # Refused: a bad broker URL, a change of identity.
            config.write_text(text.replace(broker.url, "http://127.0.0.1:1"))
            assert "mqtt.url (got 'http://127.0.0.1:1')" in sync.reload("config refused:")
            config.write_text(text.replace('box = "shop-12"', 'box = "shop-99"'))
            assert "box (from 'shop-12' to 'shop-99') needs a restart" in sync.reload(
                "config refused:"
            )

            # Another broker: a clean disconnect, then the new one at once.
            config.write_text(text.replace(broker.url, second.url))
            assert f"reconnecting to {second.url}" in sync.reload(
                "config reloaded: changed mqtt.url"
            )
            online = on_second.wait_for(
                lambda ms: any(m.topic == status and m.json()["state"] == "online" for m in ms)
            )
            hash_now = next(m.json() for m in online if m.topic == status)["config_hash"]
            assert hash_now != "none"

            def states(ms: list[Message]) -> list[dict[str, Any]]:
                return [m.json() for m in ms if m.topic == status]

            left = states(on_first.wait_for(lambda ms: states(ms)[-1]["state"] == "offline"))
            assert left[-1]["reason"] == "moved to another broker"
            assert [s["state"] for s in left].count("offline") == 1
            # Records written after the switch go to the new broker.
            more = invoke(*replay, "--wifi", f"shop={RECORDINGS['shop']}", key=KEY)
            assert more.exit_code == 0, more.output
            on_second.wait_for(lambda ms: any("/data/" in m.topic for m in ms), timeout=20)
            sync.wait_for(lambda: count(db, "outbox") == 0)
        finally:
            code = sync.stop()
    assert code == 0, sync.text()[-3000:]
    log = sync.text()
    assert log.count("config reloaded") == 2 and log.count("config refused") == 2
    assert "Traceback" not in log


@pytest.mark.broker
def test_a_reload_ends_the_back_off_of_a_wrong_broker_address(
    tmp_path: Path, broker: Broker, notify: NotifySocket
) -> None:
    """A technician fixes a typo in mqtt.url: the agent connects at once, not after its
    back-off (up to a minute)."""
    db = tmp_path / "box.db"
    replay = ("replay", "--config", DEMO_CONFIG, "--db", db)
    assert invoke(*replay, "--wifi", f"entrance={RECORDINGS['entrance']}", key=KEY).exit_code == 0
    config = tmp_path / "box.toml"
    text = DEMO_CONFIG.read_text().replace('path = "demo-output/mallsense.db"', f'path = "{db}"')
    config.write_text(text.replace("mqtt://127.0.0.1:1883", f"mqtt://127.0.0.1:{free_port()}"))
    sync = Daemon([*MALLSENSE, "sync", "--config", str(config)], env_for(notify),
                  tmp_path / "sync.log", notify)  # fmt: skip

    def long_wait() -> float | None:
        waits = re.findall(r"retrying in ([0-9.]+) s", sync.text())
        return float(waits[-1]) if waits and float(waits[-1]) >= 3 else None

    platform = Subscriber(broker.host, broker.port, "mallsense/v1/demo-mall/shop-12/data/+")
    try:
        sync.wait_for(lambda: long_wait() is not None, timeout=60)
        waiting = long_wait()
        assert waiting is not None
        config.write_text(text.replace("mqtt://127.0.0.1:1883", broker.url))
        sent = time.monotonic()
        sync.reload("config reloaded: changed mqtt.url")
        sync.wait_for(lambda: f"connected to {broker.url}" in sync.text(), timeout=waiting)
        assert time.monotonic() - sent < waiting
        sync.wait_for(lambda: count(db, "outbox") == 0)
    finally:
        platform.close()
        assert sync.stop() == 0, sync.text()[-3000:]
