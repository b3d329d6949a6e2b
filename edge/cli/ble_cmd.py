"""``mallsense ble``: BLE sensor tools (being built)."""

from __future__ import annotations

import click

__all__ = ["register"]


@click.group("ble")
def ble_group() -> None:
    """BLE sensor tools for technicians.

    \b
    Example:
      mallsense ble --help
    """


def register(cli: click.Group) -> None:
    cli.add_command(ble_group)
