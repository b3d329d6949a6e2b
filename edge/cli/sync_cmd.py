"""``mallsense sync``: the uplink daemon (systemd unit mallsense-sync.service)."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

import click

from edge.cli.common import fails_cleanly
from edge.config import Config, config_hash, load_config
from edge.config.models import MqttConfig
from edge.config.secrets import mqtt_password
from edge.errors import StoreError
from edge.store import Store

__all__ = ["register"]

log = logging.getLogger("mallsense.sync")


def _identity(config: Config | None, db: Path) -> tuple[str, str]:
    if config is not None:
        return config.mall, config.box
    with Store(db, create=False) as store:
        identity = store.identity()
    if identity is None:
        raise StoreError(
            f"database {db} has no records yet, so the box's mall and box ids are unknown;"
            " pass --config FILE"
        )
    return identity


@click.command("sync")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), help="Database (outbox).")
@click.option(
    "--broker", help="Broker URL mqtt://HOST:PORT or mqtts://HOST:PORT (overrides mqtt.url)."
)
@click.option("--drain", is_flag=True, help="Publish the whole outbox, exit 0 once acknowledged.")
@fails_cleanly
def sync_command(
    config_path: Path | None, db: Path | None, broker: str | None, drain: bool
) -> None:
    """Ship the outbox to the broker (MQTT 5, QoS 1), deleting rows only on PUBACK.

    Runs until SIGTERM; reconnects with backoff; resumes where it stopped.

    \b
    Examples:
      mallsense sync --config /etc/mallsense/mallsense.toml
      mallsense sync --db replay.db --broker mqtt://127.0.0.1:1883 --drain
    """
    from sync.agent import SyncAgent  # lazy: the edge daemon never needs paho

    config = load_config(config_path) if config_path else None
    db_path = db or (config.store.path if config else None)
    if db_path is None:
        raise click.UsageError("give --db FILE or --config FILE")
    mall, box = _identity(config, db_path)
    mqtt = config.mqtt if config else MqttConfig()
    if broker:
        mqtt = mqtt.model_copy(update={"url": broker})
        MqttConfig.model_validate(mqtt.model_dump())  # a bad --broker fails here, clearly
    agent = SyncAgent(
        mall,
        box,
        mqtt,
        db_path,
        mqtt_password(config) if config else None,
        config_hash(config) if config else "none",
    )
    stop = threading.Event()

    def on_signal(_sig: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sys.exit(agent.run(drain=drain, stop=stop))


def register(cli: click.Group) -> None:
    cli.add_command(sync_command)
