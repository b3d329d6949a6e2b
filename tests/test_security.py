"""Security of the uplink: mutual TLS and per-box access rules on a real mosquitto.

The broker here is set up the way a mall's platform team would, with the settings
and ACL the project ships in ``docs/broker/``: its own CA, a server certificate, one
client certificate per box whose common name is the box id
(``use_identity_as_username``, and ``use_username_as_clientid`` so the client id is
that name too), ``require_certificate``, and an ACL file in which a box may write
only its own topics and read only its own ``cmd/``.
A rogue CA stands for an attacker's certificates. The certificates are made with
the openssl command (``tests/pki.py``).

mosquitto 2.0's ``acl_file`` grants every SUBSCRIBE and filters at delivery, so
the test that a box cannot *subscribe* to another box's commands (a SUBACK
failure) runs against the dynamic-security plugin, which checks subscriptions;
with ``acl_file`` the test is that the commands never reach the other box.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import queue
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from broker import Broker, Message, free_port, running_broker
from cli_helpers import invoke
from paho.mqtt.client import Client, ConnectFlags, MQTTMessage
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions
from pki import Authority, Identity, Pki, shipped_broker_config

from edge.config.models import MqttConfig
from edge.records import Presence, Record, record_id, utc
from edge.store import Store
from sync.agent import SyncAgent

pytestmark = pytest.mark.broker

MALL = "mall-1"
T0 = 1_780_000_000.0
DYNSEC_PLUGIN = Path("/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so")
READ_ONLY_ACL = "pattern read mallsense/v1/mall-1/%u/cmd/#\n"


# -- certificates and brokers -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Certs:
    ca: Authority
    rogue_ca: Authority
    server: Identity  # for 127.0.0.1 and localhost
    elsewhere: Identity  # only for broker.mall-1.example
    expired: Identity  # for 127.0.0.1, expired in 2020
    box7: Identity
    box8: Identity
    platform: Identity
    rogue_box7: Identity  # CN=box-7, issued by the rogue CA


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    pki = Pki(tmp_path_factory.mktemp("pki"))
    ca, rogue = pki.authority("mall-ca"), pki.authority("rogue-ca")
    return Certs(
        ca=ca,
        rogue_ca=rogue,
        server=pki.server(ca, "broker", dns=("localhost",), ips=("127.0.0.1",)),
        elsewhere=pki.server(ca, "elsewhere", dns=("broker.mall-1.example",)),
        expired=pki.server(
            ca, "expired", ips=("127.0.0.1",), dates=("20200101000000Z", "20200102000000Z")
        ),
        box7=pki.client(ca, "box-7"),
        box8=pki.client(ca, "box-8"),
        platform=pki.client(ca, "platform"),
        rogue_box7=pki.client(rogue, "rogue-box-7", cn="box-7"),
    )


def mtls_config(certs: Certs, acl: Path | None, server: Identity | None = None) -> str:
    """mosquitto settings for its (only) listener: TLS, client certificates required."""
    server = server or certs.server
    lines = [
        f"cafile {certs.ca.cert}",
        f"certfile {server.cert}",
        f"keyfile {server.key}",
        "require_certificate true",
        "use_identity_as_username true",
    ]
    if acl is not None:
        lines.append(f"acl_file {acl}")
    return "\n".join(lines) + "\n"


def write_acl(directory: Path, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "acl"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def mtls(tmp_path_factory: pytest.TempPathFactory, certs: Certs) -> Iterator[Broker]:
    """The platform's broker as shipped (docs/broker/): mutual TLS and the per-box ACL."""
    work = tmp_path_factory.mktemp("mtls")
    extra = shipped_broker_config(certs.ca, certs.server)
    with running_broker(work / "mq", extra_config=extra) as broker:
        yield broker


def mqtts(broker: Broker, host: str = "127.0.0.1") -> str:
    return f"mqtts://{host}:{broker.port}"


# -- a TLS client for the platform and for boxes acting by hand -------------------------


class Peer:
    """An MQTT 5 client over TLS with its own certificate, waiting for each answer."""

    def __init__(self, broker: Broker, ca: Path, identity: Identity) -> None:
        self.replies: queue.Queue[tuple[str, int, ReasonCode]] = queue.Queue()
        self.received: queue.Queue[Message] = queue.Queue()
        client = Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"test-{identity.name}-{id(self):x}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        client.tls_set(ca_certs=str(ca), certfile=str(identity.cert), keyfile=str(identity.key))
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        self.client = client
        client.connect(broker.host, broker.port, keepalive=10)
        client.loop_start()
        reason = self._wait("connack", 0)
        assert not reason.is_failure, f"{identity.name} was refused: {reason}"

    def _on_connect(
        self, c: Client, u: Any, f: ConnectFlags, reason: ReasonCode, p: Properties | None
    ) -> None:
        self.replies.put(("connack", 0, reason))

    def _on_subscribe(
        self, c: Client, u: Any, mid: int, reasons: list[ReasonCode], p: Properties | None
    ) -> None:
        self.replies.put(("suback", mid, reasons[0]))

    def _on_publish(self, c: Client, u: Any, mid: int, reason: ReasonCode, p: Properties) -> None:
        self.replies.put(("puback", mid, reason))

    def _on_message(self, c: Client, u: Any, msg: MQTTMessage) -> None:
        self.received.put(Message(msg.topic, bytes(msg.payload), msg.retain, time.monotonic()))

    def _wait(self, kind: str, mid: int) -> ReasonCode:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                got, got_mid, reason = self.replies.get(timeout=0.1)
            except queue.Empty:
                continue
            if got == kind and got_mid == mid:
                return reason
        raise AssertionError(f"no {kind} for message id {mid} within 5 s")

    def subscribe(self, topic: str) -> ReasonCode:
        _, mid = self.client.subscribe(topic, options=SubscribeOptions(qos=1))
        assert mid is not None
        return self._wait("suback", mid)

    def publish(self, topic: str, payload: bytes) -> ReasonCode:
        return self._wait("puback", self.client.publish(topic, payload, qos=1).mid)

    def messages(self, quiet_s: float = 0.3) -> list[Message]:
        """Everything received until nothing more came for ``quiet_s``."""
        got: list[Message] = []
        while True:
            try:
                got.append(self.received.get(timeout=quiet_s))
            except queue.Empty:
                return got

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> Peer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- the sync agent -------------------------------------------------------------------------


def presence(box: str, i: int) -> Record:
    start = T0 + 60 * i
    return Presence(
        id=record_id(start, f"{MALL}\x1f{box}\x1fpresence\x1fentrance\x1f{start!r}"),
        mall=MALL,
        box=box,
        zone="entrance",
        start=utc(start),
        end=utc(start + 60),
        devices=3,
        devices_raw=3,
        grouping_confidence=1.0,
        visitors=1,
        passersby=2,
        randomized_share=0.5,
        fixed=0,
        frames=9,
    ).model_dump(mode="json", by_alias=True)


def outbox(directory: Path, box: str, count: int) -> Path:
    db = directory / f"{box}.db"
    with Store(db) as store:
        store.write([presence(box, i) for i in range(count)], time.time())
    return db


def depth(db: Path) -> int:
    with Store(db) as store:
        return store.outbox_depth()[0]


def agent(box: str, db: Path, url: str, **mqtt: Any) -> SyncAgent:
    # will_delay_s=0: a refused box's will is published (and must be refused) at once.
    config = MqttConfig(url=url, will_delay_s=0, **mqtt)
    return SyncAgent(
        MALL, box, config, db, None, "cafe", backoff_initial_s=0.1, backoff_max_s=0.3,
        poll_interval_s=0.05, connect_timeout_s=3,
    )  # fmt: skip


def box_tls(certs: Certs, identity: Identity | None, ca: Path | None = None) -> dict[str, Any]:
    files: dict[str, Any] = {"ca_file": ca or certs.ca.cert}
    if identity is not None:
        files.update(cert_file=identity.cert, key_file=identity.key)
    return files


def test_agent_with_mutual_tls_delivers_to_its_own_topics(
    tmp_path: Path, certs: Certs, mtls: Broker
) -> None:
    db = outbox(tmp_path, "box-7", 25)
    with Peer(mtls, certs.ca.cert, certs.platform) as platform:
        assert not platform.subscribe(f"mallsense/v1/{MALL}/#").is_failure
        box7 = agent("box-7", db, mqtts(mtls), **box_tls(certs, certs.box7))
        assert box7.run(drain=True, timeout=10) == 0
        messages = platform.messages()
    data = [m for m in messages if "/data/" in m.topic]
    assert {m.topic for m in data} == {f"mallsense/v1/{MALL}/box-7/data/presence"}
    assert sum(len(m.json()["records"]) for m in data) == 25
    assert f"mallsense/v1/{MALL}/box-7/status" in {m.topic for m in messages}
    assert depth(db) == 0


def test_certificate_from_a_rogue_ca_is_refused(
    tmp_path: Path, certs: Certs, mtls: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    db = outbox(tmp_path, "box-7", 3)
    rogue = agent("box-7", db, mqtts(mtls), **box_tls(certs, certs.rogue_box7))
    with caplog.at_level(logging.WARNING, logger="mallsense.sync"):
        assert rogue.run(drain=True, timeout=1.0) == 1
    assert depth(db) == 3
    assert f"cannot connect to {mqtts(mtls)}" in caplog.text
    assert "certificate verify failed" in mtls.log()  # the broker's side of the story


def test_certificate_from_a_rogue_ca_is_explained_in_the_log(
    tmp_path: Path, certs: Certs, mtls: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    db = outbox(tmp_path, "box-7", 1)
    rogue = agent("box-7", db, mqtts(mtls), **box_tls(certs, certs.rogue_box7))
    with caplog.at_level(logging.WARNING, logger="mallsense.sync"):
        rogue.run(drain=True, timeout=1.0)
    assert "client certificate CN=box-7" in caplog.text
    assert "closed without a word" not in caplog.text


def test_box_without_client_certificate_is_refused(
    tmp_path: Path, certs: Certs, mtls: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    db = outbox(tmp_path, "box-7", 3)
    anonymous = agent("box-7", db, mqtts(mtls), **box_tls(certs, None))
    with caplog.at_level(logging.WARNING, logger="mallsense.sync"):
        assert anonymous.run(drain=True, timeout=1.0) == 1
    assert depth(db) == 3
    assert f"cannot connect to {mqtts(mtls)}" in caplog.text


def test_box_without_client_certificate_is_told_so_in_the_log(
    tmp_path: Path, certs: Certs, mtls: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    db = outbox(tmp_path, "box-7", 1)
    anonymous = agent("box-7", db, mqtts(mtls), **box_tls(certs, None))
    with caplog.at_level(logging.WARNING, logger="mallsense.sync"):
        anonymous.run(drain=True, timeout=1.0)
    assert "the broker requires a client certificate and this box sent none" in caplog.text


def test_untrusted_broker_certificate_is_a_verification_error(
    tmp_path: Path, certs: Certs, mtls: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    db = outbox(tmp_path, "box-7", 3)
    wrong_ca = box_tls(certs, certs.box7, ca=certs.rogue_ca.cert)
    with caplog.at_level(logging.WARNING, logger="mallsense.sync"):
        assert agent("box-7", db, mqtts(mtls), **wrong_ca).run(drain=True, timeout=1.0) == 1
    assert depth(db) == 3
    assert f"cannot connect to {mqtts(mtls)}: TLS certificate rejected" in caplog.text
    assert "mqtt.ca_file" in caplog.text


def test_untrusted_broker_certificate_is_named_in_the_log(
    tmp_path: Path, certs: Certs, mtls: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    db = outbox(tmp_path, "box-7", 1)
    wrong_ca = box_tls(certs, certs.box7, ca=certs.rogue_ca.cert)
    with caplog.at_level(logging.WARNING, logger="mallsense.sync"):
        agent("box-7", db, mqtts(mtls), **wrong_ca).run(drain=True, timeout=1.0)
    assert "the broker's certificate CN=broker" in caplog.text
    assert "issued by CN=mall-ca" in caplog.text


def test_box_cannot_publish_into_another_box_topics(
    tmp_path: Path, certs: Certs, mtls: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    """A box configured as box-8 but holding box-7's certificate: the broker refuses it all."""
    db = outbox(tmp_path, "box-8", 5)
    impostor = agent("box-8", db, mqtts(mtls), **box_tls(certs, certs.box7))
    with Peer(mtls, certs.ca.cert, certs.platform) as platform:
        assert not platform.subscribe(f"mallsense/v1/{MALL}/box-8/#").is_failure
        with caplog.at_level(logging.WARNING, logger="mallsense.sync"):
            assert impostor.run(drain=True, timeout=1.5) == 1
        assert platform.messages(quiet_s=0.5) == []  # no data, no status, no will
    assert depth(db) == 5
    assert f"{mqtts(mtls)} refused the status message: Not authorized" in caplog.text


def test_box_never_receives_another_box_commands(certs: Certs, mtls: Broker) -> None:
    with (
        Peer(mtls, certs.ca.cert, certs.platform) as platform,
        Peer(mtls, certs.ca.cert, certs.box7) as box7,
        Peer(mtls, certs.ca.cert, certs.box8) as box8,
    ):
        # mosquitto 2.0's acl_file grants this SUBACK and filters at delivery instead.
        box7.subscribe(f"mallsense/v1/{MALL}/box-8/cmd/+")
        assert not box8.subscribe(f"mallsense/v1/{MALL}/box-8/cmd/+").is_failure
        ping = f"mallsense/v1/{MALL}/box-8/cmd/ping"
        assert not platform.publish(ping, b'{"id":"1"}').is_failure
        assert [m.topic for m in box8.messages()] == [ping]
        assert box7.messages(quiet_s=0.1) == []
        # ...and a box cannot send commands to another box either.
        assert box7.publish(f"mallsense/v1/{MALL}/box-8/cmd/resend", b"{}").is_failure


@pytest.fixture(scope="module")
def dynsec(tmp_path_factory: pytest.TempPathFactory, certs: Certs) -> Iterator[Broker]:
    """The same mutual TLS with mosquitto's dynamic-security plugin, which checks SUBSCRIBE."""
    if not DYNSEC_PLUGIN.is_file():
        pytest.skip(f"mosquitto's dynamic-security plugin is not installed ({DYNSEC_PLUGIN})")
    work = tmp_path_factory.mktemp("dynsec")
    state = work / "dynamic-security.json"
    state.write_text(json.dumps(dynsec_state(["box-7", "box-8"])), encoding="utf-8")
    plugin = f"plugin {DYNSEC_PLUGIN}\nplugin_opt_config_file {state}\n"
    with running_broker(work / "mq", extra_config=mtls_config(certs, None) + plugin) as broker:
        yield broker


def dynsec_state(boxes: Sequence[str]) -> dict[str, Any]:
    """One role per box: write under its prefix, subscribe to and receive its cmd/ only."""

    def role(box: str) -> dict[str, Any]:
        prefix = f"mallsense/v1/{MALL}/{box}"
        acls = [
            ("publishClientSend", f"{prefix}/#"),
            ("subscribePattern", f"{prefix}/cmd/#"),
            ("publishClientReceive", f"{prefix}/cmd/#"),
        ]
        return {
            "rolename": box,
            "acls": [{"acltype": kind, "topic": topic, "allow": True} for kind, topic in acls],
        }

    return {
        "defaultACLAccess": {
            "publishClientSend": False,
            "publishClientReceive": False,
            "subscribe": False,
            "unsubscribe": True,
        },
        "clients": [{"username": box, "roles": [{"rolename": box}]} for box in boxes],
        "groups": [],
        "roles": [role(box) for box in boxes],
    }


def test_box_cannot_subscribe_to_another_box_commands(certs: Certs, dynsec: Broker) -> None:
    with Peer(dynsec, certs.ca.cert, certs.box7) as box7:
        refused = box7.subscribe(f"mallsense/v1/{MALL}/box-8/cmd/+")
        assert refused.is_failure and refused.value == 0x87, refused
        assert not box7.subscribe(f"mallsense/v1/{MALL}/box-7/cmd/+").is_failure


# -- mallsense sync check -------------------------------------------------------------------


def check_config(directory: Path, url: str, *, box: str = "box-7", **mqtt: Any) -> Path:
    lines = [f'mall = "{MALL}"', f'box = "{box}"', "[[zones]]", 'id = "entrance"', "[mqtt]"]
    lines.append(f'url = "{url}"')
    lines += [f'{key} = "{value}"' for key, value in mqtt.items() if value is not None]
    path = directory / f"check-{box}.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def check(config: Path, *args: str) -> tuple[int, dict[str, dict[str, Any]]]:
    """`mallsense sync check --json`: the exit code and the steps by name."""
    result = invoke("sync", "check", "--config", config, "--timeout", "3", "--json", *args)
    assert result.stderr == "", result.stderr
    steps = [json.loads(line) for line in result.stdout.splitlines()]
    assert [s["step"] for s in steps] == ["dns", "tcp", "tls", "mqtt", "subscribe", "publish"]
    return result.exit_code, {s["step"]: s for s in steps}


def statuses(steps: dict[str, dict[str, Any]]) -> list[str]:
    return [s["status"] for s in steps.values()]


def test_check_passes_every_step_with_mutual_tls(
    tmp_path: Path, certs: Certs, mtls: Broker
) -> None:
    config = check_config(tmp_path, mqtts(mtls, "localhost"), **box_tls(certs, certs.box7))
    code, steps = check(config)
    assert code == 0, steps
    assert statuses(steps) == ["pass"] * 6
    tls = steps["tls"]
    assert "the broker's certificate CN=broker (for localhost, 127.0.0.1)" in tls["summary"]
    assert "issued by CN=mall-ca" in tls["summary"]
    assert "the broker accepted this box's certificate CN=box-7" in tls["summary"]
    assert tls["facts"]["server_certificate"]["names"] == ["localhost", "127.0.0.1"]
    assert steps["mqtt"]["summary"].startswith(
        "the broker accepted the certificate identity CN=box-7"
    )
    assert steps["subscribe"]["facts"]["topic"] == f"mallsense/v1/{MALL}/box-7/cmd/+"
    assert steps["publish"]["facts"]["topic"] == f"mallsense/v1/{MALL}/box-7/check"
    assert steps["publish"]["facts"]["reason_code"] in (0x00, 0x10)  # 0x10: no subscriber


def test_check_prints_each_step_for_a_technician(
    tmp_path: Path, certs: Certs, mtls: Broker
) -> None:
    config = check_config(tmp_path, mqtts(mtls), **box_tls(certs, certs.box7))
    # The group's --config reaches the subcommand, as in `mallsense sync --config F check`.
    result = invoke("sync", "--config", config, "check", "--timeout", "3")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == (
        f"checking {mqtts(mtls)} for {MALL}/box-7 (client id mallsense-{MALL}-box-7-check)"
    )
    assert [line.split()[:2] for line in lines[1:7]] == [
        ["PASS", "DNS"], ["PASS", "TCP"], ["PASS", "TLS"], ["PASS", "MQTT"],
        ["PASS", "subscribe"], ["PASS", "publish"],
    ]  # fmt: skip
    assert lines[-1] == "all checks passed"


def test_check_names_the_closed_port(tmp_path: Path) -> None:
    port = free_port()
    code, steps = check(check_config(tmp_path, f"mqtt://127.0.0.1:{port}"))
    assert code == 1
    assert statuses(steps) == ["pass", "fail", "skip", "skip", "skip", "skip"]
    assert steps["tcp"]["summary"] == (
        f"cannot connect to 127.0.0.1 port {port}: connection refused (nothing listens on that"
        " port; is the broker running?)"
    )
    assert f"nothing accepts connections on port {port}" in steps["tcp"]["advice"]
    assert steps["mqtt"]["summary"] == "not tried: an earlier step failed"


def test_check_shows_the_names_a_mismatched_certificate_has(tmp_path: Path, certs: Certs) -> None:
    extra = mtls_config(certs, None, server=certs.elsewhere)
    with running_broker(tmp_path / "mq", extra_config=extra) as broker:
        config = check_config(tmp_path, mqtts(broker, "localhost"), **box_tls(certs, certs.box7))
        code, steps = check(config)
    assert code == 1
    assert statuses(steps) == ["pass", "pass", "fail", "skip", "skip", "skip"]
    assert steps["tls"]["summary"] == (
        "the broker's certificate CN=elsewhere is for broker.mall-1.example, not for localhost"
    )
    assert "with localhost in its subjectAltName" in steps["tls"]["advice"]
    assert steps["tls"]["facts"]["verify_code"] == 62  # X509_V_ERR_HOSTNAME_MISMATCH


def test_check_names_the_untrusted_broker_certificate(
    tmp_path: Path, certs: Certs, mtls: Broker
) -> None:
    wrong_ca = box_tls(certs, certs.box7, ca=certs.rogue_ca.cert)
    code, steps = check(check_config(tmp_path, mqtts(mtls), **wrong_ca))
    assert code == 1
    assert steps["tls"]["status"] == "fail"
    assert steps["tls"]["summary"] == (
        "the broker's certificate CN=broker (localhost, 127.0.0.1) was issued by CN=mall-ca,"
        f" which is not the CA in mqtt.ca_file ({certs.rogue_ca.cert})"
    )
    assert "set mqtt.ca_file" in steps["tls"]["advice"]


def test_check_says_when_the_broker_certificate_expired(tmp_path: Path, certs: Certs) -> None:
    extra = mtls_config(certs, None, server=certs.expired)
    with running_broker(tmp_path / "mq", extra_config=extra) as broker:
        code, steps = check(check_config(tmp_path, mqtts(broker), **box_tls(certs, certs.box7)))
    assert code == 1
    assert steps["tls"]["summary"].startswith(
        "the broker's certificate CN=expired expired on 2020-01-02 00:00 UTC (the box's clock"
    )
    assert "timedatectl" in steps["tls"]["advice"]


def test_check_says_the_broker_refused_a_rogue_client_certificate(
    tmp_path: Path, certs: Certs, mtls: Broker
) -> None:
    code, steps = check(check_config(tmp_path, mqtts(mtls), **box_tls(certs, certs.rogue_box7)))
    assert code == 1
    assert statuses(steps) == ["pass", "pass", "fail", "skip", "skip", "skip"]
    assert steps["tls"]["summary"] == (
        "the broker does not trust this box's client certificate CN=box-7 (issued by"
        " CN=rogue-ca): it does not know that CA"
    )


def test_check_says_a_client_certificate_is_required(
    tmp_path: Path, certs: Certs, mtls: Broker
) -> None:
    code, steps = check(check_config(tmp_path, mqtts(mtls), **box_tls(certs, None)))
    assert code == 1
    assert steps["tls"]["summary"] == (
        "the broker requires a client certificate and this box sent none"
    )
    assert "mqtt.cert_file and mqtt.key_file" in steps["tls"]["advice"]


def test_check_reports_a_wrong_password(tmp_path: Path) -> None:
    passwords = password_file(tmp_path / "passwords", "box-7", "s3cret")
    extra = f"allow_anonymous false\npassword_file {passwords}\n"
    wrong, right = tmp_path / "wrong", tmp_path / "right"
    wrong.write_text("not-the-password\n", encoding="utf-8")
    right.write_text("s3cret\n", encoding="utf-8")
    for secret in (wrong, right):
        secret.chmod(0o600)  # a password file others can read is refused
    with running_broker(tmp_path / "mq", extra_config=extra) as broker:
        refused = check_config(tmp_path, broker.url, username="box-7", password_file=wrong)
        code, steps = check(refused)
        assert code == 1
        assert statuses(steps) == ["pass", "pass", "skip", "fail", "skip", "skip"]
        assert steps["mqtt"]["summary"].startswith(
            "the broker refused the connection: Not authorized (CONNACK reason 0x87)"
        )
        assert "check mqtt.username ('box-7') and the password" in steps["mqtt"]["advice"]
        assert "unencrypted" in steps["tls"]["summary"]
        accepted = check_config(tmp_path, broker.url, username="box-7", password_file=right)
        code, steps = check(accepted)
    assert code == 0, steps
    assert steps["mqtt"]["summary"].startswith("the broker accepted user 'box-7'")


def password_file(path: Path, user: str, password: str) -> Path:
    """A mosquitto password file: by `mosquitto_passwd -b` when installed, else by hand.

    The hand-made line is mosquitto 2.0's format: ``$7$`` (PBKDF2-SHA512), 101
    iterations, a 12-byte salt and the digest, both base64.
    """
    path.write_text("", encoding="utf-8")
    path.chmod(0o600)
    tool = shutil.which("mosquitto_passwd")
    if tool is not None:
        subprocess.run([tool, "-b", str(path), user, password], check=True, capture_output=True)
        return path
    salt = os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, 101)
    encoded = base64.b64encode(salt).decode(), base64.b64encode(digest).decode()
    path.write_text(f"{user}:$7$101${encoded[0]}${encoded[1]}\n", encoding="utf-8")
    return path


def test_check_reports_an_acl_that_denies_publishing(tmp_path: Path, certs: Certs) -> None:
    extra = mtls_config(certs, write_acl(tmp_path, READ_ONLY_ACL))
    with running_broker(tmp_path / "mq", extra_config=extra) as broker:
        code, steps = check(check_config(tmp_path, mqtts(broker), **box_tls(certs, certs.box7)))
    assert code == 1
    assert statuses(steps) == ["pass", "pass", "pass", "pass", "pass", "fail"]
    topic = f"mallsense/v1/{MALL}/box-7/check"
    assert steps["publish"]["summary"] == (
        f"the broker refused a test message to {topic}: Not authorized (PUBACK reason 0x87);"
        " it would refuse this box's data the same way"
    )
    assert steps["publish"]["advice"] == (
        "the broker's access rules must let the certificate identity CN=box-7 write"
        f" mallsense/v1/{MALL}/box-7/#"
    )


def test_check_reports_a_refused_subscription(tmp_path: Path, certs: Certs, dynsec: Broker) -> None:
    """Configured as box-8 with box-7's certificate: neither its commands nor its topics."""
    config = check_config(tmp_path, mqtts(dynsec), box="box-8", **box_tls(certs, certs.box7))
    code, steps = check(config)
    assert code == 1
    assert statuses(steps) == ["pass", "pass", "pass", "pass", "fail", "skip"]
    assert steps["subscribe"]["summary"] == (
        f"the broker refused the subscription to mallsense/v1/{MALL}/box-8/cmd/+: Not"
        " authorized (SUBACK reason 0x87); this box would never receive commands"
    )


# -- the sync command group -----------------------------------------------------------------


def test_sync_check_refuses_agent_options(tmp_path: Path) -> None:
    result = invoke("sync", "--db", tmp_path / "x.db", "check")
    assert result.exit_code == 2
    assert "--db, --drain and --json (before the subcommand) are for the agent" in result.stderr


def test_sync_rejects_a_bad_broker_url_in_words(tmp_path: Path) -> None:
    for args in (["sync", "--broker", "http://x"], ["sync", "check", "--broker", "http://x"]):
        result = invoke(*args)
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output
        assert "broker URL 'http://x' has scheme 'http'" in result.stderr
        assert "mqtt://HOST[:PORT]" in result.stderr
