"""Shared pieces of the uplink tests (commands, telemetry, platform state, quarantine):
records written the way the edge daemon writes them, the agent running in a thread
as the service runs it, and a platform client that sends commands and keeps replies
with their MQTT 5 properties.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from paho.mqtt.client import Client, MQTTMessage
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from edge.config.models import Config, MqttConfig
from edge.records import Presence, Record, record_id, utc
from edge.store import Store
from sync.agent import SyncAgent

__all__ = [
    "BOX",
    "MALL",
    "ROOT",
    "T0",
    "Platform",
    "Reply",
    "agent_running",
    "make_agent",
    "presence",
    "wait_until",
    "write",
]

MALL, BOX = "mall-1", "box-7"
ROOT = f"mallsense/v1/{MALL}/{BOX}"
T0 = 1_780_000_000.0


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


def write(db: Path, records: Sequence[Record], now: float | None = None) -> list[str]:
    with Store(db) as store:
        store.write(records, time.time() if now is None else now)
    return [r["id"] for r in records]


def make_agent(
    db: Path,
    url: str,
    *,
    password: str | None = None,
    box_config: Config | None = None,
    **mqtt: Any,
) -> SyncAgent:
    return SyncAgent(
        MALL,
        BOX,
        MqttConfig(url=url, **mqtt),
        db,
        password,
        "cafe",
        backoff_initial_s=0.1,
        backoff_max_s=0.5,
        poll_interval_s=0.05,
        box_config=box_config,
    )


@contextlib.contextmanager
def agent_running(agent: SyncAgent) -> Iterator[SyncAgent]:
    """The agent as the service runs it (until stopped), in a thread; stopped on exit."""
    Store(agent.db_path).close()  # migrate before two connections race to
    stop = threading.Event()
    result: list[int] = []
    runner = threading.Thread(target=lambda: result.append(agent.run(stop=stop)), daemon=True)
    runner.start()
    try:
        yield agent
    finally:
        stop.set()
        runner.join(15)
    assert result == [0], "the agent did not stop cleanly"


def wait_until(condition: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.02)


REPLIES = f"mallsense/v1/{MALL}/+/cmd/+/reply"


@dataclass(frozen=True, slots=True)
class Reply:
    """A reply as the platform receives it."""

    topic: str
    body: dict[str, Any]
    correlation_data: bytes | None
    retain: bool


class Platform:
    """The central platform's side of commands: publishes on ``cmd/<name>`` and keeps
    every message on the reply topics of ``reply_filter`` (default: every box of the mall)."""

    def __init__(self, host: str, port: int, reply_filter: str = REPLIES) -> None:
        self._lock = threading.Lock()
        self._replies: list[Reply] = []
        self._ready = threading.Event()
        self._client = Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"test-platform-{os.getpid()}-{id(self):x}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        self._client.on_message = self._on_message
        self._client.on_subscribe = lambda *_: self._ready.set()
        self._client.connect(host, port, keepalive=10)
        self._client.loop_start()
        self._client.subscribe(
            reply_filter, options=SubscribeOptions(qos=1, retainAsPublished=True)
        )
        if not self._ready.wait(5):
            raise RuntimeError("the platform client got no SUBACK")

    def _on_message(self, _client: Client, _userdata: Any, msg: MQTTMessage) -> None:
        correlation = getattr(msg.properties, "CorrelationData", None)
        reply = Reply(msg.topic, json.loads(msg.payload), correlation, bool(msg.retain))
        with self._lock:
            self._replies.append(reply)

    @property
    def replies(self) -> list[Reply]:
        with self._lock:
            return list(self._replies)

    def send(
        self,
        name: str,
        payload: bytes | dict[str, Any],
        *,
        box: str = BOX,
        correlation_data: bytes | None = None,
        retain: bool = False,
    ) -> None:
        """Publish a command (a dict is sent as JSON) and wait for the broker to take it."""
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        props = None
        if correlation_data is not None:
            props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            props.CorrelationData = correlation_data
        topic = f"mallsense/v1/{MALL}/{box}/cmd/{name}"
        info = self._client.publish(topic, raw, qos=1, retain=retain, properties=props)
        info.wait_for_publish(5)

    def state(self, platform_id: str, payload: bytes) -> None:
        """Publish the platform's retained STATE (empty payload: clear it)."""
        topic = f"mallsense/v1/STATE/{platform_id}"
        self._client.publish(topic, payload, qos=1, retain=True).wait_for_publish(5)

    def reply_to(self, rid: str | None, timeout: float = 10.0) -> Reply:
        """The first reply with this id (waits for it)."""
        found: list[Reply] = []

        def arrived() -> bool:
            found[:] = [r for r in self.replies if r.body.get("id") == rid]
            return bool(found)

        wait_until(arrived, timeout, f"a reply with id {rid!r}")
        return found[0]

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def __enter__(self) -> Platform:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
