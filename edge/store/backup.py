"""A copy of the database before its schema is migrated, so an upgrade can be undone.

``migrate`` calls ``backup_before_migrating`` first. When an existing database has
migrations still to apply, it is copied to ``<db>.bak-<last applied migration>``
with SQLite's online backup API: the copy is consistent and includes what is
still in the WAL, while the other service keeps working. The copy is a plain
rollback-journal file (no -wal beside it) and is moved into place only when
complete. The newest ``KEEP`` backups are kept.

Both services open the database at start, so the check runs under the write lock
(``BEGIN IMMEDIATE``): the second one finds the first one's backup, or nothing left
to migrate. The copy is read through a second connection (SQLite refuses to back up
from a connection inside a write transaction), which WAL lets read meanwhile.

A backup that cannot be made (a full disk) is logged and the migration goes ahead:
the migrations are transactional, and a box that refuses to start senses nothing.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from edge.runtime.sdnotify import Notifier

__all__ = ["KEEP", "backup_before_migrating", "backups"]

log = logging.getLogger("mallsense.store")

KEEP = 3
_PAGES_PER_STEP = 4096
_EXTEND_S = 60.0  # asked of systemd at each step, while a large copy runs at start-up


def backups(db: Path) -> list[Path]:
    """The backups of ``db``, oldest first."""
    return sorted(db.parent.glob(f"{db.name}.bak-*"), key=lambda p: p.stat().st_mtime)


def backup_before_migrating(conn: sqlite3.Connection, names: Sequence[str]) -> Path | None:
    """Back up the database of ``conn`` if it has applied migrations and lacks some of ``names``.

    Returns the backup's path (None for a new, in-memory or up-to-date database).
    """
    db = _main_file(conn)
    if db is None or not _has_migrations_table(conn):
        return None
    conn.execute("BEGIN IMMEDIATE")
    try:
        applied = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
        done = [n for n in names if n in applied]
        if not done or len(done) == len(names):
            return None
        target = db.with_name(f"{db.name}.bak-{done[-1]}")
        if not target.exists():
            _copy(db, target, pending=[n for n in names if n not in applied])
    except (OSError, sqlite3.Error) as exc:
        log.error(
            "could not back up %s before upgrading its schema (%s); upgrading without a"
            " backup: free disk space if you want one next time",
            db,
            exc,
        )
        return None
    finally:
        conn.execute("COMMIT")
    _prune(db)
    return target


def _main_file(conn: sqlite3.Connection) -> Path | None:
    for _seq, name, file in conn.execute("PRAGMA database_list"):
        if name == "main" and file:
            return Path(file)
    return None


def _has_migrations_table(conn: sqlite3.Connection) -> bool:
    sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_migrations'"
    return conn.execute(sql).fetchone() is not None


def _copy(db: Path, target: Path, pending: list[str]) -> None:
    size = db.stat().st_size
    free = shutil.disk_usage(db.parent).free
    if free < 2 * size:
        raise OSError(f"{free // 2**20} MB free, {2 * size // 2**20} MB wanted")
    log.info(
        "backing up %s (%d MB) to %s before migrations %s",
        db,
        size // 2**20,
        target.name,
        ", ".join(pending),
    )
    notifier = Notifier.from_environment()
    started = time.monotonic()
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    source = sqlite3.connect(db)
    copy = sqlite3.connect(partial)
    try:
        source.backup(
            copy, pages=_PAGES_PER_STEP, progress=lambda *_: notifier.extend_timeout(_EXTEND_S)
        )
        copy.execute("PRAGMA journal_mode = DELETE")
        copy.close()
        partial.replace(target)
    finally:
        source.close()
        copy.close()
        partial.unlink(missing_ok=True)
    log.info("backup %s written in %.1f s", target, time.monotonic() - started)


def _prune(db: Path) -> None:
    for old in backups(db)[:-KEEP]:
        log.info("removing old backup %s (keeping the newest %d)", old, KEEP)
        old.unlink(missing_ok=True)
