"""Opening the database file: created all at once, an empty file refused, errors in words."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlite_utils import Database

from edge.errors import StoreError
from edge.store.backup import backups
from edge.store.migrations import migrate

__all__ = [
    "BUSY_TIMEOUT_MS",
    "connect_readonly",
    "create_database",
    "enable_wal",
    "explain_sqlite_error",
    "refuse_empty",
    "restore_advice",
]

log = logging.getLogger("mallsense.store")

BUSY_TIMEOUT_MS = 10_000


def create_database(path: Path) -> None:
    """Create a new database at ``path`` all at once: built beside it, then linked in place.

    So mallsense itself never leaves an empty file at ``path`` (a power cut during
    the first start included), and an empty file found there is a failed copy.
    Two services creating it at the same moment: the first link wins, the other
    uses that one.
    """
    # Unique per process and thread: two threads of one process (the demo's replay and
    # its progress reader) may create it at the same moment, and each must build its own.
    partial = path.with_name(f".{path.name}.new-{os.getpid()}-{threading.get_ident()}")
    try:
        conn = sqlite3.connect(partial, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            migrate(Database(conn))
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
        try:
            os.link(partial, path)
        except FileExistsError:
            pass  # the other service was first
        except OSError:  # a filesystem without hard links
            if not path.exists():
                partial.replace(path)
    finally:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{partial}{suffix}").unlink(missing_ok=True)


def refuse_empty(path: Path) -> None:
    """Refuse a zero-byte file where the database should be (unless its WAL holds it).

    mallsense never leaves one (``create_database``), so it is what a failed copy or
    restore left. Replacing it with a new database would hide that failure under
    new records; a technician decides instead, with the facts in the message.
    """
    try:
        size = path.stat().st_size
        wal = Path(f"{path}-wal")
        if size > 0 or (wal.exists() and wal.stat().st_size > 0):
            return
        changed = datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%Y-%m-%d %H:%M UTC")
    except OSError:
        return  # opening it names the problem
    raise StoreError(
        f"database {path} is an empty file (0 bytes, last changed {changed}): mallsense never"
        " leaves one, so it is most likely what a failed copy or restore left, and it is not"
        f" replaced automatically; {restore_advice(path, empty=True)}"
    )


def restore_advice(path: Path, *, empty: bool = False) -> str:
    """What to do about a damaged (or empty) database: the newest backup and how to put it back."""
    found = backups(path)
    if found:
        what = f"copy the newest backup ({found[-1]}) to {path}"
    else:
        what = (
            f"there is no backup ({path.name}.bak-* in {path.parent}): copy the database again"
            if empty
            else f"there is no backup ({path.name}.bak-* in {path.parent}): move it away"
        )
        what += " or delete it to start a new database" if empty else " to start a new database"
    return (
        "stop mallsense-edge and mallsense-sync, keep a copy of the file (with its -wal and"
        f" -shm), then {what}, and start them again"
    )


def connect_readonly(path: Path) -> sqlite3.Connection:
    try:
        uri = f"{path.resolve().as_uri()}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    except sqlite3.Error as exc:
        raise StoreError(explain_sqlite_error(path, exc)) from exc
    return conn


def enable_wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL; retried because the switch does not wait on the busy timeout.

    Two services opening a new database at the same moment is the normal boot.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


_DAMAGED = ("SQLITE_CORRUPT", "SQLITE_NOTADB")


def explain_sqlite_error(path: Path, exc: sqlite3.Error, *, opening: bool = False) -> str:
    """A SQLite error on ``path`` in words, with the likely cause and the next step."""
    text = str(exc)
    code = str(getattr(exc, "sqlite_errorname", "") or "")
    if code.startswith("SQLITE_FULL") or "full" in text:
        return (
            f"disk full: {path.parent} is out of space (SQLITE_FULL: {text}, writing {path});"
            " free space there or lower store.max_mb, the disk budget retention keeps to"
        )
    if code.startswith(_DAMAGED) or "not a database" in text or "malformed" in text:
        return (
            f"database {path} is damaged ({text}): it is not a SQLite database or its pages"
            f" are corrupt, so it is not a matter of permissions; {restore_advice(path)}"
        )
    if "locked" in text or "busy" in text:
        return f"database {path} is locked by another process for too long ({text})"
    if "readonly" in text:
        return f"database {path} is read-only ({text}); check its owner and mode"
    if opening:
        return (
            f"cannot open database {path}: {text}; check the path, its permissions and free"
            " disk space"
        )
    return f"database {path}: {text}"
