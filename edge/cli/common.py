"""Pieces every command uses: options, the console, turning errors into plain words."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click
from rich.console import Console
from rich.markup import escape

from edge.config import load_config
from edge.config.models import DEFAULT_CONFIG_PATH
from edge.config.secrets import PASSWORD_ENV
from edge.config.urls import parse_broker_url
from edge.errors import MallsenseError
from edge.runtime import logs

__all__ = [
    "EXIT_ERROR",
    "broker_login_options",
    "config_option",
    "console",
    "db_option",
    "err_console",
    "fails_cleanly",
    "json_option",
    "print_json_line",
    "resolve_db",
    "setup_logging",
]

EXIT_ERROR = 2
# Piped output keeps whole lines (tables included) instead of rich's 80-column default.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True, highlight=False)

P = ParamSpec("P")
R = TypeVar("R")


def config_option(
    required: bool = True,
    help: str = "Configuration file.",
    fallback: str | None = f"{DEFAULT_CONFIG_PATH} if it exists",
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """``--config PATH`` (or $MALLSENSE_CONFIG), the same on every command: its default is
    /etc/mallsense/mallsense.toml (``required``), else ``fallback`` says what is used."""
    shown: bool | str = True if required else (fallback or False)
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        metavar="PATH",
        envvar="MALLSENSE_CONFIG",
        default=DEFAULT_CONFIG_PATH if required else None,
        show_default=shown,
        show_envvar=True,
        help=help,
    )


def db_option() -> Callable[[Callable[P, R]], Callable[P, R]]:
    return click.option(
        "--db",
        type=click.Path(dir_okay=False, path_type=Path),
        metavar="PATH",
        help="Database file (default: store.path of the configuration).",
    )


def broker_option() -> Callable[[Callable[P, R]], Callable[P, R]]:
    """``--broker URL``: another broker than ``mqtt.url``, refused at once when malformed."""
    return click.option(
        "--broker",
        callback=_valid_broker,
        metavar="URL",
        help="Broker URL mqtt://HOST:PORT or mqtts://HOST:PORT (overrides mqtt.url).",
    )


def _valid_broker(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        try:
            parse_broker_url(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from exc
    return value


def broker_login_options(func: Callable[P, R]) -> Callable[P, R]:
    """``--ca-file``, ``--cert-file``, ``--key-file`` and ``--username``: how a platform
    command logs in to the broker (the password from ``$MALLSENSE_MQTT_PASSWORD``)."""
    file = click.Path(dir_okay=False, exists=True, path_type=Path)
    options = [
        click.option("--ca-file", type=file,
                     help="CA bundle to verify an mqtts:// broker (default: the system's CAs)."),
        click.option("--cert-file", type=file,
                     help="Client certificate, if the broker asks for one (mutual TLS)."),
        click.option("--key-file", type=file, help="The client certificate's private key."),
        click.option("--username", help=f"Broker user; the password is read from ${PASSWORD_ENV}."),
    ]  # fmt: skip
    for option in reversed(options):
        func = option(func)
    return func


NETWORK_TIMEOUT_S = 10.0
"""How long a command waits for one step with a device or the network, by default."""


def timeout_option(what: str = "each step") -> Callable[[Callable[P, R]], Callable[P, R]]:
    return click.option(
        "--timeout",
        type=click.FloatRange(0.5, 120),
        default=NETWORK_TIMEOUT_S,
        show_default=True,
        help=f"Seconds to wait for {what}.",
    )


def json_option() -> Callable[[Callable[P, R]], Callable[P, R]]:
    return click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")


def fails_cleanly(func: Callable[P, R]) -> Callable[P, R]:
    """Print a MallsenseError as one plain message (no traceback) and exit 2."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except MallsenseError as exc:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
            sys.exit(EXIT_ERROR)

    return wrapper


def resolve_db(db: Path | None, config_path: Path | None) -> Path:
    """``--db`` if given, else the configuration's store path."""
    if db is not None:
        return db
    if config_path is not None:
        return load_config(config_path).store.path  # a missing file is a clear ConfigError
    if DEFAULT_CONFIG_PATH.exists():
        return load_config(DEFAULT_CONFIG_PATH).store.path
    raise click.UsageError("give --db FILE or --config FILE (no /etc/mallsense/mallsense.toml)")


def print_json_line(obj: Any) -> None:
    """One JSON object per line on stdout (machine output: no colours, no wrapping)."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n")


def setup_logging(level: str) -> None:
    """Logs to journald (structured) when stderr is the journal, else to stderr; a
    message repeated in a loop is rate-limited (``edge.runtime.logs``)."""
    logs.setup_logging(level)
