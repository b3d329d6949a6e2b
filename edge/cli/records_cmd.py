"""``mallsense records``: what the box recorded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.table import Table

from edge.cli.common import (
    config_option,
    console,
    db_option,
    fails_cleanly,
    json_option,
    print_json_line,
    resolve_db,
)
from edge.cli.times import Clock, mall_clock, utc_option
from edge.records import RECORD_MODELS, RECORD_SPECS
from edge.store import Store

__all__ = ["register"]

_TIMES = frozenset({"start", "end"})


def _cell(name: str, value: Any, clock: Clock) -> str:
    if name == "path":
        return " → ".join(stop["zone"] for stop in value)
    if name in _TIMES:
        return clock.show(value)
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, float):
        return f"{value:g}"
    return "" if value is None else str(value)


@click.command("records")
@config_option(required=False)
@db_option()
@click.option(
    "--kind",
    type=click.Choice(sorted(RECORD_MODELS)),
    help="Only records of this kind (default: all).",
)
@click.option("--zone", help="Only records of this zone.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many records.")
@utc_option()
@json_option()
@fails_cleanly
def records_command(
    config_path: Path | None,
    db: Path | None,
    kind: str | None,
    zone: str | None,
    limit: int | None,
    utc: bool,
    as_json: bool,
) -> None:
    """List stored records, oldest first.

    Times are in the mall's time zone (the configuration's; the header names
    it), or UTC with --utc. With --json, one record per line with the
    contract's field names (id, kind, schema, mall, box, zone, device, start,
    end, ...; times in UTC): the same objects that are published to the platform.

    \b
    Examples:
      mallsense records --db /var/lib/mallsense/mallsense.db --kind dwell
      mallsense records --kind presence --zone entrance --json | jq .visitors
    """
    with Store(resolve_db(db, config_path), create=False) as store:
        rows = (r for r in store.records(kind) if zone is None or r.get("zone") == zone)
        if as_json:
            for n, record in enumerate(rows):
                if limit is not None and n >= limit:
                    break
                print_json_line(record)
            return
        _print_tables(rows, kind, limit, mall_clock(utc, db, config_path))


def _print_tables(rows: Any, kind: str | None, limit: int | None, clock: Clock) -> None:
    tables: dict[str, Table] = {}
    shown = 0
    for record in rows:
        if limit is not None and shown >= limit:
            break
        k = record["kind"]
        table = tables.get(k)
        if table is None:
            headers = [
                f"{c} ({clock.label})" if c in _TIMES else c for c in RECORD_SPECS[k].columns
            ]
            table = tables[k] = Table(*headers, title=f"{k} records", title_justify="left")
        table.add_row(*(_cell(c, record.get(c), clock) for c in RECORD_SPECS[k].columns))
        shown += 1
    if not tables:
        console.print(f"no {kind or ''} records".replace("  ", " "))
        return
    for table in tables.values():
        console.print(table)
    console.print(f"{shown:,} record(s); use --json for every field")


def register(cli: click.Group) -> None:
    cli.add_command(records_command)
