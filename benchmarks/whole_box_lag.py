"""Lags for ``benchmarks/whole_box.py``: from a frame to its record in the outbox, and on to
the platform.

**Frame to outbox.** A record can be written only once the frame that makes it due has
arrived; its outbox row's ``created`` is the daemon's clock when the transaction that
wrote it committed. The lag is ``created - due``, where ``due`` is the event time from
which the record was determined:

- interval records (``presence``, ``footfall``, ``occupancy``, ``traffic``, ``kpi``): the
  interval's end (its first frame after the end closes it);
- sessions (``dwell``, ``visit``): the last sample plus the session gap
  (``aggregation.session_gap_s``): the session ends when the device has been unheard
  that long, not at its last frame;
- ``transaction``: the receipt's end on the line (``end``, else ``time``).

Records written at the daemon's stop (``partial``) and records of other kinds are
left out. Event time of the simulated sources is the daemon's clock (one timeline,
real-time speed), and the POS lines are live, so ``created - due`` is wall time.

**Outbox to broker.** The platform subscriber's receive time (``time.time()`` on the
same host) minus the record's outbox row ``created``, for every record it received
that was created in the measured window.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from paho.mqtt.client import Client, ConnectFlags, MQTTMessage
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions
from whole_box_probe import percentile

__all__ = ["Subscriber", "lags"]

SESSION_GAP_S = 300.0
_INTERVAL_KINDS = ("presence", "footfall", "occupancy", "traffic", "kpi")


class Subscriber:
    """The platform: QoS 1, MQTT 5; keeps (record id, receive time) of every data message."""

    def __init__(self, host: str, port: int, topic_filter: str) -> None:
        self.topic_filter = topic_filter
        self._lock = threading.Lock()
        self._received: list[tuple[str, float]] = []
        self.messages = 0
        self.undecodable = 0
        self._subscribed = threading.Event()
        self._client = Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"platform-{os.getpid()}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._client.connect(host, port, keepalive=30)
        self._client.loop_start()
        if not self._subscribed.wait(10):
            raise RuntimeError(f"no SUBACK from the broker on {host}:{port}")

    def _on_connect(
        self,
        client: Client,
        userdata: Any,
        flags: ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        client.subscribe(self.topic_filter, options=SubscribeOptions(qos=1))

    def _on_subscribe(
        self,
        client: Client,
        userdata: Any,
        mid: int,
        reasons: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        self._subscribed.set()

    def _on_message(self, client: Client, userdata: Any, msg: MQTTMessage) -> None:
        now = time.time()
        try:
            ids = [r["id"] for r in json.loads(msg.payload)["records"]]
        except (ValueError, KeyError, TypeError):
            self.undecodable += 1
            return
        with self._lock:
            self.messages += 1
            self._received += [(i, now) for i in ids]

    def received(self) -> dict[str, float]:
        """Record id -> first receive time."""
        with self._lock:
            out: dict[str, float] = {}
            for record_id, at in self._received:
                out.setdefault(record_id, at)
            return out

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def _epoch(value: Any) -> float | None:
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def due(body: dict[str, Any]) -> float | None:
    """The event time from which the record was determined (None: left out)."""
    kind = body.get("kind")
    if body.get("partial"):
        return None
    if kind in _INTERVAL_KINDS:
        return _epoch(body.get("end"))
    if kind in ("dwell", "visit"):
        last = _epoch(body.get("exit") or body.get("end") or body.get("last_seen"))
        return None if last is None else last + SESSION_GAP_S
    if kind == "transaction":
        return _epoch(body.get("end") or body.get("time"))
    return None


def _summary(values: list[float]) -> dict[str, Any]:
    p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
    return {
        "n": len(values),
        "p50": None if p50 is None else round(p50, 3),
        "p99": None if p99 is None else round(p99, 3),
        "max": round(max(values), 3) if values else None,
    }


def lags(db: Path, start: float, end: float, received: dict[str, float]) -> dict[str, Any]:
    """``frame_to_outbox_s`` and ``outbox_to_broker_s`` for records created in [start, end]."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        rows = conn.execute(
            "SELECT id, kind, body, created FROM records WHERE created BETWEEN ? AND ?",
            (start, end),
        ).fetchall()
    finally:
        conn.close()
    by_kind: dict[str, list[float]] = {}
    to_broker: list[float] = []
    kinds: dict[str, int] = {}
    undelivered = 0
    for record_id, kind, body, created in rows:
        kinds[kind] = kinds.get(kind, 0) + 1
        at = due(json.loads(body))
        if at is not None:
            by_kind.setdefault(kind, []).append(created - at)
        if record_id in received:
            to_broker.append(received[record_id] - created)
        else:
            undelivered += 1
    exact = (*_INTERVAL_KINDS, "transaction")  # due times known to the millisecond
    every = [v for kind, values in by_kind.items() if kind in exact for v in values]
    return {
        "records_in_window": kinds,
        "frame_to_outbox_s": _summary(every),
        "frame_to_outbox_by_kind_s": {k: _summary(v) for k, v in sorted(by_kind.items())},
        "outbox_to_broker_s": _summary(to_broker),
        "not_received": undelivered,
    }
