"""``mallsense subscribe``, the reference consumer, against a real mosquitto and the real agent.

The box side is the real ``SyncAgent`` draining a database filled by a real
replay; the platform side is ``mallsense subscribe`` as a separate process, read
the way a script would read it (records on stdout, events on stderr).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from broker import Broker, free_port, running_broker
from cli_helpers import DEMO_CONFIG, ENTRANCE, MALLSENSE, SHOP, failed_cleanly, invoke
from paho.mqtt.client import Client
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from edge.config import load_config
from edge.config.models import MqttConfig
from edge.messages import CommandReply, Telemetry
from edge.records import Presence, record_id, utc
from edge.runtime.replay import replay
from edge.store import Store
from edge.store.uplink import stream_id
from sync.agent import SyncAgent
from sync.consumer import Consumer, Event

MALL, BOX = "demo-mall", "shop-12"
T0 = 1_780_000_000.0


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database filled by replaying the demo recordings (copy it before draining).

    Its stream id is made here, so copies of it are one database copied: the same
    stream and seq counter (a copy made before the uplink first ran gets its own).
    """
    db = tmp_path_factory.mktemp("replayed") / "box.db"
    with Store(db) as store:
        replay(load_config(DEMO_CONFIG), {"entrance": ENTRANCE, "shop": SHOP}, b"k" * 32, store)
        stream_id(store)
    return db


class Subscription:
    """``mallsense subscribe ... --json`` as a process; returns once it is subscribed."""

    def __init__(self, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MALLSENSE_")}
        self.proc = subprocess.Popen(
            [*MALLSENSE, "subscribe", "--json", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._ready = threading.Event()
        assert self.proc.stdout is not None and self.proc.stderr is not None
        readers = [(self.proc.stdout, self.stdout), (self.proc.stderr, self.stderr)]
        self._threads = [threading.Thread(target=self._read, args=r) for r in readers]
        for thread in self._threads:
            thread.start()
        if not self._ready.wait(15):
            self.proc.kill()
            raise AssertionError(f"subscribe did not start: {self.stderr}")

    def _read(self, stream: Any, lines: list[str]) -> None:
        for line in stream:
            lines.append(line.rstrip("\n"))
            if '"message":"subscribed"' in line:
                self._ready.set()

    def wait(self, timeout: float = 20) -> int:
        code = self.proc.wait(timeout)
        for thread in self._threads:
            thread.join(5)
        return code

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout]

    def events(self, message: str) -> list[dict[str, Any]]:
        objects = [json.loads(line) for line in self.stderr if line.startswith("{")]
        return [o for o in objects if o["message"] == message]


def drain(db: Path, url: str) -> None:
    agent = SyncAgent(MALL, BOX, MqttConfig(url=url), db, None, "hash")
    assert agent.run(drain=True, timeout=30) == 0


def publish(broker: Broker, messages: list[tuple[str, bytes]], retain: bool = False) -> None:
    """Publish by hand (QoS 1, in order), as a misbehaving or foreign client would."""
    client = Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        for topic, payload in messages:
            client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)
    finally:
        client.disconnect()
        client.loop_stop()


def presence(i: int, box: str = "box-7") -> dict[str, Any]:
    start = T0 + 60 * i
    return Presence(
        id=record_id(start, f"m\x1f{box}\x1fpresence\x1fentrance\x1f{start!r}"),
        mall="mall-1", box=box, zone="entrance", start=utc(start), end=utc(start + 60),
        devices=3, devices_raw=5, grouping_confidence=0.9, visitors=1, passersby=2,
        randomized_share=0.5, fixed=0, frames=9,
    ).model_dump(mode="json", by_alias=True) | {"historical": False}  # fmt: skip


def envelope(
    seq: int, records: list[dict[str, Any]], box: str = "box-7", stream: str | None = None
) -> bytes:
    """A batch as a box sends it; without ``stream`` as a box before contract 1.1 did."""
    body = {
        "schema": "envelope/1", "mall": "mall-1", "box": box, "kind": "presence", "seq": seq,
        "batch_id": str(uuid.uuid4()), "sent_at": "2026-03-14T10:00:00.000Z", "records": records,
    }  # fmt: skip
    if stream is not None:
        body["stream"] = stream
    return json.dumps(body).encode()


# -- with the real agent ------------------------------------------------------------------------


def test_every_record_arrives_once_with_seq_and_historical(
    tmp_path: Path, broker: Broker, replayed: Path
) -> None:
    first, again = tmp_path / "box.db", tmp_path / "copy.db"
    shutil.copy(replayed, first)
    shutil.copy(replayed, again)  # the same outbox and seq counter: a full re-send
    with Store(first, create=False) as store:
        stored = {r["id"]: r for r in store.records()}
        stream = stream_id(store)

    sub = Subscription("--broker", broker.url, "--mall", MALL, "--validate", "--idle-exit", "2")
    drain(first, broker.url)
    drain(again, broker.url)
    assert sub.wait() == 0, sub.stderr

    records = sub.records()
    assert len(records) == len(stored)
    assert {r["id"] for r in records} == set(stored)
    for record in records:
        assert isinstance(record["seq"], int) and record["seq"] >= 1
        assert isinstance(record["historical"], bool) and record["stream"] == stream
        plain = {k: v for k, v in record.items() if k not in {"seq", "historical", "stream"}}
        assert plain == stored[record["id"]]
    (summary,) = sub.events("summary")
    assert summary["records"] == len(stored)
    assert summary["duplicates"] == len(stored)
    assert summary["gaps"] == [] and summary["missing"] == {} and summary["invalid"] == 0
    assert summary["resends"] == summary["envelopes"] // 2 > 0
    assert len(sub.events("resend")) == summary["resends"]
    assert [e["payload"]["state"] for e in sub.events("status")][-1] == "offline"


# -- hand-made messages ----------------------------------------------------------------------


def test_gaps_resends_and_invalid_payloads_are_reported(broker: Broker) -> None:
    sub = Subscription(
        "--broker", broker.url, "--mall", "mall-1", "--box", "box-7", "--validate",
        "--idle-exit", "2",
    )  # fmt: skip
    topic = "mallsense/v1/mall-1/box-7/data/presence"
    other_box = envelope(1, [presence(8, "box-8")], "box-8")
    no_zone = {k: v for k, v in presence(9).items() if k != "zone"}
    publish(
        broker,
        [
            (topic, envelope(1, [presence(1)])),
            (topic, envelope(2, [presence(2), presence(1)])),  # presence(1) again: a duplicate
            (topic, envelope(5, [presence(5)])),  # 3 and 4 never came
            (topic, envelope(3, [presence(3)])),  # re-sent: fills 3, 4 is still missing
            (topic, envelope(6, [no_zone])),
            ("mallsense/v1/mall-1/box-7/status", b"not json"),
            ("mallsense/v1/mall-1/box-8/data/presence", other_box),  # not the --box asked for
        ],
    )  # fmt: skip
    assert sub.wait() == 1, sub.stderr  # invalid payloads and a missing batch

    assert sorted(r["seq"] for r in sub.records()) == [1, 2, 3, 5]
    assert all(r["box"] == "box-7" for r in sub.records())
    assert sub.events("gap") == [
        {"message": "gap", "box": "box-7", "stream": None, "from_seq": 3, "to_seq": 4,
         "seen_in": "batch"},
    ]  # fmt: skip
    (resend,) = sub.events("resend")
    assert resend["seq"] == 3 and resend["filled_gap"] is True
    reasons = [e["reason"] for e in sub.events("invalid")]
    assert any("records[0]" in r and "'zone' is a required property" in r for r in reasons)
    assert any(r.startswith("not JSON") for r in reasons)
    (summary,) = sub.events("summary")
    assert summary["duplicates"] == 1 and summary["invalid"] == 2
    assert summary["missing"] == {"box-7": [[4, 4]]}


def test_human_output_a_line_per_record_and_event(broker: Broker) -> None:
    root = "mallsense/v1/mall-1/box-7"
    status = {
        "state": "offline", "mall": "mall-1", "box": "box-7", "version": "0.1.0",
        "config_hash": "cafe", "reconnects": 2, "started_at": "2026-03-14T09:00:00.000Z",
        "reason": "connection lost",
    }  # fmt: skip
    telemetry = Telemetry(
        mall="mall-1", box="box-7", sent_at="2026-03-14T10:00:00.000Z", outbox_depth=12,
        outbox_oldest_age_s=3.5, records_sent=100, drops={"budget": 2, "age": 1}, sensors=[],
        disk_free_bytes=10**9, clock_synced=True, stream="ab" * 16, last_seq=1,
        last_acked_seq=1,
    ).model_dump_json(by_alias=True)  # fmt: skip
    reply = CommandReply(id="r1", command="resend", ok=False, error="seq 3 is too old")
    messages = [
        (f"{root}/status", json.dumps(status).encode()),
        (f"{root}/telemetry", telemetry.encode()),
        (f"{root}/cmd/resend/reply", reply.model_dump_json().encode()),
        (f"{root}/data/presence", envelope(1, [presence(1)])),
    ]
    publish(broker, messages, retain=True)  # so they reach a subscriber that starts afterwards
    result = invoke("subscribe", "--broker", broker.url, "--mall", "mall-1", "--idle-exit", "0.5")
    assert result.exit_code == 0, result.stderr
    (line,) = result.stdout.splitlines()
    assert "box-7" in line and "presence" in line and "seq 1" in line and "zone entrance" in line
    assert "status box-7: offline (connection lost)" in result.stderr
    assert "telemetry box-7: outbox 12 (oldest 3.5 s), 100 sent, 3 dropped" in result.stderr
    assert "reply box-7: resend (id r1) error: seq 3 is too old" in result.stderr
    assert "summary: 1 records (presence 1)" in result.stderr


def test_unreachable_broker_is_explained_and_exits_2() -> None:
    result = invoke("subscribe", "--broker", f"mqtt://127.0.0.1:{free_port()}", "--mall", "m")
    failed_cleanly(result, "cannot reach the broker", "is running")


def test_a_refused_login_is_explained_and_exits_2(tmp_path: Path) -> None:
    with running_broker(tmp_path, extra_config="allow_anonymous false") as refusing:
        result = invoke("subscribe", "--broker", refusing.url, "--mall", "m", "--username", "p")
    failed_cleanly(result, "refused: Not authorized", "MALLSENSE_MQTT_PASSWORD")


def test_bad_arguments_are_refused() -> None:
    assert invoke("subscribe", "--broker", "http://x", "--mall", "m").exit_code == 2
    wildcard = invoke("subscribe", "--broker", "mqtt://127.0.0.1:1", "--mall", "m/#")
    assert wildcard.exit_code == 2 and "one topic level" in wildcard.stderr


@pytest.mark.parametrize(
    "command", [["subscribe"], ["contract"], ["contract", "export"], ["contract", "check"]]
)
def test_help_has_an_example(command: list[str]) -> None:
    result = invoke(*command, "--help")
    assert result.exit_code == 0 and "mallsense " + command[0] in result.output
    assert "Example" in result.output


# -- the folding, without a broker ------------------------------------------------------------


class Folded:
    """A consumer fed messages directly (no connection), collecting its events."""

    def __init__(self, validate: bool = True) -> None:
        self.events: list[Event] = []
        self.consumer = Consumer(
            "mqtt://127.0.0.1:1", "mall-1", validate=validate, on_event=self.events.append,
            start=False,
        )  # fmt: skip

    def feed(self, topic: str, payload: bytes) -> list[Event]:
        before = len(self.events)

        class Msg:
            pass

        msg: Any = Msg()
        msg.topic, msg.payload = topic, payload
        self.consumer._on_message(None, None, msg)
        return self.events[before:]


def test_seq_bookkeeping_per_box() -> None:
    folded = Folded(validate=False)
    topic7 = "mallsense/v1/mall-1/box-7/data/presence"
    topic8 = "mallsense/v1/mall-1/box-8/data/presence"
    folded.feed(topic7, envelope(10, [presence(1)]))
    folded.feed(topic8, envelope(1, [presence(2, "box-8")], "box-8"))  # boxes count apart
    gap = folded.feed(topic7, envelope(14, [presence(3)]))
    assert [(e.type, e.data.get("from_seq"), e.data.get("to_seq")) for e in gap] == [
        ("gap", 11, 13),
        ("record", None, None),
    ]
    folded.feed(topic7, envelope(12, [presence(4)]))
    folded.feed(topic7, envelope(14, [presence(3)]))  # a redelivery: nothing new
    stats = folded.consumer.stats
    assert stats.missing == {"box-7": [(11, 11), (13, 13)]}
    assert stats.resends == 2 and stats.duplicates == 1 and stats.gaps == [("box-7", 11, 13)]
    assert stats.by_kind() == {"presence": 4}
    assert len(stats.records) == 4  # kept by default, as the demo and e2e tests read them


def test_seq_bookkeeping_per_box_and_stream() -> None:
    """A new database is a new stream numbered from 1: not a replay, not a gap."""
    folded = Folded(validate=False)
    topic = "mallsense/v1/mall-1/box-7/data/presence"
    old, new = "0a" * 16, "0b" * 16
    folded.feed(topic, envelope(41, [presence(1)], stream=old))
    folded.feed(topic, envelope(42, [presence(2)], stream=old))
    started = folded.feed(topic, envelope(1, [presence(3)], stream=new))
    assert [e.type for e in started] == ["stream", "record"]
    assert started[0].data == {"box": "box-7", "stream": new, "previous": old, "seq": 1}
    assert started[1].data["stream"] == new and started[1].data["seq"] == 1
    gap = folded.feed(topic, envelope(3, [presence(4)], stream=new))
    assert gap[0].type == "gap" and gap[0].data["stream"] == new
    late = folded.feed(topic, envelope(40, [presence(5)], stream=old))  # the old one, late
    assert late[0].type == "resend" and late[0].data["filled_gap"] is False
    stats = folded.consumer.stats
    assert stats.resends == 1 and stats.new_streams == 1
    assert stats.missing == {f"box-7/{new}": [(2, 2)]}
    assert stats.last_seq == {f"box-7/{old}": 42, f"box-7/{new}": 3}


def test_telemetry_shows_a_missing_last_batch() -> None:
    """The box says the broker took seq 9; the platform saw 7: 8..9 are missing."""
    folded = Folded(validate=True)
    stream = "0c" * 16
    root = "mallsense/v1/mall-1/box-7"
    folded.feed(f"{root}/data/presence", envelope(7, [presence(1)], stream=stream))
    telemetry = Telemetry(
        mall="mall-1", box="box-7", sent_at="2026-03-14T10:00:00.000Z", outbox_depth=0,
        outbox_oldest_age_s=None, records_sent=30, drops={}, sensors=[],
        disk_free_bytes=10**9, clock_synced=None, stream=stream, last_seq=9, last_acked_seq=9,
    ).model_dump_json(by_alias=True)  # fmt: skip
    events = folded.feed(f"{root}/telemetry", telemetry.encode())
    assert [e.type for e in events] == ["telemetry", "gap"]
    assert events[1].data == {"box": "box-7", "stream": stream, "from_seq": 8, "to_seq": 9,
                              "seen_in": "telemetry"}  # fmt: skip
    assert folded.feed(f"{root}/telemetry", telemetry.encode())[1:] == []  # told once
    filled = folded.feed(f"{root}/data/presence", envelope(9, [presence(2)], stream=stream))
    assert filled[0].type == "resend" and filled[0].data["filled_gap"] is True
    assert folded.consumer.stats.missing == {f"box-7/{stream}": [(8, 8)]}


def test_validation_catches_a_batch_published_under_another_box() -> None:
    folded = Folded()
    (event,) = folded.feed("mallsense/v1/mall-1/box-9/data/presence", envelope(1, [presence(1)]))
    assert event.type == "invalid" and "topic is for box 'box-9'" in event.data["reason"]
    lenient = Folded(validate=False)
    assert lenient.feed("mallsense/v1/mall-1/x/unknown", b"{}") == []
    assert lenient.feed("mallsense/v1/mall-1", b"{}") == []
    (record,) = lenient.feed("mallsense/v1/mall-1/box-7/data/newkind", envelope(1, [presence(1)]))
    assert record.type == "record" and record.data["seq"] == 1  # a newer box's kind still counts
    assert folded.feed("mallsense/v1/mall-1/box-7/data/newkind", b"{}")[0].type == "invalid"


# -- TLS ------------------------------------------------------------------------------------


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 (openssl, EC keys: milliseconds)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    ca, ca_key = directory / "ca.pem", directory / "ca.key"
    cert, key, csr = directory / "server.pem", directory / "server.key", directory / "server.csr"
    ext = directory / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    steps = [
        ["req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", "/CN=test CA"],
        ["req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"],
        ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
         "-out", cert, "-days", "2", "-extfile", ext],
    ]  # fmt: skip
    for step in steps:
        subprocess.run(["openssl", *map(str, step)], check=True, capture_output=True)
    return ca, cert, key


def test_mqtts_verifies_the_broker_with_the_given_ca(tmp_path: Path) -> None:
    ca, cert, key = make_certificates(tmp_path)
    port = free_port()
    tls = f"listener {port} 127.0.0.1\ncertfile {cert}\nkeyfile {key}\n"
    with running_broker(tmp_path / "mosquitto", extra_config=tls):
        url = f"mqtts://127.0.0.1:{port}"
        trusted = invoke("subscribe", "--broker", url, "--mall", "m", "--ca-file", ca,
                         "--idle-exit", "0.5")  # fmt: skip
        assert trusted.exit_code == 0, trusted.stderr
        assert f"at {url}" in trusted.stderr
        failed_cleanly(
            invoke("subscribe", "--broker", url, "--mall", "m", "--idle-exit", "0.5"),
            "could not be verified",
            "--ca-file",
        )
