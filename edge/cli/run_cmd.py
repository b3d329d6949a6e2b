"""``mallsense run``: the edge daemon (systemd unit mallsense-edge.service)."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

import click

from edge.cli.common import config_option, fails_cleanly
from edge.config import config_hash, load_config
from edge.config.secrets import pseudonymization_key
from edge.runtime.daemon import EdgeDaemon
from edge.store import Store

__all__ = ["register"]

log = logging.getLogger("mallsense.edge")


async def _serve(daemon: EdgeDaemon) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, daemon.stop)
    await daemon.run()


@click.command("run")
@config_option()
@fails_cleanly
def run_command(config_path: Path) -> None:
    """Run the edge daemon: sense, aggregate, store (until SIGTERM or Ctrl-C).

    Records go to the database's outbox; `mallsense sync` (a separate
    service) ships them. On stop, open sessions are saved as partial records
    and continue after the restart.

    \b
    Example:
      mallsense run --config /etc/mallsense/mallsense.toml
    """
    config = load_config(config_path)
    key = pseudonymization_key(config)
    with Store(config.store.path) as store:
        log.info(
            "mall %s box %s: %d sensor(s), config %s, database %s",
            config.mall, config.box, len(config.sensors), config_hash(config), config.store.path,
        )  # fmt: skip
        asyncio.run(_serve(EdgeDaemon(config, key, store)))


def register(cli: click.Group) -> None:
    cli.add_command(run_command)
