"""A real mosquitto for tests (the demo's ``LocalBroker``), and a subscriber that records
what reaches it.

The sync agent's promises (nothing lost across outages, PUBACK-driven deletes,
retained status, Last Will) are about a broker's behaviour, so the tests run
against the real thing on a free loopback port rather than a fake.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from paho.mqtt.client import Client, ConnectFlags, DisconnectFlags, MQTTMessage
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from edge.demo.broker import LocalBroker as Broker
from edge.demo.broker import find_mosquitto, free_port

__all__ = ["Broker", "Message", "Subscriber", "find_mosquitto", "free_port", "running_broker"]


@contextlib.contextmanager
def running_broker(
    workdir: Path, *, persistence: bool = False, extra_config: str = ""
) -> Iterator[Broker]:
    """A started broker, killed on exit (the test is skipped without mosquitto)."""
    if find_mosquitto() is None:
        pytest.skip("mosquitto is not installed (`make tools` installs it with apt-get)")
    broker = Broker(workdir, persistence=persistence, extra_config=extra_config)
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
