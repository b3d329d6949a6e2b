"""``mallsense run``: the edge daemon (systemd unit mallsense-edge.service)."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from pathlib import Path
from typing import Any

import click

from drivers.memory import tune_allocator
from drivers.timeline import Timeline
from edge.cli.common import config_option, fails_cleanly
from edge.config import Config, config_hash, load_config
from edge.config.secrets import pseudonymization_key
from edge.runtime.daemon import EdgeDaemon
from edge.runtime.logs import set_identifier
from edge.sensors.table import plugin_for
from edge.store import Store

__all__ = ["register"]

log = logging.getLogger("mallsense.edge")


async def _serve(daemon: EdgeDaemon) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, daemon.stop)
    loop.add_signal_handler(signal.SIGHUP, daemon.request_reload)
    await daemon.run()


def _simulated_sources(
    specs: tuple[str, ...], timeline: Timeline, config: Config
) -> dict[str, Any]:
    """``SENSOR=FILE`` -> the override each sensor's plugin makes of that recording."""
    sensors = {s.name: s for s in config.sensors}
    overrides: dict[str, Any] = {}
    for spec in specs:
        name, sep, file = spec.partition("=")
        sensor = sensors.get(name) if sep else None
        if sensor is None:
            raise click.BadParameter(
                f"{spec!r}: expected SENSOR=FILE with SENSOR one of {', '.join(sorted(sensors))}",
                param_hint="--simulate",
            )
        path = Path(file)
        if not path.is_file():
            raise click.BadParameter(f"recording {path} does not exist", param_hint="--simulate")
        plugin = plugin_for(sensor.type)
        if plugin.simulate is None:
            raise click.BadParameter(
                f"sensor {name}: type {sensor.type!r} cannot be simulated", param_hint="--simulate"
            )
        overrides[name] = plugin.simulate(sensor, path, timeline)
    if timeline.speed != 1 and overrides.keys() != sensors.keys():
        raise click.BadParameter(
            "a speed other than 1 needs every sensor simulated (a real device runs in real time)",
            param_hint="--simulate-speed",
        )
    return overrides


@click.command("run")
@config_option()
@click.option(
    "--simulate",
    "--simulate-radio",
    "simulate",
    multiple=True,
    metavar="SENSOR=RECORDING",
    help="Feed this sensor from a recording (pcap for Wi-Fi) played in real time, looped,"
    " instead of its device: tests the whole box without people around.",
)
@click.option(
    "--simulate-speed",
    type=click.FloatRange(min=0.01),
    default=1.0,
    show_default=True,
    help="Pace of --simulate recordings, as a multiple of real time.",
)
@fails_cleanly
def run_command(config_path: Path, simulate: tuple[str, ...], simulate_speed: float) -> None:
    """Run the edge daemon: sense, aggregate, store (until SIGTERM or Ctrl-C).

    Records go to the database's outbox; `mallsense sync` (a separate
    service) ships them. On stop, open sessions are saved as partial records
    and continue after the restart. SIGHUP reads the configuration again
    (zones, sensors, retention, metrics) without losing open sessions; an
    invalid file is refused and the running configuration stays.

    \b
    Examples:
      mallsense run --config /etc/mallsense/mallsense.toml
      mallsense run --config box.toml --simulate shop=saturday.pcap
    """
    set_identifier("mallsense-edge")
    tune_allocator()  # before any thread: see drivers.memory
    config = load_config(config_path, check_files=True)
    timeline = Timeline(simulate_speed)
    radios = _simulated_sources(simulate, timeline, config)
    # Simulated sources bring their own time; the daemon's clock must be the same.
    clock = timeline.now if radios else time.time
    key = pseudonymization_key(config)
    with Store(config.store.path) as store:
        log.info(
            "mall %s box %s: %d sensor(s), config %s, database %s",
            config.mall, config.box, len(config.sensors), config_hash(config), config.store.path,
        )  # fmt: skip
        daemon = EdgeDaemon(
            config, key, store, radios=radios, clock=clock,
            loader=lambda: load_config(config_path, check_files=True),
        )  # fmt: skip
        asyncio.run(_serve(daemon))


def register(cli: click.Group) -> None:
    cli.add_command(run_command)
