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
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from edge.config.load import config_hash
from edge.config.models import MqttConfig
from edge.config.reload import SYNC_RESTART_KEYS, compare, refusal
from edge.config.secrets import mqtt_password
from edge.config.urls import parse_broker_url
from edge.errors import ConfigError, SecretError

if TYPE_CHECKING:
    from sync.agent import SyncAgent

__all__ = ["CONNECTION_KEYS", "Reloaded", "reload_agent"]

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
class Reloaded:
    """A new configuration the agent took."""

    changed: bool
    reconnect: bool
    """The connection's settings (or the password) changed."""
    moved: bool
    """Another broker: the old one is told 'offline' before the box leaves it."""


def reload_agent(agent: SyncAgent) -> Reloaded | None:
    """Read the file again and apply it to ``agent``; None (logged) if refused."""
    if agent.loader is None:
        log.warning("SIGHUP: nothing to reload (the agent was started without --config)")
        return None
    try:
        new = agent.loader()
        mqtt = _effective(new.mqtt, agent.broker_override)
        password = mqtt_password(new)
    except (ConfigError, SecretError) as exc:
        error = exc if isinstance(exc, ConfigError) else ConfigError(str(exc))
        log.error("%s", refusal(error, SERVICE))
        return None
    except Exception as exc:  # a bug in reading it must not end the agent either
        log.error("config refused: cannot read it (%r); keeping the running config", exc)
        log.debug("the reload failed here", exc_info=True)
        return None
    old = agent.box_config
    change = compare(old, new, SYNC_RESTART_KEYS) if old is not None else None
    if change is not None and change.restart_needed:
        log.error("%s", refusal(change, SERVICE))
        return None
    before = agent.config.model_dump()
    after = mqtt.model_dump()
    moved = {k for k in after if before.get(k) != after.get(k)}
    new_password = password != agent.password
    reconnect = bool(moved & CONNECTION_KEYS) or new_password
    other_broker = parse_broker_url(mqtt.url) != agent.url
    agent.config, agent.password, agent.box_config = mqtt, password, new
    agent.url = parse_broker_url(mqtt.url)
    agent.client_id = mqtt.client_id or f"mallsense-{agent.mall}-{agent.box}"
    agent.config_hash = config_hash(new)
    if agent.metrics is not None:
        agent.metrics.apply(new.metrics)
    changed = change is None or not change.empty or reconnect
    what = change.describe() if change is not None else "mqtt"
    if new_password:
        what += ", the broker password"
    if not changed:
        log.info("config reloaded: nothing changed (config %s)", agent.config_hash)
    elif reconnect:
        log.info("config reloaded: changed %s; reconnecting to %s", what, agent.url)
    else:
        log.info("config reloaded: changed %s (config %s)", what, agent.config_hash)
    return Reloaded(changed, reconnect, other_broker)


def _effective(mqtt: MqttConfig, broker: str | None) -> MqttConfig:
    return mqtt if broker is None else mqtt.model_copy(update={"url": broker})
