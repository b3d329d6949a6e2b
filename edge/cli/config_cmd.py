"""``mallsense config validate|schema`` and ``mallsense keygen``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.markup import escape

from edge.cli.common import EXIT_ERROR, console, err_console, json_option, print_json_line
from edge.config import Config, config_hash, load_config
from edge.config.models import DEFAULT_CONFIG_PATH
from edge.config.secrets import generate_key
from edge.errors import ConfigError

__all__ = ["register"]


@click.group("config")
def config_group() -> None:
    """Check the configuration file and print its schema.

    \b
    Examples:
      mallsense config validate /etc/mallsense/mallsense.toml
      mallsense config schema > mallsense.schema.json
    """


@config_group.command("validate")
@click.argument(
    "file", required=False, type=click.Path(dir_okay=False, path_type=Path), default=None
)
@click.option(
    "--offline",
    is_flag=True,
    help="Check only the file itself, not the key, password and certificate files it names"
    " (for a configuration written on a laptop for another box).",
)
@json_option()
def validate(file: Path | None, offline: bool, as_json: bool) -> None:
    """Check FILE (default /etc/mallsense/mallsense.toml) and list every problem.

    Each problem names the key path, the bad value and what is expected. The
    files it names must exist, as the services will read them; the key and the
    password file must be readable by their owner only (chmod 600).
    Exit status 0 when valid, 2 otherwise. With --json, one object:
    {"file", "valid", "problems": [...], and when valid "mall", "box",
    "config_hash", "zones", "sensors"}.

    \b
    Examples:
      mallsense config validate /etc/mallsense/mallsense.toml
      mallsense config validate --offline box-7.toml
      mallsense config validate box-7.toml --json | jq -r '.problems[]'
    """
    path = file or DEFAULT_CONFIG_PATH
    try:
        config = load_config(path, check_files=not offline)
    except ConfigError as exc:
        if as_json:
            problems = exc.problems or [str(exc)]
            print_json_line({"file": str(path), "valid": False, "problems": problems})
        else:
            err_console.print(f"[bold red]invalid:[/] {escape(str(exc))}", soft_wrap=True)
        sys.exit(EXIT_ERROR)
    if as_json:
        print_json_line(_summary(path, config))
        return
    sensors = ", ".join(f"{s.name} ({s.type}, zone {s.zone})" for s in config.sensors) or "none"
    console.print(f"[green]valid:[/] {escape(str(path))}")
    lines = [
        f"  mall {config.mall}, box {config.box}, config hash {config_hash(config)}",
        f"  zones: {', '.join(z.id for z in config.zones)}",
        f"  sensors: {sensors}",
        f"  database: {config.store.path}; broker: {config.mqtt.url}",
    ]
    if offline:
        lines.append(
            "  the key, password and certificate files it names were not checked (--offline)"
        )
    for line in lines:
        console.print(line, markup=False, soft_wrap=True)


def _summary(path: Path, config: Config) -> dict[str, object]:
    return {
        "file": str(path),
        "valid": True,
        "problems": [],
        "mall": config.mall,
        "box": config.box,
        "config_hash": config_hash(config),
        "zones": [z.id for z in config.zones],
        "sensors": [{"name": s.name, "type": s.type, "zone": s.zone} for s in config.sensors],
    }


@config_group.command("schema")
def schema() -> None:
    """Print the JSON Schema of the configuration file.

    \b
    Example:
      mallsense config schema > mallsense.schema.json
    """
    sys.stdout.write(json.dumps(Config.model_json_schema(), indent=2) + "\n")


@click.command("keygen")
def keygen() -> None:
    """Print a new random pseudonymization key (hex, 32 bytes).

    Every box of one mall must use the same key, so pseudonyms agree across
    boxes. Store it as the systemd credential 'mallsense-key' or in the file
    named by privacy.key_file, readable only by the service user.

    \b
    Example:
      mallsense keygen > /etc/mallsense/key && chmod 600 /etc/mallsense/key
    """
    sys.stdout.write(generate_key() + "\n")


def register(cli: click.Group) -> None:
    cli.add_command(config_group)
    cli.add_command(keygen)
