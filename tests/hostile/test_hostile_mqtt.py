"""Hostile MQTT input: what anyone who can publish on the broker can send to a box and to
the platform's consumer (issue 17, cases 1, 2 and 10).

Against a real mosquitto, the real sync agent (in a thread, as the service runs it) and
``mallsense subscribe`` as a real process; the parsers also under Hypothesis.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from broker import Broker, Subscriber
from cli_helpers import MALLSENSE
from hostile_settings import FUZZ
from hypothesis import given
from hypothesis import strategies as st
from paho.mqtt.client import Client
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from uplink_helpers import BOX, MALL, ROOT, Platform, agent_running, make_agent, presence, write
from uplink_helpers import wait_until as wait_for

import sync.resend
from edge.config import Config
from sync.commands import CommandError, Commands, Handler, Request
from sync.consumer import Consumer, Event
from sync.control import REJECTED_KEY
from sync.payload_limits import (
    AGENT_MAX_PACKET_BYTES,
    CONSUMER_MAX_PACKET_BYTES,
    MAX_COMMAND_BYTES,
    PayloadRejected,
    loads_limited,
    nesting_depth,
)
from sync.resend import ResendBudget

RECORDS, BATCH = 30, 10  # a drained outbox of seqs 1, 2 and 3
BOMB = b"[" * 16_000  # the payload of issue 17, case 1
DATA = f"{ROOT}/data/presence"


@dataclass
class Box:
    platform: Platform
    sizes: list[int]
    """Payload bytes of the first batches (seq 1, 2, 3)."""


@contextlib.contextmanager
def box_running(broker: Broker, tmp_path: Path, **options: Any) -> Iterator[Box]:
    """A box with a drained outbox, and the platform's command client."""
    db = tmp_path / "box.db"
    write(db, [presence(i) for i in range(RECORDS)])
    options.setdefault("batch_max_records", BATCH)
    with (
        Subscriber(broker.host, broker.port, f"{ROOT}/data/#") as sub,
        Platform(broker.host, broker.port) as platform,
        agent_running(make_agent(db, broker.url, **options)),
    ):
        wait_for(lambda: len(sub.messages) == RECORDS // BATCH, what="the outbox drained")
        yield Box(platform, [len(m.payload) for m in sub.messages])


def publish(broker: Broker, messages: list[tuple[str, bytes]]) -> None:
    """Publish by hand (QoS 1, in order), as a hostile client would."""
    client = Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        for topic, payload in messages:
            client.publish(topic, payload, qos=1).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def envelope(seq: int, records: list[dict[str, Any]], pad: int = 0) -> bytes:
    body = {
        "schema": "envelope/1", "mall": MALL, "box": BOX, "kind": "presence", "seq": seq,
        "batch_id": str(uuid.uuid4()), "sent_at": "2026-03-14T10:00:00.000Z",
        "records": [r | {"historical": False} for r in records],
    }  # fmt: skip
    if pad:  # a foreign key the consumer ignores (without --validate): only makes it big
        body["padding"] = "x" * pad
    return json.dumps(body).encode()


def subscribe(broker: Broker, *args: str) -> subprocess.Popen[str]:
    """``mallsense subscribe --json`` as a process, once it says it is subscribed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLSENSE_")}
    proc = subprocess.Popen(
        [*MALLSENSE, "subscribe", "--json", "--broker", broker.url, "--mall", MALL, *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    first = proc.stderr.readline()
    assert '"message":"subscribed"' in first, first
    return proc


def finished(proc: subprocess.Popen[str]) -> tuple[int, list[dict[str, Any]], list[Any]]:
    """(exit status, records on stdout, events on stderr) once it exits on its own."""
    out, err = proc.communicate(timeout=30)
    return proc.returncode, [json.loads(x) for x in out.splitlines()], err.splitlines()


def events(lines: list[str], message: str) -> list[dict[str, Any]]:
    parsed = [json.loads(x) for x in lines if x.startswith("{")]
    return [e for e in parsed if e.get("message") == message]


# -- case 1: nested brackets -------------------------------------------------------------------


@pytest.mark.broker
def test_nested_brackets_on_cmd_ping_get_an_error_reply_and_the_agent_goes_on(
    broker: Broker, tmp_path: Path
) -> None:
    with box_running(broker, tmp_path) as box:
        platform = box.platform
        platform.send("ping", BOMB, correlation_data=b"bomb")
        wait_for(lambda: bool(platform.replies), what="the error reply to the bomb")
        (refused,) = platform.replies
        assert refused.correlation_data == b"bomb"
        assert refused.body["ok"] is False and refused.body["id"] is None
        assert refused.body["error"] == "payload is nested 16000 levels deep (at most 32)"
        platform.send("ping", {"id": "after"})
        assert platform.reply_to("after").body["ok"] is True  # the agent is alive
        db = tmp_path / "box.db"

        def counted() -> bool:
            with contextlib.closing(sqlite3.connect(db)) as conn:
                row = conn.execute("SELECT value FROM kv WHERE key = ?", (REJECTED_KEY,))
                found = row.fetchone()
            return found is not None and json.loads(found[0]).get("too_deep") == 1

        wait_for(counted, timeout=15, what="the refusal counted in kv")


@pytest.mark.broker
def test_nested_brackets_on_a_data_topic_do_not_stop_subscribe(broker: Broker) -> None:
    proc = subscribe(broker, "--box", BOX, "--idle-exit", "2")
    publish(broker, [(DATA, BOMB), (DATA, envelope(1, [presence(1)]))])
    code, records, err = finished(proc)
    assert [r["id"] for r in records] == [presence(1)["id"]]  # still listening afterwards
    (invalid,) = events(err, "invalid")
    assert invalid["reason"] == "payload is nested 16000 levels deep (at most 32)"
    (summary,) = events(err, "summary")
    assert summary["rejected"] == {"too_deep": 1} and summary["errors"] == 0
    assert code == 1  # an invalid payload was seen: never a silent 0


def test_a_failing_callback_is_counted_and_the_consumer_goes_on() -> None:
    seen: list[Event] = []
    consumer = Consumer("mqtt://127.0.0.1:1", MALL, on_event=seen.append, start=False)

    class Broken:
        @property
        def topic(self) -> str:
            raise RuntimeError("a message paho could not decode")

        payload = b"{}"

    class Message:
        topic = DATA
        payload = envelope(1, [presence(1)])

    consumer._on_message(None, None, Broken())
    consumer._on_message(None, None, Message())
    assert consumer.stats.errors == 1
    assert consumer.stats.last_error == "RuntimeError: a message paho could not decode"
    assert [e.type for e in seen] == ["record"]


# -- case 2: Maximum Packet Size ---------------------------------------------------------------


@pytest.mark.broker
def test_a_command_bigger_than_the_packet_limit_never_reaches_the_agent(
    broker: Broker, tmp_path: Path
) -> None:
    with box_running(broker, tmp_path) as box:
        platform = box.platform
        too_big = {"id": "big", "pad": "x" * (4 * 1024 * 1024)}  # 4 MB, far above 32 KiB
        platform.send("ping", too_big, correlation_data=b"big")
        platform.send("ping", {"id": "small-pad", "pad": "x" * (MAX_COMMAND_BYTES + 100)})
        platform.send("ping", {"id": "after"})
        assert platform.reply_to("after").body["ok"] is True
        bodies = [r.body for r in platform.replies]
        # Under the packet limit but over the command limit: refused in words.
        (refused,) = [b for b in bodies if b["id"] is None]
        assert refused["error"].startswith("payload of 16")
        assert refused["error"].endswith(f"is too large (at most {MAX_COMMAND_BYTES})")
        # The 4 MB one was dropped by the broker: never read, never answered.
        assert all(r.correlation_data != b"big" for r in platform.replies)
        assert len(bodies) == 2


def test_the_packet_limits_hold_the_largest_legitimate_messages() -> None:
    batch_limit = Config.model_json_schema()["$defs"]["MqttConfig"]["properties"][
        "batch_max_bytes"
    ]["maximum"]
    assert batch_limit + 64 * 1024 <= CONSUMER_MAX_PACKET_BYTES
    assert AGENT_MAX_PACKET_BYTES >= MAX_COMMAND_BYTES + 16 * 1024


@pytest.mark.broker
def test_subscribe_packet_limit_turns_an_oversized_batch_into_a_gap(broker: Broker) -> None:
    proc = subscribe(broker, "--box", BOX, "--idle-exit", "2", "--max-packet-bytes", "65536")
    publish(
        broker,
        [
            (DATA, envelope(1, [presence(1)])),
            (DATA, envelope(2, [presence(2)], pad=200_000)),  # dropped by the broker
            (DATA, envelope(3, [presence(3)])),
        ],
    )
    code, records, err = finished(proc)
    assert sorted(r["seq"] for r in records) == [1, 3]
    (summary,) = events(err, "summary")
    assert summary["missing"] == {BOX: [[2, 2]]}  # seen as a gap: the platform can resend it
    assert code == 1


# -- case 10: resend budget and what replies tell ----------------------------------------------


@pytest.mark.broker
def test_resends_are_limited_per_window_and_say_when_to_ask_again(
    broker: Broker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A re-sent batch keeps its seq, so asking for "everything so far" no longer grows
    # with every answer; the budget is made small to reach it in a few asks.
    monkeypatch.setattr(sync.resend, "RESEND_BUDGET_BATCHES", 20)
    with box_running(broker, tmp_path, command_rate_per_min=600) as box:
        resent, answers = 0, []
        for n in range(12):  # each asks for all 3 batches again
            box.platform.send("resend", {"id": f"r-{n}", "args": {"from_seq": 1, "to_seq": 3}})
            body = box.platform.reply_to(f"r-{n}", timeout=30).body
            answers.append(body)
            if not body["ok"]:
                break
            resent += len(body["result"]["resent"])
            assert [r["new_seq"] for r in body["result"]["resent"]] == [1, 2, 3]
    assert resent == 18  # 6 asks of 3; the 7th would pass 20
    error = answers[-1]["error"]
    assert error.startswith(f"resend budget spent: {resent} batches, ")
    assert "(at most 20 batches and 16777216 bytes); ask again after 20" in error
    assert error.endswith(("(in 600 s)", "(in 599 s)"))


@pytest.mark.broker
def test_a_resend_that_runs_out_of_bytes_skips_the_rest_saying_when(
    broker: Broker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with box_running(broker, tmp_path) as box:  # learn the size of this box's batches
        sizes = box.sizes
    # About two batches and a half (the charge is an upper bound of each payload).
    monkeypatch.setattr(sync.resend, "RESEND_BUDGET_BYTES", sizes[0] + sizes[1] + sizes[2] // 2)
    db = tmp_path / "box.db"
    with (
        Platform(broker.host, broker.port) as platform,
        agent_running(make_agent(db, broker.url, batch_max_records=BATCH)),
    ):
        polls = [0]

        def listening() -> bool:  # commands sent before the agent subscribed are lost
            if any(str(r.body.get("id")).startswith("ready-") for r in platform.replies):
                return True
            if polls[0] % 25 == 0:  # a ping every half second
                platform.send("ping", {"id": f"ready-{polls[0]}"})
            polls[0] += 1
            return False

        wait_for(listening, timeout=15, what="the agent answering commands")
        platform.send("resend", {"id": "b-1", "args": {"from_seq": 1, "to_seq": 3}})
        result = platform.reply_to("b-1").body["result"]
        platform.send("resend", {"id": "b-2", "args": {"from_seq": 1, "to_seq": 1}})
        again = platform.reply_to("b-2").body["result"]
    assert [r["seq"] for r in result["resent"]] == [1, 2]
    (skipped,) = result["skipped"]
    assert skipped["seq"] == 3
    assert skipped["reason"].startswith("resend budget spent: 2 batches, ")
    assert "ask again after" in skipped["reason"]
    assert again["resent"] == [] and "ask again after" in again["skipped"][0]["reason"]


def test_budget_frees_as_the_window_rolls() -> None:
    budget = ResendBudget(window_s=600, max_batches=3, max_bytes=1000)
    budget.admit(2, 0, now=0.0)
    budget.charge(400, 0.0)
    budget.charge(400, 100.0)
    assert budget.fits(200, 100.0) and not budget.fits(201, 100.0)
    with pytest.raises(
        CommandError, match=r"ask again after 1970-01-01T00:10:00.000Z \(in 500 s\)"
    ):
        budget.admit(2, 0, now=100.0)
    assert "in 500 s" in budget.skip_reason(300, 100.0)  # the first frees enough
    assert "in 600 s" in budget.skip_reason(700, 100.0)  # both must expire
    budget.admit(2, 0, now=600.0)  # the first one expired
    with pytest.raises(CommandError, match="at most 3 are re-sent per 600 s, ask in parts"):
        budget.admit(4, 0, now=600.0)
    assert budget.refused == 4  # two requests refused, two batches skipped


@pytest.mark.broker
def test_config_and_status_replies_name_no_broker_user_path_or_url(
    broker: Broker, tmp_path: Path
) -> None:
    secret_file = tmp_path / "mqtt-password"
    config = Config.model_validate(
        {
            "mall": MALL,
            "box": BOX,
            "zones": [{"id": "entrance"}],
            "store": {"path": str(tmp_path / "box.db")},
            "sensors": [
                {"type": "pos", "name": "till-1", "zone": "entrance", "store": "shop-12",
                 "port": "/dev/serial/by-id/usb-FTDI-if00-port0"},
            ],
            "mqtt": {"url": broker.url, "username": "user-7", "password_file": str(secret_file)},
        }
    )  # fmt: skip
    options = {"box_config": config, "username": "user-7", "password": "s3cret-pw"}
    with box_running(broker, tmp_path, **options) as box:
        platform = box.platform
        platform.send("config", {"id": "c-1"})
        platform.send("status", {"id": "s-1"})
        replies = [platform.reply_to(rid).body for rid in ("c-1", "s-1")]
    text = json.dumps(replies)
    for leak in (f":{broker.port}", "127.0.0.1", "user-7", str(tmp_path), "/dev/serial", "s3cret"):
        assert leak not in text, leak
    config_reply, status_reply = (r["result"] for r in replies)
    assert config_reply["config"]["sensors"][0]["port"] == "<redacted>"
    assert config_reply["config"]["mqtt"]["batch_max_records"] == BATCH  # the rest is there
    assert status_reply["db"] == "<redacted>" and status_reply["outbox"]["depth"] == 0


# -- the parsers under Hypothesis ----------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=30,
)
HOSTILE = st.one_of(
    st.binary(max_size=2048),
    JSON.map(lambda v: json.dumps(v).encode()),
    st.builds(
        lambda opener, n, tail: opener * n + tail,
        st.sampled_from([b"[", b"{", b'{"a":', b'["\\"', b'"']),
        st.integers(0, 40_000),
        st.binary(max_size=16),
    ),
    st.builds(lambda v: json.dumps({"id": "f", "args": v}).encode(), JSON),
)


def depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


@FUZZ
@given(JSON)
def test_nesting_depth_is_exact_for_any_json(value: object) -> None:
    assert nesting_depth(json.dumps(value).encode()) == depth(value)
    assert nesting_depth(json.dumps(value, ensure_ascii=False).encode()) == depth(value)


@FUZZ
@given(HOSTILE)
def test_loads_limited_parses_or_refuses_in_one_line(payload: bytes) -> None:
    try:
        loads_limited(payload, max_bytes=64 * 1024)
    except PayloadRejected as exc:
        assert exc.kind in {"too_large", "too_deep", "not_json"}
        assert "\n" not in str(exc)


@FUZZ
@given(st.sampled_from(["ping", "status", "resend", "config", "reboot"]), HOSTILE)
def test_any_command_payload_gets_one_reply_never_an_exception(name: str, payload: bytes) -> None:
    def answer(request: Request) -> dict[str, Any] | None:
        return {"done": request.name}

    handlers: dict[str, Handler] = dict.fromkeys(("ping", "status", "resend", "config"), answer)
    commands = Commands(MALL, BOX, 6000, handlers)
    started = time.monotonic()
    reply = commands.handle(f"{ROOT}/cmd/{name}", payload, b"c")
    assert time.monotonic() - started < 2.0
    assert reply is not None and reply.correlation_data == b"c"
    body = json.loads(reply.payload)
    assert body["ok"] is (body["error"] is None)
    if not body["ok"]:
        assert "\n" not in body["error"] and sum(commands.rejected.values()) == 1
        assert len(reply.payload) < 2 * 1024  # an answer is never an amplifier


@FUZZ
@given(
    st.sampled_from([DATA, f"{ROOT}/status", f"{ROOT}/telemetry", f"{ROOT}/cmd/ping/reply"]),
    HOSTILE,
    st.booleans(),
)
def test_any_payload_on_any_topic_is_folded_without_an_error(
    topic: str, payload: bytes, validate: bool
) -> None:
    seen: list[Event] = []
    consumer = Consumer("mqtt://127.0.0.1:1", MALL, validate=validate, on_event=seen.append,
                        start=False)  # fmt: skip

    class Message:
        pass

    msg: Any = Message()
    msg.topic, msg.payload = topic, payload
    started = time.monotonic()
    consumer._on_message(None, None, msg)
    assert time.monotonic() - started < 2.0
    assert consumer.stats.errors == 0, consumer.stats.last_error
    assert all(isinstance(e.data, dict) for e in seen)


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b'{"id": "a", "n": NaN}', id="nan"),
        pytest.param(b'{"id": "a", "n": -Infinity}', id="infinity"),
        pytest.param(b'{"id": "a", "n": 1e999}', id="overflow"),
        pytest.param(b'{"id": "\\ud800"}', id="lone-surrogate"),
    ],
)
def test_json_that_no_reply_or_row_could_carry_is_refused_in_one_line(payload: bytes) -> None:
    """Python's parser takes these, but no UTF-8 reply, log line or database row (nor
    a JSON consumer) can carry them: refused at the door, not wherever they are written."""
    with pytest.raises(PayloadRejected) as refused:
        loads_limited(payload, max_bytes=MAX_COMMAND_BYTES)
    assert refused.value.kind == "not_json" and "\n" not in str(refused.value)
    reply = Commands(MALL, BOX, 6000, {}).handle(f"{ROOT}/cmd/ping", payload, b"c")
    assert reply is not None and "internal error" not in json.loads(reply.payload)["error"]


def test_an_escaped_emoji_and_a_large_exponent_string_are_still_json() -> None:
    parsed = loads_limited(b'{"a": "\\ud83d\\ude00", "b": "1e999", "c": 1e300}', max_bytes=99)
    assert parsed == {"a": "\U0001f600", "b": "1e999", "c": 1e300}
