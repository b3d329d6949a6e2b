"""Telemetry, the platform's STATE (primary-host rule) and quarantine, against a real
mosquitto and real SQLite files.

Quarantine by PUBACK reason code goes through ``RefusingProxy`` in front of the real
broker: mosquitto 2.0 has no way to refuse a publish for its content with a reason
code paho accepts (see ``tests/refusing_proxy.py``). The Maximum Packet Size case is
mosquitto's own (``max_packet_size``).
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from broker import Broker, Message, Subscriber, running_broker
from cli_helpers import invoke
from refusing_proxy import RefusingProxy
from uplink_helpers import (
    BOX,
    MALL,
    ROOT,
    T0,
    Platform,
    agent_running,
    make_agent,
    presence,
    wait_until,
    write,
)

from edge.contract import check_message
from edge.records import Record
from edge.store import Store
from edge.store.status import collect_status
from edge.store.uplink import SentBatch, acknowledge, prune_sent, resend_window, to_runs
from sync.platform import PlatformGate
from sync.quarantine import RejectionPolicy

pytestmark = pytest.mark.broker


def data(messages: list[Message]) -> list[dict[str, Any]]:
    return [m.json() for m in messages if "/data/" in m.topic]


def delivered(messages: list[Message]) -> list[str]:
    return [r["id"] for e in data(messages) for r in e["records"]]


def telemetry(messages: list[Message]) -> list[Message]:
    return [m for m in messages if m.topic == f"{ROOT}/telemetry"]


# -- telemetry ------------------------------------------------------------------------------


def test_telemetry_reports_backlog_drops_sensors_disk_and_clock(
    broker: Broker, tmp_path: Path
) -> None:
    db = tmp_path / "box.db"
    now = time.time()
    write(db, [presence(i) for i in range(12)], now=now - 30)
    with Store(db) as store:
        stats = {"state": "running", "rate_per_s": 12.5, "last_frame_at": T0, "restarts": 1}
        store.put_sensor_stats("entrance", "wifi", stats, now)
        store.count_drop("disk_budget.presence", 3)
    # The platform never says it is online: the 12 records stay in the outbox.
    agent = make_agent(db, broker.url, telemetry_interval_s=0.3, platform_id="hq",
                       require_platform=True)  # fmt: skip
    with Subscriber(broker.host, broker.port, f"{ROOT}/#") as sub, agent_running(agent):
        messages = sub.wait_for(lambda ms: len(telemetry(ms)) >= 4)
    sent = telemetry(messages)
    assert not data(messages)
    for message in sent:
        assert not message.retain
        assert check_message(message.topic, message.json()) == []
    first = sent[0].json()
    assert first == first | {
        "schema": "telemetry/1",
        "mall": MALL,
        "box": BOX,
        "outbox_depth": 12,
        "records_sent": 0,
        "drops": {"disk_budget.presence": 3},
        "sensors": [
            {
                "sensor": "entrance",
                "kind": "wifi",
                "state": "running",
                "rate_per_s": 12.5,
                "last_frame_at": "2026-05-28T20:26:40.000Z",
                "restarts": 1,
            }
        ],
    }
    assert 29 <= first["outbox_oldest_age_s"] < 60
    assert first["disk_free_bytes"] > 0
    assert first["clock_synced"] in (True, False, None)
    gaps = [b.received - a.received for a, b in itertools.pairwise(sent)]
    assert all(0.15 < gap < 1.5 for gap in gaps), gaps


# -- the platform's STATE -------------------------------------------------------------------


def test_data_waits_for_the_platform_and_stops_while_it_is_offline(
    broker: Broker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "box.db"
    first = write(db, [presence(i) for i in range(20)])
    agent = make_agent(db, broker.url, platform_id="hq", require_platform=True)
    with (
        caplog.at_level(logging.INFO, logger="mallsense.sync"),
        Subscriber(broker.host, broker.port, f"{ROOT}/#") as sub,
        Platform(broker.host, broker.port) as platform,
    ):
        platform.state("hq", b'{"online": false, "timestamp": 1780000000000}')
        with agent_running(agent):
            sub.wait_for(lambda ms: any(m.topic == f"{ROOT}/status" for m in ms))
            platform.send("ping", {"id": "held"})  # replies are not held
            assert platform.reply_to("held").body["ok"]
            time.sleep(0.5)
            assert not data(sub.messages), "data went out while the platform was offline"
            platform.state("hq", b'{"online": true}')
            sub.wait_for(lambda ms: set(first) <= set(delivered(ms)))
            platform.state("hq", b'{"online": false}')
            wait_until(lambda: agent_platform(db) == "offline", what="the box saw offline")
            second = write(db, [presence(i) for i in range(100, 110)])
            time.sleep(0.5)
            assert not set(second) & set(delivered(sub.messages))
            platform.state("hq", b'{"online": true}')
            sub.wait_for(lambda ms: set(second) <= set(delivered(ms)))
    assert "holding data until platform hq says it is online" in caplog.text
    assert "platform hq is online: sending data" in caplog.text
    assert "platform hq went offline; holding new data batches until it is back" in caplog.text


def agent_platform(db: Path) -> str | None:
    with Store(db) as store:
        return store.get("sync.platform")


# -- quarantine -----------------------------------------------------------------------------


def huge(i: int) -> Record:
    """A record far larger than the broker accepts (still a JSON object)."""
    return {**presence(i), "padding": "x" * 6000}


def test_a_record_larger_than_the_broker_accepts_is_quarantined(tmp_path: Path) -> None:
    db = tmp_path / "box.db"
    ids = write(db, [presence(i) for i in range(10)])
    big = write(db, [huge(10)])
    ids += write(db, [presence(i) for i in range(11, 20)])
    with (
        running_broker(tmp_path / "mq", extra_config="max_packet_size 4096") as broker,
        Subscriber(broker.host, broker.port, f"{ROOT}/#") as sub,
    ):
        assert make_agent(db, broker.url).run(drain=True, timeout=10) == 0
        messages = sub.wait_for(lambda ms: set(ids) <= set(delivered(ms)))
    assert big[0] not in delivered(messages)
    with Store(db) as store:
        status = collect_status(store, time.time())
    assert status["outbox"]["depth"] == 0
    assert status["drops"] == {"quarantined.presence": 1}
    assert status["quarantine"]["count"] == 1
    last = status["quarantine"]["last"]
    assert (last["record_id"], last["kind"]) == (big[0], "presence")
    assert "more than the broker accepts in one message" in last["reason"]
    assert "Maximum Packet Size" in last["reason"]
    out = invoke("status", "--db", db).stdout
    assert "quarantine: 1 record the broker will never accept (latest: presence" in out
    assert "dropped before delivery: 1 quarantined presence" in out


def test_a_record_that_is_not_a_json_object_is_quarantined(broker: Broker, tmp_path: Path) -> None:
    db = tmp_path / "box.db"
    ids = write(db, [presence(i) for i in range(5)])
    with Store(db) as store:  # a body no edge daemon writes: a damaged row
        store.conn.execute("UPDATE records SET body = 'not json' WHERE id = ?", (ids[2],))
    with Subscriber(broker.host, broker.port, f"{ROOT}/data/#"):  # data nobody takes is kept
        assert make_agent(db, broker.url).run(drain=True, timeout=10) == 0
    with Store(db) as store:
        assert store.outbox_depth() == (0, None)
        assert store.drop_counts() == {"quarantined.presence": 1}
        row = store.conn.execute("SELECT record_id, body, reason FROM quarantine").fetchone()
    # The store's reader (or the window, for valid JSON that is not an object) says why.
    assert row[:2] == (ids[2], "not json")
    assert "JSON" in row[2], row


def test_a_record_the_broker_refuses_is_found_and_quarantined(
    broker: Broker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "box.db"
    ids = write(db, [presence(i) for i in range(40)])
    bad = ids[13].encode()

    def refuse(topic: str, body: bytes) -> int | None:
        return 0x99 if bad in body else None  # payload format invalid

    with (
        RefusingProxy((broker.host, broker.port), refuse) as proxy,
        Subscriber(broker.host, broker.port, f"{ROOT}/#") as sub,
        caplog.at_level(logging.WARNING, logger="mallsense.sync"),
    ):
        agent = make_agent(db, proxy.url, batch_max_records=20)
        assert agent.run(drain=True, timeout=10) == 0
        messages = sub.wait_for(lambda ms: set(ids) - {ids[13]} <= set(delivered(ms)))
    assert ids[13] not in delivered(messages)
    # refused publishes of 20, 10 (records 10..19), 5 (10..14), 2 (13, 14) and 1 record
    assert len(proxy.refused) == 5
    with Store(db) as store:
        assert store.outbox_depth() == (0, None)
        assert store.drop_counts() == {"quarantined.presence": 1}
        (reason,) = store.conn.execute("SELECT reason FROM quarantine").fetchone()
    assert reason == f"refused by {proxy.url}: Payload format invalid (PUBACK reason 0x99)"
    assert "sending its 20 records again in halves" in caplog.text
    assert "moved 1 record(s) to the quarantine table" in caplog.text


def test_a_broker_refusing_everything_is_not_a_reason_to_quarantine_everything(
    broker: Broker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "box.db"
    write(db, [presence(i) for i in range(8)])

    def refuse(topic: str, body: bytes) -> int | None:
        return 0x83 if "/data/" in topic else None  # implementation specific error

    with (
        RefusingProxy((broker.host, broker.port), refuse) as proxy,
        caplog.at_level(logging.WARNING, logger="mallsense.sync"),
    ):
        assert make_agent(db, proxy.url).run(drain=True, timeout=2) == 1
    with Store(db) as store:
        quarantined = store.drop_counts().get("quarantined.presence", 0)
        assert quarantined == RejectionPolicy().blind_limit
        assert store.outbox_depth()[0] == 8 - quarantined
    assert "the broker refuses every record, not a few bad ones; the rows are kept" in caplog.text


# -- the parts, without a broker -------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "records", "verdict"),
    [
        (0x99, 20, "split"),
        (0x99, 1, "quarantine"),
        (0x83, 1, "quarantine"),
        (0x87, 1, "configuration"),
        (0x90, 5, "configuration"),
        (0x97, 1, "transient"),
        (0x80, 1, "transient"),
    ],
)
def test_refusals_are_sorted_by_what_retrying_can_change(
    code: int, records: int, verdict: str
) -> None:
    assert RejectionPolicy().verdict(code, records) == verdict


def test_quarantine_stops_after_a_streak_until_a_batch_is_accepted() -> None:
    policy = RejectionPolicy(blind_limit=2)
    assert [policy.verdict(0x99, 1) for _ in range(3)] == ["quarantine", "quarantine", "broker"]
    policy.accepted()
    assert policy.verdict(0x99, 1) == "quarantine"


def test_sent_batches_are_runs_and_pruned_by_age_and_count(tmp_path: Path) -> None:
    assert to_runs([7, 3, 4, 5, 9, 10]) == [[3, 5], [7, 7], [9, 10]]
    with Store(tmp_path / "box.db") as store:
        acknowledge(store, [], [SentBatch(s, "presence", (s,), 100.0 + s) for s in range(1, 11)])
        assert resend_window(store) == (1, 10)
        assert prune_sent(store, before=103.0, keep=100) == 2  # seqs 1 and 2 are too old
        assert prune_sent(store, before=0.0, keep=5) == 3
        assert resend_window(store) == (6, 10)
        stored = store.conn.execute("SELECT records FROM sent_batches WHERE seq = 6").fetchone()
        assert json.loads(stored[0]) == [[6, 6]]


@pytest.mark.parametrize(
    ("payload", "state"),
    [
        (b'{"online": true, "timestamp": 1780000000000}', "online"),
        (b'{"online": false}', "offline"),
        (b"", "unknown"),
        (b'{"online": "maybe"}', "online"),  # unreadable: the last state is kept
        (b"not json", "online"),
    ],
)
def test_platform_state_payloads(payload: bytes, state: str) -> None:
    gate = PlatformGate("hq", required=True)
    gate.update(b'{"online": true}')
    assert gate.update(payload) == state
    assert gate.open is (state == "online")
