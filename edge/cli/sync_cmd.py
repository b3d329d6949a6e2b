"""``mallsense sync``: the uplink daemon (systemd unit mallsense-sync.service), and
``mallsense sync check``, which says in plain words why a box cannot upload.

``sync`` is a group that runs the agent when no subcommand is given, so the unit
file and scripts keep calling ``mallsense sync --config FILE`` as before.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click
from rich.text import Text

from edge.cli.common import (
    broker_option,
    console,
    fails_cleanly,
    json_option,
    print_json_line,
    timeout_option,
)
from edge.config import Config, config_hash, load_config
from edge.config.models import DEFAULT_CONFIG_PATH, MqttConfig
from edge.config.secrets import mqtt_password
from edge.errors import StoreError
from edge.store import Store

if TYPE_CHECKING:
    from sync.agent import SyncAgent
    from sync.check import CheckTarget

__all__ = ["register"]

log = logging.getLogger("mallsense.sync")

_STATUS_STYLE = {
    "pass": ("PASS", "bold green"),
    "fail": ("FAIL", "bold red"),
    "skip": ("skip", "dim"),
}
_TITLES = {
    "dns": "DNS",
    "tcp": "TCP",
    "tls": "TLS",
    "mqtt": "MQTT",
    "subscribe": "subscribe",
    "publish": "publish",
}


@dataclass(frozen=True, slots=True)
class _GroupOptions:
    """What ``mallsense sync --config F check`` gave the group, for the subcommand."""

    config_path: Path | None
    broker: str | None


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


def _with_broker(mqtt: MqttConfig, broker: str | None) -> MqttConfig:
    return mqtt if broker is None else mqtt.model_copy(update={"url": broker})


@click.group("sync", invoke_without_command=True)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="PATH",
    help="Configuration file.",
)
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="PATH",
    help="Database (outbox).",
)
@broker_option()
@click.option("--drain", is_flag=True, help="Publish the whole outbox, exit 0 once acknowledged.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="At the end, one JSON object: drained, acknowledged, waiting, held, broker.",
)
@click.pass_context
@fails_cleanly
def sync_group(
    ctx: click.Context,
    config_path: Path | None,
    db: Path | None,
    broker: str | None,
    drain: bool,
    as_json: bool,
) -> None:
    """Ship the outbox to the broker (MQTT 5, QoS 1), deleting rows only on PUBACK.

    Runs until SIGTERM; reconnects with backoff; resumes where it stopped.
    SIGHUP reads --config again (mqtt settings: reconnects if the connection's
    changed); an invalid file is refused and the running settings stay.
    `mallsense sync check` tests the connection step by step instead.

    \b
    Examples:
      mallsense sync --config /etc/mallsense/mallsense.toml
      mallsense sync --db replay.db --broker mqtt://127.0.0.1:1883 --drain
      mallsense sync --db replay.db --drain --json | jq .acknowledged
      mallsense sync check
    """
    if ctx.invoked_subcommand is not None:
        if db is not None or drain or as_json:
            raise click.UsageError(
                f"--db, --drain and --json (before the subcommand) are for the agent;"
                f" `mallsense sync {ctx.invoked_subcommand}` does not use them"
            )
        ctx.obj = _GroupOptions(config_path, broker)
        return
    _run_agent(config_path, db, broker, drain, as_json)


def _run_agent(
    config_path: Path | None, db: Path | None, broker: str | None, drain: bool, as_json: bool
) -> None:
    from edge.runtime.logs import set_identifier
    from edge.runtime.metrics import MetricsEndpoint
    from sync.agent import SyncAgent  # lazy: the edge daemon never needs paho
    from sync.metrics import sync_registry

    set_identifier("mallsense-sync")
    config = load_config(config_path, check_files=True) if config_path else None
    db_path = db or (config.store.path if config else None)
    if db_path is None:
        raise click.UsageError("give --db FILE or --config FILE")
    mall, box = _identity(config, db_path)
    agent = SyncAgent(
        mall,
        box,
        _with_broker(config.mqtt if config else MqttConfig(), broker),
        db_path,
        mqtt_password(config) if config else None,
        config_hash(config) if config else "none",
        box_config=config,
        loader=(lambda: load_config(config_path, check_files=True)) if config_path else None,
    )
    agent.broker_override = broker
    stop = threading.Event()

    def on_signal(_sig: int, _frame: FrameType | None) -> None:
        stop.set()

    def on_hangup(_sig: int, _frame: FrameType | None) -> None:
        agent.request_reload()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_hangup)
    endpoint = agent.metrics = MetricsEndpoint(sync_registry(agent), "sync")
    endpoint.apply(config.metrics if config else None)
    try:
        code = agent.run(drain=drain, stop=stop)
    finally:
        endpoint.stop()
    if as_json:
        print_json_line(_run_summary(agent, db_path, code))
    sys.exit(code)


def _run_summary(agent: SyncAgent, db_path: Path, code: int) -> dict[str, object]:
    """What a run ended with, for scripts (``--json``)."""
    run = agent.active
    with Store(db_path, create=False) as store:
        waiting, _oldest = store.outbox_depth()
    return {
        "drained": code == 0 and waiting == 0,
        "acknowledged": run.records_this_run if run is not None else 0,
        "waiting": waiting,
        "held": (run.held_reason or None) if run is not None else None,
        "broker": str(agent.settings.url),
    }


@sync_group.command("check")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="PATH",
    envvar="MALLSENSE_CONFIG",
    help=f"Configuration file  [default: {DEFAULT_CONFIG_PATH}]",
)
@broker_option()
@timeout_option()
@json_option()
@click.pass_context
@fails_cleanly
def check_command(
    ctx: click.Context,
    config_path: Path | None,
    broker: str | None,
    timeout: float,
    as_json: bool,
) -> None:
    """Connect with the configured credentials and say, step by step, what works.

    Checks DNS, TCP, TLS (the broker's certificate: names, dates, issuer; and
    whether the broker accepts this box's certificate), MQTT CONNECT (user and
    password), then the broker's access rules: a SUBSCRIBE to the box's own
    cmd/+ and a QoS 1 test message to its own .../check topic. Exits 0 when
    nothing failed, 1 otherwise.

    \b
    Examples:
      mallsense sync check
      mallsense sync check --config /etc/mallsense/mallsense.toml --json
      mallsense sync check --broker mqtts://broker.mall.example:8883
    """
    from sync.check import CheckTarget  # lazy: paho only when checking

    group = ctx.obj if isinstance(ctx.obj, _GroupOptions) else _GroupOptions(None, None)
    config = load_config(config_path or group.config_path or DEFAULT_CONFIG_PATH)
    mqtt = _with_broker(config.mqtt, broker or group.broker)
    target = CheckTarget.from_config(config.mall, config.box, mqtt, mqtt_password(config), timeout)
    sys.exit(_report(target, as_json))


def _report(target: CheckTarget, as_json: bool) -> int:
    """Print each step as it ends; 1 if any failed."""
    from sync.check import run_checks

    if not as_json:
        heading = f"checking {target.url} for {target.mall}/{target.box}"
        console.print(Text(f"{heading} (client id {target.client_id})"))
    failed = 0
    for step in run_checks(target):
        failed += step.status == "fail"
        if as_json:
            print_json_line(step.as_dict())
        else:
            _print_step(step.name, step.status, step.summary, step.advice)
    if not as_json:
        done = (
            "all checks passed"
            if not failed
            else "the uplink will not work until the failed step is fixed"
        )
        console.print(Text(done))
    return 1 if failed else 0


def _print_step(name: str, status: str, summary: str, advice: str | None) -> None:
    label, style = _STATUS_STYLE[status]
    line = Text()
    line.append(f"{label:<5}", style=style)
    line.append(f"{_TITLES[name]:<10} ", style="bold")
    line.append(summary)
    console.print(line, soft_wrap=True)
    if advice:
        console.print(Text(f"{'':15}what to do: {advice}"), soft_wrap=True)


def register(cli: click.Group) -> None:
    cli.add_command(sync_group)
