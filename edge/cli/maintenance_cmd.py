"""``mallsense maintenance``: the daily database care run by mallsense-maintenance.timer."""

from __future__ import annotations

import time
from pathlib import Path

import click

from edge.cli.common import (
    config_option,
    console,
    db_option,
    fails_cleanly,
    json_option,
    print_json_line,
)
from edge.config import load_config
from edge.config.models import DEFAULT_CONFIG_PATH, StoreConfig
from edge.store import Store
from edge.store.maintenance import MaintenanceReport, maintain

__all__ = ["register"]


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MB"


def _print(report: MaintenanceReport) -> None:
    dropped = sum(report.dropped.values())
    lines = [
        f"database   {report.database}",
        f"retention  {report.deleted_delivered} delivered records deleted,"
        f" {dropped} undelivered records dropped"
        + (f" ({', '.join(f'{k} {v}' for k, v in report.dropped.items())})" if dropped else ""),
        f"integrity  {report.integrity} (PRAGMA quick_check)",
        f"size       {_mb(report.file_bytes)}, of which {_mb(report.free_bytes)} free pages",
        f"vacuum     {report.vacuum_reason}",
        f"after      {_mb(report.file_bytes_after)} ({report.seconds:.1f} s)",
    ]
    for line in lines:
        console.print(line, markup=False, soft_wrap=True)


@click.command("maintenance")
@config_option(required=False, help="Configuration file (store.path and the retention limits).")
@db_option()
@json_option()
@fails_cleanly
def maintenance_command(config_path: Path | None, db: Path | None, as_json: bool) -> None:
    """Keep the database healthy: integrity check, retention, VACUUM when worthwhile.

    Runs PRAGMA quick_check (exit status 2, and what to do, if the file is
    damaged), deletes what the retention limits say (store.max_mb,
    store.max_age_days), and runs VACUUM only when free pages are at least 20%
    of the file or 64 MB and the disk has room for the copy.
    mallsense-maintenance.timer runs it every night; running it by hand is safe
    while the services run.

    \b
    Examples:
      mallsense maintenance
      mallsense maintenance --db /var/lib/mallsense/mallsense.db --json
    """
    if db is None or config_path is not None:
        store_config = load_config(config_path or DEFAULT_CONFIG_PATH).store
    else:
        store_config = StoreConfig(path=db)
    path = db or store_config.path
    if not path.exists():
        console.print(f"no database at {path} yet: nothing to maintain", markup=False)
        return
    with Store(path, create=False) as store:
        report = maintain(store, store_config, time.time())
    if as_json:
        print_json_line(report.as_dict())
    else:
        _print(report)


def register(cli: click.Group) -> None:
    cli.add_command(maintenance_command)
