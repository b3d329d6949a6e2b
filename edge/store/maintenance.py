"""The daily care of the database (``mallsense maintenance``, run by a systemd timer).

1. ``PRAGMA quick_check``: damage found early, while a backup is still recent.
2. Retention (``edge.store.retention.enforce``), the same pass the edge daemon
   runs every minute: here it also covers a box whose edge service is stopped.
3. ``VACUUM`` only when worthwhile: deleted rows leave free pages that SQLite
   reuses but never gives back to the disk. Vacuuming rewrites the whole file
   and holds the write lock meanwhile (the edge's flushes wait and keep their
   records in memory), so it runs only when the free pages are at least
   ``VACUUM_FRACTION`` of the file or ``VACUUM_BYTES``, and only when the disk
   has room for the temporary copy.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import time
from dataclasses import asdict, dataclass
from typing import Any

from edge.config.models import StoreConfig
from edge.errors import StoreError
from edge.store.db import Store, explain_sqlite_error
from edge.store.retention import enforce

__all__ = ["VACUUM_BYTES", "VACUUM_FRACTION", "MaintenanceReport", "maintain", "page_stats"]

log = logging.getLogger("mallsense.store")

VACUUM_FRACTION = 0.20
VACUUM_BYTES = 64 * 2**20


@dataclass
class MaintenanceReport:
    """What one maintenance run found and did (``--json`` prints it)."""

    database: str
    dropped: dict[str, int]
    deleted_delivered: int
    integrity: str
    file_bytes: int
    free_bytes: int
    vacuumed: bool
    vacuum_reason: str
    file_bytes_after: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def page_stats(conn: sqlite3.Connection) -> tuple[int, int]:
    """(bytes of the database file, bytes in free pages)."""
    size = int(conn.execute("PRAGMA page_size").fetchone()[0])
    pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
    free = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
    return pages * size, free * size


def maintain(store: Store, config: StoreConfig, now: float) -> MaintenanceReport:
    """Integrity check, retention, and a VACUUM if worthwhile; ``StoreError`` if damaged."""
    started = time.monotonic()
    integrity = _quick_check(store)  # first: retention on a damaged file fails obscurely
    retention = enforce(store, config, now)
    file_bytes, free_bytes = page_stats(store.conn)
    vacuumed, reason = _vacuum_decision(store, file_bytes, free_bytes)
    if vacuumed:
        _vacuum(store, reason)
    report = MaintenanceReport(
        database=str(store.path),
        dropped=dict(retention.dropped),
        deleted_delivered=retention.deleted_delivered,
        integrity=integrity,
        file_bytes=file_bytes,
        free_bytes=free_bytes,
        vacuumed=vacuumed,
        vacuum_reason=reason,
        file_bytes_after=page_stats(store.conn)[0],
        seconds=round(time.monotonic() - started, 3),
    )
    log.info(
        "maintenance of %s: integrity %s; %s; %d MB -> %d MB in %.1f s",
        store.path,
        integrity,
        reason,
        file_bytes // 2**20,
        report.file_bytes_after // 2**20,
        report.seconds,
    )
    return report


def _quick_check(store: Store) -> str:
    try:
        rows = [str(r[0]) for r in store.conn.execute("PRAGMA quick_check")]
    except sqlite3.DatabaseError as exc:  # too damaged to even check
        rows = [str(exc)]
    if rows == ["ok"]:
        return "ok"
    raise StoreError(
        f"database {store.path} is damaged (PRAGMA quick_check: {'; '.join(rows[:5])});"
        f" stop mallsense-edge and mallsense-sync, keep a copy of the file, and restore the"
        f" newest {store.path.name}.bak-* backup or move the file away to start afresh"
    )


def _vacuum_decision(store: Store, file_bytes: int, free_bytes: int) -> tuple[bool, str]:
    """Whether to vacuum, and why (or why not) in words for the log."""
    share = free_bytes / file_bytes if file_bytes else 0.0
    if free_bytes < VACUUM_BYTES and share < VACUUM_FRACTION:
        return False, (
            f"no VACUUM: {free_bytes // 2**20} MB free pages ({share:.0%}), below"
            f" {VACUUM_FRACTION:.0%} and {VACUUM_BYTES // 2**20} MB"
        )
    # The temporary copy (used pages) plus the WAL the rewrite goes through.
    needed = 2 * (file_bytes - free_bytes)
    disk_free = shutil.disk_usage(store.path.parent).free
    if disk_free < needed:
        return False, (
            f"no VACUUM although {share:.0%} of the file is free pages: it needs"
            f" {needed // 2**20} MB of disk and {disk_free // 2**20} MB are free"
        )
    return True, f"VACUUM: {free_bytes // 2**20} MB free pages ({share:.0%} of the file)"


def _vacuum(store: Store, reason: str) -> None:
    log.info("VACUUM of %s: %s", store.path, reason)
    try:
        store.conn.execute("VACUUM")
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.Error as exc:
        raise StoreError(explain_sqlite_error(store.path, exc)) from exc
