"""The sync agent: ships the outbox to the broker and deletes rows only on PUBACK.

The outbox (in SQLite, shared with the edge daemon) is the only queue. On each
connection the agent reads it from the start in windows, publishes batches at
QoS 1 with up to ``inflight_batches`` unacknowledged, and deletes a batch's rows
when its PUBACK arrives. paho's message ids belong to one connection, so the map
from message id to rows lives only as long as the connection; after any failure
everything still in the outbox is published again (the consumer de-duplicates by
record id). Only the thread that calls ``run`` touches SQLite: paho's callbacks
hand their events over through a queue (see ``sync.link``).

Besides the outbox, the agent answers the platform's commands, follows its
STATE (``sync.control``, ``sync.platform``), sends telemetry, and quarantines
records the broker refuses for good (``sync.quarantine``). The loop itself is
``sync.run``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import edge
from edge.config.models import Config, MqttConfig
from edge.errors import UplinkError
from edge.runtime.metrics import MetricsEndpoint
from edge.store import Store
from edge.store.uplink import stream_id
from sync.control import CONTROL_SLOTS
from sync.envelope import status_payload, status_topic
from sync.link import LinkSettings
from sync.reload import Reload, read_again
from sync.run import AgentRun
from sync.settings import AgentSettings, Timing

__all__ = ["SyncAgent"]

log = logging.getLogger("mallsense.sync")


class SyncAgent:
    """Store-and-forward uplink from one box's outbox to its broker.

    ``run(drain=True)`` ships the whole outbox and returns 0 once the broker has
    acknowledged all of it (the ``mallsense sync --drain`` case); ``run()`` keeps
    shipping whatever the edge daemon writes until ``stop`` is set.

    For ``mallsense status`` it keeps, in the store's key/value table:
    ``sync.connected`` ("1"/"0"), ``sync.reconnects`` (connections after the first,
    this run), ``sync.records_sent`` (cumulative), ``sync.last_upload`` (epoch of the
    last PUBACK), ``sync.last_error`` (the last failure, in words) and
    ``sync.platform`` (the platform's last known state, with ``mqtt.platform_id``).

    ``box_config`` is the whole configuration, for the ``config`` command (without
    it the command shows the identity and the MQTT settings only). ``loader`` reads
    it again on SIGHUP (``request_reload``; see ``sync.reload``).
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
        box_config: Config | None = None,
        loader: Callable[[], Config] | None = None,
    ) -> None:
        try:
            self.settings = AgentSettings.build(
                mall, box, config, password, config_hash, box_config
            )
        except ValueError as exc:
            raise UplinkError(f"mqtt.url: {exc}") from exc
        self.db_path = Path(db_path)
        self.clock = clock
        self.timing = Timing(backoff_initial_s, backoff_max_s, poll_interval_s, connect_timeout_s)
        self.active: AgentRun | None = None
        """The run in progress (read by the metrics endpoint's thread)."""
        self.loader = loader
        """Reads the configuration file again, for a reload (SIGHUP; ``sync.reload``)."""
        self.broker_override: str | None = None
        """``--broker``: replaces ``mqtt.url`` of every configuration read."""
        self.metrics: MetricsEndpoint | None = None
        self.reload_wanted = threading.Event()
        """Set by SIGHUP; the loop reloads at its next pass."""
        self.reloads: Counter[str] = Counter()
        self.stream: str | None = None
        """The database's stream id (``edge.store.uplink.stream_id``), read at ``run``."""

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
            self.stream = stream_id(store)
            self.active = AgentRun(self, store, drain, stop or threading.Event(), deadline)
            return self.active.execute()

    def request_reload(self) -> None:
        """Read the configuration again at the loop's next pass (safe from a signal handler)."""
        self.reload_wanted.set()

    def reload(self) -> Reload | None:
        """Read the configuration file again (``sync.reload``) and take it; None if it was
        refused. The run in progress applies the returned ``Reload`` to its connection."""
        self.reload_wanted.clear()
        if self.loader is None:
            log.warning("SIGHUP: nothing to reload (the agent was started without --config)")
            update = None
        else:
            update = read_again(self.settings, self.loader, self.broker_override)
        self.reloads["ok" if update is not None else "refused"] += 1
        if update is not None:
            self._apply(update)
        return update

    def _apply(self, update: Reload) -> None:
        """Take the new settings whole; the metrics endpoint follows its section."""
        self.settings = update.settings
        if self.metrics is not None:
            self.metrics.apply(update.config.metrics)
        log.info("%s", update.message())

    def status(
        self,
        state: Literal["online", "offline"],
        reconnects: int,
        started_at: float,
        reason: str | None,
    ) -> bytes:
        """The retained status payload with this agent's identity."""
        settings = self.settings
        return status_payload(
            state,
            mall=settings.mall,
            box=settings.box,
            version=edge.__version__,
            config_hash=settings.config_hash,
            reconnects=reconnects,
            started_at=started_at,
            reason=reason,
            stream=self.stream,
        )

    def link_settings(self, reconnects: int, started_at: float) -> LinkSettings:
        """How the next connection connects: the broker, the credentials and the will."""
        settings, cfg = self.settings, self.settings.mqtt
        return LinkSettings(
            url=settings.url,
            client_id=settings.client_id,
            keepalive_s=cfg.keepalive_s,
            username=cfg.username,
            password=settings.password,
            ca_file=cfg.ca_file,
            cert_file=cfg.cert_file,
            key_file=cfg.key_file,
            will_topic=status_topic(settings.mall, settings.box),
            will_payload=self.status("offline", reconnects, started_at, "connection lost"),
            will_delay_s=cfg.will_delay_s,
            max_inflight=cfg.inflight_batches + CONTROL_SLOTS,  # status, replies, telemetry
        )
