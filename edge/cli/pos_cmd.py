"""``mallsense pos``: POS sensor tools (being built)."""

from __future__ import annotations

import click

__all__ = ["register"]


@click.group("pos")
def pos_group() -> None:
    """POS sensor tools for technicians.

    \b
    Example:
      mallsense pos --help
    """


def register(cli: click.Group) -> None:
    cli.add_command(pos_group)
