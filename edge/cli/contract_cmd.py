"""``mallsense contract``: the MQTT contract documents (JSON Schemas, AsyncAPI) for the platform."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from edge.cli.common import err_console, fails_cleanly

__all__ = ["register"]

_DIFF_LINES = 40  # per file: enough to see what moved, short enough for a CI log


@click.group("contract")
def contract_group() -> None:
    """The MQTT contract as documents the central platform reads.

    JSON Schemas (Draft 2020-12) of every record kind and message, and an AsyncAPI 3.0
    document of the topics, all generated from the pydantic models in edge/records.py
    and edge/messages.py.

    \b
    Example:
      mallsense contract export && git diff docs/
    """


@contract_group.command("export")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("docs"),
    show_default=True,
    help="Directory to write asyncapi.yaml and schemas/*.json into.",
)
@fails_cleanly
def export_command(out: Path) -> None:
    """Write docs/asyncapi.yaml and docs/schemas/*.json from the models.

    Run it after changing a record or message model and commit the result;
    schema files that no model produces any more are removed.

    \b
    Example:
      mallsense contract export --out docs
    """
    from edge.contract import export

    try:
        written = export(out)
    except OSError as exc:
        raise click.ClickException(f"cannot write the documents to {out}: {exc}") from exc
    err_console.print(f"wrote {len(written)} files under {out}")


@contract_group.command("check")
@click.option(
    "--dir",
    "docs",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("docs"),
    show_default=True,
    help="Directory holding the committed asyncapi.yaml and schemas/.",
)
@fails_cleanly
def check_command(docs: Path) -> None:
    """Exit 1 if the committed documents differ from what the models generate.

    CI runs it (through tests/test_contract.py) so a model change cannot reach the
    platform undocumented. Prints which files differ and the start of each diff.

    \b
    Example:
      mallsense contract check --dir docs || mallsense contract export --out docs
    """
    from edge.contract import drift

    found = drift(docs)
    if not found:
        err_console.print(f"the documents under {docs} match the models")
        return
    for item in found:
        sys.stderr.write(item.summary() + "\n")
        for line in item.diff[:_DIFF_LINES]:
            sys.stderr.write(f"    {line}\n")
        if len(item.diff) > _DIFF_LINES:
            sys.stderr.write(f"    ... {len(item.diff) - _DIFF_LINES} more diff lines\n")
    sys.stderr.write(
        f"{len(found)} document(s) out of date: run `mallsense contract export --out {docs}`"
        " and commit the result\n"
    )
    sys.exit(1)


def register(cli: click.Group) -> None:
    cli.add_command(contract_group)
