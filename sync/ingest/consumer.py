"""One ingest worker: a member of an MQTT 5 shared subscription, writing to PostgreSQL.

The worker subscribes to ``$share/<group>/mallsense/v1/<mall>/+/data/+`` with a
fixed client id, ``clean_start = false`` and a Session Expiry Interval, so the
broker keeps its session (its subscription, the messages handed to it and not
acknowledged, and its share of what arrives) while it is away, and hands them
over when it comes back under the same client id. Several workers in one group
share the load; one that dies loses nothing.

paho runs with ``manual_ack``: its network thread only queues each message, and
this worker's own thread takes many at once (up to ``max_messages`` or
``max_wait_s``), writes them in one transaction (``writer``), and acknowledges
them (PUBACK) only after the COMMIT. A message whose PUBACK never left (the
process died, the connection dropped) is delivered again, and storing it again
adds nothing. The number of messages in flight is bounded by the MQTT 5 Receive
Maximum the worker announces, so a slow database slows the broker's sending,
never this process's memory.
"""

from __future__ import annotations

import json
import logging
import queue
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from paho.mqtt.client import Client, ConnectFlags, DisconnectFlags, MQTTMessage
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from edge.config.urls import parse_broker_url
from edge.errors import StoreError, UplinkError
from sync.envelope import TOPIC_ROOT, iso_utc, platform_topic
from sync.ingest.envelopes import Envelope, Refused, parse_message
from sync.ingest.gaps import check_gaps
from sync.ingest.schema import DEFAULT_SCHEMA, create_schema
from sync.ingest.writer import Writer
from sync.payload_limits import CONSUMER_MAX_PACKET_BYTES

__all__ = ["IngestSettings", "IngestStats", "IngestWorker", "redact_dsn"]

log = logging.getLogger("mallsense.ingest")

_GAP_CHECK_S = 1.0
_RETRY_MAX_S = 10.0


@dataclass(frozen=True, slots=True)
class IngestSettings:
    """What one worker needs: where from, where to, and how much at once."""

    broker_url: str
    dsn: str
    client_id: str
    mall: str = "+"
    group: str = "mallsense-ingest"
    schema: str = DEFAULT_SCHEMA
    max_messages: int = 200
    """Messages (envelopes) written in one transaction at most."""
    max_records: int = 50_000
    max_wait_s: float = 0.1
    """How long the first message of a transaction waits for company."""
    session_expiry_s: int = 7 * 86400
    platform_id: str | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    username: str | None = None
    password: str | None = None

    @property
    def topic_filter(self) -> str:
        return f"$share/{self.group}/{TOPIC_ROOT}/{self.mall}/+/data/+"


@dataclass
class IngestStats:
    """Counters of one worker since it started."""

    messages: int = 0
    envelopes: int = 0
    records: int = 0
    inserted: int = 0
    duplicates: int = 0
    replaced: int = 0
    refused: int = 0
    transactions: int = 0
    retries: int = 0
    gaps_opened: int = 0
    gaps_open: int = 0
    refused_by: dict[str, int] = field(default_factory=dict)
    last_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class _Incoming:
    topic: str
    payload: bytes
    mid: int
    qos: int
    generation: int


def redact_dsn(dsn: str) -> str:
    """A DSN fit for a log line: host, port, database and user, never the password."""
    try:
        parts = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "(an unreadable DSN)"
    host, port = parts.get("host", "localhost"), parts.get("port", "5432")
    return f"postgresql://{parts.get('user', '')}@{host}:{port}/{parts.get('dbname', '')}"


class IngestWorker:
    """One member of the shared subscription; ``run`` until ``stop`` is set."""

    def __init__(
        self,
        settings: IngestSettings,
        on_progress: Callable[[IngestStats], None] | None = None,
        progress_s: float = 5.0,
    ) -> None:
        self.settings = settings
        self.stats = IngestStats()
        self._on_progress = on_progress
        self._progress_s = progress_s
        self._queue: queue.Queue[_Incoming] = queue.Queue()
        self._generation = 0
        self._subscribed = threading.Event()
        self._closing = False
        self.failure: str | None = None
        self._conn: psycopg.Connection[Any] | None = None
        self._writer: Writer | None = None
        self._client = self._make_client()

    # -- MQTT ------------------------------------------------------------------------------

    def _make_client(self) -> Client:
        s = self.settings
        client = Client(
            CallbackAPIVersion.VERSION2,
            client_id=s.client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
            manual_ack=True,
        )
        client.suppress_exceptions = True
        client.reconnect_delay_set(1, 10)
        if parse_broker_url(s.broker_url).tls:
            client.tls_set(
                ca_certs=_path(s.ca_file), certfile=_path(s.cert_file), keyfile=_path(s.key_file)
            )
        if s.username is not None:
            client.username_pw_set(s.username, s.password)
        if s.platform_id:
            will = Properties(PacketTypes.WILLMESSAGE)  # type: ignore[no-untyped-call]
            will.WillDelayInterval = 30  # a restart does not tell the boxes to hold their data
            client.will_set(platform_topic(s.platform_id), b'{"online":false}', 1, True, will)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def _connect_properties(self) -> Properties:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.settings.session_expiry_s
        # Twice a transaction's worth in flight: the next batch arrives while one is written.
        props.ReceiveMaximum = min(65535, 2 * self.settings.max_messages)
        props.MaximumPacketSize = CONSUMER_MAX_PACKET_BYTES
        return props

    def _on_connect(
        self, client: Client, _u: Any, _f: ConnectFlags, reason: ReasonCode, _p: Properties | None
    ) -> None:
        if reason.is_failure:
            self.failure = f"{reason} (check --username and MALLSENSE_MQTT_PASSWORD)"
            return
        self._generation += 1
        client.subscribe(self.settings.topic_filter, options=SubscribeOptions(qos=1))

    def _on_subscribe(
        self, client: Client, _u: Any, _mid: int, reasons: list[ReasonCode], _p: Properties | None
    ) -> None:
        refused = [r for r in reasons if r.is_failure]
        if refused:
            self.failure = f"subscription to {self.settings.topic_filter}: {refused[0]}"
            return
        self._subscribed.set()
        if self.settings.platform_id:
            state = json.dumps({"online": True, "timestamp": iso_utc(time.time())})
            client.publish(platform_topic(self.settings.platform_id), state, 1, True)

    def _on_disconnect(
        self, _c: Client, _u: Any, _f: DisconnectFlags, reason: ReasonCode, _p: Properties | None
    ) -> None:
        if self._subscribed.is_set() and not self._closing:
            log.warning(
                "lost the broker (%s); reconnecting, the session keeps our messages", reason
            )
        self._subscribed.clear()

    def _on_message(self, _c: Client, _u: Any, msg: MQTTMessage) -> None:
        self._queue.put(
            _Incoming(msg.topic, bytes(msg.payload), msg.mid, msg.qos, self._generation)
        )

    def connect(self, timeout: float = 10.0) -> None:
        """Connect to the database (creating the tables) and the broker, and subscribe."""
        self._connect_db()
        url = parse_broker_url(self.settings.broker_url)
        try:
            self._client.connect(
                url.host, url.port, keepalive=30, clean_start=False,
                properties=self._connect_properties(),
            )  # fmt: skip
        except (OSError, ValueError, ssl.SSLError) as exc:
            raise UplinkError(
                f"cannot reach the broker at {url}: {exc}; check the host and port and that the"
                " broker is running"
            ) from exc
        self._client.loop_start()
        deadline = time.monotonic() + timeout
        while not self._subscribed.wait(0.05):
            if self.failure is not None:
                raise UplinkError(f"the broker at {url} refused: {self.failure}")
            if time.monotonic() >= deadline:
                raise UplinkError(f"the broker at {url} did not confirm the subscription")

    # -- database --------------------------------------------------------------------------

    def _connect_db(self) -> None:
        try:
            conn = psycopg.connect(self.settings.dsn, autocommit=True, connect_timeout=10)
            create_schema(conn, self.settings.schema)
        except psycopg.Error as exc:
            raise StoreError(
                f"cannot use the database at {redact_dsn(self.settings.dsn)}: {_line(exc)};"
                " check --dsn and that PostgreSQL is running and lets this user create tables"
            ) from exc
        self._conn, self._writer = conn, Writer(conn, self.settings.schema)

    def _reconnect_db(self, stop: threading.Event) -> bool:
        """Connect again after a failure, backing off; False if stopped first."""
        delay = 0.5
        while not stop.is_set():
            if self._conn is not None:
                self._conn.close()
            try:
                self._connect_db()
                return True
            except StoreError as exc:
                log.warning("%s; trying again in %.0f s", exc, delay)
                stop.wait(delay)
                delay = min(_RETRY_MAX_S, delay * 2)
        return False

    # -- the worker's loop -----------------------------------------------------------------

    def run(self, stop: threading.Event) -> IngestStats:
        """Take, store and acknowledge until ``stop``; then disconnect (the session stays)."""
        if self._conn is None:
            self.connect()
        last_gaps = last_progress = time.monotonic()
        try:
            while not stop.is_set():
                batch = self._take()
                if batch:
                    self._store(batch, stop)
                now = time.monotonic()
                if now - last_gaps >= _GAP_CHECK_S:
                    last_gaps = now
                    self._check_gaps()
                if self._on_progress and now - last_progress >= self._progress_s:
                    last_progress = now
                    self._on_progress(self.stats)
            self._check_gaps()  # what it stored last is checked too before it goes
        finally:
            self._closing = True
            self._client.disconnect()
            self._client.loop_stop()
            if self._conn is not None:
                self._conn.close()
        return self.stats

    def _take(self) -> list[_Incoming]:
        """The next messages: one, and whatever follows within ``max_wait_s``."""
        try:
            first = self._queue.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.settings.max_wait_s
        while len(batch) < self.settings.max_messages:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    batch.append(self._queue.get(timeout=left))
                except queue.Empty:
                    break
        return batch

    def _store(self, batch: list[_Incoming], stop: threading.Event) -> None:
        envelopes: list[Envelope] = []
        refused: list[Refused] = []
        for message in batch:
            parsed = parse_message(message.topic, message.payload)
            if isinstance(parsed, Refused):
                refused.append(parsed)
            else:
                envelopes.append(parsed)
        while not stop.is_set():
            assert self._writer is not None
            try:
                result = self._writer.write(envelopes, refused)
            except psycopg.OperationalError as exc:  # connection lost, deadlock: nothing committed
                self.stats.retries += 1
                self.stats.last_error = _line(exc)
                log.warning("could not store %d batches (%s); trying again", len(batch), _line(exc))
                if not self._reconnect_db(stop):
                    return
                continue
            self._count(batch, result)
            self._ack(batch)
            return

    def _count(self, batch: list[_Incoming], result: Any) -> None:
        stats = self.stats
        stats.messages += len(batch)
        stats.transactions += 1
        stats.envelopes += result.envelopes
        stats.records += result.records
        stats.inserted += result.inserted
        stats.duplicates += result.duplicates
        stats.replaced += result.replaced
        for r in result.refused:
            stats.refused += 1
            stats.refused_by[r.counter] = stats.refused_by.get(r.counter, 0) + 1
            stats.last_error = f"{r.topic}: {r.reason}"[:300]
            log.warning("refused a payload on %s: %s", r.topic, r.reason[:300])

    def _ack(self, batch: list[_Incoming]) -> None:
        """PUBACK what is committed; a message from an earlier connection is left alone (the
        broker delivers it again on this one, and storing it again adds nothing)."""
        generation = self._generation
        for message in batch:
            if message.generation == generation and message.qos > 0:
                self._client.ack(message.mid, message.qos)

    def _check_gaps(self) -> None:
        if self._conn is None:
            return
        try:
            done = check_gaps(self._conn, self.settings.schema)
        except psycopg.Error as exc:  # the next round tries again; the data is committed
            self.stats.last_error = _line(exc)
            log.warning("could not check seq gaps (%s); trying again", _line(exc))
            return
        if done.batches:
            self.stats.gaps_opened += done.opened
            self.stats.gaps_open = done.open_gaps
            if done.opened:
                log.warning("%d new seq gap(s) (see the seq_gaps table)", done.opened)


def _line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def _path(value: Path | None) -> str | None:
    return None if value is None else str(value)
