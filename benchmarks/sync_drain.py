"""Uplink benchmark: drain a large outbox to a local Mosquitto, confirmed by a subscriber.

    python benchmarks/sync_drain.py [--json] [--records 1000000]

In one run:

- ours: ``mallsense sync --drain`` (the real ``SyncAgent``, in its own process so
  its peak memory is its own) empties an outbox of ``--records`` records into a
  local broker; the time ends when a subscriber has received every record;
- one per message: the same records published one per MQTT message at QoS 1
  (paho, its default in-flight window), the way a naive uplink would, on a
  prefix of the records (its rate does not depend on the total);

The JSON has ``records_per_s``, ``vs_one_per_message`` and ``rss_mb`` (the
agent's peak resident memory).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from paho.mqtt.client import Client, MQTTMessage  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion  # noqa: E402

from edge.aggregate.ids import iso, record_id  # noqa: E402
from edge.config.models import MqttConfig  # noqa: E402
from edge.demo.broker import LocalBroker  # noqa: E402
from edge.store import Store  # noqa: E402

MALL, BOX = "bench-mall", "box-1"
T0 = 1_773_482_400.0


def presence(n: int) -> dict[str, Any]:
    """A realistic presence record (what a box sends most of)."""
    start = T0 + 60 * n
    return {
        "id": record_id(start, f"bench\x1f{n}"),
        "kind": "presence",
        "schema": "presence/1",
        "mall": MALL,
        "box": BOX,
        "supersedes": None,
        "zone": f"zone-{n % 12}",
        "source": "wifi",
        "start": iso(start),
        "end": iso(start + 60),
        "devices": n % 97,
        "visitors": n % 31,
        "passersby": n % 97 - n % 31 if n % 97 >= n % 31 else 0,
        "randomized_share": round((n % 100) / 100, 2),
        "fixed": n % 3,
        "frames": n % 1000,
        "partial": False,
    }


def build_outbox(path: Path, records: int) -> None:
    """A database holding ``records`` records, all waiting in the outbox."""
    if path.exists():
        with sqlite3.connect(path) as conn:
            have = conn.execute("SELECT COUNT(*) FROM records").fetchone()[0]
            if have == records:
                conn.execute("DELETE FROM outbox")
                conn.execute(
                    "INSERT INTO outbox (record, kind, created)"
                    " SELECT seq, kind, created FROM records ORDER BY seq"
                )
                return
        path.unlink()
    print(f"writing {records:,} records into {path} (once)...", file=sys.stderr)
    with Store(path) as store:
        store.claim_identity(MALL, BOX)
        for first in range(0, records, 20_000):
            batch = [presence(n) for n in range(first, min(first + 20_000, records))]
            store.write(batch, now=time.time())


class Counter:
    """A subscriber that counts the records arriving on the box's data topics."""

    def __init__(self, host: str, port: int, one_per_message: bool) -> None:
        self.records = 0
        self.ids: set[str] = set()
        self.last = time.perf_counter()
        self._one = one_per_message
        self._lock = threading.Lock()
        ready = threading.Event()
        self.client = Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
        self.client.on_connect = lambda c, *_: c.subscribe(f"mallsense/v1/{MALL}/+/data/#", qos=1)
        self.client.on_subscribe = lambda *_: ready.set()
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.loop_start()
        ready.wait(10)

    def _on_message(self, _client: Client, _userdata: Any, msg: MQTTMessage) -> None:
        body = json.loads(msg.payload)
        ids = [body["id"]] if self._one else [r["id"] for r in body["records"]]
        with self._lock:
            self.ids.update(ids)
            self.records = len(self.ids)
            self.last = time.perf_counter()

    def wait_for(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.records < count:
            if time.monotonic() > deadline:
                raise SystemExit(f"only {self.records:,} of {count:,} records arrived")
            time.sleep(0.02)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def measure_ours(
    db: Path, url: str, broker: LocalBroker, records: int, batch: int
) -> dict[str, Any]:
    counter = Counter(broker.host, broker.port, one_per_message=False)
    started = time.perf_counter()
    child = subprocess.run(
        [sys.executable, __file__, "--child-agent", str(db), "--url", url, "--batch", str(batch)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    counter.wait_for(records, timeout=600)
    elapsed = counter.last - started
    counter.close()
    agent = json.loads(child.stdout)
    return {"records_per_s": round(records / elapsed), "elapsed_s": round(elapsed, 2), **agent}


def child_agent(db: Path, url: str, batch: int) -> None:
    """Run the real agent's drain; print its peak RSS (this process only)."""
    from sync.agent import SyncAgent

    config = MqttConfig(url=url, batch_max_records=batch, batch_max_bytes=1024 * 1024)
    code = SyncAgent(MALL, BOX, config, db, None, "bench").run(drain=True, timeout=600)
    print(json.dumps({"exit": code, "rss_mb": round(peak_rss_mb(), 1)}))


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure_one_per_message(db: Path, broker: LocalBroker, count: int) -> float:
    """Records published one per QoS 1 message, all acknowledged and received."""
    with sqlite3.connect(db) as conn:
        bodies = [
            b for (b,) in conn.execute("SELECT body FROM records ORDER BY seq LIMIT ?", (count,))
        ]
    counter = Counter(broker.host, broker.port, one_per_message=True)
    client = Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
    client.connect(broker.host, broker.port)
    client.loop_start()
    topic = f"mallsense/v1/{MALL}/{BOX}/data/presence"
    started = time.perf_counter()
    infos = [client.publish(topic, body, qos=1) for body in bodies]
    for info in infos:
        info.wait_for_publish(60)
    counter.wait_for(len(bodies), timeout=300)
    elapsed = counter.last - started
    client.disconnect()
    client.loop_stop()
    counter.close()
    return len(bodies) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description="Uplink drain benchmark (see the docstring).")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000, help="records per batch (ours)")
    parser.add_argument("--baseline", type=int, default=20_000, help="records sent one by one")
    parser.add_argument("--cache", type=Path, default=HERE / ".cache")
    parser.add_argument("--child-agent", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_agent:
        child_agent(args.child_agent, args.url, args.batch)
        return
    args.cache.mkdir(parents=True, exist_ok=True)
    source = args.cache / f"sync-{args.records}.db"
    build_outbox(source, args.records)
    with tempfile.TemporaryDirectory() as tmp, LocalBroker(Path(tmp) / "broker") as broker:
        db = Path(tmp) / "outbox.db"
        shutil.copy(source, db)
        ours = measure_ours(db, broker.url, broker, args.records, args.batch)
        baseline = measure_one_per_message(source, broker, min(args.baseline, args.records))
    result = {
        "benchmark": "sync_drain",
        "records": args.records,
        "batch_max_records": args.batch,
        **ours,
        "one_per_message_records_per_s": round(baseline),
        "vs_one_per_message": round(ours["records_per_s"] / baseline, 1),
    }
    if args.json:
        print(json.dumps(result))
        return
    rate = ours["records_per_s"]
    print(f"drained {args.records:,} records in {ours['elapsed_s']} s: {rate:,} records/s")
    print(f"  one record per QoS 1 message: {round(baseline):,} records/s"
          f" -> batching x{result['vs_one_per_message']}")  # fmt: skip
    print(f"  agent peak memory: {ours['rss_mb']} MB")


if __name__ == "__main__":
    main()
