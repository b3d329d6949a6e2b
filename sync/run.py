"""One ``SyncAgent.run``: connect, fill the in-flight window, handle what paho reports.

Only this thread touches SQLite. Each pass of the loop sends waiting replies and
due telemetry (``sync.control``), publishes batches while the window has room
(re-sent batches first, then the outbox while the platform gate is open), and
then handles the link's events: PUBACKs, messages, SUBACKs, a lost connection.

Under systemd (``Type=notify``) the loop says READY=1 once the store is open and
pings the watchdog from each pass, so only a loop that keeps turning keeps the
service alive; a wait (the reconnect back-off) wakes up to ping as well.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal, Protocol

from edge.errors import StoreError
from edge.runtime.backoff import Backoff
from edge.runtime.metrics import LatencyHistogram
from edge.runtime.sdnotify import Notifier
from edge.store import Store
from edge.store.uplink import SentBatch, acknowledge
from sync.control import CONTROL_SLOTS, Control
from sync.delivery import HELD_KEY, TAKEOVERS_KEY, bump, fill_window, on_ack
from sync.envelope import status_topic
from sync.link import (
    Acked,
    Connected,
    ConnectFailed,
    Disconnected,
    Link,
    LinkEvent,
    LinkSettings,
    Received,
    Subscribed,
)
from sync.quarantine import RejectionPolicy
from sync.reload import Reload
from sync.settings import AgentSettings, Timing
from sync.untaken import Untaken
from sync.window import OutboxWindow

__all__ = ["AgentRun", "RunOwner"]

log = logging.getLogger("mallsense.sync")

_GOODBYE_TIMEOUT_S = 2.0  # waiting for the broker to take the retained 'offline'
_SETTLE_S = 2.0  # waiting at a graceful stop for PUBACKs of batches already sent
_PROGRESS_EVERY_S = 1.0  # how often upload counters are written for `mallsense status`
_PUBLISH_HEADROOM = 512  # PUBLISH header, topic and properties, next to the payload
_RELOAD_POLL_S = 0.5  # how soon a back-off wait notices a SIGHUP


class RunOwner(Protocol):
    """What a run reads of the agent that started it (``sync.agent.SyncAgent``)."""

    @property
    def settings(self) -> AgentSettings:
        """The settings in force; a reload replaces them whole."""

    @property
    def timing(self) -> Timing: ...
    @property
    def clock(self) -> Callable[[], float]: ...
    @property
    def db_path(self) -> Path: ...
    @property
    def reload_wanted(self) -> threading.Event: ...
    def reload(self) -> Reload | None:
        """Read the configuration again and take it; None if refused."""

    def status(
        self,
        state: Literal["online", "offline"],
        reconnects: int,
        started_at: float,
        reason: str | None,
    ) -> bytes: ...
    def link_settings(self, reconnects: int, started_at: float) -> LinkSettings: ...


class AgentRun:
    """The state of one ``SyncAgent.run``: the store, the link and the outbox window."""

    def __init__(
        self,
        agent: RunOwner,
        store: Store,
        drain: bool,
        stop: threading.Event,
        deadline: float | None,
    ) -> None:
        self.agent = agent
        self.clock = agent.clock
        self.store = store
        self.drain = drain
        self.stop = stop
        self.deadline = deadline
        self.started_at = agent.clock()
        timing, settings = agent.timing, agent.settings
        # Full jitter: after a broker restart a whole fleet reconnects (edge.runtime.backoff).
        self.backoff = Backoff(timing.backoff_initial_s, timing.backoff_max_s, jitter="full")
        self.window = OutboxWindow(
            store, settings.mall, settings.box, settings.mqtt.batch_max_records, agent.clock
        )
        self.control = Control(
            settings, agent.clock, store, self.started_at, lambda: self.records_sent
        )
        self.rejections = RejectionPolicy()
        self.link: Link | None = None
        self.broken: str | None = None  # why the current link must be dropped
        self.retry_delay = 0.0
        self.connections = 0
        self.connected_since = 0.0
        self.acked: list[int] = []
        self.sent: list[SentBatch] = []
        self.records_sent = int(store.get("sync.records_sent", "0") or 0)
        self.records_this_run = 0
        self.last_upload: float | None = None
        self.progress_saved = 0.0
        self.notifier = Notifier.from_environment()
        self.last_error: str | None = None
        self.latency = LatencyHistogram()
        """Seconds from a batch's PUBLISH to its PUBACK (for the metrics endpoint)."""
        self.untaken = Untaken(timing.backoff_initial_s, timing.backoff_max_s)
        self.held_reason: str | None = None  # why data batches are held, as last stored
        self.taken_over = False  # the broker said another client took this client id

    @property
    def settings(self) -> AgentSettings:
        """The agent's settings in force (a reload swaps them between two passes)."""
        return self.agent.settings

    def execute(self) -> int:
        # A database written by another box must not be published under this one's name.
        self.store.claim_identity(self.settings.mall, self.settings.box)
        self.store.put("sync.connected", "0")
        self.store.put("sync.reconnects", "0")
        self.store.put(HELD_KEY, "")
        self.notifier.ready(self._summary())
        try:
            code = self._loop()
            self.notifier.stopping(f"stopping: {self._summary()}")
            self._settle()
            return code
        finally:
            self._close_link()
            self._save_final()

    def _loop(self) -> int:
        while not self._should_stop():
            self.notifier.pulse(self._summary)
            if self.agent.reload_wanted.is_set():
                self._reload()
            if self.link is None:
                self.control.tick(None)
                self._connect()
                continue
            self.control.tick(self.link)
            published = fill_window(self)
            if not published and self.drain and self._drained():
                log.info(
                    "outbox drained: %d records acknowledged by %s",
                    self.records_this_run,
                    self.settings.url,
                )
                return 0
            self._pump(block=not published)
        if self.drain:
            self._not_drained()
        return 1 if self.drain else 0

    def _not_drained(self) -> None:
        """A drain that stopped with rows left: say how many, and why they were held."""
        waiting, _oldest = self.store.outbox_depth()
        log.warning(
            "outbox not drained: %d records still waiting, kept in the outbox (%d acknowledged"
            " by %s this run)%s",
            waiting,
            self.records_this_run,
            self.settings.url,
            f"; held: {self.held_reason}" if self.held_reason else "",
        )

    def _drained(self) -> bool:
        if self.untaken.busy:  # held rows are in the outbox, behind the window's cursor
            return False
        return self.window.drained() and not self.control.jobs and not self.control.outgoing

    def _should_stop(self) -> bool:
        return self.stop.is_set() or (
            self.deadline is not None and time.monotonic() >= self.deadline
        )

    def _sleep(self, seconds: float) -> None:
        if self.deadline is not None:
            seconds = min(seconds, max(0.0, self.deadline - time.monotonic()))
        until = time.monotonic() + seconds
        # Waking for each ping, so a back-off longer than the watchdog does not look like a hang.
        while (left := until - time.monotonic()) > 0:
            if self.stop.wait(min(left, self.notifier.next_pulse_in(), _RELOAD_POLL_S)):
                return
            if self.agent.reload_wanted.is_set():
                return  # the new settings may be what the connection was waiting for
            self.notifier.pulse(self._summary)

    def _summary(self) -> str:
        """The one-line status ``systemctl status mallsense-sync`` shows."""
        if self.link is not None:
            state = f"connected to {self.settings.url}"
        else:
            state = (
                f"not connected ({self.last_error or 'connecting to ' + str(self.settings.url)})"
            )
        held = f"; data held: {self.held_reason}" if self.held_reason else ""
        return f"{state}; {self.records_sent} records sent{held}"

    def mark_broken(self, why: str) -> None:
        """Drop the connection after this pass of the loop; the first reason is the one told."""
        self.broken = self.broken or why

    def set_held(self, reason: str | None) -> None:
        """Say in the store (for ``status`` and ``doctor``) why data is held, or that it flows."""
        if reason != self.held_reason:
            self.held_reason = reason
            self.store.put(HELD_KEY, reason or "")

    # -- reloading (SIGHUP) ---------------------------------------------------------------

    def _reload(self) -> None:
        """The agent takes the configuration file again (``sync.reload``) between two
        passes; this run applies what changed to its connection."""
        self.notifier.reloading()
        try:
            update = self.agent.reload()
            if update is not None and update.changed:
                self._apply(update)
        finally:
            self.notifier.ready(self._summary())

    def _apply(self, update: Reload) -> None:
        """The new settings, applied to the window, the commands and the connection."""
        settings = update.settings
        self.window.max_records = settings.mqtt.batch_max_records
        self.control.reconfigure(settings)
        if update.reconnect:
            self._reconnect_now(goodbye=update.moved)
        elif self.link is not None:  # the retained status names the new config hash
            online = self._status("online", None)
            topic = status_topic(settings.mall, settings.box)
            self.control.labels[self.link.publish(topic, online, retain=True)] = "the status"

    def _status(self, state: Literal["online", "offline"], reason: str | None) -> bytes:
        """The retained status payload, as of this run's connections."""
        return self.agent.status(state, self.connections - 1, self.started_at, reason)

    def _reconnect_now(self, *, goodbye: bool) -> None:
        """New connection settings: leave cleanly (no will; 'offline' only to a broker left
        for another) and connect again at once; batches not acknowledged by then go again
        on the new connection."""
        self.retry_delay = 0.0
        self.backoff.reset()
        if self.link is None:
            return
        self._settle()
        self._commit_acks()
        link, self.link = self.link, None
        if link is not None:
            offline = self._status("offline", "moved to another broker")
            topic = status_topic(self.settings.mall, self.settings.box)
            link.close((topic, offline) if goodbye else None, _GOODBYE_TIMEOUT_S)
        self.window.forget()
        self.store.put("sync.connected", "0")

    # -- connecting -----------------------------------------------------------------------

    def _connect(self) -> None:
        if self.retry_delay > 0:
            self._sleep(self.retry_delay)
            self.retry_delay = 0.0
            if self._should_stop() or self.agent.reload_wanted.is_set():
                return  # a reload first: its settings may be the ones that connect
        link = Link(self.agent.link_settings(self.connections, self.started_at))
        try:
            event = link.open(self._connect_timeout(), self.stop)
        except ConnectFailed as exc:
            link.abandon()
            if not self.stop.is_set():
                self._failed(f"cannot connect to {self.settings.url}: {exc}")
            return
        self._connected(link, event)

    def _connect_timeout(self) -> float:
        timeout = self.agent.timing.connect_timeout_s
        if self.deadline is not None:
            timeout = min(timeout, max(0.1, self.deadline - time.monotonic()))
        return timeout

    def _failed(self, what: str, delay: float | None = None) -> None:
        """Log a failure in plain words and schedule the next attempt."""
        self.retry_delay = self.backoff.next_delay() if delay is None else delay
        log.warning(
            "%s; retrying in %.1f s (failure %d in a row)",
            what,
            self.retry_delay,
            self.backoff.failures,
        )
        self.store.put("sync.connected", "0")
        self.store.put("sync.last_error", what)
        self.last_error = what

    def _connected(self, link: Link, event: Connected) -> None:
        self.link = link
        self.connections += 1
        reconnects = self.connections - 1
        self.connected_since = time.monotonic()
        # Respect the broker's limits: more unacknowledged PUBLISHes than its Receive
        # Maximum, or a packet above its Maximum Packet Size, gets us disconnected.
        cfg = self.settings.mqtt
        max_bytes, packet_limit = cfg.batch_max_bytes, None
        if event.maximum_packet_size is not None:
            packet_limit = event.maximum_packet_size - _PUBLISH_HEADROOM
            max_bytes = min(max_bytes, packet_limit)
        self.window.forget()
        limit = min(cfg.inflight_batches, event.receive_maximum - CONTROL_SLOTS)
        self.window.configure(limit, max_bytes, packet_limit)
        online = self.agent.status("online", reconnects, self.started_at, None)
        self.control.connected(link)
        mid = link.publish(status_topic(self.settings.mall, self.settings.box), online, retain=True)
        self.control.labels[mid] = "the status message"
        self.store.put("sync.connected", "1")
        self.store.put("sync.reconnects", str(reconnects))
        log.info(
            "connected to %s as %s (reconnects: %d)",
            self.settings.url,
            link.settings.client_id,
            reconnects,
        )

    def _drop_link(self, why: str) -> None:
        """Abandon the connection; everything unacknowledged goes again on the next one."""
        link, self.link, self.broken = self.link, None, None
        if link is not None:
            link.abandon()
        unacked = self.window.forget(self.untaken.forget())
        if time.monotonic() - self.connected_since >= self.backoff.maximum:
            self.backoff.reset()  # after a long healthy connection, try again soon
        delay = self._yield_id() if self.taken_over else None
        self._failed(f"{why}; {unacked} unacknowledged batch(es) will be sent again", delay)

    def _yield_id(self) -> float:
        """Another client took this client id: count it, say what to check, and wait the
        longest back-off instead of taking the id back at once (two boxes sharing an id
        would knock each other off in a loop)."""
        self.taken_over = False
        count = bump(self.store, TAKEOVERS_KEY)
        delay = max(self.backoff.maximum, self.backoff.next_delay())
        log.error(
            "another client took this id: a client connected to %s with this box's client id"
            " '%s' and the broker closed this box's connection (%d time(s) so far); check"
            " that no other box uses this box's client id (mqtt.client_id) or its"
            " certificate, and that the broker binds client ids to certificates"
            " (use_username_as_clientid, docs/broker/mosquitto.conf). Not fighting for it:"
            " waiting %.1f s before connecting again",
            self.settings.url,
            self.settings.client_id,
            count,
            delay,
        )
        return delay

    # -- what paho reported ---------------------------------------------------------------

    def _pump(self, *, block: bool) -> None:
        """Handle what paho's thread reported; wait up to one poll interval if ``block``."""
        link = self.link
        if link is None:
            return
        events: list[LinkEvent] = []
        try:
            events.append(
                link.events.get(timeout=self.agent.timing.poll_interval_s if block else 0.0)
            )
            while True:
                events.append(link.events.get_nowait())
        except queue.Empty:
            pass
        for event in events:
            self._handle(event)
        self._commit_acks()
        if self.broken is not None:
            self._drop_link(self.broken)

    def _handle(self, event: LinkEvent) -> None:
        if isinstance(event, Disconnected):
            self.taken_over = self.taken_over or event.taken_over
            self.mark_broken(f"lost the connection to {self.settings.url}: {event.reason}")
        elif isinstance(event, Acked):
            on_ack(self, event)
        elif isinstance(event, Received):
            # A command must see every PUBACK that arrived before it (``resend`` of a batch
            # just acknowledged, ``status`` counters): commit them first.
            self._commit_acks()
            self._save_progress(force=True)
            self.control.received(event)
        elif isinstance(event, Subscribed):
            self.control.subscribed(event)

    def _commit_acks(self) -> None:
        if not self.acked and not self.sent:
            return
        ids, self.acked = self.acked, []
        sent, self.sent = self.sent, []
        acknowledge(self.store, ids, sent)
        if not ids:
            return
        self.records_sent += len(ids)
        self.records_this_run += len(ids)
        self.last_upload = self.clock()
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
        offline = self._status("offline", "stopped")
        link.close(
            (status_topic(self.settings.mall, self.settings.box), offline), _GOODBYE_TIMEOUT_S
        )
        log.info("disconnected from %s", self.settings.url)

    def _save_final(self) -> None:
        try:
            self._commit_acks()
            self._save_progress(force=True)
            self.store.put("sync.connected", "0")
        except (StoreError, sqlite3.Error) as exc:
            log.warning("could not save the uplink state to %s: %s", self.agent.db_path, exc)
