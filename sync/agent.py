"""The sync agent: ships the outbox to the broker and deletes rows only on PUBACK.

The outbox (in SQLite, shared with the edge daemon) is the only queue. On each
connection the agent reads it from the start in windows, publishes batches at
QoS 1 with up to ``inflight_batches`` unacknowledged, and deletes a batch's rows
when its PUBACK arrives. paho's message ids belong to one connection, so the map
from message id to rows lives only as long as the connection; after any failure
everything still in the outbox is published again (the consumer de-duplicates by
record id). Only the thread that calls ``run`` touches SQLite: paho's callbacks
hand their events over through a queue (see ``sync.link``).
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import edge
from edge.config.models import MqttConfig
from edge.config.urls import BrokerUrl, parse_broker_url
from edge.errors import StoreError, UplinkError
from edge.store import OutboxRow, Store
from sync.backoff import Backoff
from sync.envelope import build_envelope, data_topic, status_payload, status_topic
from sync.link import Acked, Connected, ConnectFailed, Disconnected, Link, LinkEvent, LinkSettings
from sync.window import OutboxWindow

__all__ = ["SyncAgent"]

log = logging.getLogger("mallsense.sync")

_GOODBYE_TIMEOUT_S = 2.0  # waiting for the broker to take the retained 'offline'
_SETTLE_S = 2.0  # waiting at a graceful stop for PUBACKs of batches already sent
_PROGRESS_EVERY_S = 1.0  # how often upload counters are written for `mallsense status`
_PUBLISH_HEADROOM = 512  # PUBLISH header, topic and properties, next to the payload


class SyncAgent:
    """Store-and-forward uplink from one box's outbox to its broker.

    ``run(drain=True)`` ships the whole outbox and returns 0 once the broker has
    acknowledged all of it (the ``mallsense sync --drain`` case); ``run()`` keeps
    shipping whatever the edge daemon writes until ``stop`` is set.

    For ``mallsense status`` it keeps, in the store's key/value table:
    ``sync.connected`` ("1"/"0"), ``sync.reconnects`` (connections after the first,
    this run), ``sync.records_sent`` (cumulative), ``sync.last_upload`` (epoch of the
    last PUBACK) and ``sync.last_error`` (the last failure, in words).
    """

    # The positional order is the one the CLI uses: (mall, box, config, db, password, hash).
    def __init__(
        self,
        mall: str,
        box: str,
        config: MqttConfig,
        db_path: str | Path,
        password: str | None,
        config_hash: str,
        clock: Callable[[], float] = time.time,
        *,
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 60.0,
        poll_interval_s: float = 0.25,
        connect_timeout_s: float = 10.0,
    ) -> None:
        try:
            self.url: BrokerUrl = parse_broker_url(config.url)
        except ValueError as exc:
            raise UplinkError(f"mqtt.url: {exc}") from exc
        self.mall = mall
        self.box = box
        self.config = config
        self.db_path = Path(db_path)
        self.password = password
        self.config_hash = config_hash
        self.clock = clock
        self.client_id = config.client_id or f"mallsense-{mall}-{box}"
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.poll_interval_s = poll_interval_s
        self.connect_timeout_s = connect_timeout_s

    def run(
        self,
        drain: bool = False,
        stop: threading.Event | None = None,
        timeout: float | None = None,
    ) -> int:
        """Ship the outbox until drained (``drain``), ``stop`` is set or ``timeout`` passes.

        Returns 0 when drained or stopped while running as a service, 1 when a drain
        ended (stop or timeout) with rows still waiting. Raises ``UplinkError`` for
        a TLS set-up that can never work and ``StoreError`` when the database fails.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with Store(self.db_path) as store:
            return _Run(self, store, drain, stop or threading.Event(), deadline).execute()

    def status(
        self,
        state: Literal["online", "offline"],
        reconnects: int,
        started_at: float,
        reason: str | None,
    ) -> bytes:
        """The retained status payload with this agent's identity."""
        return status_payload(
            state,
            mall=self.mall,
            box=self.box,
            version=edge.__version__,
            config_hash=self.config_hash,
            reconnects=reconnects,
            started_at=started_at,
            reason=reason,
        )

    def link_settings(self, reconnects: int, started_at: float) -> LinkSettings:
        cfg = self.config
        return LinkSettings(
            url=self.url,
            client_id=self.client_id,
            keepalive_s=cfg.keepalive_s,
            username=cfg.username,
            password=self.password,
            ca_file=cfg.ca_file,
            cert_file=cfg.cert_file,
            key_file=cfg.key_file,
            will_topic=status_topic(self.mall, self.box),
            will_payload=self.status("offline", reconnects, started_at, "connection lost"),
            will_delay_s=cfg.will_delay_s,
            max_inflight=cfg.inflight_batches + 2,  # room for the status messages
        )


class _Run:
    """The state of one ``SyncAgent.run``: the store, the link and the outbox window."""

    def __init__(
        self,
        agent: SyncAgent,
        store: Store,
        drain: bool,
        stop: threading.Event,
        deadline: float | None,
    ) -> None:
        self.agent = agent
        self.cfg = agent.config
        self.store = store
        self.drain = drain
        self.stop = stop
        self.deadline = deadline
        self.started_at = agent.clock()
        self.backoff = Backoff(agent.backoff_initial_s, agent.backoff_max_s)
        self.window = OutboxWindow(store, agent.mall, agent.box, self.cfg.batch_max_records)
        self.link: Link | None = None
        self.broken: str | None = None  # why the current link must be dropped
        self.retry_delay = 0.0
        self.connections = 0
        self.connected_since = 0.0
        self.acked: list[int] = []
        self.records_sent = int(store.get("sync.records_sent", "0") or 0)
        self.records_this_run = 0
        self.last_upload: float | None = None
        self.progress_saved = 0.0

    def execute(self) -> int:
        # A database written by another box must not be published under this one's name.
        self.store.claim_identity(self.agent.mall, self.agent.box)
        self.store.put("sync.connected", "0")
        self.store.put("sync.reconnects", "0")
        try:
            code = self._loop()
            self._settle()
            return code
        finally:
            self._close_link()
            self._save_final()

    def _loop(self) -> int:
        while not self._should_stop():
            if self.link is None:
                self._connect()
                continue
            published = self._fill_window()
            if not published and self.window.drained() and self.drain:
                log.info(
                    "outbox drained: %d records acknowledged by %s",
                    self.records_this_run,
                    self.agent.url,
                )
                return 0
            self._pump(block=not published)
        return 1 if self.drain else 0

    def _should_stop(self) -> bool:
        return self.stop.is_set() or (
            self.deadline is not None and time.monotonic() >= self.deadline
        )

    def _sleep(self, seconds: float) -> None:
        if self.deadline is not None:
            seconds = min(seconds, max(0.0, self.deadline - time.monotonic()))
        self.stop.wait(seconds)

    # -- connecting -----------------------------------------------------------------------

    def _connect(self) -> None:
        if self.retry_delay > 0:
            self._sleep(self.retry_delay)
            self.retry_delay = 0.0
            if self._should_stop():
                return
        link = Link(self.agent.link_settings(self.connections, self.started_at))
        try:
            event = link.open(self._connect_timeout(), self.stop)
        except ConnectFailed as exc:
            link.abandon()
            if not self.stop.is_set():
                self._failed(f"cannot connect to {self.agent.url}: {exc}")
            return
        self._connected(link, event)

    def _connect_timeout(self) -> float:
        timeout = self.agent.connect_timeout_s
        if self.deadline is not None:
            timeout = min(timeout, max(0.1, self.deadline - time.monotonic()))
        return timeout

    def _failed(self, what: str) -> None:
        """Log a failure in plain words and schedule the next attempt."""
        self.retry_delay = self.backoff.next_delay()
        log.warning(
            "%s; retrying in %.1f s (failure %d in a row)",
            what,
            self.retry_delay,
            self.backoff.failures,
        )
        self.store.put("sync.connected", "0")
        self.store.put("sync.last_error", what)

    def _connected(self, link: Link, event: Connected) -> None:
        self.link = link
        self.connections += 1
        reconnects = self.connections - 1
        self.connected_since = time.monotonic()
        # Respect the broker's limits: more unacknowledged PUBLISHes than its Receive
        # Maximum, or a packet above its Maximum Packet Size, gets us disconnected.
        max_bytes = self.cfg.batch_max_bytes
        if event.maximum_packet_size is not None:
            max_bytes = min(max_bytes, event.maximum_packet_size - _PUBLISH_HEADROOM)
        self.window.forget()
        self.window.configure(min(self.cfg.inflight_batches, event.receive_maximum - 1), max_bytes)
        online = self.agent.status("online", reconnects, self.started_at, None)
        link.publish(status_topic(self.agent.mall, self.agent.box), online, retain=True)
        self.store.put("sync.connected", "1")
        self.store.put("sync.reconnects", str(reconnects))
        log.info(
            "connected to %s as %s (reconnects: %d)",
            self.agent.url,
            link.settings.client_id,
            reconnects,
        )

    def _drop_link(self, why: str) -> None:
        """Abandon the connection; everything unacknowledged goes again on the next one."""
        link, self.link, self.broken = self.link, None, None
        if link is not None:
            link.abandon()
        unacked = self.window.forget()
        if time.monotonic() - self.connected_since >= self.backoff.maximum:
            self.backoff.reset()  # after a long healthy connection, try again soon
        self._failed(f"{why}; {unacked} unacknowledged batch(es) will be sent again")

    # -- publishing -----------------------------------------------------------------------

    def _fill_window(self) -> bool:
        """Publish batches while the window has room; True if anything went out."""
        published = False
        while self.link is not None and not self.window.full:
            rows = self.window.take()
            if rows is None:
                break
            self._publish(self.link, rows)
            published = True
        return published

    def _publish(self, link: Link, rows: list[OutboxRow]) -> None:
        agent = self.agent
        envelope = build_envelope(
            agent.mall,
            agent.box,
            rows,
            seq=self.store.next_seq(),
            batch_id=str(uuid.uuid4()),
            now=agent.clock(),
            historical_after_s=self.cfg.historical_after_s,
        )
        if len(envelope.payload) > self.window.max_bytes:
            log.warning(
                "record %d (%s) alone is %d bytes, more than the %d-byte batch limit; sending"
                " it anyway",
                rows[0].id,
                envelope.kind,
                len(envelope.payload),
                self.window.max_bytes,
            )
        topic = data_topic(agent.mall, agent.box, envelope.kind)
        self.window.sent(link.publish(topic, envelope.payload), envelope)

    # -- acknowledgements -----------------------------------------------------------------

    def _pump(self, *, block: bool) -> None:
        """Handle what paho's thread reported; wait up to one poll interval if ``block``."""
        link = self.link
        if link is None:
            return
        events: list[LinkEvent] = []
        try:
            events.append(link.events.get(timeout=self.agent.poll_interval_s if block else 0.0))
            while True:
                events.append(link.events.get_nowait())
        except queue.Empty:
            pass
        for event in events:
            if isinstance(event, Disconnected):
                self.broken = (
                    self.broken or f"lost the connection to {self.agent.url}: {event.reason}"
                )
            elif isinstance(event, Acked):
                self._on_ack(event)
        self._commit_acks()
        if self.broken is not None:
            self._drop_link(self.broken)

    def _on_ack(self, event: Acked) -> None:
        envelope = self.window.acked(event.mid)
        if envelope is None:
            if event.reason.is_failure:  # the status message: the platform cannot see us
                log.warning("%s refused the status message: %s", self.agent.url, event.reason)
            return
        if event.reason.is_failure:
            # The broker did not take the batch (an ACL, a quota): keep its rows, and
            # reconnect after a back-off rather than hammering the broker with it.
            self.broken = self.broken or (
                f"{self.agent.url} refused batch seq {envelope.seq} ({len(envelope.row_ids)}"
                f" {envelope.kind} records): {event.reason} (PUBACK reason"
                f" 0x{event.reason.value:02X}); check the broker's access rules for this box"
            )
            return
        self.acked.extend(envelope.row_ids)
        self.backoff.reset()

    def _commit_acks(self) -> None:
        if not self.acked:
            return
        ids, self.acked = self.acked, []
        self.store.outbox_ack(ids)
        self.records_sent += len(ids)
        self.records_this_run += len(ids)
        self.last_upload = self.agent.clock()
        self._save_progress(force=False)

    def _save_progress(self, *, force: bool) -> None:
        now = time.monotonic()
        if self.last_upload is None or (
            not force and now - self.progress_saved < _PROGRESS_EVERY_S
        ):
            return
        self.progress_saved = now
        self.store.put("sync.last_upload", repr(self.last_upload))
        self.store.put("sync.records_sent", str(self.records_sent))

    # -- stopping -------------------------------------------------------------------------

    def _settle(self) -> None:
        """At a graceful stop, give PUBACKs of batches already sent a moment to arrive."""
        deadline = time.monotonic() + _SETTLE_S
        while self.window.in_flight and self.link is not None and time.monotonic() < deadline:
            self._pump(block=True)

    def _close_link(self) -> None:
        link, self.link = self.link, None
        if link is None:
            return
        offline = self.agent.status("offline", self.connections - 1, self.started_at, "stopped")
        link.close((status_topic(self.agent.mall, self.agent.box), offline), _GOODBYE_TIMEOUT_S)
        log.info("disconnected from %s", self.agent.url)

    def _save_final(self) -> None:
        try:
            self._commit_acks()
            self._save_progress(force=True)
            self.store.put("sync.connected", "0")
        except (StoreError, sqlite3.Error) as exc:
            log.warning("could not save the uplink state to %s: %s", self.agent.db_path, exc)
