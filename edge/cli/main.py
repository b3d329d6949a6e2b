"""The ``mallsense`` command: one group, one module per command group."""

from __future__ import annotations

import importlib

import click

from edge import __version__
from edge.cli.common import setup_logging

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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


COMMAND_MODULES = (
    "ble_cmd", "camera_cmd", "config_cmd", "contract_cmd", "demo_cmd", "doctor_cmd",
    "ingest_cmd", "install_cmd", "maintenance_cmd", "pos_cmd", "records_cmd", "replay_cmd",
    "report_cmd", "run_cmd", "status_cmd", "subscribe_cmd", "sync_cmd", "wifi_cmd",
)  # fmt: skip
"""The modules of ``edge.cli`` that add commands (each has ``register(cli)``)."""

for name in COMMAND_MODULES:
    importlib.import_module(f"edge.cli.{name}").register(cli)


def main() -> None:
    cli(prog_name="mallsense")
