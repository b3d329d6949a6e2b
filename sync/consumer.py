"""A consumer of the mallsense MQTT contract: what the central platform does.

Subscribes to a mall's topics, de-duplicates records by id (the uplink is
at-least-once), and watches each box's batch ``seq`` for gaps. The demo uses
it to show what arrived; tests use it as the platform.
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from paho.mqtt.client import Client, ConnectFlags, MQTTMessage
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from edge.config.urls import parse_broker_url
from sync.envelope import TOPIC_ROOT

__all__ = ["Consumer", "ConsumerStats"]


@dataclass
class ConsumerStats:
    """What arrived, after de-duplication."""

    envelopes: int = 0
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Record id -> record (the first copy received)."""
    duplicates: int = 0
    historical: int = 0
    invalid: int = 0
    gaps: list[tuple[str, int, int]] = field(default_factory=list)
    """(box, first missing seq, last missing seq)."""
    last_seq: dict[str, int] = field(default_factory=dict)
    status: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Box -> its latest status message."""

    def by_kind(self) -> Counter[str]:
        return Counter(r["kind"] for r in self.records.values())


class Consumer:
    """Subscribes to ``mallsense/v1/<mall>/#`` and folds every message into ``stats``."""

    def __init__(self, broker_url: str, mall: str) -> None:
        url = parse_broker_url(broker_url)
        self.topic_filter = f"{TOPIC_ROOT}/{mall}/#"
        self.stats = ConsumerStats()
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._client = Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"mallsense-consumer-{os.getpid()}-{id(self):x}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        if url.tls:
            self._client.tls_set()
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._client.connect_async(url.host, url.port, keepalive=30)
        self._client.loop_start()

    def wait_subscribed(self, timeout: float = 10.0) -> bool:
        return self._subscribed.wait(timeout)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def snapshot(self) -> tuple[int, int, int]:
        """(records, duplicates, envelopes) so far, thread-safely."""
        with self._lock:
            return len(self.stats.records), self.stats.duplicates, self.stats.envelopes

    def _on_connect(
        self, client: Client, _userdata: Any, _flags: ConnectFlags, reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:  # fmt: skip
        if not reason.is_failure:
            client.subscribe(self.topic_filter, options=SubscribeOptions(qos=1))

    def _on_subscribe(self, *_args: Any) -> None:
        self._subscribed.set()

    def _on_message(self, _client: Client, _userdata: Any, msg: MQTTMessage) -> None:
        parts = msg.topic.split("/")
        try:
            payload = json.loads(msg.payload)
        except ValueError:
            with self._lock:
                self.stats.invalid += 1
            return
        with self._lock:
            if len(parts) == 5 and parts[4] == "status":
                self.stats.status[parts[3]] = payload
            elif len(parts) == 6 and parts[4] == "data":
                self._fold_envelope(parts[3], payload)

    def _fold_envelope(self, box: str, envelope: dict[str, Any]) -> None:
        stats = self.stats
        stats.envelopes += 1
        seq = envelope.get("seq")
        if isinstance(seq, int):
            last = stats.last_seq.get(box)
            if last is not None and seq > last + 1:
                stats.gaps.append((box, last + 1, seq - 1))
            stats.last_seq[box] = max(seq, last or 0)
        for record in envelope.get("records", []):
            rid = record.get("id")
            if not isinstance(rid, str):
                stats.invalid += 1
            elif rid in stats.records:
                stats.duplicates += 1
            else:
                stats.records[rid] = record
                stats.historical += bool(record.get("historical"))
