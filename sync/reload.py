"""``SIGHUP`` for the sync daemon (``systemctl reload mallsense-sync``).

The configuration file is read again on the agent's thread, between two passes
of its loop, and taken whole or not at all: an invalid file, a broker password
that cannot be read, or a change of ``mall``, ``box`` or ``store.path`` (a
restart: ``edge.config.reload.SYNC_RESTART_KEYS``) is refused and the running
settings stay. Otherwise the agent takes the new ``[mqtt]`` settings:

- those of the connection (broker URL, user, password, TLS files, client id,
  keepalive, will delay, in-flight window, batch size, platform) reconnect: the
  batches in flight get a moment for their PUBACKs, then a normal DISCONNECT (the
  broker drops the will, so no ``offline`` flaps; a broker the box leaves for
  another gets the retained ``offline`` first) and a new connection at once,
  which says ``online`` with the new config hash; unacknowledged rows simply go
  again, as after any reconnect;
- the others (batch records, historical age, telemetry interval, command rate,
  resend window) apply on the running connection.

The ``[metrics]`` endpoint moves if its address changed. A ``--broker`` given on
the command line keeps overriding ``mqtt.url``.

This module reads and decides (``read_again`` returns a ``Reload``); the agent
takes the new settings in one place (``SyncAgent.reload``) and its run applies
them to the connection in another (``AgentRun._apply``), each to its own state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from edge.config.load import config_hash
from edge.config.models import Config, MqttConfig
from edge.config.reload import SYNC_RESTART_KEYS, compare, refusal
from edge.config.secrets import mqtt_password
from edge.errors import ConfigError, SecretError
from sync.settings import AgentSettings

__all__ = ["CONNECTION_KEYS", "Reload", "read_again"]

log = logging.getLogger("mallsense.sync")
SERVICE = "mallsense-sync"

CONNECTION_KEYS = frozenset(
    {
        "url",
        "username",
        "password_file",
        "ca_file",
        "cert_file",
        "key_file",
        "client_id",
        "keepalive_s",
        "will_delay_s",
        "inflight_batches",
        "batch_max_bytes",
        "platform_id",
        "require_platform",
    }
)
"""``[mqtt]`` keys that only a new connection applies."""


@dataclass(frozen=True)
class Reload:
    """A configuration read again that may be taken: the new settings and what they change."""

    settings: AgentSettings
    config: Config
    """The whole file as read (its ``[metrics]`` section moves the endpoint)."""
    changed: bool
    reconnect: bool
    """The connection's settings (or the password) changed."""
    moved: bool
    """Another broker: the old one is told 'offline' before the box leaves it."""
    what: str
    """What changed, in words (``mqtt.url, the broker password``)."""

    def message(self) -> str:
        """What the log says once the reload was taken."""
        new = self.settings
        if not self.changed:
            return f"config reloaded: nothing changed (config {new.config_hash})"
        if self.reconnect:
            return f"config reloaded: changed {self.what}; reconnecting to {new.url}"
        return f"config reloaded: changed {self.what} (config {new.config_hash})"


def read_again(
    running: AgentSettings, loader: Callable[[], Config], broker_override: str | None
) -> Reload | None:
    """The file read again and compared with the running settings; None, with the
    reason logged, when it must be refused."""
    try:
        new = loader()
        mqtt = _effective(new.mqtt, broker_override)
        password = mqtt_password(new)
        settings = AgentSettings.build(
            running.mall, running.box, mqtt, password, config_hash(new), new
        )
    except (ConfigError, SecretError) as exc:
        error = exc if isinstance(exc, ConfigError) else ConfigError(str(exc))
        log.error("%s", refusal(error, SERVICE))
        return None
    except Exception as exc:  # a bug in reading it must not end the agent either
        log.error("config refused: cannot read it (%r); keeping the running config", exc)
        log.debug("the reload failed here", exc_info=True)
        return None
    old = running.box_config
    change = compare(old, new, SYNC_RESTART_KEYS) if old is not None else None
    if change is not None and change.restart_needed:
        log.error("%s", refusal(change, SERVICE))
        return None
    before, after = running.mqtt.model_dump(), mqtt.model_dump()
    differs = {key for key in after if before.get(key) != after.get(key)}
    new_password = password != running.password
    reconnect = bool(differs & CONNECTION_KEYS) or new_password
    what = change.describe() if change is not None else "mqtt"
    if new_password:
        what += ", the broker password"
    return Reload(
        settings=settings,
        config=new,
        changed=change is None or not change.empty or reconnect,
        reconnect=reconnect,
        moved=settings.url != running.url,
        what=what,
    )


def _effective(mqtt: MqttConfig, broker: str | None) -> MqttConfig:
    return mqtt if broker is None else mqtt.model_copy(update={"url": broker})
