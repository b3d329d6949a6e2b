"""``SIGHUP`` for the edge daemon (``systemctl reload mallsense-edge``).

The file is read and validated again on a worker thread. It is applied whole or
not at all:

- invalid (TOML, a key, a value): refused, every problem with its key path, and
  the running configuration keeps running;
- a change only a restart can apply (``mall``, ``box``, ``store.path``,
  ``privacy``: ``edge.config.reload.EDGE_RESTART_KEYS``): refused the same way;
- otherwise applied on the event loop, which owns the aggregation, between two
  batches: sensors whose section changed or that were removed are stopped; the
  pipeline takes the new zones, thresholds and aggregation settings and carries
  its state over (``Pipeline.reconfigure``: open sessions go on, nothing is
  written as partial); new and changed sensors start; retention, the flush
  interval and the metrics endpoint follow the new values. Unchanged sensors
  keep running throughout.

systemd is told ``RELOADING=1`` at the start and ``READY=1`` at the end, either way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from edge.config.load import config_hash
from edge.config.models import Config
from edge.config.reload import EDGE_RESTART_KEYS, ConfigChange, compare, refusal
from edge.errors import ConfigError

if TYPE_CHECKING:
    from edge.runtime.daemon import EdgeDaemon

__all__ = ["reload_config"]

log = logging.getLogger("mallsense.edge")
SERVICE = "mallsense-edge"


async def reload_config(daemon: EdgeDaemon) -> bool:
    """Read the configuration file again and apply it; False if it was refused."""
    if daemon.loader is None:
        log.warning("SIGHUP: nothing to reload (the daemon was started without a config file)")
        return False
    daemon.notifier.reloading()
    try:
        accepted = await _reload(daemon, daemon.loader)
    finally:
        daemon.notifier.ready(daemon.summary())
    daemon.reloads["ok" if accepted else "refused"] += 1
    return accepted


async def _reload(daemon: EdgeDaemon, loader: Callable[[], Config]) -> bool:
    try:
        new = await asyncio.to_thread(loader)
    except ConfigError as exc:
        log.error("%s", refusal(exc, SERVICE))
        return False
    except Exception as exc:  # anything else must not end the daemon either
        log.error("config refused: cannot read it (%r); keeping the running config", exc)
        log.debug("the reload failed here", exc_info=True)
        return False
    change = compare(daemon.config, new, EDGE_RESTART_KEYS)
    if change.restart_needed:
        log.error("%s", refusal(change, SERVICE))
        return False
    if change.empty:
        log.info("config reloaded: nothing changed (config %s)", daemon.config_hash)
        return True
    rebuilt = await _apply(daemon, new, change)
    notes = []
    if rebuilt:
        notes.append("aggregation continues its open sessions under the new settings")
    if "mqtt" in change.sections():
        notes.append("mqtt is mallsense-sync's: reload it too")
    log.info(
        "config reloaded: changed %s%s (config %s)",
        change.describe(), "".join(f"; {n}" for n in notes), daemon.config_hash,
    )  # fmt: skip
    return True


async def _apply(daemon: EdgeDaemon, new: Config, change: ConfigChange) -> bool:
    """Stop what changed, carry the aggregation over, start what is new; True if the
    aggregation was rebuilt. Nothing awaits between taking the new configuration and
    starting the sensors, so a flush sees either the old or the new one."""
    await daemon.retire_sensors(change.removed + change.changed)
    rebuilt = daemon.pipeline.reconfigure(new, daemon.key)
    daemon.config, daemon.config_hash = new, config_hash(new)
    daemon.forget_sensors(change.removed)
    sensors = {s.name: s for s in new.sensors}
    restarted = [sensors[name] for name in change.changed + change.added]
    for sensor in restarted:
        if sensor.name in daemon.health:
            daemon.health[sensor.name].state = "starting"
    daemon.start_sensors(restarted)
    daemon.metrics.apply(new.metrics)
    return rebuilt
