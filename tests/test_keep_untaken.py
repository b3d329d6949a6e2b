"""The box keeps what nobody took (issue 16, part 1), against a real mosquitto.

A PUBACK with reason 0x10 "No matching subscribers" means the broker accepted a
batch and gave it to nobody: the rows must stay in the outbox, further data waits,
and the box says why in its log, ``status`` and ``doctor``. Once a consumer is
there (a persistent session, as docs/platform.md tells the platform to keep),
everything arrives exactly once.
"""

from __future__ import annotations

import logging
import queue
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from broker import Broker, Subscriber
from cli_helpers import invoke
from paho.mqtt.client import Client, ConnectFlags, MQTTMessage
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions
from uplink_helpers import BOX, MALL, ROOT, agent_running, make_agent, presence, wait_until, write

from edge.config.models import MqttConfig
from edge.store import Store
from edge.store.status import collect_status

pytestmark = pytest.mark.broker

DATA = f"{ROOT}/data/+"


def depth(db: Path) -> int:
    with Store(db) as store:
        return store.outbox_depth()[0]


def uplink(db: Path) -> dict[str, Any]:
    with Store(db) as store:
        status: dict[str, Any] = collect_status(store, time.time())["uplink"]
        return status


class PersistentConsumer:
    """The platform's consumer as docs/platform.md describes it: a fixed client id,
    clean_start false and a Session Expiry Interval, so the broker queues its messages
    while it is away (a restart) and hands them over when it comes back."""

    def __init__(self, broker: Broker, client_id: str) -> None:
        self.broker = broker
        self.client_id = client_id
        self.received: queue.Queue[MQTTMessage] = queue.Queue()
        self.ready: queue.Queue[str] = queue.Queue()
        self.client: Client | None = None

    def connect(self, *, subscribe: bool) -> None:
        client = Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        client.on_connect = self._on_connect
        client.on_subscribe = lambda *a: self.ready.put("suback")
        client.on_message = lambda c, u, msg: self.received.put(msg)
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 3600
        client.connect(
            self.broker.host, self.broker.port, keepalive=10, clean_start=False, properties=props
        )
        client.loop_start()
        self.client = client
        assert self.ready.get(timeout=5) == "connack"
        if subscribe:
            client.subscribe(DATA, options=SubscribeOptions(qos=1))
            assert self.ready.get(timeout=5) == "suback"

    def _on_connect(
        self, c: Client, u: Any, f: ConnectFlags, reason: ReasonCode, p: Properties | None
    ) -> None:
        self.ready.put("connack")

    def disconnect(self) -> None:
        assert self.client is not None
        self.client.disconnect()  # the session (and its subscription) stays on the broker
        self.client.loop_stop()
        self.client = None

    def records(self, quiet_s: float = 1.0) -> list[dict[str, Any]]:
        """Every record received until nothing came for ``quiet_s``."""
        import json

        got: list[dict[str, Any]] = []
        while True:
            try:
                msg = self.received.get(timeout=quiet_s)
            except queue.Empty:
                return got
            got += json.loads(msg.payload)["records"]


def test_nothing_is_deleted_when_nobody_is_subscribed(
    broker: Broker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "box.db"
    write(db, [presence(i) for i in range(30)])
    agent = make_agent(db, broker.url, batch_max_records=10)
    with caplog.at_level(logging.INFO, logger="mallsense.sync"):
        assert agent.run(drain=True, timeout=2.0) == 1
    assert depth(db) == 30
    text = caplog.text
    assert "answered PUBACK 0x10 'No matching subscribers' for batch seq 1" in text
    assert f"no platform consumer is subscribed to {ROOT}/data/presence" in text
    assert "keeping its records in the outbox (not deleted)" in text
    assert "outbox not drained: 30 records still waiting" in text
    assert "outbox drained" not in text
    state = uplink(db)
    assert state["records_sent"] == 0
    assert state["held"].startswith(f"no platform consumer is subscribed to {ROOT}/data/presence")
    assert state["untaken_batches"] >= 1
    out = invoke("status", "--db", db).stdout
    assert "uplink: data held, 30 records kept in the outbox: no platform consumer" in out


def test_sync_drain_command_keeps_the_rows_and_says_why(broker: Broker, tmp_path: Path) -> None:
    db = tmp_path / "box.db"
    write(db, [presence(i) for i in range(3)])
    with Store(db) as store:
        store.claim_identity(MALL, BOX)  # as `mallsense replay` leaves it
    mallsense = Path(sys.executable).parent / "mallsense"
    command = [str(mallsense), "sync", "--db", str(db), "--broker", broker.url, "--drain"]
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    wait_until(lambda: bool(uplink(db)["held"]), what="the agent held the data")
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 1, err
    assert depth(db) == 3
    assert "No matching subscribers" in err
    assert "outbox not drained: 3 records still waiting" in err
    assert "acknowledged by" not in err.replace("(0 acknowledged by", "")
    assert "outbox drained" not in err


def test_a_persistent_consumer_gets_everything_exactly_once(broker: Broker, tmp_path: Path) -> None:
    db = tmp_path / "box.db"
    ids = write(db, [presence(i) for i in range(30)])
    assert make_agent(db, broker.url, batch_max_records=10).run(drain=True, timeout=1.5) == 1
    assert depth(db) == 30
    consumer = PersistentConsumer(broker, "platform-ingest-1")
    consumer.connect(subscribe=True)
    consumer.disconnect()  # the platform restarts while the box drains
    assert make_agent(db, broker.url, batch_max_records=10).run(drain=True, timeout=10) == 0
    assert depth(db) == 0
    consumer.connect(subscribe=False)  # the session kept the subscription and the messages
    try:
        got = Counter(record["id"] for record in consumer.records())
    finally:
        consumer.disconnect()
    assert set(got) == set(ids)
    assert set(got.values()) == {1}


def test_the_running_agent_sends_held_data_once_a_consumer_subscribes(
    broker: Broker, tmp_path: Path
) -> None:
    db = tmp_path / "box.db"
    ids = write(db, [presence(i) for i in range(25)])
    agent = make_agent(db, broker.url, batch_max_records=10)
    with agent_running(agent):
        wait_until(lambda: bool(uplink(db)["held"]), what="the agent held the data")
        time.sleep(0.5)  # a few more tries find nobody
        assert depth(db) == 25
        with Subscriber(broker.host, broker.port, DATA) as sub:
            messages = sub.wait_for(lambda ms: sum(len(m.json()["records"]) for m in ms) >= 25)
            time.sleep(0.3)
            messages = sub.messages
        wait_until(lambda: uplink(db)["held"] is None, what="the hold ended")
    records = [r["id"] for m in messages for r in m.json()["records"]]
    assert sorted(records) == sorted(ids)  # each exactly once
    # The batch nobody took went again under its own seq: no gap for the platform to chase.
    assert [m.json()["seq"] for m in messages] == [1, 2, 3]
    assert depth(db) == 0


def test_require_platform_is_on_once_a_platform_is_named() -> None:
    assert MqttConfig().require_platform is False
    assert MqttConfig(platform_id="hq").require_platform is True
    assert MqttConfig(platform_id="hq", require_platform=False).require_platform is False


def test_status_says_data_waits_for_the_platform(broker: Broker, tmp_path: Path) -> None:
    db = tmp_path / "box.db"
    write(db, [presence(i) for i in range(4)])
    agent = make_agent(db, broker.url, platform_id="hq")  # require_platform by default
    with Subscriber(broker.host, broker.port, DATA) as sub, agent_running(agent):
        wait_until(lambda: bool(uplink(db)["held"]), what="the agent held the data")
        time.sleep(0.3)
        assert sub.messages == []
    assert uplink(db)["held"] == (
        "waiting for platform hq to say it is online on mallsense/v1/STATE/hq"
        " (mqtt.require_platform)"
    )
    out = invoke("status", "--db", db).stdout
    assert "uplink: data held, 4 records kept in the outbox: waiting for platform hq" in out
