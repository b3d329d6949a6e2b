"""Transactions that never mask their error, and setting unreadable rows aside, counted.

After SQLITE_FULL (and some I/O errors) SQLite has already rolled the transaction
back; a manual ROLLBACK then fails with "no transaction is active", and that
error used to replace the real one in the log. ``rollback`` checks first.

A stored row that cannot be read goes to the ``quarantine`` table with its reason
and is counted in ``kv`` (``drops.quarantined.<kind>`` for a record in the outbox,
``drops.unreadable.<what>`` for the daemons' own rows), so the rows after it flow.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from edge.store import rows as decode
from edge.store.rows import UnreadableRow

__all__ = [
    "DROP_PREFIX",
    "UNREADABLE_DROP",
    "add_drop",
    "label",
    "quarantine_one",
    "rollback",
    "set_aside",
    "transaction",
]

log = logging.getLogger("mallsense.store")

DROP_PREFIX = "drops."
UNREADABLE_DROP = "unreadable"
"""``drops.unreadable.<what>``: stored rows other than records that could not be read."""


def add_drop(conn: sqlite3.Connection, reason: str, n: int) -> None:
    """Add to a drop counter inside the caller's transaction (if any)."""
    if n > 0:
        conn.execute(
            "INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key)"
            " DO UPDATE SET value = CAST(value AS INTEGER) + excluded.value",
            (DROP_PREFIX + reason, n),
        )


def rollback(conn: sqlite3.Connection) -> None:
    """Undo the open transaction, if SQLite has not already undone it.

    After SQLITE_FULL (and some I/O errors) SQLite rolls back by itself; a second
    ROLLBACK would fail with "no transaction is active" and hide the real error.
    """
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error as exc:  # the error being raised is the one that matters
            log.debug("rollback failed after an error: %s", exc)


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``; rolled back (without masking the error) on failure."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise


def set_aside(
    conn: sqlite3.Connection, label: str, what: str, body: bytes | str, reason: str, now: float
) -> None:
    """Keep an unreadable row's bytes in the quarantine table and count ``unreadable.<what>``."""
    conn.execute(
        "INSERT INTO quarantine (record, record_id, kind, body, reason, at)"
        " VALUES (0, ?, ?, ?, ?, ?)",
        (label, what, body, reason, now),
    )
    add_drop(conn, f"{UNREADABLE_DROP}.{what}", 1)


def quarantine_one(conn: sqlite3.Connection, outbox_id: int, reason: str, now: float) -> int:
    """Move one outbox row to the quarantine (inside the caller's transaction); 1 if moved."""
    found = conn.execute(
        "SELECT o.record, CAST(r.id AS BLOB), CAST(o.kind AS BLOB), CAST(r.body AS BLOB)"
        " FROM outbox o JOIN records r ON r.seq = o.record WHERE o.id = ?",
        (outbox_id,),
    ).fetchone()
    conn.execute("DELETE FROM outbox WHERE id = ?", (outbox_id,))
    if found is None:
        return 0
    record, record_id, kind_raw, body = found
    try:
        kind = decode.kind(kind_raw)
    except UnreadableRow:
        kind = "unknown"
    log.error(
        "outbox row %d: %s; moved to the quarantine table (counted as drops.quarantined.%s),"
        " the rows behind it go on", outbox_id, reason, kind,
    )  # fmt: skip
    if isinstance(body, bytes) and decode.utf8_problem(body) is None:
        body = body.decode()  # kept as TEXT when it is text; as the stored bytes otherwise
    conn.execute(
        "INSERT INTO quarantine (record, record_id, kind, body, reason, at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (record, label(record_id), kind, body, reason, now),
    )
    add_drop(conn, f"quarantined.{kind}", 1)
    return 1


def label(raw: object) -> str:
    """A stored key for a log line or the quarantine table, whatever its bytes."""
    if isinstance(raw, bytes):
        return raw.decode(errors="backslashreplace")[:200]
    return str(raw)[:200]
