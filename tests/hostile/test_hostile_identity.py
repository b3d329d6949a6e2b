"""One box must not knock another offline (issue 17, case 9), on a real mosquitto with
real certificates.

box-8's certificate connecting with box-7's client id used to make mosquitto close
box-7 again and again, while box-7 blamed the network. With the broker settings the
project ships (``docs/broker/``: ``use_identity_as_username`` and
``use_username_as_clientid``) the client id is the certificate's name, so the
impostor never gets box-7's id; with the ACL alone (a broker set up without
``use_username_as_clientid``) it can still take the id over, but it cannot publish
as box-7 or read box-7's commands.

A broker that says why it closed a connection (MQTT 5 DISCONNECT 0x8E "Session taken
over"; Mosquitto 2.0 closes silently) makes box-7 say in plain words that another
client took its id, count it and back off instead of fighting: that case runs through
``RefusingProxy`` in front of the real broker, which sends that DISCONNECT.
"""

from __future__ import annotations

import logging
import queue
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from broker import Broker, running_broker
from paho.mqtt.client import Client, ConnectFlags, MQTTMessage
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions
from pki import SHIPPED_BROKER, Authority, Identity, Pki, shipped_broker_config
from refusing_proxy import RefusingProxy
from uplink_helpers import agent_running, make_agent, presence, wait_until, write

from edge.config.models import MqttConfig
from edge.store import Store
from edge.store.status import collect_status
from sync.agent import SyncAgent

pytestmark = pytest.mark.broker

MALL, BOX = "mall-1", "box-7"
PREFIX = f"mallsense/v1/{MALL}/{BOX}"
BOX7_CLIENT_ID = f"mallsense-{MALL}-{BOX}"


@dataclass(frozen=True, slots=True)
class Certs:
    ca: Authority
    server: Identity
    box7: Identity
    box8: Identity
    platform: Identity


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    pki = Pki(tmp_path_factory.mktemp("pki"))
    ca = pki.authority("mall-ca")
    return Certs(
        ca=ca,
        server=pki.server(ca, "broker", ips=("127.0.0.1",)),
        box7=pki.client(ca, "box-7"),
        box8=pki.client(ca, "box-8"),
        platform=pki.client(ca, "platform"),
    )


def acl_only(config: str) -> str:
    """The shipped settings without ``use_username_as_clientid``: client ids are free."""
    return "".join(
        line + "\n"
        for line in config.splitlines()
        if not line.startswith("use_username_as_clientid")
    )


class Client5:
    """An MQTT 5 client over TLS with a certificate and a chosen client id, no reconnects."""

    def __init__(self, broker: Broker, ca: Path, identity: Identity, client_id: str) -> None:
        self.answers: queue.Queue[tuple[str, int, ReasonCode]] = queue.Queue()
        self.received: queue.Queue[MQTTMessage] = queue.Queue()
        client = Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
            reconnect_on_failure=False,
        )
        client.tls_set(ca_certs=str(ca), certfile=str(identity.cert), keyfile=str(identity.key))
        client.on_connect = self._on_connect
        client.on_subscribe = lambda c, u, mid, rc, p: self.answers.put(("suback", mid, rc[0]))
        client.on_publish = lambda c, u, mid, rc, p: self.answers.put(("puback", mid, rc))
        client.on_message = lambda c, u, msg: self.received.put(msg)
        self.client = client
        client.connect(broker.host, broker.port, keepalive=10)
        client.loop_start()
        assert not self._wait("connack", 0).is_failure

    def _on_connect(
        self, c: Client, u: Any, f: ConnectFlags, reason: ReasonCode, p: Properties | None
    ) -> None:
        self.answers.put(("connack", 0, reason))

    def _wait(self, kind: str, mid: int) -> ReasonCode:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                got, got_mid, reason = self.answers.get(timeout=0.1)
            except queue.Empty:
                continue
            if (got, got_mid) == (kind, mid):
                return reason
        raise AssertionError(f"no {kind} for {mid} within 5 s")

    def publish(self, topic: str, payload: bytes) -> ReasonCode:
        return self._wait("puback", self.client.publish(topic, payload, qos=1).mid)

    def subscribe(self, topic: str) -> ReasonCode:
        _, mid = self.client.subscribe(topic, options=SubscribeOptions(qos=1))
        assert mid is not None
        return self._wait("suback", mid)

    def topics(self, quiet_s: float = 0.5) -> list[str]:
        got: list[str] = []
        while True:
            try:
                got.append(self.received.get(timeout=quiet_s).topic)
            except queue.Empty:
                return got

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def box7_agent(db: Path, broker: Broker, certs: Certs) -> SyncAgent:
    config = MqttConfig(
        url=f"mqtts://{broker.host}:{broker.port}",
        ca_file=certs.ca.cert,
        cert_file=certs.box7.cert,
        key_file=certs.box7.key,
        will_delay_s=0,
    )
    return SyncAgent(
        MALL, BOX, config, db, None, "cafe", backoff_initial_s=0.1, backoff_max_s=1.0,
        poll_interval_s=0.05, connect_timeout_s=3,
    )  # fmt: skip


def uplink(db: Path) -> dict[str, Any]:
    with Store(db) as store:
        state: dict[str, Any] = collect_status(store, time.time())["uplink"]
        return state


@pytest.fixture
def impostor_scene(
    tmp_path: Path, certs: Certs, request: pytest.FixtureRequest
) -> Iterator[tuple[Broker, Path]]:
    """A broker (shipped settings, or ACL only), box-7's agent running, the platform
    subscribed to box-7's data (so its batches are taken)."""
    config = shipped_broker_config(certs.ca, certs.server)
    if request.param == "acl-only":
        config = acl_only(config)
    db = tmp_path / "box-7.db"
    write(db, [presence(i) for i in range(5)])
    with running_broker(tmp_path / "mq", extra_config=config) as broker:
        platform = Client5(broker, certs.ca.cert, certs.platform, "platform-ingest")
        assert not platform.subscribe(f"{PREFIX}/data/+").is_failure
        with agent_running(box7_agent(db, broker, certs)):
            wait_until(lambda: uplink(db)["records_sent"] == 5, what="box-7 delivered")
            yield broker, db
        platform.close()


def test_shipped_broker_files_bind_the_client_id_to_the_certificate() -> None:
    conf = (SHIPPED_BROKER / "mosquitto.conf").read_text(encoding="utf-8").splitlines()
    assert "use_identity_as_username true" in conf
    assert "use_username_as_clientid true" in conf
    assert "require_certificate true" in conf
    acl = (SHIPPED_BROKER / "mallsense.acl").read_text(encoding="utf-8")
    writes = [line for line in acl.splitlines() if line.startswith("pattern write")]
    assert writes and all("/%u/" in line for line in writes)
    assert "cmd/+\n" not in "\n".join(writes) + "\n"  # boxes never send commands


@pytest.mark.parametrize("impostor_scene", ["shipped"], indirect=True)
def test_another_certificate_cannot_take_a_box_id(
    impostor_scene: tuple[Broker, Path], certs: Certs, caplog: pytest.LogCaptureFixture
) -> None:
    broker, db = impostor_scene
    with caplog.at_level(logging.INFO, logger="mallsense.sync"):
        impostor = Client5(broker, certs.ca.cert, certs.box8, BOX7_CLIENT_ID)
        try:
            refused = impostor.publish(f"{PREFIX}/data/presence", b'{"records":[]}')
            assert refused.is_failure and refused.value == 0x87, refused
            impostor.subscribe(f"{PREFIX}/cmd/+")  # mosquitto's acl_file filters at delivery
            platform = Client5(broker, certs.ca.cert, certs.platform, "platform-cmd")
            assert not platform.publish(f"{PREFIX}/cmd/ping", b'{"id":"1"}').is_failure
            platform.close()
            assert impostor.topics() == []
            time.sleep(0.5)
        finally:
            impostor.close()
    assert "another client took this id" not in caplog.text
    assert uplink(db)["takeovers"] == 0
    assert uplink(db)["connected"]
    assert "Client box-8 already connected" not in broker.log()


@pytest.mark.parametrize("impostor_scene", ["acl-only"], indirect=True)
def test_without_the_binding_the_acl_still_stops_the_impostor(
    impostor_scene: tuple[Broker, Path], certs: Certs
) -> None:
    """Without use_username_as_clientid the id can be taken (the risk docs/broker/ names);
    the ACL on %u still keeps the impostor from publishing as box-7 or reading its commands.

    mosquitto 2.0.11 closes the old connection without the MQTT 5 DISCONNECT 0x8E
    ("Session taken over"), so box-7 cannot tell this from a network drop here; brokers
    that send it get the "another client took this id" message (sync.link, sync.run).
    """
    broker, db = impostor_scene
    watcher = Client5(broker, certs.ca.cert, certs.platform, "platform-watch")
    watcher.subscribe(f"{PREFIX}/#")
    impostor = Client5(broker, certs.ca.cert, certs.box8, BOX7_CLIENT_ID)
    try:
        # Not waiting for the SUBACK or PUBACK: box-7 reconnects within its back-off and
        # takes its id back, which may close the impostor's connection before they come.
        impostor.client.subscribe(f"{PREFIX}/cmd/+", options=SubscribeOptions(qos=1))
        impostor.client.publish(f"{PREFIX}/data/presence", b'{"records":["forged"]}', qos=1)
        time.sleep(0.5)
        assert impostor.topics(quiet_s=0.2) == []
    finally:
        impostor.close()
    assert f"{PREFIX}/data/presence" not in watcher.topics()
    watcher.close()
    assert "as mallsense-mall-1-box-7 (p5, c1, k10, u'box-8')" in broker.log()
    wait_until(lambda: uplink(db)["connected"], what="box-7 connected again")


def test_a_session_taken_over_is_named_counted_and_not_fought_for(
    broker: Broker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "box.db"
    write(db, [presence(i) for i in range(3)], now=time.time())
    with RefusingProxy((broker.host, broker.port), lambda topic, body: None) as proxy:
        agent = make_agent(db, proxy.url)  # back-off from 0.1 s up to 0.5 s
        with caplog.at_level(logging.INFO), agent_running(agent):
            wait_until(lambda: "connected to" in caplog.text, what="the agent connects")
            proxy.take_over()
            wait_until(lambda: "another client took this id" in caplog.text, what="named")
            wait_until(lambda: caplog.text.count("connected to") == 2, what="back later")
    line = next(r.getMessage() for r in caplog.records if "took this id" in r.getMessage())
    assert agent.settings.client_id in line and "certificate" in line
    # Not fighting for it: the longest back-off, not the first one (0.1 s).
    assert re.search(r"waiting 0\.5 s before connecting again", line), line
    with Store(db) as store:
        assert collect_status(store, time.time())["uplink"]["takeovers"] == 1
