"""A real mosquitto for tests, and a subscriber that records what reaches it.

The sync agent's promises (nothing lost across outages, PUBACK-driven deletes,
retained status, Last Will) are about a broker's behaviour, so the tests run
against the real thing on a free loopback port rather than a fake.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from paho.mqtt.client import Client, ConnectFlags, DisconnectFlags, MQTTMessage
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

__all__ = ["Broker", "Message", "Subscriber", "find_mosquitto", "free_port", "running_broker"]

_FALLBACK_PATHS = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")


def find_mosquitto() -> str | None:
    """The mosquitto binary (Debian installs it in /usr/sbin, often not on PATH)."""
    found = shutil.which("mosquitto")
    if found:
        return found
    return next((p for p in _FALLBACK_PATHS if os.access(p, os.X_OK)), None)


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Broker:
    """One mosquitto process that can be stopped and started again on the same port."""

    def __init__(
        self,
        workdir: Path,
        executable: str,
        *,
        persistence: bool = False,
        extra_config: str = "",
    ) -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        self.executable = executable
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = workdir / "mosquitto.conf"
        self.log_path = workdir / "mosquitto.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self.config_path.write_text(self._config(persistence, extra_config), encoding="utf-8")

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def _config(self, persistence: bool, extra: str) -> str:
        lines = [
            f"listener {self.port} {self.host}",
            "allow_anonymous true",
            # Run as root, mosquitto switches to user 'mosquitto', who cannot write here.
            f"user {getpass.getuser()}",
            f"persistence {'true' if persistence else 'false'}",
            f"persistence_location {self.workdir}/",
            # Never drop messages queued for a slow test subscriber.
            "max_queued_messages 0",
            extra,
        ]
        return "\n".join(lines) + "\n"

    def start(self, timeout: float = 5.0) -> None:
        """Start mosquitto and return once its port accepts connections."""
        if self._proc is not None and self._proc.poll() is None:
            return
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [self.executable, "-c", str(self.config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited at start:\n{self.log()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.host, self.port), 0.2),
            ):
                return
            time.sleep(0.02)
        raise RuntimeError(f"mosquitto did not listen on {self.url} within {timeout} s")

    def stop(self) -> None:
        """Stop like a service stop (SIGTERM, so a persistent broker saves its state)."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        self._end(signal.SIGKILL)

    def _end(self, sig: signal.Signals) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@contextlib.contextmanager
def running_broker(
    workdir: Path, executable: str, *, persistence: bool = False, extra_config: str = ""
) -> Iterator[Broker]:
    """A started broker, killed on exit."""
    broker = Broker(workdir, executable, persistence=persistence, extra_config=extra_config)
    broker.start()
    try:
        yield broker
    finally:
        broker.kill()


@dataclass(frozen=True, slots=True)
class Message:
    """One delivered message (``retain`` as published: the subscription asks for it)."""

    topic: str
    payload: bytes
    retain: bool
    received: float

    def json(self) -> Any:
        return json.loads(self.payload)


class Subscriber:
    """Subscribes (QoS 1, MQTT 5) to a topic filter and keeps every message it receives.

    With ``persistent`` the broker keeps the session (and queues messages) while the
    subscriber is away, e.g. across a restart of a broker with persistence.
    """

    def __init__(
        self, host: str, port: int, topic_filter: str, *, persistent: bool = False
    ) -> None:
        self.topic_filter = topic_filter
        self._lock = threading.Lock()
        self._messages: list[Message] = []
        self._subscribed = threading.Event()
        client_id = f"test-sub-{os.getpid()}-{id(self):x}"
        self._client = Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5
        )
        self._client.reconnect_delay_set(1, 2)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe
        self._client.on_disconnect = self._on_disconnect
        props = None
        if persistent:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = 3600
        # mosquitto saves only sessions that were never started clean.
        self._client.connect(host, port, keepalive=10, clean_start=not persistent, properties=props)
        self._client.loop_start()
        if not self._subscribed.wait(5):
            self.close()
            raise RuntimeError(f"no SUBACK for {topic_filter} from {host}:{port}")

    def _on_connect(
        self,
        client: Client,
        userdata: Any,
        flags: ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        options = SubscribeOptions(qos=1, retainAsPublished=True)
        client.subscribe(self.topic_filter, options=options)

    def _on_subscribe(
        self,
        client: Client,
        userdata: Any,
        mid: int,
        reasons: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        self._subscribed.set()

    def _on_disconnect(
        self,
        client: Client,
        userdata: Any,
        flags: DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._subscribed.clear()

    def _on_message(self, client: Client, userdata: Any, msg: MQTTMessage) -> None:
        message = Message(msg.topic, bytes(msg.payload), bool(msg.retain), time.monotonic())
        with self._lock:
            self._messages.append(message)

    @property
    def messages(self) -> list[Message]:
        """A snapshot, in arrival order."""
        with self._lock:
            return list(self._messages)

    def wait_for(
        self, predicate: Callable[[list[Message]], bool], timeout: float = 10.0
    ) -> list[Message]:
        """Wait until ``predicate(messages)`` holds; returns the messages at that point."""
        deadline = time.monotonic() + timeout
        while True:
            messages = self.messages
            if predicate(messages):
                return messages
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"condition not met within {timeout} s; {len(messages)} message(s) on"
                    f" {self.topic_filter}"
                )
            time.sleep(0.02)

    def wait_subscribed(self, timeout: float = 10.0) -> None:
        """After a broker restart: wait until the subscription is in place again."""
        if not self._subscribed.wait(timeout):
            raise AssertionError(f"not subscribed again to {self.topic_filter} within {timeout} s")

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def __enter__(self) -> Subscriber:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
