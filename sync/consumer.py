"""A consumer of the mallsense MQTT contract: what the central platform does.

Subscribes to a mall's topics (or one box's), de-duplicates records by id (the
uplink is at-least-once), and watches the batch ``seq`` of each box and
``stream`` (the box's database; ``edge.messages.SEQ_TEXT`` is the one meaning
of seq): a jump is a gap (batches the platform never got; the ``resend``
command can fetch them), a smaller or repeated number is a batch sent again
(nobody took it, a reconnect, a resend or a broker redelivery), which is
harmless because its records are duplicates. A re-sent batch that falls inside
a gap fills it. A box that starts a new stream (its database was replaced)
numbers from 1 again: that is a new stream, told as such, not a replay. A
telemetry message whose ``last_acked_seq`` is above the highest seq seen of
its stream shows the last batches missing, before any later batch would. A
box before contract 1.1 sends no stream: its seqs are tracked per box. With
``validate`` every
payload is checked against the JSON Schemas generated from the models
(``edge.contract``), as the platform's ingestion should.

``mallsense subscribe`` prints what this folds (``on_event``); the demo and the
tests read ``stats``.

Whatever arrives, paho's network thread goes on: a payload is size- and
depth-checked before it is parsed (``sync.payload_limits``; nested brackets once
killed the thread with ``RecursionError``), every callback catches what it raises,
counts it in ``stats.errors`` and logs it in one line, and the connection
announces a Maximum Packet Size so the broker drops anything larger than the
largest batch a box sends.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from pathlib import Path
from typing import Any, Literal

from paho.mqtt.client import Client, ConnectFlags, DisconnectFlags, MQTTMessage
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from edge.config.urls import parse_broker_url
from edge.contract import check_message
from edge.errors import UplinkError
from sync.envelope import TOPIC_ROOT
from sync.payload_limits import CONSUMER_MAX_PACKET_BYTES, PayloadRejected, loads_limited

__all__ = ["Consumer", "ConsumerStats", "Event", "EventType"]

log = logging.getLogger("mallsense.consumer")

EventType = Literal[
    "record", "status", "telemetry", "command", "reply", "gap", "resend", "stream", "invalid"
]


@dataclass(frozen=True, slots=True)
class Event:
    """One thing worth telling: a new record, a status, a gap, an invalid payload..."""

    type: EventType
    topic: str
    box: str | None
    data: dict[str, Any]
    """``record``: the record with the envelope's ``seq`` and ``stream`` added; ``status``,
    ``telemetry``, ``command``, ``reply``: the payload; ``gap``: box, stream, from_seq,
    to_seq, seen_in (``batch`` or ``telemetry``); ``resend``: box, stream, seq, last_seq,
    filled_gap; ``stream``: box, stream, previous, seq; ``invalid``: topic, reason."""


@dataclass
class ConsumerStats:
    """What arrived, after de-duplication."""

    envelopes: int = 0
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Record id -> record (the first copy received; empty unless ``keep_records``)."""
    ids: set[str] = field(default_factory=set)
    kinds: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    historical: int = 0
    invalid: int = 0
    gaps: list[tuple[str, int, int]] = field(default_factory=list)
    """Every gap seen: (stream key, first missing seq, last missing seq)."""
    missing: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    """Stream key -> seq ranges still missing (gaps not filled by a re-sent batch). A
    stream key is ``box/stream`` (``stream_key``), or the box alone before contract 1.1."""
    resends: int = 0
    """Batches whose seq was not above the highest so far of their stream."""
    last_seq: dict[str, int] = field(default_factory=dict)
    """Stream key -> the highest seq seen."""
    streams: dict[str, str] = field(default_factory=dict)
    """Box -> the newest stream its batches named."""
    new_streams: int = 0
    """Boxes seen to start a new stream (a new database) after an earlier one."""
    status: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Box -> its latest status message."""
    telemetry: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Box -> its latest telemetry message."""
    messages: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    """Payloads refused before parsing, by kind (``too_large``, ``too_deep``, ``not_json``)."""
    errors: int = 0
    """Messages or events whose handling failed (a bug); each logged in one line."""
    last_error: str | None = None

    def by_kind(self) -> Counter[str]:
        return Counter(self.kinds)

    def missing_batches(self) -> int:
        return sum(last - first + 1 for ranges in self.missing.values() for first, last in ranges)

    def summary(self) -> dict[str, Any]:
        """The figures ``mallsense subscribe`` prints at exit."""
        return {
            "records": len(self.ids),
            "by_kind": dict(sorted(self.kinds.items())),
            "duplicates": self.duplicates,
            "historical": self.historical,
            "envelopes": self.envelopes,
            "resends": self.resends,
            "new_streams": self.new_streams,
            "gaps": [{**_split_key(k), "from_seq": f, "to_seq": t} for k, f, t in self.gaps],
            "missing": {box: [list(r) for r in ranges] for box, ranges in self.missing.items()},
            "invalid": self.invalid,
            "rejected": dict(sorted(self.rejected.items())),
            "errors": self.errors,
            "last_error": self.last_error,
        }


def _guarded(callback: Callable[..., None]) -> Callable[..., None]:
    """A paho callback that never raises: paho's network thread dies of an exception in a
    callback, and the consumer would then receive nothing more without a word."""

    @wraps(callback)
    def guarded(self: Consumer, *args: Any) -> None:
        try:
            callback(self, *args)
        except Exception as exc:
            self._failed_callback(callback.__name__, exc)

    return guarded


def stream_key(box: str, stream: object) -> str:
    """``box/stream`` (a box id is one topic level: no ``/``), or the box alone when an
    envelope names no stream (a box before contract 1.1)."""
    return f"{box}/{stream}" if isinstance(stream, str) and stream else box


def _split_key(key: str) -> dict[str, str | None]:
    box, _, stream = key.partition("/")
    return {"box": box, "stream": stream or None}


def _take(ranges: list[tuple[int, int]], seq: int) -> bool:
    """Remove ``seq`` from the missing ranges; True if it was missing."""
    for i, (first, last) in enumerate(ranges):
        if first <= seq <= last:
            rest = [(first, seq - 1), (seq + 1, last)]
            ranges[i : i + 1] = [(a, b) for a, b in rest if a <= b]
            return True
    return False


class Consumer:
    """Subscribes to ``mallsense/v1/<mall>/#`` (or ``.../<mall>/<box>/#``) and folds every
    message into ``stats``, telling ``on_event`` about each thing worth printing.

    By default it connects in the background at once (``Consumer(url, mall)``, as the
    demo does); with ``start=False`` call ``connect()``, which raises ``UplinkError``
    in words when the broker cannot be reached or refuses.
    """

    def __init__(
        self,
        broker_url: str,
        mall: str,
        *,
        box: str | None = None,
        validate: bool = False,
        on_event: Callable[[Event], None] | None = None,
        keep_records: bool = True,
        ca_file: Path | None = None,
        cert_file: Path | None = None,
        key_file: Path | None = None,
        username: str | None = None,
        password: str | None = None,
        start: bool = True,
        max_packet_bytes: int = CONSUMER_MAX_PACKET_BYTES,
    ) -> None:
        self.url = parse_broker_url(broker_url)
        self.max_packet_bytes = max_packet_bytes
        """The MQTT 5 Maximum Packet Size announced on CONNECT; also the payload limit."""
        self.topic_filter = f"{TOPIC_ROOT}/{mall}/{box}/#" if box else f"{TOPIC_ROOT}/{mall}/#"
        self.stats = ConsumerStats()
        self.validate = validate
        self.keep_records = keep_records
        self.last_activity = time.monotonic()
        self.failure: str | None = None
        """Why the broker refused the connection or the subscription, if it did."""
        self._on_event = on_event
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._closing = False
        self._client = Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"mallsense-consumer-{os.getpid()}-{id(self):x}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        # Our callbacks catch everything themselves; this covers paho's own code around them.
        self._client.suppress_exceptions = True
        if self.url.tls:
            self._client.tls_set(
                ca_certs=_path(ca_file), certfile=_path(cert_file), keyfile=_path(key_file)
            )
        if username is not None:
            self._client.username_pw_set(username, password)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        if start:
            self._client.connect_async(
                self.url.host, self.url.port, keepalive=30, properties=self._connect_properties()
            )
            self._client.loop_start()

    # -- connection ---------------------------------------------------------------------------

    def connect(self, timeout: float = 10.0) -> None:
        """Connect and subscribe now; ``UplinkError`` says what failed and what to check."""
        try:
            self._client.connect(
                self.url.host, self.url.port, keepalive=30, properties=self._connect_properties()
            )
        except ssl.SSLCertVerificationError as exc:
            raise UplinkError(
                f"the certificate of the broker at {self.url} could not be verified"
                f" ({exc.verify_message}); pass --ca-file with the CA that signed it"
            ) from exc
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            tls = " (mqtts:// needs a TLS listener on that port)" if self.url.tls else ""
            raise UplinkError(
                f"cannot reach the broker at {self.url}: {reason}; check the host and port"
                f" and that the broker is running{tls}"
            ) from exc
        self._client.loop_start()
        deadline = time.monotonic() + timeout
        while not self._subscribed.wait(0.05):
            if self.failure is not None:
                raise UplinkError(f"the broker at {self.url} refused: {self.failure}")
            if time.monotonic() >= deadline:
                raise UplinkError(
                    f"the broker at {self.url} accepted the TCP connection but did not confirm"
                    f" the subscription within {timeout:g} s; is it an MQTT 5 broker?"
                )

    def _connect_properties(self) -> Properties:
        # The broker must drop, not deliver, a message larger than this (MQTT 5).
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.MaximumPacketSize = self.max_packet_bytes
        return props

    def network_alive(self) -> bool:
        """False once paho's network thread has ended without ``close``."""
        thread = getattr(self._client, "_thread", None)  # paho keeps it private
        return self._closing or thread is None or thread.is_alive()

    def _failed_callback(self, name: str, exc: BaseException) -> None:
        """Count and tell a failure in a callback, in one line; the thread carries on."""
        what = f"{type(exc).__name__}: {exc}"[:300]
        with self._lock:
            self.stats.errors += 1
            self.stats.last_error = what
        log.error("could not handle a message (%s failed: %s); carrying on", name, what)

    def wait_subscribed(self, timeout: float = 10.0) -> bool:
        return self._subscribed.wait(timeout)

    def close(self) -> None:
        self._closing = True
        self._client.disconnect()
        self._client.loop_stop()

    def idle_for(self) -> float:
        """Seconds since the last message (or since the subscription took effect)."""
        return time.monotonic() - self.last_activity

    def snapshot(self) -> tuple[int, int, int]:
        """(records, duplicates, envelopes) so far, thread-safely."""
        with self._lock:
            return len(self.stats.ids), self.stats.duplicates, self.stats.envelopes

    def summary(self) -> dict[str, Any]:
        with self._lock:
            return self.stats.summary()

    @_guarded
    def _on_connect(
        self, client: Client, _userdata: Any, _flags: ConnectFlags, reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:  # fmt: skip
        if reason.is_failure:
            self.failure = f"{reason} (check --username and MALLSENSE_MQTT_PASSWORD)"
            return
        client.subscribe(self.topic_filter, options=SubscribeOptions(qos=1))

    @_guarded
    def _on_subscribe(
        self, _client: Client, _userdata: Any, _mid: int, reasons: list[ReasonCode],
        _properties: Properties | None,
    ) -> None:  # fmt: skip
        refused = [r for r in reasons if r.is_failure]
        if refused:
            self.failure = f"subscription to {self.topic_filter}: {refused[0]} (check the ACL)"
            return
        self.last_activity = time.monotonic()
        self._subscribed.set()

    @_guarded
    def _on_disconnect(
        self, _client: Client, _userdata: Any, _flags: DisconnectFlags, reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:  # fmt: skip
        was_subscribed = self._subscribed.is_set()
        self._subscribed.clear()
        if was_subscribed and not self._closing:  # a refused first connect is connect()'s to tell
            log.warning("lost the connection to %s (%s); reconnecting", self.url, reason)

    # -- folding messages ---------------------------------------------------------------------

    @_guarded
    def _on_message(self, _client: Client, _userdata: Any, msg: MQTTMessage) -> None:
        self.last_activity = time.monotonic()
        if not msg.payload:
            return  # a retained message being cleared
        with self._lock:
            events = self._fold(msg.topic, bytes(msg.payload))
        if self._on_event is None:
            return
        for event in events:
            try:
                self._on_event(event)
            except Exception as exc:  # a printing error must not stop the other events
                self._failed_callback(f"handling {event.type} from {event.topic}", exc)

    def _fold(self, topic: str, raw: bytes) -> list[Event]:
        self.stats.messages += 1
        try:
            payload = loads_limited(raw, max_bytes=self.max_packet_bytes)
        except PayloadRejected as exc:  # size and depth are checked before parsing
            self.stats.rejected[exc.kind] += 1
            return [self._invalid(topic, _not_json(str(exc)))]
        if self.validate:
            reasons = check_message(topic, payload)
            if reasons:
                return [self._invalid(topic, "; ".join(reasons))]
        if not isinstance(payload, dict):
            return [self._invalid(topic, "payload is not a JSON object")]
        # Routed by the topic's shape, not the contract's list of kinds: a newer box's new
        # record kind is still de-duplicated and its seq watched (--validate flags it).
        parts = topic.split("/")[3:]  # box, then what the topic is about
        if len(parts) < 2:
            return []
        if len(parts) == 3 and parts[1] == "data":
            return self._fold_envelope(topic, parts[0], payload)
        return self._fold_message(topic, parts, payload)

    def _fold_message(self, topic: str, parts: list[str], payload: dict[str, Any]) -> list[Event]:
        box, what = parts[0], parts[1:]
        if what == ["status"]:
            self.stats.status[box] = payload
            return [Event("status", topic, box, payload)]
        if what == ["telemetry"]:
            self.stats.telemetry[box] = payload
            events = [Event("telemetry", topic, box, payload)]
            return events + self._acked_beyond(topic, box, payload)
        if len(what) == 2 and what[0] == "cmd":
            return [Event("command", topic, box, payload)]
        if len(what) == 3 and what[0] == "cmd" and what[2] == "reply":
            return [Event("reply", topic, box, payload)]
        return []

    def _invalid(self, topic: str, reason: str) -> Event:
        self.stats.invalid += 1
        parts = topic.split("/")
        box = parts[3] if len(parts) > 3 else None
        return Event("invalid", topic, box, {"topic": topic, "reason": reason})

    def _fold_envelope(self, topic: str, box: str, envelope: dict[str, Any]) -> list[Event]:
        stats = self.stats
        stats.envelopes += 1
        seq, stream = envelope.get("seq"), envelope.get("stream")
        stream = stream if isinstance(stream, str) else None
        events = self._track_seq(topic, box, stream, seq) if type(seq) is int else []
        records = envelope.get("records")
        if not isinstance(records, list):
            return [*events, self._invalid(topic, "the envelope has no records list")]
        for record in records:
            rid = record.get("id") if isinstance(record, dict) else None
            if not isinstance(rid, str):
                events.append(self._invalid(topic, "a record without a string id"))
            elif rid in stats.ids:
                stats.duplicates += 1
            else:
                events += self._new_record(topic, box, rid, record, (seq, stream))
        return events

    def _new_record(
        self, topic: str, box: str, rid: str, record: dict[str, Any], batch: tuple[object, ...]
    ) -> list[Event]:
        stats = self.stats
        stats.ids.add(rid)
        stats.kinds[str(record.get("kind"))] += 1
        historical = bool(record.get("historical", False))
        stats.historical += historical
        if self.keep_records:
            stats.records[rid] = record
        if self._on_event is None:
            return []
        seq, stream = batch
        # The envelope's seq and stream (as the record schemas name them), for a reader of
        # flat records; a box before contract 1.1 names no stream.
        added = {"seq": seq, "historical": historical}
        if stream is not None:
            added["stream"] = stream
        return [Event("record", topic, box, {**record, **added})]

    def _track_seq(self, topic: str, box: str, stream: str | None, seq: int) -> list[Event]:
        stats = self.stats
        key = stream_key(box, stream)
        events = self._new_stream(topic, box, stream, seq)
        last = stats.last_seq.get(key)
        stats.last_seq[key] = seq if last is None else max(seq, last)
        if last is None or seq == last + 1:
            return events
        if seq > last + 1:
            return [*events, self._gap(topic, box, key, (last + 1, seq - 1), "batch")]
        stats.resends += 1
        filled = _take(stats.missing.get(key, []), seq)
        if key in stats.missing and not stats.missing[key]:
            del stats.missing[key]
        data = {"box": box, "stream": stream, "seq": seq, "last_seq": last, "filled_gap": filled}
        return [*events, Event("resend", topic, box, data)]

    def _new_stream(self, topic: str, box: str, stream: str | None, seq: int) -> list[Event]:
        """A box whose batch names a stream not seen before, after another: a new database.
        (A late batch of an earlier stream is only late.)"""
        if stream is None or stream_key(box, stream) in self.stats.last_seq:
            return []
        previous = self.stats.streams.get(box)
        self.stats.streams[box] = stream
        if previous is None:
            return []
        self.stats.new_streams += 1
        data = {"box": box, "stream": stream, "previous": previous, "seq": seq}
        return [Event("stream", topic, box, data)]

    def _gap(self, topic: str, box: str, key: str, seqs: tuple[int, int], seen_in: str) -> Event:
        first, last = seqs
        self.stats.gaps.append((key, first, last))
        self.stats.missing.setdefault(key, []).append((first, last))
        data = {**_split_key(key), "from_seq": first, "to_seq": last, "seen_in": seen_in}
        return Event("gap", topic, box, data)

    def _acked_beyond(self, topic: str, box: str, telemetry: dict[str, Any]) -> list[Event]:
        """Telemetry saying the broker took batches above the highest seen: the last
        batches of the stream are missing (they count as a gap until they arrive)."""
        acked, stream = telemetry.get("last_acked_seq"), telemetry.get("stream")
        key = stream_key(box, stream)
        last = self.stats.last_seq.get(key)
        if type(acked) is not int or not isinstance(stream, str) or last is None or acked <= last:
            return []
        self.stats.last_seq[key] = acked
        return [self._gap(topic, box, key, (last + 1, acked), "telemetry")]


def _not_json(reason: str) -> str:
    """``payload is not JSON: X`` as ``not JSON (X)``, the consumer's wording; others kept."""
    prefix = "payload is not JSON: "
    return f"not JSON ({reason.removeprefix(prefix)})" if reason.startswith(prefix) else reason


def _path(value: Path | None) -> str | None:
    return None if value is None else str(value)
