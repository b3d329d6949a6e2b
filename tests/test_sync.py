"""The sync agent against a real mosquitto and real SQLite files.

Records are made with the real record models and written with ``Store.write``,
exactly as the edge daemon does; the subscriber plays the central platform.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from broker import Broker, Message, Subscriber, free_port, running_broker

import edge
from edge.config.models import MqttConfig
from edge.config.urls import BrokerUrl, parse_broker_url
from edge.errors import StoreError
from edge.records import Dwell, Presence, Record, record_id, utc
from edge.store import OutboxRow, Store
from sync.agent import SyncAgent
from sync.envelope import build_envelope, plan_batches, splice_record

MALL, BOX = "mall-1", "box-7"
ROOT = f"mallsense/v1/{MALL}/{BOX}"
T0 = 1_780_000_000.0
REPO = Path(__file__).resolve().parent.parent
SENT_AT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ENVELOPE_KEYS = {"schema", "mall", "box", "kind", "stream", "seq", "batch_id", "sent_at", "records"}

# The agent as the service runs it, in its own process so the test can kill -9 it.
AGENT_MAIN = """
import json, logging, sys
import edge
from edge.config.models import MqttConfig
from edge.errors import StoreError
from sync.agent import SyncAgent
logging.basicConfig(level=logging.INFO)
a = json.loads(sys.argv[1])
agent = SyncAgent(a["mall"], a["box"], MqttConfig(**a["mqtt"]), a["db"], None, "cafe",
                  backoff_initial_s=0.1, backoff_max_s=0.5, poll_interval_s=0.05)
sys.exit(agent.run(drain=a["drain"], timeout=a["timeout"]))
"""


# -- helpers ------------------------------------------------------------------------------


def presence(i: int, zone: str = "entrance") -> Record:
    """A presence record in wire form, validated by the contract model."""
    start = T0 + 60 * i
    return Presence(
        id=record_id(start, f"{MALL}\x1f{BOX}\x1fpresence\x1f{zone}\x1f{start!r}"),
        mall=MALL,
        box=BOX,
        zone=zone,
        start=utc(start),
        end=utc(start + 60),
        devices=i % 17,
        devices_raw=i % 17,
        grouping_confidence=None,
        visitors=i % 5,
        passersby=i % 17 - i % 5 if i % 17 >= i % 5 else 0,
        randomized_share=0.5,
        fixed=0,
        frames=3 * i,
    ).model_dump(mode="json", by_alias=True)


def dwell(i: int, zone: str = "shop-12") -> Record:
    """A dwell record in wire form, validated by the contract model."""
    start = T0 + 30 * i
    device = f"dev{i:06d}"
    return Dwell(
        id=record_id(start, f"{MALL}\x1f{BOX}\x1fdwell\x1f{zone}\x1f{device}\x1f{start!r}"),
        mall=MALL,
        box=BOX,
        zone=zone,
        device=device,
        randomized=i % 2 == 0,
        start=utc(start),
        end=utc(start + 25),
        duration_s=25.0,
        samples=4,
        rssi_max=-50,
        rssi_mean=-61.5,
        partial=False,
    ).model_dump(mode="json", by_alias=True)


def write(db: Path, records: Sequence[Record], now: float | None = None) -> list[str]:
    with Store(db) as store:
        store.write(records, time.time() if now is None else now)
    return [r["id"] for r in records]


def make_agent(db: Path, url: str, **mqtt: Any) -> SyncAgent:
    config = MqttConfig(url=url, **mqtt)
    return SyncAgent(
        MALL,
        BOX,
        config,
        db,
        None,
        "cafe",
        backoff_initial_s=0.1,
        backoff_max_s=0.5,
        poll_interval_s=0.05,
    )


def data(messages: list[Message]) -> list[Message]:
    return [m for m in messages if "/data/" in m.topic]


def statuses(messages: list[Message]) -> list[Message]:
    return [m for m in messages if m.topic == f"{ROOT}/status"]


def delivered_ids(messages: list[Message]) -> list[str]:
    return [r["id"] for m in data(messages) for r in m.json()["records"]]


def has_all(ids: Sequence[str]) -> Any:
    wanted = set(ids)
    return lambda messages: wanted <= set(delivered_ids(messages))


def check_envelope(message: Message) -> dict[str, Any]:
    env: dict[str, Any] = message.json()
    assert set(env) == ENVELOPE_KEYS
    assert env["schema"] == "envelope/1"
    assert (env["mall"], env["box"]) == (MALL, BOX)
    assert message.topic == f"{ROOT}/data/{env['kind']}"
    assert not message.retain
    assert uuid.UUID(env["batch_id"])
    assert SENT_AT.match(env["sent_at"])
    assert env["records"]
    assert all(
        r["kind"] == env["kind"] and isinstance(r["historical"], bool) for r in env["records"]
    )
    return env


def spawn_agent(db: Path, mqtt: dict[str, Any], *, drain: bool) -> subprocess.Popen[bytes]:
    args = {"mall": MALL, "box": BOX, "db": str(db), "mqtt": mqtt, "drain": drain, "timeout": 60}
    return subprocess.Popen(
        [sys.executable, "-c", AGENT_MAIN, json.dumps(args)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.fixture
def subscriber(broker: Broker) -> Iterator[Subscriber]:
    with Subscriber(broker.host, broker.port, f"{ROOT}/#") as sub:
        yield sub


# -- pure parts ---------------------------------------------------------------------------


def test_broker_urls_get_default_ports_and_tls() -> None:
    assert parse_broker_url("mqtt://broker.local") == BrokerUrl("mqtt", "broker.local", 1883)
    assert parse_broker_url("mqtts://broker.local") == BrokerUrl("mqtts", "broker.local", 8883)
    assert parse_broker_url("mqtt://10.0.0.2:1884/") == BrokerUrl("mqtt", "10.0.0.2", 1884)
    assert parse_broker_url("mqtts://[::1]:9").tls
    assert str(parse_broker_url("mqtts://[::1]:9")) == "mqtts://[::1]:9"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://broker:1883", "has scheme 'http'"),
        ("broker:1883", "no scheme"),
        ("mqtt://", "has no host"),
        ("mqtt://broker:99999", "invalid port"),
        ("mqtt://broker:port", "invalid port"),
        ("mqtt://user:secret@broker", "contains credentials"),
        ("mqtt://broker/topic", "has a path"),
    ],
)
def test_bad_broker_urls_are_explained(url: str, says: str) -> None:
    with pytest.raises(ValueError, match=re.escape(says)) as info:
        parse_broker_url(url)
    assert repr(url) in str(info.value)
    assert "mqtt://HOST[:PORT]" in str(info.value) or "mqtt.username" in str(info.value)


def test_records_are_spliced_not_reserialized() -> None:
    body = json.dumps(presence(1), separators=(",", ":"))
    spliced = splice_record(body, True)
    assert spliced.startswith(body[:-1]) and json.loads(spliced)["historical"] is True
    assert json.loads(splice_record("{}", False)) == {"historical": False}
    rows = [OutboxRow(1, "presence", body, T0), OutboxRow(2, "presence", body, T0 + 100)]
    env = build_envelope(MALL, BOX, rows, seq=7, batch_id="b", now=T0 + 130, historical_after_s=60)
    assert [r["historical"] for r in json.loads(env.payload)["records"]] == [True, False]
    assert json.loads(env.payload)["sent_at"] == "2026-05-28T20:28:50.000Z"
    one_record = 200 + len(body) + 20  # the envelope, the record, its flag and a comma
    mixed = [*rows, OutboxRow(3, "dwell", "not json", T0), OutboxRow(4, "dwell", body, T0)]
    batches, rejected = plan_batches(mixed, 10, one_record, lambda kind: 200)
    assert [[r.id for r in b] for b in batches] == [[1], [2], [4]]
    assert [r.id for r in rejected] == [3]
    batches, _ = plan_batches(mixed, 10, 2 * one_record, lambda kind: 200)
    assert [[r.id for r in b] for b in batches] == [[1, 2], [4]]


def test_a_database_of_another_box_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "box.db"
    with Store(db) as store:
        store.claim_identity(MALL, "box-8")
    agent = make_agent(db, f"mqtt://127.0.0.1:{free_port()}")
    with pytest.raises(StoreError, match="not of mall mall-1 box box-7"):
        agent.run(drain=True, timeout=1)


# -- against the broker -------------------------------------------------------------------


@pytest.mark.broker
def test_drain_delivers_every_record_once_in_order(
    broker: Broker, subscriber: Subscriber, tmp_path: Path
) -> None:
    db = tmp_path / "box.db"
    presence_ids, dwell_ids = [], []
    for chunk in range(4):  # kinds interleaved in the outbox, as the daemon's flushes write them
        presence_ids += write(db, [presence(i) for i in range(chunk * 30, chunk * 30 + 30)])
        dwell_ids += write(db, [dwell(i) for i in range(chunk * 20, chunk * 20 + 20)])

    assert make_agent(db, broker.url, batch_max_records=25).run(drain=True, timeout=20) == 0

    messages = subscriber.wait_for(has_all(presence_ids + dwell_ids))
    envelopes = [check_envelope(m) for m in data(messages)]
    ids = delivered_ids(messages)
    assert len(ids) == len(set(ids)) == 200  # exactly once on a healthy connection
    by_kind = {
        k: [r["id"] for e in envelopes if e["kind"] == k for r in e["records"]]
        for k in ("presence", "dwell")
    }
    assert by_kind == {"presence": presence_ids, "dwell": dwell_ids}
    assert [e["seq"] for e in envelopes] == list(range(1, len(envelopes) + 1))
    assert all(not r["historical"] for e in envelopes for r in e["records"])
    with Store(db) as store:
        stored = {r["id"]: r for r in store.records()}
        assert store.outbox_depth() == (0, None)
        assert store.get("sync.records_sent") == "200"
        assert store.get("sync.connected") == "0"
        assert float(store.get("sync.last_upload") or 0) > T0
    sent = {r["id"]: r for e in envelopes for r in e["records"]}
    assert all(sent[i] == {**stored[i], "historical": False} for i in stored)
    online, *_, offline = statuses(subscriber.messages)
    assert online.retain and offline.retain
    assert online.json() == {
        "state": "online",
        "version": edge.__version__,
        "config_hash": "cafe",
        "reconnects": 0,
        "started_at": online.json()["started_at"],
        "mall": MALL,
        "box": BOX,
        "stream": envelopes[0]["stream"],
    }
    assert SENT_AT.match(online.json()["started_at"])
    assert offline.json() | {"state": "online"} == online.json() | {"reason": "stopped"}


@pytest.mark.broker
def test_batches_respect_record_and_byte_limits(
    broker: Broker, subscriber: Subscriber, tmp_path: Path
) -> None:
    by_records, by_bytes = tmp_path / "records.db", tmp_path / "bytes.db"
    ids = write(by_records, [presence(i) for i in range(30)])
    assert make_agent(by_records, broker.url, batch_max_records=7).run(drain=True, timeout=20) == 0
    first = subscriber.wait_for(has_all(ids))
    assert [len(m.json()["records"]) for m in data(first)] == [7, 7, 7, 7, 2]

    ids2 = write(by_bytes, [dwell(i) for i in range(40)])
    assert make_agent(by_bytes, broker.url, batch_max_bytes=1024).run(drain=True, timeout=20) == 0
    second = [m for m in data(subscriber.wait_for(has_all(ids2))) if "/dwell" in m.topic]
    assert all(len(m.payload) <= 1024 for m in second)
    assert all(len(m.json()["records"]) > 1 for m in second)
    assert delivered_ids(second) == ids2


@pytest.mark.broker
def test_broker_outage_loses_nothing_and_flags_backlog_historical(tmp_path: Path) -> None:
    # A persistent broker and session, so the subscriber misses nothing sent while it
    # reconnects after the restart: every gap is then the agent's fault.
    with running_broker(tmp_path / "mq", persistence=True) as broker:
        sub = Subscriber(broker.host, broker.port, f"{ROOT}/#", persistent=True)
        db = tmp_path / "box.db"
        Store(db).close()  # create it before two connections race to migrate it
        agent = make_agent(db, broker.url, historical_after_s=0.5, batch_max_records=10)
        stop = threading.Event()
        result: list[int] = []
        runner = threading.Thread(target=lambda: result.append(agent.run(stop=stop)))
        runner.start()
        try:
            before = write(db, [presence(i) for i in range(25)])
            sub.wait_for(has_all(before))
            broker.stop()
            during = write(db, [dwell(i) for i in range(25)])
            time.sleep(1.0)  # longer than historical_after_s
            broker.start()
            sub.wait_subscribed()
            after = write(db, [presence(i) for i in range(100, 110)])
            messages = sub.wait_for(has_all(before + during + after), timeout=20)
        finally:
            stop.set()
            runner.join(10)
            sub.close()
    assert result == [0]
    flags: dict[str, list[bool]] = {}
    for m in data(messages):
        for r in check_envelope(m)["records"]:
            flags.setdefault(r["id"], []).append(r["historical"])
    assert set(flags) == set(before + during + after)
    assert all(flags[i][0] is False for i in before)
    assert all(flags[i][-1] is True for i in during)
    with Store(db) as store:
        assert store.outbox_depth() == (0, None)
        assert store.get("sync.reconnects") == "1"


@pytest.mark.broker
def test_agent_killed_mid_drain_resumes_without_loss(
    broker: Broker, subscriber: Subscriber, tmp_path: Path
) -> None:
    db = tmp_path / "box.db"
    ids = write(db, [presence(i) for i in range(20_000)])
    mqtt = {"url": broker.url, "batch_max_records": 50}
    first = spawn_agent(db, mqtt, drain=True)
    try:
        subscriber.wait_for(
            lambda ms: first.poll() is not None or len(delivered_ids(ms)) >= 3_000, timeout=20
        )
        assert first.poll() is None, f"the agent exited early: {first.communicate()[1]!r}"
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    killed_at = len(data(subscriber.messages))
    with Store(db) as store:
        assert store.outbox_depth()[0] > 0, "the agent finished before it could be killed"
    second = spawn_agent(db, mqtt, drain=True)
    _, stderr = second.communicate(timeout=40)
    assert second.returncode == 0, stderr.decode()

    messages = subscriber.wait_for(has_all(ids), timeout=20)
    assert set(delivered_ids(messages)) == set(ids)
    seqs = [check_envelope(m)["seq"] for m in data(messages)]
    assert seqs[0] == 1
    assert seqs == sorted(set(seqs))  # strictly increasing, across the restart too
    assert seqs[killed_at] > seqs[killed_at - 1]  # the restarted agent continued the count
    with Store(db) as store:
        assert store.outbox_depth() == (0, None)


@pytest.mark.broker
def test_last_will_marks_a_killed_agent_offline(
    broker: Broker, subscriber: Subscriber, tmp_path: Path
) -> None:
    db = tmp_path / "box.db"
    write(db, [presence(0)])
    agent = spawn_agent(db, {"url": broker.url, "will_delay_s": 1}, drain=False)
    try:
        subscriber.wait_for(
            lambda ms: (
                agent.poll() is not None or any(m.json()["state"] == "online" for m in statuses(ms))
            )
        )
        assert agent.poll() is None, f"the agent exited early: {agent.communicate()[1]!r}"
    finally:
        agent.send_signal(signal.SIGKILL)
        agent.wait()
    killed = time.monotonic()
    messages = subscriber.wait_for(lambda ms: statuses(ms)[-1].json()["state"] == "offline")
    offline = statuses(messages)[-1]
    assert offline.retain and offline.json()["reason"] == "connection lost"
    assert offline.received - killed >= 0.9  # the will delay, not an immediate will
    with Subscriber(broker.host, broker.port, f"{ROOT}/status") as late:
        retained = late.wait_for(bool, timeout=5)[0]
    assert retained.retain and retained.json()["state"] == "offline"


@pytest.mark.broker
def test_refused_batches_stay_in_the_outbox(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    acl = tmp_path / "acl"
    acl.write_text("topic readwrite mallsense/v1/+/+/status\n", encoding="utf-8")
    with running_broker(tmp_path / "mq", extra_config=f"acl_file {acl}") as b:
        db = tmp_path / "box.db"
        write(db, [presence(i) for i in range(5)])
        with caplog.at_level(logging.WARNING, logger="mallsense.sync"):
            assert make_agent(db, b.url).run(drain=True, timeout=1.5) == 1
    with Store(db) as store:
        assert store.outbox_depth()[0] == 5
    assert (
        "refused batch seq 1 (5 presence records): Not authorized (PUBACK reason 0x87)"
        in caplog.text
    )


@pytest.mark.broker
def test_connection_failures_are_logged_in_plain_words(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "box.db"
    write(db, [presence(0)])
    closed = f"mqtt://127.0.0.1:{free_port()}"
    extra = "allow_anonymous false\n"
    with caplog.at_level(logging.WARNING, logger="mallsense.sync"):
        assert make_agent(db, closed).run(drain=True, timeout=0.5) == 1
        with running_broker(tmp_path / "mq", extra_config=extra) as b:
            assert make_agent(db, b.url).run(drain=True, timeout=0.5) == 1
    assert f"cannot connect to {closed}: connection refused" in caplog.text
    assert (
        f"cannot connect to {b.url}: the broker refused the connection: Not authorized"
        in caplog.text
    )
    assert "(CONNACK reason 0x87)" in caplog.text
    with Store(db) as store:
        assert store.get("sync.connected") == "0"
        assert "Not authorized" in (store.get("sync.last_error") or "")


def make_certificates(directory: Path) -> dict[str, Path]:
    """A CA and a server certificate for 127.0.0.1, made with the openssl command."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    directory.mkdir()
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    sign = ["-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "san"]
    ca_ext = ["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=keyCertSign"]
    (directory / "san").write_text("subjectAltName=IP:127.0.0.1\n", encoding="utf-8")
    commands = [
        ["req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=ca", *ca_ext],
        ["req", "-x509", *ec, "-keyout", "other.key", "-out", "other.crt", "-subj", "/CN=other"],
        ["req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"],
        ["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", *sign],
    ]
    for command in commands:
        subprocess.run(["openssl", *command], cwd=directory, check=True, capture_output=True)
    return {name: directory / f"{name}.crt" for name in ("ca", "other", "server")}


@pytest.mark.broker
def test_mqtts_verifies_the_broker_with_ca_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    certs = make_certificates(tmp_path / "tls")
    # A plain listener next to the TLS one, for the platform's consumer (data nobody
    # takes stays in the outbox).
    plain = free_port()
    tls = (
        f"certfile {certs['server']}\nkeyfile {tmp_path / 'tls' / 'server.key'}\n"
        f"listener {plain} 127.0.0.1\n"
    )
    db = tmp_path / "box.db"
    ids = write(db, [presence(i) for i in range(10)])
    with (
        running_broker(tmp_path / "mq", extra_config=tls) as broker,
        Subscriber(broker.host, plain, f"{ROOT}/data/#"),
    ):
        url = f"mqtts://{broker.host}:{broker.port}"
        with caplog.at_level(logging.WARNING, logger="mallsense.sync"):
            assert make_agent(db, url, ca_file=certs["other"]).run(drain=True, timeout=0.5) == 1
        assert f"cannot connect to {url}: TLS certificate rejected" in caplog.text
        assert make_agent(db, url, ca_file=certs["ca"]).run(drain=True, timeout=10) == 0
    with Store(db) as store:
        assert store.outbox_depth() == (0, None)
        assert store.get("sync.records_sent") == str(len(ids))
