"""``mallsense ingest`` (issue 16, part 3): a real Mosquitto, a real PostgreSQL, real envelopes.

Envelopes are built by ``sync.envelope.build_envelope`` from records made by the
contract's models, published at QoS 1 as a box publishes them, and taken by the
real ingest worker (in a thread, or as ``mallsense ingest`` processes for the
kill test). Every test gets a database of its own on the module's server.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest
from broker import Broker
from paho.mqtt.client import Client
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from postgres import LocalPostgres

from edge.records import Dwell, Presence, Visit, ZoneStop, record_id, utc
from edge.store import OutboxRow
from sync.envelope import build_envelope, data_topic
from sync.ingest.consumer import IngestSettings, IngestWorker
from sync.ingest.gaps import Gap, fold_seqs
from sync.ingest.schema import kind_tables

pytestmark = pytest.mark.broker

MALL = "mall-9"
T0 = 1_780_000_000.0  # 2026-05-28
DAY = 86_400.0
_db_names = itertools.count()


# -- records and envelopes -----------------------------------------------------------------


def dwell(box: str, i: int, *, t: float = T0, partial: bool = False,
          supersedes: str | None = None, key: str = "") -> dict[str, Any]:  # fmt: skip
    start = t + 60 * i
    end = start + (30 if partial else 50)
    return Dwell(
        id=record_id(start, f"{MALL}\x1f{box}\x1fdwell\x1f{i}\x1f{partial}{key}"),
        mall=MALL, box=box, zone="entrance", device=f"dev{i}", randomized=False,
        start=utc(start), end=utc(end), duration_s=end - start, samples=3, rssi_max=-50,
        rssi_mean=-60.0, partial=partial, supersedes=supersedes,
    ).model_dump(mode="json", by_alias=True)  # fmt: skip


def presence(box: str, i: int, t: float = T0) -> dict[str, Any]:
    start = t + 60 * i
    return Presence(
        id=record_id(start, f"{MALL}\x1f{box}\x1fpresence\x1f{i}"),
        mall=MALL, box=box, zone="entrance", start=utc(start), end=utc(start + 60),
        devices=4, devices_raw=5, grouping_confidence=0.9, visitors=3, passersby=1,
        randomized_share=0.5, fixed=0, frames=40,
    ).model_dump(mode="json", by_alias=True)  # fmt: skip


def visit(box: str, i: int) -> dict[str, Any]:
    start = T0 + 60 * i
    path = [ZoneStop(zone=z, start=utc(start + 10 * k), end=utc(start + 10 * k + 9))
            for k, z in enumerate(("A", "B", "C"))]  # fmt: skip
    return Visit(
        id=record_id(start, f"{MALL}\x1f{box}\x1fvisit\x1f{i}"), mall=MALL, box=box,
        device=f"dev{i}", randomized=True, start=utc(start), end=utc(start + 29),
        duration_s=29.0, path=path, partial=False,
    ).model_dump(mode="json", by_alias=True)  # fmt: skip


def envelope(box: str, seq: int, records: Sequence[dict[str, Any]], stream: str = "a" * 32
             ) -> tuple[str, bytes]:  # fmt: skip
    rows = [OutboxRow(n + 1, r["kind"], json.dumps(r, separators=(",", ":")), time.time())
            for n, r in enumerate(records)]  # fmt: skip
    built = build_envelope(MALL, box, rows, seq=seq, batch_id=uuid.uuid4().hex, now=time.time(),
                           historical_after_s=60, stream=stream)  # fmt: skip
    return data_topic(MALL, box, records[0]["kind"]), built.payload


class Box:
    """A box's publishing side: one MQTT client publishing envelopes at QoS 1."""

    def __init__(self, broker: Broker, name: str = "box") -> None:
        client_id = f"{name}-{uuid.uuid4().hex[:6]}"
        self.client = Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5
        )
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes) -> None:
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(10)
        assert info.is_published()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# -- the database side -----------------------------------------------------------------------


@pytest.fixture
def dsn(postgres: LocalPostgres) -> str:
    return postgres.create_database(f"t{os.getpid()}_{next(_db_names)}")


def query(dsn: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, args).fetchall()


def count(dsn: str, table: str) -> int:
    return int(query(dsn, f"SELECT count(*) FROM mallsense.{table}")[0][0])


def wait_for(what: str, check: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.05)


@contextlib.contextmanager
def ingesting(broker: Broker, dsn: str, client_id: str = "ingest-test-0") -> Iterator[IngestWorker]:
    """The real ingest worker in a thread, as one member of the shared subscription."""
    settings = IngestSettings(broker_url=broker.url, dsn=dsn, client_id=client_id, mall=MALL)
    worker = IngestWorker(settings)
    worker.connect()
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        stop.set()
        thread.join(15)


# -- tests -------------------------------------------------------------------------------------


def test_tables_are_made_from_the_record_models() -> None:
    tables = kind_tables()
    assert set(tables) >= {"dwell", "visit", "presence", "transaction", "footfall", "kpi"}
    visit_cols = {c.name: c.type for c in tables["visit"].columns}
    assert visit_cols["path"] == "jsonb"
    assert visit_cols["start"] == "timestamptz"
    assert visit_cols["historical"] == "boolean"
    footfall = {c.name for c in tables["footfall"].columns}
    assert {"in", "out", "schema"} <= footfall  # the wire names, not the Python ones


def test_fold_seqs_finds_and_fills_gaps() -> None:
    assert fold_seqs(None, [], [1, 2, 3]) == (3, [])
    top, gaps = fold_seqs(3, [], [4, 7, 9])
    assert top == 9
    assert [(g.first, g.last) for g in gaps] == [(5, 6), (8, 8)]
    top, gaps = fold_seqs(9, gaps, [5, 8, 2])  # late batches, and an old one again
    assert (top, [(g.first, g.last) for g in gaps]) == (9, [(6, 6)])
    assert fold_seqs(None, [], [3])[1] == [Gap(1, 2)]  # a stream first seen at 3


def test_every_record_lands_once_and_a_resent_batch_adds_nothing(broker: Broker, dsn: str) -> None:
    box = Box(broker)
    records = [dwell("box-1", i) for i in range(300)]
    batches = [envelope("box-1", s + 1, records[s * 100 : s * 100 + 100]) for s in range(3)]
    with ingesting(broker, dsn) as worker:
        for topic, payload in batches:
            box.publish(topic, payload)
        box.publish(*batches[1])  # the same message again (a redelivery)
        box.publish(*envelope("box-1", 2, records[100:200]))  # the batch built again
        wait_for("300 dwell rows and 5 messages", lambda: worker.stats.messages == 5)
    box.close()
    assert query(dsn, "SELECT count(*), count(DISTINCT id) FROM mallsense.dwell")[0] == (300, 300)
    assert worker.stats.inserted == 300
    assert worker.stats.duplicates == 200
    assert count(dsn, "batches") == 3  # named by (box, stream, seq)
    row = query(dsn, "SELECT seq, stream, historical, day FROM mallsense.dwell WHERE id = %s",
                records[0]["id"])[0]  # fmt: skip
    assert row[:3] == (1, "a" * 32, False)
    assert str(row[3]) == "2026-05-28"


def test_a_partial_record_is_replaced_by_the_one_that_supersedes_it(
    broker: Broker, dsn: str
) -> None:
    box = Box(broker)
    first = dwell("box-2", 1, partial=True)
    whole = dwell("box-2", 1, supersedes=first["id"])
    late_partial = dwell("box-2", 2, partial=True)
    its_successor = dwell("box-2", 2, supersedes=late_partial["id"])
    with ingesting(broker, dsn) as worker:
        box.publish(*envelope("box-2", 1, [first]))
        wait_for("the partial row", lambda: count(dsn, "dwell") == 1)
        box.publish(*envelope("box-2", 2, [whole]))
        # The successor arrives before the partial it replaces (another worker, a resend):
        box.publish(*envelope("box-2", 3, [its_successor]))
        box.publish(*envelope("box-2", 4, [late_partial]))
        wait_for("4 messages", lambda: worker.stats.messages == 4)
    box.close()
    ids = {r[0] for r in query(dsn, "SELECT id FROM mallsense.dwell")}
    assert ids == {whole["id"], its_successor["id"]}
    assert count(dsn, "superseded") == 2
    assert worker.stats.replaced == 1


def test_late_data_for_an_old_day_lands_in_a_new_partition(broker: Broker, dsn: str) -> None:
    box = Box(broker)
    today = [presence("box-3", i) for i in range(5)]
    old = [presence("box-3", i, t=T0 - 40 * DAY) for i in range(5)]  # 40 days late
    with ingesting(broker, dsn) as worker:
        box.publish(*envelope("box-3", 1, today))
        box.publish(*envelope("box-3", 2, old))
        box.publish(*envelope("box-3", 3, [visit("box-3", 1)]))
        wait_for("3 messages", lambda: worker.stats.messages == 3)
    box.close()
    sql = (
        "SELECT inhrelid::regclass::text FROM pg_inherits"
        " WHERE inhparent = 'mallsense.presence'::regclass"
    )
    parts = {r[0] for r in query(dsn, sql)}
    assert parts == {"mallsense.presence_p20260528", "mallsense.presence_p20260418"}
    assert count(dsn, "presence") == 10
    path = query(dsn, "SELECT path->1->>'zone', jsonb_array_length(path) FROM mallsense.visit")
    assert path == [("B", 3)]


def test_a_seq_gap_is_recorded_and_closed_by_the_late_batch(broker: Broker, dsn: str) -> None:
    box = Box(broker)
    with ingesting(broker, dsn) as worker:
        for seq in (1, 2, 5, 6):
            box.publish(*envelope("box-4", seq, [dwell("box-4", seq)]))
        wait_for("the gap 3..4", lambda: query(
            dsn, "SELECT from_seq, to_seq FROM mallsense.seq_gaps") == [(3, 4)])  # fmt: skip
        box.publish(*envelope("box-4", 3, [dwell("box-4", 3)]))
        wait_for("the gap shrunk to 4", lambda: query(
            dsn, "SELECT from_seq, to_seq FROM mallsense.seq_gaps") == [(4, 4)])  # fmt: skip
        # A new stream (the box's database replaced) numbers from 1 again: no gap, no replay.
        box.publish(*envelope("box-4", 1, [dwell("box-4", 99)], stream="b" * 32))
        wait_for("two streams", lambda: count(dsn, "streams") == 2)
        assert worker.stats.gaps_opened == 1
    box.close()
    assert count(dsn, "dwell") == 6
    assert query(dsn, "SELECT stream, max_seq FROM mallsense.streams ORDER BY stream") == [
        ("a" * 32, 6), ("b" * 32, 1)]  # fmt: skip


def test_bad_payloads_are_refused_and_kept_and_the_ingest_goes_on(broker: Broker, dsn: str) -> None:
    box = Box(broker)
    topic = data_topic(MALL, "box-5", "dwell")
    wrong_type = dwell("box-5", 1) | {"samples": "many"}
    with ingesting(broker, dsn) as worker:
        box.publish(topic, b"[" * 5000)
        box.publish(topic, b"not json")
        box.publish(*envelope("box-5", 1, [wrong_type]))
        box.publish(*envelope("box-6", 1, [dwell("box-5", 2)]))  # names another box
        box.publish(*envelope("box-5", 2, [dwell("box-5", 3)]))
        wait_for("5 messages", lambda: worker.stats.messages == 5)
    box.close()
    assert count(dsn, "dwell") == 1
    assert worker.stats.refused == 4
    assert worker.stats.refused_by == {"too_deep": 1, "not_json": 1, "bad_value": 1,
                                       "bad_record": 1}  # fmt: skip
    reasons = [r[0] for r in query(dsn, "SELECT reason FROM mallsense.rejected")]
    assert any("dwell table" in r for r in reasons)


def test_added_fields_unknown_kinds_and_objects_where_text_belongs(
    broker: Broker, dsn: str
) -> None:
    """A newer box's added field is kept in ``extra``, a kind this version has no table for
    lands whole in ``other_records``, a visit's path keeps its stops, and an object where
    the table has text refuses that batch alone."""
    box = Box(broker)
    added = dwell("box-7", 1) | {"floor": 2, "note": {"why": "newer box"}}
    unknown = dwell("box-7", 2) | {"kind": "heatmap", "cells": [[1, 2], [3, 4]]}
    object_zone = dwell("box-7", 3) | {"zone": {"name": "entrance"}}
    with ingesting(broker, dsn) as worker:
        box.publish(*envelope("box-7", 1, [added, dwell("box-7", 4)]))
        box.publish(*envelope("box-7", 2, [unknown]))
        box.publish(*envelope("box-7", 3, [object_zone]))
        box.publish(*envelope("box-7", 4, [visit("box-7", 5)]))
        wait_for("4 messages", lambda: worker.stats.messages == 4)
    box.close()
    extras = query(dsn, "SELECT id, extra FROM mallsense.dwell ORDER BY id")
    assert extras == sorted([(added["id"], {"floor": 2, "note": {"why": "newer box"}}),
                             (dwell("box-7", 4)["id"], None)])  # fmt: skip
    assert query(dsn, "SELECT kind, doc->'cells' FROM mallsense.other_records") == [
        ("heatmap", [[1, 2], [3, 4]])]  # fmt: skip
    assert worker.stats.refused_by == {"bad_value": 1}
    path = query(dsn, "SELECT path FROM mallsense.visit")[0][0]
    assert [stop["zone"] for stop in path] == ["A", "B", "C"]


def test_a_database_outage_loses_nothing_and_doubles_nothing(
    broker: Broker, dsn: str, postgres: LocalPostgres
) -> None:
    """PostgreSQL goes away mid-stream: the worker keeps the messages unacknowledged, tries
    again until the database is back, and then stores each record once."""
    box = Box(broker)
    records = [dwell("box-8", i) for i in range(300)]
    with ingesting(broker, dsn) as worker:
        box.publish(*envelope("box-8", 1, records[:100]))
        wait_for("the first batch", lambda: worker.stats.messages == 1)
        postgres.crash()
        try:
            box.publish(*envelope("box-8", 2, records[100:200]))
            box.publish(*envelope("box-8", 3, records[200:]))
            wait_for("a failed write", lambda: worker.stats.retries >= 1)
        finally:
            postgres.start()
        wait_for("all 3 batches stored", lambda: worker.stats.messages == 3, timeout=60)
    box.close()
    assert query(dsn, "SELECT count(*), count(DISTINCT id) FROM mallsense.dwell")[0] == (300, 300)
    assert count(dsn, "seq_gaps") == 0


def _ingest_processes(broker: Broker, dsn: str, workers: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "ingest", "--broker", broker.url, "--dsn", dsn,
         "--mall", MALL, "--workers", str(workers), "--instance", "t", "--json",
         "--batch-messages", "20", "--progress", "1"],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parent.parent,
    )  # fmt: skip


def _worker_pids(proc: subprocess.Popen[str], workers: int) -> dict[int, int]:
    assert proc.stdout is not None
    pids: dict[int, int] = {}
    subscribed: set[int] = set()
    for line in proc.stdout:
        event = json.loads(line)
        if event["message"] == "worker started":
            pids[event["worker"]] = event["pid"]
        if event["message"] == "subscribed":
            subscribed.add(event["worker"])
        if len(subscribed) == workers:
            break
    return pids


def _drain(proc: subprocess.Popen[str]) -> list[dict[str, Any]]:
    """The supervisor's later events, read in the background (keeps the pipe drained)."""
    events: list[dict[str, Any]] = []
    assert proc.stdout is not None
    stdout = proc.stdout
    threading.Thread(target=lambda: events.extend(map(json.loads, stdout)), daemon=True).start()
    return events


@pytest.mark.slow
def test_kill_9_of_a_worker_mid_stream_loses_nothing_and_doubles_nothing(
    broker: Broker, dsn: str
) -> None:
    proc = _ingest_processes(broker, dsn, workers=2)
    try:
        pids = _worker_pids(proc, 2)
        events = _drain(proc)
        boxes = [Box(broker, f"box-{b}") for b in range(4)]
        expected, sent = 0, []
        for seq in range(1, 41):
            for b, box in enumerate(boxes):
                name = f"kbox-{b}"
                records = [presence(name, seq * 100 + i) for i in range(50)]
                sent.append(box.client.publish(*envelope(name, seq, records), qos=1))
                expected += 50
            if seq == 15:
                os.kill(pids[0], signal.SIGKILL)  # mid-stream, with batches unacknowledged
        for info in sent:
            info.wait_for_publish(20)
        for box in boxes:
            box.close()
        wait_for(f"{expected} presence rows", lambda: count(dsn, "presence") >= expected, 60)
        time.sleep(1.0)  # anything redelivered late must not add a row
        total, distinct = query(dsn, "SELECT count(*), count(DISTINCT id) FROM mallsense.presence")[
            0
        ]
        assert (total, distinct) == (expected, expected)
        assert count(dsn, "batches") == 160
        wait_for("no open gap", lambda: count(dsn, "seq_gaps") == 0, 10)
        ended = [e for e in events if e["message"] == "worker ended"]
        assert [(e["worker"], e["code"]) for e in ended] == [(0, -signal.SIGKILL)]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
