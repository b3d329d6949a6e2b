"""Commands from the platform to the box (``cmd/<name>`` -> ``cmd/<name>/reply``), against a
real mosquitto, the real agent and a real SQLite file.

The platform side is a plain paho client (``Platform``) and, for ``resend``, the
reference consumer (``sync.consumer``), which de-duplicates by record id.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from broker import Broker, Subscriber
from cli_helpers import invoke, json_lines
from uplink_helpers import (
    BOX,
    MALL,
    ROOT,
    Platform,
    agent_running,
    make_agent,
    presence,
    wait_until,
    write,
)

import edge
from edge.config import Config
from edge.contract import check_message
from edge.messages import CommandReply, ResendArgs
from sync.commands import Commands, Request, TokenBucket
from sync.consumer import Consumer

pytestmark = pytest.mark.broker

RECORDS = 30
BATCH = 10  # so the drained outbox is seqs 1, 2 and 3


@dataclass
class Box:
    db: Path
    ids: list[str]
    platform: Platform
    sub: Subscriber

    def data(self) -> list[dict[str, Any]]:
        return [m.json() for m in self.sub.messages if "/data/" in m.topic]


StartBox = Callable[..., Box]


@pytest.fixture
def start_box(broker: Broker, tmp_path: Path) -> Iterator[StartBox]:
    """Start a box (agent running, outbox drained) with these ``make_agent`` options."""
    stack = contextlib.ExitStack()

    def start(**options: Any) -> Box:
        db = tmp_path / "box.db"
        ids = write(db, [presence(i) for i in range(RECORDS)])
        sub = stack.enter_context(Subscriber(broker.host, broker.port, f"{ROOT}/#"))
        platform = stack.enter_context(Platform(broker.host, broker.port))
        options.setdefault("batch_max_records", BATCH)
        stack.enter_context(agent_running(make_agent(db, broker.url, **options)))
        box = Box(db, ids, platform, sub)
        # The platform can hold a batch before the agent has its PUBACK: wait for the outbox
        # rows to go (with the batch's row in sent_batches, one transaction) as well.
        wait_until(
            lambda: len(box.data()) == RECORDS // BATCH and _outbox_rows(db) == 0,
            what="the outbox drained",
        )
        return box

    with stack:
        yield start


def _outbox_rows(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])


def reply_of(
    box: Box, name: str, payload: bytes | dict[str, Any], rid: str | None
) -> dict[str, Any]:
    """Send a command and return its reply's body, checked against the contract."""
    box.platform.send(name, payload)
    reply = box.platform.reply_to(rid)
    assert reply.topic == f"{ROOT}/cmd/{name}/reply"
    assert not reply.retain
    assert check_message(reply.topic, reply.body) == []
    return reply.body


# -- each command ---------------------------------------------------------------------------


def test_ping_answers_with_version_uptime_and_time(start_box: StartBox) -> None:
    box = start_box()
    box.platform.send("ping", {"id": "p-1"}, correlation_data=b"\x00corr-42")
    reply = box.platform.reply_to("p-1")
    assert reply.correlation_data == b"\x00corr-42"  # MQTT 5 Correlation Data echoed
    body = reply.body
    assert body == {
        "id": "p-1",
        "command": "ping",
        "ok": True,
        "result": {
            "version": edge.__version__,
            "uptime_s": body["result"]["uptime_s"],
            "now": body["result"]["now"],
        },
        "error": None,
    }
    assert 0 <= body["result"]["uptime_s"] < 30
    assert body["result"]["now"].endswith("Z")
    assert CommandReply.model_validate(body).ok


def test_status_command_is_what_mallsense_status_shows(start_box: StartBox) -> None:
    box = start_box()
    result = reply_of(box, "status", {"id": "s-1", "args": {}}, "s-1")["result"]
    (cli,) = json_lines(invoke("status", "--db", box.db, "--json").stdout)
    assert set(result) == set(cli)
    for key in ("records", "drops", "quarantine"):
        assert result[key] == cli[key], key
    assert result["db"] == "<redacted>" != cli["db"]  # a reply names no file (issue 17)
    assert result["records"] == {"presence": RECORDS}
    assert result["outbox"]["depth"] == 0
    assert result["uplink"]["connected"] is True
    assert result["uplink"]["last_seq"] == RECORDS // BATCH
    assert result["quarantine"] == {"count": 0, "last": None}


def test_config_command_shows_the_running_config_without_secrets(
    start_box: StartBox, tmp_path: Path
) -> None:
    secret_file = tmp_path / "mqtt-password"
    config = Config.model_validate(
        {
            "mall": MALL,
            "box": BOX,
            "zones": [{"id": "entrance"}],
            "mqtt": {"username": "box-7", "password_file": str(secret_file)},
        }
    )
    box = start_box(password="s3cret-pw", box_config=config, username="box-7")
    box.platform.send("config", {"id": "c-1"})
    reply = box.platform.reply_to("c-1")
    assert "s3cret-pw" not in json.dumps(reply.body)
    result = reply.body["result"]
    assert result["config_hash"] == "cafe"
    assert result["from_file"] is True
    running = result["config"]
    assert (running["mall"], running["box"]) == (MALL, BOX)
    assert running["zones"][0]["id"] == "entrance"
    assert running["mqtt"]["password"] == "<redacted>"
    # the MQTT settings are the ones the agent runs with, minus where and who (issue 17)
    assert running["mqtt"]["batch_max_records"] == BATCH
    for key in ("url", "username"):
        assert running["mqtt"][key] == "<redacted>", key
    assert "127.0.0.1" not in json.dumps(reply.body) and str(secret_file) not in json.dumps(
        reply.body
    )


# -- what is refused, and how ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "payload", "rid", "error"),
    [
        ("ping", b"{not json", None, "payload is not JSON: "),
        ("ping", b"\xff\xfe", None, "payload is not JSON"),
        ("ping", b'["id", "x"]', None, "not a command request: payload: Input should be"),
        ("reboot", {"id": "u-1"}, "u-1", "unknown command 'reboot'; known: ping, status, resend,"),
        ("ping", {"id": "e-1", "what": 1}, "e-1", "what: Extra inputs are not permitted (got 1)"),
        ("ping", {"id": "x" * 65}, None, "id: String should have at most 64 characters"),
        ("ping", {"id": "a-1", "args": {"n": 1}}, "a-1", "invalid arguments: args.n: Extra"),
        ("resend", {"id": "r-1"}, "r-1", "invalid arguments: args.from_seq: Field required"),
        (
            "resend",
            {"id": "r-2", "args": {"from_seq": 0, "to_seq": 2}},
            "r-2",
            "args.from_seq: Input should be greater than or equal to 1 (got 0)",
        ),
    ],
)
def test_bad_commands_get_an_error_reply_in_words(
    start_box: StartBox, name: str, payload: bytes | dict[str, Any], rid: str | None, error: str
) -> None:
    box = start_box()
    body = reply_of(box, name, payload, rid)
    assert body["ok"] is False and body["result"] is None and body["command"] == name
    assert error in body["error"]
    assert reply_of(box, "ping", {"id": "after"}, "after")["ok"]  # the agent carries on


def test_commands_beyond_the_rate_limit_are_refused(start_box: StartBox) -> None:
    box = start_box(command_rate_per_min=3)
    for n in range(5):
        box.platform.send("ping", {"id": f"n-{n}"})
    replies = [box.platform.reply_to(f"n-{n}").body for n in range(5)]
    assert [r["ok"] for r in replies] == [True, True, True, False, False]
    assert replies[3]["error"].startswith(
        "rate limited: this box accepts at most 3 commands a minute (mqtt.command_rate_per_min)"
    )


def test_commands_for_another_box_are_never_executed(
    broker: Broker, start_box: StartBox, tmp_path: Path
) -> None:
    with Platform(broker.host, broker.port) as early:  # retained before the box connects
        early.send("ping", {"id": "stale"}, retain=True)
    box = start_box()
    box.platform.send("ping", {"id": "other-1"}, box="box-8")
    box.platform.send(
        "resend", {"id": "other-2", "args": {"from_seq": 1, "to_seq": 3}}, box="box-8"
    )
    box.platform.send("ping", {"id": "mine"})
    box.platform.reply_to("mine")  # commands are handled in order: the others came first
    assert [r.body["id"] for r in box.platform.replies] == ["mine"]
    assert len(box.data()) == RECORDS // BATCH  # nothing was re-sent


# -- resend -----------------------------------------------------------------------------------


def test_resend_republishes_a_range_under_its_own_seqs_and_historical(
    broker: Broker, start_box: StartBox
) -> None:
    consumer = Consumer(broker.url, MALL, box=BOX, validate=True)
    try:
        assert consumer.wait_subscribed(5)
        box = start_box()
        wait_until(lambda: consumer.snapshot()[0] == RECORDS, what="the consumer has everything")
        args = ResendArgs(from_seq=2, to_seq=3).model_dump()
        result = reply_of(box, "resend", {"id": "rs-1", "args": args}, "rs-1")["result"]
        assert result == {
            "from_seq": 2,
            "to_seq": 3,
            "resent": [
                {"seq": 2, "new_seq": 2, "records": BATCH},  # a batch sent again keeps its seq
                {"seq": 3, "new_seq": 3, "records": BATCH},
            ],
            "skipped": [],
        }
        wait_until(lambda: consumer.snapshot()[1] == 2 * BATCH, what="the duplicates arrive")
        records, duplicates, envelopes = consumer.snapshot()
        assert (records, duplicates, envelopes) == (RECORDS, 2 * BATCH, 5)
        assert consumer.stats.invalid == 0 and consumer.stats.missing == {}
    finally:
        consumer.close()
    sent, again = box.data()[:3], box.data()[3:]
    assert [e["seq"] for e in again] == [2, 3]
    assert {e["stream"] for e in box.data()} == {sent[0]["stream"]}
    assert all(r["historical"] is True for e in again for r in e["records"])
    first = {r["id"] for e in sent if e["seq"] in (2, 3) for r in e["records"]}
    assert {r["id"] for e in again for r in e["records"]} == first
    # still remembered as it was first sent: asking again gets the same batch again
    assert reply_of(box, "resend", {"id": "rs-2", "args": {"from_seq": 3, "to_seq": 3}}, "rs-2")[
        "result"
    ]["resent"] == [{"seq": 3, "new_seq": 3, "records": BATCH}]


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ({"from_seq": 1, "to_seq": 9}, "batches 1..9 are outside the window: this box can"
         " resend batches 1..3 (mqtt.resend_window_s and mqtt.resend_window_batches)"),
        ({"from_seq": 3, "to_seq": 2}, "from_seq 3 is after to_seq 2"),
        ({"from_seq": 1, "to_seq": 5000},
         "5000 batches asked; at most 1000 per resend, ask in parts"),
    ],
)  # fmt: skip
def test_resend_outside_the_window_is_refused_naming_the_window(
    start_box: StartBox, args: dict[str, int], error: str
) -> None:
    box = start_box()
    body = reply_of(box, "resend", {"id": "w-1", "args": args}, "w-1")
    assert body["ok"] is False
    assert body["error"] == error


def test_resend_says_which_batches_it_cannot_send_again(start_box: StartBox) -> None:
    box = start_box()
    with sqlite3.connect(box.db) as conn:  # retention deleted batch 1's records
        conn.execute("DELETE FROM records WHERE seq <= ?", (BATCH,))
        conn.execute("DELETE FROM sent_batches WHERE seq = 2")  # and 2 was never acknowledged
    body = reply_of(box, "resend", {"id": "g-1", "args": {"from_seq": 1, "to_seq": 3}}, "g-1")
    result = body["result"]
    assert result["resent"] == [{"seq": 3, "new_seq": 3, "records": BATCH}]
    reasons = {s["seq"]: s["reason"] for s in result["skipped"]}
    assert set(reasons) == {1, 2}
    assert reasons[1].startswith("its records were deleted by local retention")
    assert reasons[2].startswith("never acknowledged by the broker")


# -- the parts, without a broker -------------------------------------------------------------


def test_token_bucket_refills_at_the_configured_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(6, clock=lambda: now[0])  # one every 10 s, bursts of 6
    assert [bucket.take() for _ in range(7)] == [True] * 6 + [False]
    now[0] = 9.0
    assert not bucket.take()
    now[0] = 10.5
    assert bucket.take() and not bucket.take()


def test_a_failing_handler_becomes_an_error_reply() -> None:
    def broken(request: Request) -> dict[str, Any]:
        raise RuntimeError("disk on fire")

    commands = Commands(MALL, BOX, 10, {"ping": broken})
    reply = commands.handle(f"{ROOT}/cmd/ping", b'{"id": "f-1"}', None)
    assert reply is not None
    assert json.loads(reply.payload)["error"] == "internal error: disk on fire"
    assert commands.handle(f"mallsense/v1/{MALL}/box-8/cmd/ping", b'{"id": "f-2"}', None) is None
    assert commands.handle(f"{ROOT}/cmd/ping/reply", b'{"id": "f-3"}', None) is None
