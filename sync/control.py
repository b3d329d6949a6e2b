"""Everything the agent does besides shipping the outbox: commands, the platform's
STATE, telemetry, and the bookkeeping of ``resend``.

It runs on the agent's thread (it reads SQLite) and publishes through the
agent's current link. Replies wait in ``outgoing`` while there is no link, so a
command received just before a drop is still answered after the reconnect.

Anyone who can publish on this box's ``cmd/`` topics reads the replies, so the
replies name no place: ``config`` and ``status`` leave out the broker URL, user name,
client id, file and device paths and any URL (``redacted_config``, ``redacted_status``),
and ``resend`` spends from a budget per rolling window (``sync.resend.ResendBudget``).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

import edge
from edge.store import OutboxRow, Store
from edge.store.status import collect_status
from edge.store.uplink import SentBatch, batch_rows, prune_sent
from sync.commands import Commands, Handler, Reply, Request
from sync.envelope import (
    Envelope,
    command_filter,
    envelope_overhead,
    iso_utc,
    record_size,
    telemetry_topic,
)
from sync.link import Link, Received, Subscribed
from sync.platform import PlatformGate
from sync.resend import ResendBudget, ResendJob, plan_resend
from sync.settings import AgentSettings
from sync.telemetry import clock_synced, telemetry_payload

__all__ = ["CONTROL_SLOTS", "REJECTED_KEY", "Control", "redacted_config", "redacted_status"]

log = logging.getLogger("mallsense.sync")

_PRUNE_EVERY_S = 300.0
CONTROL_SLOTS = 2
"""Unacknowledged status, telemetry and reply messages at once. The data window gets
the broker's Receive Maximum minus these, so together they never exceed it."""
_REDACTED = "<redacted>"
_GONE = "its records were deleted by local retention (store.max_mb, store.max_age_days)"
REJECTED_KEY = "sync.commands_rejected"
"""kv key: refused commands by kind since the agent started (JSON object)."""
_SAVE_REJECTED_EVERY_S = 5.0  # a flood of refusals must not become a flood of writes
# Where the box is and how it logs in: what a command reply must not tell whoever sent it.
_IDENTITY_FIELDS = frozenset({"url", "username", "client_id", "platform_id"})
_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://\S+")
_ADDRESS = re.compile(
    r"(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f]*::[0-9A-Fa-f:.]*"
    r"|[A-Za-z][\w.-]*(?=:\d))(?::\d{1,5})?"
)
_PATH = re.compile(r"(?<![\w.~-])(?:~|\.{1,2})?(?:/[\w.@%+~-]+)+/?")


def _location(text: str) -> bool:
    """True for a string that is a file or device path, a URL or a network address."""
    return (
        "://" in text
        or text.startswith(("/", "~/", "./", "../", "\\"))
        or _ADDRESS.fullmatch(text) is not None
    )


def _redact(name: str, value: object, dumped: Any) -> Any:
    """``dumped`` (the JSON form of ``value``) without identities, paths and URLs."""
    if value is None:
        return None
    if name in _IDENTITY_FIELDS or isinstance(value, Path):
        return _REDACTED
    if isinstance(value, BaseModel) and isinstance(dumped, dict):
        return _redact_model(value, dumped)
    if isinstance(value, list | tuple) and isinstance(dumped, list):
        return [_redact(name, v, d) for v, d in zip(value, dumped, strict=False)]
    if isinstance(value, dict) and isinstance(dumped, dict):
        return {k: _redact(str(k), value.get(k), d) for k, d in dumped.items()}
    if isinstance(value, str) and _location(value):
        return _REDACTED
    return dumped


def _redact_model(model: BaseModel, dumped: dict[str, Any]) -> dict[str, Any]:
    # Walks the model beside its dump, so a Path is known by its type, not by its text.
    return {key: _redact(key, getattr(model, key, None), d) for key, d in dumped.items()}


def _scrub(value: Any) -> Any:
    """``value`` with every path and URL inside its strings replaced (free text too)."""
    if isinstance(value, str):
        return _PATH.sub(_REDACTED, _URL.sub(_REDACTED, value))
    if isinstance(value, list):
        return [_scrub(item) for item in value]
    if isinstance(value, dict):
        return {key: _scrub(item) for key, item in value.items()}
    return value


def redacted_status(status: dict[str, Any]) -> dict[str, Any]:
    """What ``mallsense status`` shows, for the ``status`` command: no database path, and
    no path or URL in any message (a sensor's or a quarantined record's error)."""
    scrubbed: dict[str, Any] = _scrub(status)
    if "db" in scrubbed:
        scrubbed["db"] = _REDACTED
    return scrubbed


def redacted_config(settings: AgentSettings) -> dict[str, Any]:
    """The running configuration for the ``config`` command, without any secret.

    Secrets never are in the configuration (only the paths of the files holding
    them); the broker password is shown as present or not, never its value. Whoever
    may publish a command reads the reply, so what says where the box, its broker
    and its files are (URLs, user name, client id, every path) is left out too;
    a technician reads those on the box, in its configuration file.
    """
    mqtt = _redact_model(settings.mqtt, settings.mqtt.model_dump(mode="json"))
    mqtt["password"] = _REDACTED if settings.password is not None else None
    box_config = settings.box_config
    if box_config is None:
        config: dict[str, Any] = {"mall": settings.mall, "box": settings.box, "mqtt": mqtt}
    else:
        config = _redact_model(box_config, box_config.model_dump(mode="json")) | {"mqtt": mqtt}
    return {
        "config_hash": settings.config_hash,
        "from_file": box_config is not None,
        "config": config,
    }


class Control:
    """Commands, platform state, telemetry and resend jobs for one ``SyncAgent.run``.

    It reads the agent's settings as it was given them (``reconfigure`` after a
    reload) and the agent's clock; ``records_sent`` counts what the run delivered.
    """

    def __init__(
        self,
        settings: AgentSettings,
        clock: Callable[[], float],
        store: Store,
        started_at: float,
        records_sent: Callable[[], int],
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.store = store
        self.started_at = started_at
        self.records_sent = records_sent
        cfg = settings.mqtt
        self.gate = PlatformGate(cfg.platform_id, cfg.require_platform)
        handlers: dict[str, Handler] = {
            "ping": self._ping,
            "status": self._status,
            "resend": self._resend,
            "config": self._config,
        }
        self.commands = Commands(settings.mall, settings.box, cfg.command_rate_per_min, handlers)
        self.budget = ResendBudget()
        self.rejected_saved: dict[str, int] = {}
        self.rejected_due = time.monotonic()
        self.jobs: deque[ResendJob] = deque()
        self.outgoing: deque[Reply] = deque()
        self.labels: dict[int, str] = {}  # message id -> what it is, for a refusal's log line
        self.subscriptions: dict[int, str] = {}  # SUBSCRIBE message id -> topic filter
        # Every interval from the start, whatever the connections do: a box whose link
        # flaps must not send a burst of telemetry at each reconnect.
        self.telemetry_due = time.monotonic() + cfg.telemetry_interval_s
        self.prune_due = time.monotonic()

    def reconfigure(self, settings: AgentSettings) -> None:
        """The agent took new settings (SIGHUP). A new platform takes effect with the
        reconnect that follows; the command rate at once."""
        self.settings, cfg = settings, settings.mqtt
        if (cfg.platform_id, cfg.require_platform) != (self.gate.platform_id, self.gate.required):
            self.gate = PlatformGate(cfg.platform_id, cfg.require_platform)
        if cfg.command_rate_per_min != self.commands.rate_per_min:
            old = self.commands
            rate = cfg.command_rate_per_min
            self.commands = Commands(settings.mall, settings.box, rate, old.handlers)
            self.commands.rejected = old.rejected  # counters run since the agent started

    # -- connection ---------------------------------------------------------------------

    def connected(self, link: Link) -> None:
        """Subscribe to this box's commands (and the platform's STATE)."""
        self.labels.clear()
        self.subscriptions.clear()
        self.gate.reset()
        topic = command_filter(self.settings.mall, self.settings.box)
        self.subscriptions[link.subscribe(topic, retained=False)] = topic
        if self.gate.topic is not None:
            self.subscriptions[link.subscribe(self.gate.topic, retained=True)] = self.gate.topic

    def subscribed(self, event: Subscribed) -> None:
        topic = self.subscriptions.pop(event.mid, None)
        if topic is None or not event.reason.is_failure:
            return
        why = f"{event.reason} (SUBACK reason 0x{event.reason.value:02X})"
        if topic == self.gate.topic:
            self.gate.refused(why)
            return
        log.warning(
            "the broker refused the subscription to %s: %s; this box will not receive"
            " commands until the broker's access rules let it read its own cmd/ topics",
            topic,
            why,
        )

    def received(self, event: Received) -> None:
        """A message on a subscribed topic: the platform's STATE, or a command."""
        if event.topic == self.gate.topic:
            try:
                state = self.gate.update(event.payload)
            except Exception as exc:  # whatever the platform's STATE holds, the uplink goes on
                log.error("ignored an unreadable platform state on %s (%s)", event.topic, exc)
                return
            self.store.put("sync.platform", state)
            return
        if event.retain:  # Retain Handling 2 should prevent it; never run a stale command
            log.warning("ignored a retained command on %s", event.topic)
            return
        reply = self.commands.handle(event.topic, event.payload, event.correlation_data)
        if reply is not None:
            self.outgoing.append(reply)

    # -- the loop's regular work ----------------------------------------------------------

    def tick(self, link: Link | None) -> None:
        """Send waiting replies and due telemetry; prune the resend window now and then."""
        now = time.monotonic()
        if now >= self.rejected_due:
            self.rejected_due = now + _SAVE_REJECTED_EVERY_S
            self._save_rejected()
        if now >= self.prune_due:
            self.prune_due = now + _PRUNE_EVERY_S
            cfg = self.settings.mqtt
            prune_sent(self.store, self.clock() - cfg.resend_window_s, cfg.resend_window_batches)
        if link is None:
            return
        while self.outgoing and len(self.labels) < CONTROL_SLOTS:
            reply = self.outgoing.popleft()
            mid = link.publish(reply.topic, reply.payload, correlation_data=reply.correlation_data)
            self.labels[mid] = f"the reply on {reply.topic}"
        if now >= self.telemetry_due and len(self.labels) < CONTROL_SLOTS:
            interval = self.settings.mqtt.telemetry_interval_s
            # The next one an interval after this one was due (no drift), but never a burst
            # to catch up after a time without a connection.
            self.telemetry_due = max(self.telemetry_due + interval, now + interval / 2)
            self._send_telemetry(link)

    def _save_rejected(self) -> None:
        """Write the refusal counters (kv ``sync.commands_rejected``) when they changed."""
        counts = dict(self.commands.rejected)
        if self.budget.refused:
            counts["resend_budget"] = self.budget.refused
        if counts != self.rejected_saved:
            self.store.put(REJECTED_KEY, json.dumps(counts, sort_keys=True))
            self.rejected_saved = counts

    def _send_telemetry(self, link: Link) -> None:
        settings = self.settings
        try:
            payload = telemetry_payload(
                self.store,
                mall=settings.mall,
                box=settings.box,
                now=self.clock(),
                records_sent=self.records_sent(),
                synced=clock_synced(),
            )
        except ValueError as exc:  # a value the contract refuses; the uplink carries on
            log.warning("could not build the telemetry message: %s; skipped this one", exc)
            return
        topic = telemetry_topic(settings.mall, settings.box)
        self.labels[link.publish(topic, payload)] = "the telemetry message"

    def acked(self, mid: int, refusal: str | None) -> None:
        """A PUBACK for something that is not a data batch; log it if refused."""
        what = self.labels.pop(mid, None)
        if refusal is not None:
            url = self.settings.url
            log.warning("%s refused %s: %s", url, what or f"message {mid}", refusal)

    # -- resend jobs ----------------------------------------------------------------------

    def take_resend(self) -> tuple[ResendJob, SentBatch, list[OutboxRow]] | None:
        """The next batch to publish again, with the records still stored."""
        while self.jobs:
            job = self.jobs[0]
            while job.batches:
                batch = job.batches.popleft()
                rows = batch_rows(self.store, batch)
                if not rows:
                    job.skipped.append({"seq": batch.seq, "reason": _GONE})
                elif self._affordable(job, batch, rows):
                    return job, batch, rows
            self._finish()
        return None

    def _affordable(self, job: ResendJob, batch: SentBatch, rows: list[OutboxRow]) -> bool:
        """Charge the batch to the resend budget; when it does not fit, skip it and the
        rest of its job, saying when to ask again."""
        settings, now = self.settings, self.clock()
        size = envelope_overhead(settings.mall, settings.box, batch.kind)
        size += sum(record_size(row.body) for row in rows)  # an upper bound of the payload
        if self.budget.fits(size, now):
            self.budget.charge(size, now)
            return True
        reason = self.budget.skip_reason(size, now)
        log.warning(
            "resend (id %s): skipped batch %d and after: %s", job.request.id, batch.seq, reason
        )
        job.skipped.append({"seq": batch.seq, "reason": reason})
        while job.batches:
            job.skipped.append({"seq": job.batches.popleft().seq, "reason": reason})
        return False

    def resent(self, job: ResendJob, batch: SentBatch, envelope: Envelope) -> None:
        """A batch of ``job`` went out again under ``envelope.seq``."""
        entry = {"seq": batch.seq, "new_seq": envelope.seq, "records": len(envelope.records)}
        missing = len(batch.records) - len(envelope.records)
        if missing:
            entry["missing"] = missing
        job.resent.append(entry)
        if not job.batches:
            self._finish()

    def _finish(self) -> None:
        job = self.jobs.popleft()
        log.info(
            "resend %d..%d (id %s): %d batch(es) sent again, %d skipped",
            job.args.from_seq,
            job.args.to_seq,
            job.request.id,
            len(job.resent),
            len(job.skipped),
        )
        self.outgoing.append(self.commands.reply(job.request, job.result()))

    # -- the commands ---------------------------------------------------------------------

    def _ping(self, request: Request) -> dict[str, Any]:
        now = self.clock()
        return {
            "version": edge.__version__,
            "uptime_s": round(max(now - self.started_at, 0.0), 1),
            "now": iso_utc(now),
        }

    def _status(self, request: Request) -> dict[str, Any]:
        return redacted_status(collect_status(self.store, self.clock()))

    def _config(self, request: Request) -> dict[str, Any]:
        return redacted_config(self.settings)

    def _resend(self, request: Request) -> dict[str, Any] | None:
        last_seq = int(self.store.get("sync.seq", "0") or 0)
        queued = sum(len(job.batches) for job in self.jobs)
        job = plan_resend(self.store, request, last_seq, queued, self.budget, self.clock())
        if not job.batches:
            return job.result()  # nothing to send: answer at once
        self.jobs.append(job)
        return None
