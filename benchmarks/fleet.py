"""A fleet on loopback: N boxes -> one Mosquitto -> ``mallsense ingest`` -> PostgreSQL.

    python benchmarks/fleet.py [--boxes 100] [--workers 1,2] [--json]
    python benchmarks/fleet.py --boxes 1000 --records-per-box 300 --workers 1,2,4

Each box is its own MQTT client (one paho client per box, the boxes spread over
``--publishers`` processes) publishing at QoS 1 real envelopes, built by
``sync.envelope.build_envelope`` with its own stream and seq, of a realistic
record mix (presence, dwell with some partial records and the records that
supersede them, visits with paths, transactions, footfall), each envelope held
until its PUBACK as the box's outbox holds it. The ingest runs as the real command
(``--workers N`` worker processes in one shared subscription group); during the
run a worker is killed with SIGKILL every ``--kill-every`` seconds (the command
starts it again, the broker redelivers what it had not acknowledged), and with
``--restart-broker`` the broker (persistence on) is stopped and started once.

At the end every expected record must be in PostgreSQL exactly once (partial
records that were superseded: not at all) and no seq gap may be open. Printed per
worker count: records/s end to end (first publish to last commit), the lag p99
(a batch's ``sent_at`` to its commit), the kills, and against it, in the same run,
a plain consumer that inserts and commits one record at a time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zlib
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tests"))  # LocalPostgres is a test fixture

import psycopg  # noqa: E402
from fixtures.local_postgres import LocalPostgres  # noqa: E402
from paho.mqtt.client import Client, MQTTMessage  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion  # noqa: E402
from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402
from paho.mqtt.subscribeoptions import SubscribeOptions  # noqa: E402

from edge.aggregate.ids import iso, record_id  # noqa: E402
from edge.demo.broker import LocalBroker  # noqa: E402
from edge.records import Dwell, Footfall, Presence, Transaction, Visit, ZoneStop, utc  # noqa: E402
from edge.store import OutboxRow  # noqa: E402
from sync.envelope import build_envelope, data_topic  # noqa: E402
from sync.ingest.schema import create_schema, kind_tables  # noqa: E402

MALL = "fleet"
T0 = 1_780_000_000.0
BATCH = 100  # records per envelope (a box's batch_max_records is 500 at most by default)


# -- records -----------------------------------------------------------------------------------


def _templates() -> dict[str, dict[str, Any]]:
    """One valid record of each kind (made by the models), copied with new ids and times."""
    t = utc(T0)
    common: dict[str, Any] = {"id": "x", "mall": MALL, "box": "b", "start": t, "end": t}
    path = [ZoneStop(zone=z, start=t, end=t) for z in ("A", "B", "C")]
    models = {
        "presence": Presence(**common, zone="z", devices=4, devices_raw=5, grouping_confidence=0.9,
                             visitors=3, passersby=1, randomized_share=0.5, fixed=0, frames=40),
        "dwell": Dwell(**common, zone="z", device="d", randomized=True, duration_s=42.0,
                       samples=5, rssi_max=-50, rssi_mean=-61.5, partial=False),
        "visit": Visit(**common, device="d", randomized=True, duration_s=90.0, path=path,
                       partial=False),
        "transaction": Transaction(**common, store="s1", zone="z", sensor="pos1", total=23.5,
                                   currency="EUR", items=2, receipt_no="r1", printed_at=None,
                                   payment="card", refund=False, raster_only=False,
                                   extractor="default", confidence=0.9, text_sha256="0" * 64),
        "footfall": Footfall(**common, camera="c1", line="door", zone="z", **{"in": 7}, out=5),
    }  # fmt: skip
    return {k: m.model_dump(mode="json", by_alias=True) for k, m in models.items()}


_MIX = ["presence"] * 50 + ["dwell"] * 30 + ["visit"] * 10 + ["transaction"] * 5 + ["footfall"] * 5


def box_records(box: str, count: int, seed: int) -> tuple[list[dict[str, Any]], set[str]]:
    """A box's records (the mix above; 2 % of dwells partial, then superseded), and the ids
    that must be in the database at the end."""
    rng = random.Random(seed)
    templates = _templates()
    records: list[dict[str, Any]] = []
    expected: set[str] = set()
    for n in range(count):
        kind = rng.choice(_MIX)
        start = T0 + 60 * n + rng.random()
        rid = record_id(start, f"{box}\x1f{kind}\x1f{n}")
        record = {**templates[kind], "id": rid, "box": box, "start": iso(start),
                  "end": iso(start + 30)}  # fmt: skip
        if kind == "dwell" and rng.random() < 0.02:
            partial = {**record, "partial": True, "end": iso(start + 10)}
            partial["id"] = record_id(start, f"{box}\x1fpartial\x1f{n}")
            records.append(partial)
            record["supersedes"] = partial["id"]
        records.append(record)
        expected.add(rid)
    return records, expected


Plan = tuple[str, str, int, list[OutboxRow]]
"""(kind, stream, seq, rows) of one batch, built into an envelope when it is published."""


def plan_batches(box: str, records: list[dict[str, Any]]) -> list[Plan]:
    """The box's batches: one kind each, outbox order, seq 1.. in one stream."""
    by_kind: dict[str, list[OutboxRow]] = {}
    out: list[Plan] = []
    stream = uuid.uuid4().hex
    for n, record in enumerate(records):
        rows = by_kind.setdefault(record["kind"], [])
        rows.append(OutboxRow(n + 1, record["kind"], json.dumps(record, separators=(",", ":")), 0))
        if len(rows) == BATCH:
            out.append((record["kind"], stream, len(out) + 1, rows))
            by_kind[record["kind"]] = []
    for kind, rows in by_kind.items():
        if rows:
            out.append((kind, stream, len(out) + 1, rows))
    return out


def build(box: str, plan: Plan) -> tuple[str, bytes]:
    """The envelope of a planned batch, sent now (as the sync agent builds it)."""
    kind, stream, seq, rows = plan
    env = build_envelope(MALL, box, rows, seq=seq, batch_id=uuid.uuid4().hex, now=time.time(),
                         historical_after_s=1e12, stream=stream)  # fmt: skip
    return data_topic(MALL, box, kind), env.payload


def envelopes(box: str, records: list[dict[str, Any]]) -> list[tuple[str, bytes]]:
    return [build(box, plan) for plan in plan_batches(box, records)]


# -- publishers --------------------------------------------------------------------------------


def _publisher(port: int, boxes: list[str], per_box: int, go: Any, results: Any) -> None:
    """One process: a paho client per box; every envelope published at QoS 1 and kept until
    its PUBACK (paho resends unacknowledged ones after a reconnect)."""
    plans = {}
    for box in boxes:
        records, _ = box_records(box, per_box, seed=zlib.crc32(box.encode()))
        plans[box] = plan_batches(box, records)
    clients = []
    for box in boxes:
        client = Client(CallbackAPIVersion.VERSION2, client_id=f"fleet-{box}",
                        protocol=MQTTProtocolVersion.MQTTv5)  # fmt: skip
        client.max_inflight_messages_set(8)  # as the sync agent's inflight_batches
        client.reconnect_delay_set(1, 2)
        client.connect("127.0.0.1", port, keepalive=30)
        client.loop_start()
        clients.append(client)
    go.wait()
    started = time.time()
    pending = [(c, *build(box, plan)) for c, box in zip(clients, boxes, strict=True)
               for plan in plans[box]]  # fmt: skip
    count = len(pending)
    while pending:  # as the outbox: a batch stays until its PUBACK, and is sent again if not
        infos = [(c, topic, payload, c.publish(topic, payload, qos=1))
                 for c, topic, payload in pending]  # fmt: skip
        deadline = time.monotonic() + 60
        pending = [(c, topic, payload) for c, topic, payload, info in infos
                   if not _acked(info, deadline)]  # fmt: skip
        if pending:
            time.sleep(0.5)  # the broker restarts: paho reconnects within a second or two
    results.put((started, time.time(), count))
    for client in clients:
        client.disconnect()
        client.loop_stop()


def _acked(info: Any, deadline: float) -> bool:
    """Whether the broker acknowledged a publish by ``deadline`` (monotonic); False if it
    failed or is late (it is then sent again: the ingest stores it once all the same)."""
    try:
        while not info.is_published():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
    except RuntimeError:  # published while the broker was away: paho gave up on it
        return False
    return True


# -- one run -----------------------------------------------------------------------------------


class Ingest:
    """``mallsense ingest --workers N --json`` as a process, with its workers' pids."""

    def __init__(self, broker: LocalBroker, dsn: str, workers: int, group: str) -> None:
        self.pids: dict[int, int] = {}
        self.subscribed: set[int] = set()
        self.subscribed_at: float | None = None
        """Wall-clock time of the first worker's subscription: when it can take messages."""
        self.ended = 0
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edge.cli", "ingest", "--broker", broker.url, "--dsn", dsn,
             "--mall", MALL, "--group", group, "--workers", str(workers), "--instance", "bench",
             "--json", "--progress", "5"],
            stdout=subprocess.PIPE, text=True, cwd=HERE.parent,
        )  # fmt: skip
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + 60
        while len(self.subscribed) < workers and time.monotonic() < deadline:
            time.sleep(0.05)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            event = json.loads(line)
            if event["message"] == "worker started":
                self.pids[event["worker"]] = event["pid"]
            elif event["message"] == "subscribed":
                self.subscribed.add(event["worker"])
                self.subscribed_at = self.subscribed_at or time.time()
            elif event["message"] == "worker ended":
                self.ended += 1

    def kill_one(self, rng: random.Random) -> None:
        if len(self.pids) < 2:  # one worker runs in the command itself: nobody to restart it
            return
        index = rng.choice(sorted(self.pids))
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pids[index], signal.SIGKILL)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)


def _stored(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        total = 0
        for kind in ("presence", "dwell", "visit", "transaction", "footfall"):
            row = conn.execute(f"SELECT count(*) FROM mallsense.{kind}").fetchone()
            total += int(row[0]) if row else 0
        return total


def _wait_gap_checked(dsn: str, timeout: float = 60.0) -> None:
    """Until the workers have checked every batch for seq gaps (a worker killed last is
    still starting; the gaps table is only final once it has run)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with psycopg.connect(dsn) as conn:
            row = conn.execute("SELECT count(*) FROM mallsense.batches WHERE NOT gap_checked")
            if (row.fetchone() or (0,))[0] == 0:
                return
        time.sleep(0.25)


def _verify(dsn: str, expected: set[str]) -> dict[str, Any]:
    """Missing and duplicated records, open gaps, end-to-end times from the database."""
    with psycopg.connect(dsn) as conn:
        ids: list[str] = []
        for kind in ("presence", "dwell", "visit", "transaction", "footfall"):
            ids += [r[0] for r in conn.execute(f"SELECT id FROM mallsense.{kind}")]
        row = conn.execute(
            "SELECT max(stored_at), percentile_cont(0.99) WITHIN GROUP (ORDER BY"
            " extract(epoch FROM stored_at - sent_at)), percentile_cont(0.5) WITHIN GROUP"
            " (ORDER BY extract(epoch FROM stored_at - sent_at)) FROM mallsense.batches"
        ).fetchone()
        gaps = conn.execute("SELECT count(*) FROM mallsense.seq_gaps").fetchone()
    assert row is not None and gaps is not None
    return {
        "missing": len(expected - set(ids)),
        "duplicated": len(ids) - len(set(ids)),
        "unexpected": len(set(ids) - expected),
        "last_commit": row[0].timestamp() if row[0] else 0.0,
        "lag_p99_s": round(float(row[1] or 0), 3),
        "lag_p50_s": round(float(row[2] or 0), 3),
        "open_gaps": int(gaps[0]),
    }


def run_fleet(args: argparse.Namespace, pg: LocalPostgres, broker: LocalBroker,
              workers: int) -> dict[str, Any]:  # fmt: skip
    """One run: live (boxes publish while the ingest runs) or, with ``--backlog``, the boxes
    publish into the sessions of a stopped ingest first and the ingest then drains them,
    so that only the ingest's own work is timed."""
    dsn = pg.create_database(f"fleet_w{workers}")
    boxes = [f"box-{i:04d}" for i in range(args.boxes)]
    expected: set[str] = set()
    for box in boxes:
        expected |= box_records(box, args.records_per_box, seed=zlib.crc32(box.encode()))[1]
    group = f"fleet{workers}"
    ingest = Ingest(broker, dsn, workers, group=group)
    if args.backlog:
        ingest.stop()  # the sessions stay: the broker queues the boxes' batches for them
    ctx = mp.get_context("fork")
    go, results = ctx.Event(), ctx.Queue()
    shares = [boxes[i :: args.publishers] for i in range(args.publishers)]
    procs = [
        ctx.Process(target=_publisher, args=(broker.port, s, args.records_per_box, go, results))
        for s in shares
        if s
    ]
    try:
        for proc in procs:
            proc.start()
        time.sleep(2 + args.boxes / 200)  # every box connected
        go.set()
        if args.backlog:
            published = [results.get(timeout=args.timeout) for _ in procs]
            ingest = Ingest(broker, dsn, workers, group=group)
        kills, restarted = _wait_stored(args, dsn, len(expected), ingest, broker, workers)
        if not args.backlog:
            published = [results.get(timeout=60) for _ in procs]
        for proc in procs:
            proc.join(30)
        time.sleep(2)  # redeliveries after the last kill must add nothing
        _wait_gap_checked(dsn)
    finally:
        ingest.stop()
    check = _verify(dsn, expected)
    first = (ingest.subscribed_at or 0.0) if args.backlog else min(p[0] for p in published)
    elapsed = max(1e-9, check["last_commit"] - first)
    if args.backlog:  # the batches waited for the ingest: their lag says nothing about it
        check["lag_p50_s"] = check["lag_p99_s"] = None
    return {
        "workers": workers, "boxes": args.boxes, "records": len(expected),
        "mode": "backlog" if args.backlog else "live",
        "batches": sum(p[2] for p in published), "seconds": round(elapsed, 2),
        "records_per_s": round(len(expected) / elapsed), "kills": kills,
        "worker_restarts": ingest.ended, "broker_restarted": restarted, **check,
    }  # fmt: skip


def _wait_stored(args: argparse.Namespace, dsn: str, expected: int, ingest: Ingest,
                 broker: LocalBroker, workers: int) -> tuple[int, bool]:  # fmt: skip
    """Until every record is stored: kill a worker now and then, and restart the broker
    once, as soon as the first records are in (the rest still on their way)."""
    rng = random.Random(workers)
    kills, restarted = 0, False
    started = time.monotonic()
    deadline = started + args.timeout
    last_kill = started
    while (stored := _stored(dsn)) < expected and time.monotonic() < deadline:
        now = time.monotonic()
        if args.kill_every and now - last_kill >= args.kill_every:
            ingest.kill_one(rng)
            kills, last_kill = kills + (workers > 1), now
        if args.restart_broker and not restarted and stored > 0:
            broker.stop()  # SIGTERM: a persistent broker saves its queues
            broker.start()
            restarted = True
        # Often until the broker restart, to make it while records are on their way; then
        # seldom, as the counting itself takes the database's time from the ingest.
        time.sleep(0.05 if args.restart_broker and not restarted else 0.25)
    return kills, restarted


# -- the plain consumer ------------------------------------------------------------------------


def run_plain(pg: LocalPostgres, broker: LocalBroker, records: int) -> dict[str, Any]:
    """One INSERT and one COMMIT per record, PUBACK after each message: the usual first try."""
    dsn = pg.create_database("plain")
    conn = psycopg.connect(dsn, autocommit=True)
    create_schema(conn)
    tables = kind_tables()
    done = threading.Event()
    stored = [0]

    def on_message(client: Client, _u: Any, msg: MQTTMessage) -> None:
        for record in json.loads(msg.payload)["records"]:
            table = tables[record["kind"]]
            cols = [c.name for c in table.columns]
            values = [json.dumps(record.get(c)) if t.type == "jsonb" else record.get(c)
                      for c, t in zip(cols, table.columns, strict=True)]  # fmt: skip
            names = ", ".join(f'"{c}"' for c in cols)
            marks = ", ".join(["%s"] * len(cols))
            conn.execute(
                f"INSERT INTO mallsense.{record['kind']} ({names}, day) VALUES ({marks},"
                " (%s::timestamptz AT TIME ZONE 'UTC')::date) ON CONFLICT DO NOTHING",
                [*values, record["start"]],
            )
            stored[0] += 1
        if stored[0] >= records:
            done.set()

    from sync.ingest.envelopes import utc_day
    from sync.ingest.schema import ensure_partitions

    plan = envelopes("plain-box", box_records("plain-box", records, seed=1)[0])
    days = {(json.loads(p)["kind"], utc_day(r["start"])) for _, p in plan
            for r in json.loads(p)["records"]}  # fmt: skip
    ensure_partitions(conn, "mallsense", {(k, d) for k, d in days if d}, set())
    total = sum(len(json.loads(p)["records"]) for _, p in plan)
    records = total
    sub = Client(CallbackAPIVersion.VERSION2, client_id="plain-consumer",
                 protocol=MQTTProtocolVersion.MQTTv5)  # fmt: skip
    sub.on_message = on_message
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 3600
    sub.connect(broker.host, broker.port, clean_start=False, properties=props)
    sub.subscribe(f"mallsense/v1/{MALL}/plain-box/data/+", options=SubscribeOptions(qos=1))
    sub.loop_start()
    time.sleep(0.5)
    pub = Client(CallbackAPIVersion.VERSION2, client_id="plain-pub",
                 protocol=MQTTProtocolVersion.MQTTv5)  # fmt: skip
    pub.connect(broker.host, broker.port)
    pub.loop_start()
    started = time.monotonic()
    for topic, payload in plan:
        pub.publish(topic, payload, qos=1)
    done.wait(600)
    elapsed = time.monotonic() - started
    sub.disconnect()
    pub.disconnect()
    conn.close()
    return {"records": stored[0], "seconds": round(elapsed, 2),
            "records_per_s": round(stored[0] / elapsed)}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--boxes", type=int, default=100)
    parser.add_argument("--records-per-box", type=int, default=300)
    parser.add_argument("--workers", default="1,2", help="Worker counts to run, e.g. 1,2,4.")
    parser.add_argument("--publishers", type=int, default=4, help="Processes the boxes run in.")
    parser.add_argument("--kill-every", type=float, default=3.0, help="Seconds; 0: no kills.")
    parser.add_argument("--restart-broker", action="store_true")
    parser.add_argument(
        "--backlog", action="store_true",
        help="Boxes publish first (the ingest stopped, its sessions kept), then the ingest"
        " drains the backlog: times the ingest alone, without the boxes on the same cores.",
    )  # fmt: skip
    parser.add_argument("--plain-records", type=int, default=5000)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fleet-") as tmp, LocalPostgres(durable=True) as pg:
        broker = LocalBroker(Path(tmp) / "mosquitto", persistence=True)
        broker.start()
        try:
            runs = [run_fleet(args, pg, broker, int(w)) for w in args.workers.split(",")]
            plain = run_plain(pg, broker, args.plain_records)
        finally:
            broker.kill()
    best = max(r["records_per_s"] for r in runs)
    report = {
        "runs": runs,
        "plain": plain,
        "vs_plain": round(best / max(1, plain["records_per_s"]), 1),
    }
    if args.json:
        print(json.dumps(report))
    else:
        for r in runs:
            how = "draining the backlog" if r["mode"] == "backlog" else "end to end"
            print(f"{r['boxes']} boxes, {r['workers']} worker(s): {r['records']:,} records in"
                  f" {r['seconds']} s = {r['records_per_s']:,}/s {how}; lag p50"
                  f" {r['lag_p50_s']} s, p99 {r['lag_p99_s']} s; {r['kills']} kills,"
                  f" broker restarted: {r['broker_restarted']}; missing {r['missing']},"
                  f" duplicated {r['duplicated']}, open gaps {r['open_gaps']}")  # fmt: skip
        print(f"plain one-insert-per-record consumer: {plain['records_per_s']:,}/s;"
              f" ingest is {report['vs_plain']}x that")  # fmt: skip
    ok = all(r["missing"] == 0 and r["duplicated"] == 0 and r["unexpected"] == 0 for r in runs)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
