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
from edge.errors import MallsenseError
from edge.runtime import logs

__all__ = [
    "EXIT_ERROR",
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


def config_option(required: bool = True) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """``--config FILE`` (or $MALLSENSE_CONFIG); defaults to /etc/mallsense/mallsense.toml."""
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="MALLSENSE_CONFIG",
        default=DEFAULT_CONFIG_PATH if required else None,
        show_default=True,
        help="Configuration file.",
    )


def db_option() -> Callable[[Callable[P, R]], Callable[P, R]]:
    return click.option(
        "--db",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Database file (default: store.path of the configuration).",
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
