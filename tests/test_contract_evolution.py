"""A contract a platform can evolve with (issue 16, part 2).

The published schemas (``docs/schemas/*.json``, read from the files as a platform
would) accept added fields and validate everything ``mallsense subscribe --json``
prints; ``seq`` has one meaning inside a ``stream`` that a new database renews; the
last seqs are in ``status`` and telemetry; every AsyncAPI message has examples that
its schema accepts. Real parts throughout: the sync agent, Mosquitto, the
``mallsense`` CLI in its own process, SQLite files.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from broker import Broker, Subscriber, running_broker
from cli_helpers import DEMO_CONFIG, ENTRANCE, MALLSENSE, ROOT, SHOP, invoke
from jsonschema import Draft202012Validator
from paho.mqtt.client import Client
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from uplink_helpers import Platform, agent_running, make_agent, presence, wait_until, write

from edge.config import load_config
from edge.config.models import MqttConfig
from edge.contract import CHANNELS, check_message
from edge.messages import CONTRACT_VERSION, STREAM_PATTERN
from edge.runtime.replay import replay
from edge.store import Store
from edge.store.status import collect_status
from edge.store.uplink import acknowledge, last_acked_seq, stream_id
from sync.agent import SyncAgent
from sync.consumer import Consumer
from sync.envelope import build_envelope
from sync.platform import PlatformGate
from sync.telemetry import telemetry_payload
from sync.window import OutboxWindow

DOCS = ROOT / "docs"
MALL, BOX = "demo-mall", "shop-12"
STREAM = re.compile(STREAM_PATTERN)


def published(name: str) -> Draft202012Validator:
    """The committed schema file, as a platform engineer loads it."""
    return Draft202012Validator(json.loads((DOCS / "schemas" / f"{name}.json").read_text()))


def errors(name: str, payload: Any) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in published(name).iter_errors(payload)]


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo recordings through the real pipeline: dwell, visit, presence, traffic."""
    db = tmp_path_factory.mktemp("replayed") / "box.db"
    with Store(db) as store:
        replay(load_config(DEMO_CONFIG), {"entrance": ENTRANCE, "shop": SHOP}, b"k" * 32, store)
    return db


class Subscribe:
    """``mallsense subscribe --json`` in its own process, its lines collected as they come."""

    def __init__(self, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MALLSENSE_")}
        self.proc = subprocess.Popen(
            [*MALLSENSE, "subscribe", "--json", *args],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.threads = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.stdout)),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.stderr)),
        ]
        for thread in self.threads:
            thread.start()
        wait_until(lambda: bool(self.events("subscribed")), 15, "subscribe is listening")

    @staticmethod
    def _read(stream: Any, lines: list[str]) -> None:
        for line in stream:
            lines.append(line.rstrip("\n"))

    def wait(self) -> int:
        code = self.proc.wait(30)
        for thread in self.threads:
            thread.join(5)
        return code

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in list(self.stdout)]

    def events(self, message: str) -> list[dict[str, Any]]:
        objects = [json.loads(line) for line in list(self.stderr) if line.startswith("{")]
        return [o for o in objects if o["message"] == message]


def publish(broker: Broker, messages: list[tuple[str, Any]]) -> None:
    client = Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        for topic, payload in messages:
            client.publish(topic, json.dumps(payload), qos=1).wait_for_publish(5)
    finally:
        client.disconnect()
        client.loop_stop()


# -- what subscribe --json prints is valid against the published schemas --------------------------


@pytest.mark.broker
def test_every_line_subscribe_prints_validates_against_the_published_schemas(
    tmp_path: Path, broker: Broker, replayed: Path
) -> None:
    db = tmp_path / "box.db"
    shutil.copy(replayed, db)
    sub = Subscribe("--broker", broker.url, "--mall", MALL, "--validate", "--idle-exit", "1.5")
    config = MqttConfig(url=broker.url, telemetry_interval_s=0.3, batch_max_records=40)
    agent = SyncAgent(MALL, BOX, config, db, None, "cafe", poll_interval_s=0.05)
    with agent_running(agent):
        with Store(db) as store:
            wait_until(lambda: store.outbox_depth()[0] == 0, 30, "the outbox is drained")
            acked = last_acked_seq(store)
        wait_until(
            lambda: any(t["payload"]["last_acked_seq"] == acked for t in sub.events("telemetry")),
            10, "telemetry naming the last batch",
        )  # fmt: skip
    assert sub.wait() == 0, sub.stderr[-5:]

    records = sub.records()
    assert {r["kind"] for r in records} == {"dwell", "visit", "presence", "traffic"}
    for record in records:
        assert errors(record["kind"], record) == [], record
        assert STREAM.match(record["stream"]) and record["seq"] >= 1
        assert isinstance(record["historical"], bool)
    (stream,) = {r["stream"] for r in records}
    assert max(r["seq"] for r in records) == acked
    for name in ("status", "telemetry"):
        payloads = [e["payload"] for e in sub.events(name)]
        assert payloads, name
        for payload in payloads:
            assert errors(name, payload) == [], payload
            assert payload["stream"] == stream
    (summary,) = sub.events("summary")
    assert summary["invalid"] == 0 and summary["missing"] == {} and summary["gaps"] == []
    assert summary["records"] == len(records)


# -- added fields are accepted; breaking changes are not -------------------------------------------


def envelope(records: list[dict[str, Any]], seq: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "schema": "envelope/1", "mall": "mall-1", "box": "box-7", "kind": "presence",
        "stream": "0d" * 16, "seq": seq, "batch_id": f"b-{seq}",
        "sent_at": "2026-03-14T10:00:00.000Z", "records": records, **extra,
    }  # fmt: skip


def test_a_record_and_a_batch_with_an_added_field_validate() -> None:
    record = dict(presence(1))
    added = {**record, "floor": 2, "historical": False}
    assert errors("presence", {**record, "floor": 2}) == []
    assert errors("batch-presence", envelope([added], compression=None)) == []
    topic = "mallsense/v1/mall-1/box-7/data/presence"
    assert check_message(topic, envelope([added], compression=None)) == []
    status = {"state": "online", "mall": "m", "box": "b", "version": "2.0", "config_hash": "c",
              "reconnects": 0, "started_at": "2026-03-14T10:00:00.000Z", "uptime_s": 5}  # fmt: skip
    assert errors("status", status) == []  # and a 1.0 status, without stream, is still valid


def test_what_a_box_of_contract_1_0_sends_is_still_valid() -> None:
    """A field added in a minor version is not required: older boxes do not write it."""
    old = envelope([{**presence(1), "historical": False}])
    del old["stream"]
    assert errors("batch-presence", old) == []


def test_breaking_changes_are_refused() -> None:
    record = {**presence(1), "historical": False}
    assert errors("presence", {**record, "schema": "presence/2"})  # a new major version
    renamed = {k: v for k, v in record.items() if k != "visitors"} | {"visitors_n": 1}
    assert any("'visitors' is a required property" in e for e in errors("presence", renamed))
    assert errors("presence", {**record, "devices": "3"})  # a changed type
    assert errors("batch-presence", envelope([record], seq=0))
    assert errors("batch-presence", envelope([record]) | {"stream": "not-hex"})


@pytest.mark.broker
def test_subscribe_validate_accepts_added_fields_and_prints_them(broker: Broker) -> None:
    sub = Subscribe("--broker", broker.url, "--mall", "mall-1", "--validate", "--idle-exit", "1")
    record = {**presence(1), "historical": False, "floor": 2}
    publish(broker, [("mallsense/v1/mall-1/box-7/data/presence", envelope([record], hint="x"))])
    assert sub.wait() == 0, sub.stderr
    (line,) = sub.records()
    assert line["floor"] == 2 and line["seq"] == 1 and line["stream"] == "0d" * 16
    assert errors("presence", line) == []
    assert sub.events("invalid") == []


# -- seq within a stream ---------------------------------------------------------------------------


def test_a_database_has_its_own_stream(tmp_path: Path) -> None:
    with Store(tmp_path / "a.db") as store:
        first = stream_id(store)
        assert STREAM.match(first) and stream_id(store) == first
    with Store(tmp_path / "a.db") as store:
        assert stream_id(store) == first  # kept with the database
    with Store(tmp_path / "b.db") as store:
        assert stream_id(store) != first  # a new (or replaced) database: a new stream


@pytest.mark.broker
def test_a_replaced_database_is_a_new_stream_not_a_replay(tmp_path: Path, broker: Broker) -> None:
    consumer = Consumer(broker.url, "mall-1", validate=True)
    try:
        assert consumer.wait_subscribed(5)
        ids: list[str] = []
        for name in ("old.db", "new.db"):  # the box's disk replaced: seq starts again at 1
            db = tmp_path / name
            ids += write(db, [presence(i) for i in range(len(ids), len(ids) + 12)])
            agent = SyncAgent(
                "mall-1", "box-7", MqttConfig(url=broker.url, batch_max_records=5), db, None,
                "cafe", poll_interval_s=0.05,
            )  # fmt: skip
            assert agent.run(drain=True, timeout=20) == 0
        wait_until(lambda: consumer.snapshot()[0] == len(ids), 10, "every record arrives")
        stats = consumer.stats
        assert stats.new_streams == 1 and stats.resends == 0 and stats.duplicates == 0
        assert stats.missing == {} and stats.gaps == [] and stats.invalid == 0
        assert sorted(stats.last_seq.values()) == [3, 3]  # 12 records in batches of 5, twice
    finally:
        consumer.close()


def test_a_batch_published_again_after_a_reconnect_keeps_its_seq(tmp_path: Path) -> None:
    db = tmp_path / "box.db"
    write(db, [presence(i) for i in range(9)])
    with Store(db) as store:
        window = OutboxWindow(store, "mall-1", "box-7", max_records=3)
        window.configure(limit=8, max_bytes=64_000)
        sent = []
        for mid in (1, 2, 3):
            rows = window.take()
            assert rows is not None
            seq, batch_id = window.number(rows, None)
            envelope = build_envelope(
                "mall-1", "box-7", rows, seq=seq, batch_id=batch_id, now=time.time(),
                historical_after_s=60, stream=window.stream,
            )  # fmt: skip
            window.sent(mid, envelope)
            sent.append(envelope)
        assert [e.seq for e in sent] == [1, 2, 3]
        delivered = window.acked(1)
        assert delivered is sent[0]
        acknowledge(store, delivered.row_ids, [])
        untaken = window.acked(2)  # "no matching subscribers": held, its rows kept
        assert window.forget([untaken] if untaken else []) == 1  # batch 3 was in flight

        for before in sent[1:]:  # each numbered as the agent does: right after take
            rows = window.take()
            assert rows is not None and tuple(r.id for r in rows) == before.row_ids
            assert window.number(rows, None) == (before.seq, before.batch_id)
        assert window.take() is None  # their rows are not planned a second time
        write(db, [presence(20)])
        rows = window.take()
        assert rows is not None and window.number(rows, None)[0] == 4  # a new batch: next seq
        assert window.number(rows, 2)[0] == 2  # a `resend` of batch 2: its own seq


# -- the last seq in status and telemetry ----------------------------------------------------------


@pytest.mark.broker
def test_status_and_telemetry_name_the_stream_and_the_last_seqs(
    tmp_path: Path, broker: Broker
) -> None:
    db = tmp_path / "box.db"
    write(db, [presence(i) for i in range(7)])
    with Store(db) as store:
        before = collect_status(store, time.time())["uplink"]
    assert before["stream"] is None and before["last_acked_seq"] is None
    consumer = Consumer(broker.url, "mall-1")  # someone takes the batches
    try:
        assert consumer.wait_subscribed(5)
        agent = SyncAgent(
            "mall-1", "box-7", MqttConfig(url=broker.url, batch_max_records=3), db, None,
            "cafe", poll_interval_s=0.05,
        )  # fmt: skip
        assert agent.run(drain=True, timeout=20) == 0
    finally:
        consumer.close()
    with Store(db) as store:
        uplink = collect_status(store, time.time())["uplink"]
        payload = telemetry_payload(
            store, mall="mall-1", box="box-7", now=time.time(), records_sent=7, synced=None
        )
        telemetry = json.loads(payload)
        stream = stream_id(store)
    assert (uplink["stream"], uplink["last_seq"], uplink["last_acked_seq"]) == (stream, 3, 3)
    assert (telemetry["stream"], telemetry["last_seq"], telemetry["last_acked_seq"]) == (
        stream, 3, 3,
    )  # fmt: skip
    assert errors("telemetry", telemetry) == []
    shown = invoke("status", "--db", db)
    assert f"stream {stream}, last batch seq 3, last acknowledged 3" in shown.output


# -- the documents ---------------------------------------------------------------------------------


def test_every_asyncapi_message_has_examples_its_schema_accepts() -> None:
    document = yaml.safe_load((DOCS / "asyncapi.yaml").read_text())
    messages = document["components"]["messages"]
    assert {c.message for c in CHANNELS} == set(messages)
    for channel in CHANNELS:
        examples = messages[channel.message].get("examples")
        assert examples, f"{channel.message} has no example"
        params = {"mall": "demo-mall", "box": "shop-12", "name": "resend", "platform": "central"}
        topic = channel.address.format(**params)
        for example in examples:
            assert errors(channel.schema, example["payload"]) == [], example["name"]
            if channel.schema != "command-request":  # its args depend on the command name
                assert check_message(topic, example["payload"]) == [], example["name"]


def test_the_versioning_rule_is_stated_once_and_followed() -> None:
    records_md = (DOCS / "records.md").read_text()
    assert records_md.count("## Versioning") == 1
    assert f"contract {CONTRACT_VERSION}" in records_md
    document = yaml.safe_load((DOCS / "asyncapi.yaml").read_text())
    assert document["info"]["version"] == CONTRACT_VERSION
    for path in sorted((DOCS / "schemas").glob("*.json")):
        schema = json.loads(path.read_text())
        if path.stem in {"command-request", "resend-args"}:
            continue  # a command: the box refuses an argument it does not know
        assert '"additionalProperties": false' not in json.dumps(schema), path.name


def test_the_box_ignores_what_it_does_not_know_in_the_platform_state() -> None:
    gate = PlatformGate("central", required=True)
    assert gate.update(b'{"online": true, "region": "eu-1", "timestamp": null}') == "online"
    assert errors("platform-state", {"online": False, "region": "eu-1"}) == []


@pytest.mark.broker
def test_resend_of_another_stream_is_refused_naming_the_current_one(
    tmp_path: Path, broker: Broker
) -> None:
    db = tmp_path / "box.db"
    write(db, [presence(i) for i in range(6)])
    with Store(db) as store:
        stream = stream_id(store)
    consumer = Consumer(broker.url, "mall-1")  # takes the data batches
    ids = iter(range(1000))
    try:
        assert consumer.wait_subscribed(5)
        with (
            Platform(broker.host, broker.port) as platform,
            agent_running(make_agent(db, broker.url, batch_max_records=3)),
        ):

            def answered(args: dict[str, Any]) -> dict[str, Any]:
                rid = f"s-{next(ids)}"
                platform.send("resend", {"id": rid, "args": args})
                return platform.reply_to(rid, timeout=10).body

            wait_until(lambda: status_of(db)["last_acked_seq"] == 2, 15, "both batches taken")
            ask = {"from_seq": 1, "to_seq": 1}
            refused = answered({**ask, "stream": "0e" * 16})
            assert refused["ok"] is False
            assert f"this box's database is stream {stream}" in refused["error"]
            body = answered({**ask, "stream": stream})
            assert body["ok"] is True and body["result"]["resent"][0]["seq"] == 1
    finally:
        consumer.close()


def has_all(sub: Subscriber, ids: list[str]) -> bool:
    got = {r["id"] for m in sub.messages for r in m.json()["records"]}
    return got >= set(ids)


def status_of(db: Path) -> dict[str, Any]:
    with Store(db) as store:
        uplink: dict[str, Any] = collect_status(store, time.time())["uplink"]
        return uplink


@pytest.mark.broker
def test_a_broker_restart_mid_drain_leaves_no_gap_in_seq(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Batches in flight when the broker went away go again under their own seq: the
    platform sees every seq of the stream, none missing, though the batches were cut."""
    with running_broker(tmp_path / "mq", persistence=True) as broker:
        sub = Subscriber(broker.host, broker.port, "mallsense/v1/mall-1/box-7/data/#",
                         persistent=True)  # fmt: skip
        db = tmp_path / "box.db"
        ids = write(db, [presence(i) for i in range(3000)])
        agent = make_agent(db, broker.url, batch_max_records=5)
        try:
            with agent_running(agent):
                wait_until(lambda: len(sub.messages) >= 20, 20, "the drain is under way")
                broker.stop()  # mid-flight: its queue for the subscriber saved, PUBACKs lost
                time.sleep(0.3)
                broker.start()
                sub.wait_subscribed()
                wait_until(lambda: has_all(sub, ids), 60, "every record arrived")
        finally:
            sub.close()
        envelopes = [m.json() for m in sub.messages]
    assert status_of(db)["reconnects"] == 1
    assert re.search(r"[1-9]\d* unacknowledged batch\(es\) will be sent again", caplog.text)
    seqs = {e["seq"] for e in envelopes}
    assert seqs == set(range(1, max(seqs) + 1))  # every seq of the stream arrived
    assert {r["id"] for e in envelopes for r in e["records"]} == set(ids)
    assert len({e["stream"] for e in envelopes}) == 1


def test_a_batch_too_big_for_the_new_connection_is_planned_anew(tmp_path: Path) -> None:
    db = tmp_path / "box.db"
    write(db, [presence(i) for i in range(4)])
    with Store(db) as store:
        window = OutboxWindow(store, "mall-1", "box-7", max_records=4)
        window.configure(limit=8, max_bytes=64_000)
        rows = window.take()
        assert rows is not None and len(rows) == 4
        seq, batch_id = window.number(rows, None)
        window.sent(1, build_envelope(
            "mall-1", "box-7", rows, seq=seq, batch_id=batch_id, now=time.time(),
            historical_after_s=60, stream=window.stream,
        ))  # fmt: skip
        window.forget()
        window.configure(limit=8, max_bytes=1_500)  # the new broker takes less
        again = window.take()
        assert again is not None and len(again) < 4
        assert window.number(again, None)[0] == seq + 1  # new batches, new seqs
