"""docs/cli.md: every command's ``--help``, in one page, made from the commands themselves.

``python -m edge.cli.reference > docs/cli.md`` writes it; ``tests/test_cli_reference.py``
fails when the page and the commands disagree.
"""

from __future__ import annotations

from collections.abc import Iterator

import click

__all__ = ["commands", "reference", "top_context"]

WIDTH = 100
_HEAD = """# The `mallsense` command

Every command's `--help`, generated from the commands (`python -m edge.cli.reference >
docs/cli.md`; a test fails when this page is stale). Conventions every command follows:

- `--json` prints records and results as JSON Lines: one object per line on stdout,
  nothing else on stdout; messages go to stderr.
- Times are shown in the mall's time zone (`timezone` in the configuration), labelled
  with the zone; `--utc` shows UTC. JSON always carries UTC (ISO 8601, `Z`).
- `--config PATH` is the configuration file (default `/etc/mallsense/mallsense.toml`, or
  `$MALLSENSE_CONFIG`); `--db PATH` a database other than the configuration's.
- Exit status: 0 done, 1 a check failed (doctor, validate), 2 the command could not run
  (a bad argument, a missing file), with the reason in one line on stderr.
"""


def top_context(cli: click.Group) -> click.Context:
    """The context a real ``mallsense`` run makes: its settings (``-h``), a fixed width.

    Click keeps a command's help option once made; every context here descends from
    this one, so the page reads the same whatever ran before in the process."""
    settings = {**cli.context_settings, "terminal_width": WIDTH, "max_content_width": WIDTH}
    return click.Context(cli, info_name="mallsense", **settings)


def commands(
    group: click.Group, parent: click.Context | None = None
) -> Iterator[tuple[click.Context, click.Command]]:
    """Every command below ``group`` (depth first, by name), with its context."""
    for name in sorted(group.list_commands(parent or click.Context(group))):
        command = group.get_command(parent or click.Context(group), name)
        if command is None or command.hidden:
            continue
        context = click.Context(command, info_name=name, parent=parent, terminal_width=WIDTH)
        context.max_content_width = WIDTH
        yield context, command
        if isinstance(command, click.Group):
            yield from commands(command, context)


def reference(cli: click.Group) -> str:
    """The page: the top level's help, then each command's."""
    top = top_context(cli)
    parts = [_HEAD, "## mallsense\n", "```", cli.get_help(top), "```\n"]
    for context, command in commands(cli, top):
        parts += [f"## {context.command_path}\n", "```", command.get_help(context), "```\n"]
    return "\n".join(parts)


if __name__ == "__main__":
    from edge.cli.main import cli

    print(reference(cli), end="")
