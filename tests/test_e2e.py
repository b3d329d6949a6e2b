"""End to end: a recording in, records out of a real broker, nothing lost, no MAC anywhere."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from broker import Broker

from edge.demo.privacy_check import macs_in_captures, scan_for_macs
from edge.store import Store
from sync.consumer import Consumer

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "edge" / "demo" / "samples"
DEMO_CONFIG = ROOT / "edge" / "demo" / "demo.toml"
CAPTURES = {"entrance": SAMPLES / "entrance.pcap", "shop": SAMPLES / "shop.pcap"}
RECORDINGS = CAPTURES | {"shop-ble": SAMPLES / "ble.jsonl"}
ENV = os.environ | {"MALLSENSE_KEY": "ab" * 32}


def mallsense(*args: str, log: Path, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    argv = [sys.executable, "-m", "edge.cli", "--log-level", "debug", *args]
    with log.open("ab") as out:
        return subprocess.run(
            argv, env=ENV, stdout=out, stderr=subprocess.STDOUT, timeout=timeout, check=False
        )


def wait_until(predicate: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def everything_written(tmp_path: Path, db: Path) -> list[bytes]:
    """The database files and every log the box wrote."""
    blobs = [p.read_bytes() for p in tmp_path.glob(db.name + "*")]
    return blobs + [p.read_bytes() for p in tmp_path.glob("*.log")]


def test_a_recording_reaches_the_platform_exactly_and_anonymously(
    tmp_path: Path, broker: Broker
) -> None:
    db = tmp_path / "box.db"
    log = tmp_path / "box.log"
    specs = [f"--wifi={name}={path}" for name, path in CAPTURES.items()]
    replayed = mallsense("replay", "--config", str(DEMO_CONFIG), *specs, "--db", str(db), log=log)
    assert replayed.returncode == 0, log.read_text()

    consumer = Consumer(broker.url, "demo-mall")
    assert consumer.wait_subscribed()
    try:
        synced = mallsense(
            "sync", "--db", str(db), "--broker", broker.url, "--drain", "--json", log=log
        )
        assert synced.returncode == 0, log.read_text()
        with Store(db) as store:
            stored = {r["id"]: r for r in store.records()}
            assert store.outbox_depth()[0] == 0
        (summary,) = [line for line in log.read_text().splitlines() if '"drained"' in line]
        assert json.loads(summary) == {
            "drained": True, "acknowledged": len(stored), "waiting": 0, "held": None,
            "broker": broker.url,
        }  # fmt: skip
        wait_until(lambda: len(consumer.stats.records) >= len(stored))
    finally:
        consumer.close()
    stats = consumer.stats
    assert set(stats.records) == set(stored)
    assert stats.gaps == [] and stats.invalid == 0
    for rid, record in stats.records.items():
        assert {k: v for k, v in record.items() if k != "historical"} == stored[rid]
    assert stats.status["shop-12"]["state"] in {"online", "offline"}

    macs = macs_in_captures(CAPTURES.values())
    assert len(macs) > 100
    published = [repr(r).encode() for r in stats.records.values()]
    assert scan_for_macs(macs, everything_written(tmp_path, db) + published) == set()


def test_edge_and_sync_services_side_by_side(tmp_path: Path, broker: Broker) -> None:
    """The two daemons as systemd runs them, sharing only the database."""
    db = tmp_path / "box.db"
    config = tmp_path / "box.toml"
    text = DEMO_CONFIG.read_text().replace('path = "demo-output/mallsense.db"', f'path = "{db}"')
    config.write_text(text.replace("mqtt://127.0.0.1:1883", broker.url))
    consumer = Consumer(broker.url, "demo-mall")
    assert consumer.wait_subscribed()
    edge_log, sync_log = (tmp_path / "edge.log").open("ab"), (tmp_path / "sync.log").open("ab")
    common = [sys.executable, "-m", "edge.cli", "--log-level", "debug"]
    simulate = [f"--simulate={n}={p}" for n, p in RECORDINGS.items()]
    edge = subprocess.Popen(
        [*common, "run", "--config", str(config), *simulate, "--simulate-speed", "300"],
        env=ENV, stdout=edge_log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    sync = subprocess.Popen(
        [*common, "sync", "--config", str(config)],
        env=ENV,
        stdout=sync_log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: len(consumer.stats.records) >= 30, timeout=40)
        edge.send_signal(signal.SIGTERM)
        assert edge.wait(timeout=20) == 0
        with Store(db) as store:
            wait_until(lambda: store.outbox_depth()[0] == 0)
            stored = {r["id"] for r in store.records()}
        wait_until(lambda: set(consumer.stats.records) >= stored)
    finally:
        for proc in (edge, sync):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=20)
        consumer.close()
    assert sync.returncode == 0
    assert consumer.stats.gaps == []
    assert consumer.stats.status["shop-12"]["state"] == "offline"  # a clean stop says so
    macs = macs_in_captures(CAPTURES.values())
    published = [repr(r).encode() for r in consumer.stats.records.values()]
    assert scan_for_macs(macs, everything_written(tmp_path, db) + published) == set()
    assert b"Traceback" not in (tmp_path / "edge.log").read_bytes()
    assert b"Traceback" not in (tmp_path / "sync.log").read_bytes()
