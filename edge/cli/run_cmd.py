"""``mallsense run``: the edge daemon (systemd unit mallsense-edge.service)."""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
import time
from pathlib import Path
from typing import Any

import click

from drivers.wifi.fileradio import FileRadio, Timeline
from edge.cli.common import config_option, fails_cleanly
from edge.config import Config, config_hash, load_config
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


def _simulated_radios(specs: tuple[str, ...], timeline: Timeline, config: Config) -> dict[str, Any]:
    known = {s.name for s in config.wifi_sensors()}
    radios: dict[str, Any] = {}
    for spec in specs:
        name, sep, file = spec.partition("=")
        if not sep or name not in known:
            raise click.BadParameter(
                f"{spec!r}: expected SENSOR=FILE with SENSOR one of {', '.join(sorted(known))}",
                param_hint="--simulate-radio",
            )
        path = Path(file)
        if not path.is_file():
            raise click.BadParameter(
                f"recording {path} does not exist", param_hint="--simulate-radio"
            )
        radios[name] = functools.partial(_file_radio, path, timeline)
    if timeline.speed != 1 and radios.keys() != known:
        raise click.BadParameter(
            "a speed other than 1 needs every sensor simulated (a real radio runs in real time)",
            param_hint="--simulate-speed",
        )
    return radios


def _file_radio(path: Path, timeline: Timeline, _interface: str) -> FileRadio:
    return FileRadio(path, timeline, loop=True)


@click.command("run")
@config_option()
@click.option(
    "--simulate-radio",
    "simulate",
    multiple=True,
    metavar="SENSOR=CAPTURE.pcap",
    help="Feed this sensor from a recording played in real time (looped) instead of its"
    " interface: tests the whole box without phones around.",
)
@click.option(
    "--simulate-speed",
    type=click.FloatRange(min=0.01),
    default=1.0,
    show_default=True,
    help="Pace of --simulate-radio recordings, as a multiple of real time.",
)
@fails_cleanly
def run_command(config_path: Path, simulate: tuple[str, ...], simulate_speed: float) -> None:
    """Run the edge daemon: sense, aggregate, store (until SIGTERM or Ctrl-C).

    Records go to the database's outbox; `mallsense sync` (a separate
    service) ships them. On stop, open sessions are saved as partial records
    and continue after the restart.

    \b
    Examples:
      mallsense run --config /etc/mallsense/mallsense.toml
      mallsense run --config box.toml --simulate-radio shop=saturday.pcap
    """
    config = load_config(config_path)
    timeline = Timeline(simulate_speed)
    radios = _simulated_radios(simulate, timeline, config)
    # Simulated radios bring their own time; the daemon's clock must be the same.
    clock = timeline.now if radios else time.time
    key = pseudonymization_key(config)
    with Store(config.store.path) as store:
        log.info(
            "mall %s box %s: %d sensor(s), config %s, database %s",
            config.mall, config.box, len(config.sensors), config_hash(config), config.store.path,
        )  # fmt: skip
        asyncio.run(_serve(EdgeDaemon(config, key, store, radios=radios, clock=clock)))


def register(cli: click.Group) -> None:
    cli.add_command(run_command)
