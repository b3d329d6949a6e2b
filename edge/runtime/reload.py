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

This module reads and decides (``read_again``); the daemon applies what it
returns in one place (``EdgeDaemon.reload``) and tells systemd ``RELOADING=1``
at the start and ``READY=1`` at the end, either way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from edge.config.models import Config
from edge.config.reload import EDGE_RESTART_KEYS, ConfigChange, compare, refusal
from edge.errors import ConfigError

__all__ = ["Reload", "applied_message", "read_again"]

log = logging.getLogger("mallsense.edge")
SERVICE = "mallsense-edge"


@dataclass(frozen=True)
class Reload:
    """A configuration read again that may be applied: the new one and what changed."""

    config: Config
    change: ConfigChange


async def read_again(running: Config, loader: Callable[[], Config]) -> Reload | None:
    """The file read again (on a worker thread) and compared with the running
    configuration; None, with the reason logged, when it must be refused."""
    try:
        new = await asyncio.to_thread(loader)
    except ConfigError as exc:
        log.error("%s", refusal(exc, SERVICE))
        return None
    except Exception as exc:  # anything else must not end the daemon either
        log.error("config refused: cannot read it (%r); keeping the running config", exc)
        log.debug("the reload failed here", exc_info=True)
        return None
    change = compare(running, new, EDGE_RESTART_KEYS)
    if change.restart_needed:
        log.error("%s", refusal(change, SERVICE))
        return None
    return Reload(new, change)


def applied_message(change: ConfigChange, rebuilt: bool, new_hash: str) -> str:
    """What the log says once a reload was applied."""
    notes = []
    if rebuilt:
        notes.append("aggregation continues its open sessions under the new settings")
    if "mqtt" in change.sections():
        notes.append("mqtt is mallsense-sync's: reload it too")
    more = "".join(f"; {n}" for n in notes)
    return f"config reloaded: changed {change.describe()}{more} (config {new_hash})"
