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
from edge.records import RECORD_MODELS
from edge.store import Store

__all__ = ["register"]

_COLUMNS: dict[str, list[str]] = {
    "dwell": [
        "start",
        "end",
        "zone",
        "device",
        "randomized",
        "duration_s",
        "samples",
        "rssi_max",
        "partial",
    ],
    "visit": ["start", "end", "device", "randomized", "duration_s", "path", "partial"],
    "presence": [
        "start",
        "end",
        "zone",
        "source",
        "devices",
        "visitors",
        "passersby",
        "randomized_share",
        "fixed",
    ],
    "transaction": ["start", "store", "total", "currency", "items", "payment", "refund"],
    "footfall": ["start", "end", "camera", "line", "zone", "in", "out", "partial"],
    "occupancy": ["start", "end", "camera", "area", "zone", "visits", "occupancy_max", "partial"],
    "traffic": [
        "start",
        "zone",
        "source",
        "devices_raw",
        "devices",
        "visitors",
        "capture_rate",
        "dwell_median_s",
        "people_estimate",
        "partial",
    ],
    "kpi": [
        "start",
        "store",
        "entries",
        "transactions",
        "sales",
        "average_ticket",
        "conversion",
        "partial",
    ],
    "attribution": ["start", "store", "zone", "device", "confidence", "candidates"],
}


def _cell(name: str, value: Any) -> str:
    if name == "path":
        return " → ".join(stop["zone"] for stop in value)
    if name in {"start", "end"}:
        return str(value).replace("T", " ").removesuffix("Z")[:19]
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
@json_option()
@fails_cleanly
def records_command(
    config_path: Path | None,
    db: Path | None,
    kind: str | None,
    zone: str | None,
    limit: int | None,
    as_json: bool,
) -> None:
    """List stored records, oldest first.

    With --json, one record per line with the contract's field names (id,
    kind, schema, mall, box, zone, device, start, end, ...): the same objects
    that are published to the platform.

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
        _print_tables(rows, kind, limit)


def _print_tables(rows: Any, kind: str | None, limit: int | None) -> None:
    tables: dict[str, Table] = {}
    shown = 0
    for record in rows:
        if limit is not None and shown >= limit:
            break
        k = record["kind"]
        table = tables.get(k)
        if table is None:
            table = tables[k] = Table(*_COLUMNS[k], title=f"{k} records", title_justify="left")
        table.add_row(*(_cell(c, record.get(c)) for c in _COLUMNS[k]))
        shown += 1
    if not tables:
        console.print(f"no {kind or ''} records".replace("  ", " "))
        return
    for table in tables.values():
        console.print(table)
    console.print(f"{shown:,} record(s); use --json for every field")


def register(cli: click.Group) -> None:
    cli.add_command(records_command)
