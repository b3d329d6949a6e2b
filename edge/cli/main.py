"""The ``mallsense`` command: one group, one module per command group."""

from __future__ import annotations

import importlib

import click

from edge import __version__
from edge.cli.common import setup_logging

__all__ = ["cli", "main"]


class _LazyGroup(click.Group):
    """Imports a command's module when the command is asked for (``COMMANDS``), so that
    ``mallsense run`` and ``mallsense sync`` (the two services) and every technician's
    command load their own module, not all 18: the CLI as a whole is 470 modules and
    about 20 MB that a service would otherwise hold for as long as it runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            for module in COMMANDS.get(cmd_name, ()):
                importlib.import_module(f"edge.cli.{module}").register(self)
        return super().get_command(ctx, cmd_name)


@click.group(
    cls=_LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="mallsense")
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
    help="How much the daemons log (to stderr / journald).",
)
def cli(log_level: str) -> None:
    """mallsense: people counting for a shopping-mall box.

    \b
    Everyday commands for a field technician:
      mallsense status                  is the box healthy, is data leaving?
      mallsense wifi watch              is the antenna hearing phones?
      mallsense records --kind dwell    what did the box record?
      mallsense config validate         is the configuration right?

    \b
    Example:
      mallsense replay --wifi capture.pcap --db /tmp/test.db
    """
    setup_logging(log_level)


COMMANDS: dict[str, tuple[str, ...]] = {
    "ble": ("ble_cmd",), "camera": ("camera_cmd",), "config": ("config_cmd", "install_cmd"),
    "contract": ("contract_cmd",), "demo": ("demo_cmd",), "doctor": ("doctor_cmd",),
    "ingest": ("ingest_cmd",), "install": ("install_cmd",), "keygen": ("config_cmd",),
    "maintenance": ("maintenance_cmd",), "pos": ("pos_cmd",), "records": ("records_cmd",),
    "replay": ("replay_cmd",), "report": ("report_cmd",), "run": ("run_cmd",),
    "status": ("status_cmd",), "subscribe": ("subscribe_cmd",), "sync": ("sync_cmd",),
    "wifi": ("wifi_cmd",),
}  # fmt: skip
"""Each command of ``mallsense`` and the modules of ``edge.cli`` that add it (each has
``register(cli)``); ``config`` takes ``upgrade`` from the install module."""


def main() -> None:
    cli(prog_name="mallsense")
