"""Masked receipt texts, kept on the box for a few hours so a technician can check templates.

A ``transaction`` record carries the sale, never the receipt's text; the text
(card, phone and member numbers already masked by the decoder) stays here,
keyed by the record's id, until ``expires``: the POS sensor's
``raw_text_retention_h`` after the receipt printed. Expired rows are deleted at
every write and by ``edge.store.retention``; nothing here is ever published.

The edge daemon writes them on a connection of its own, from a worker thread:
its ``Store`` connection belongs to the flush, and receipts are rare enough
(one a minute per shop) that opening a connection per batch costs nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from edge.errors import StoreError
from edge.store.db import Store, explain_sqlite_error
from edge.store.txn import transaction

__all__ = ["ReceiptText", "prune_receipt_texts", "receipt_texts", "save_receipt_texts"]

_BUSY_TIMEOUT_MS = 10_000
_COLUMNS = "record_id, sensor, store, start, text, extractor, confidence, created, expires"


class ReceiptText(NamedTuple):
    """One kept receipt text and what identifies it."""

    record_id: str
    """The ``transaction`` record's id."""
    sensor: str
    store: str
    start: str
    """When its first byte was printed (the record's ``start``, UTC)."""
    text: str
    """The printed text, masked."""
    extractor: str
    confidence: float
    created: float
    """Event time the receipt ended (epoch seconds)."""
    expires: float


def prune_receipt_texts(conn: sqlite3.Connection, now: float) -> int:
    """Delete the texts whose time is up (inside the caller's transaction); how many."""
    return conn.execute("DELETE FROM receipt_texts WHERE expires <= ?", (now,)).rowcount


def save_receipt_texts(path: Path, rows: Sequence[ReceiptText], now: float) -> int:
    """Keep ``rows`` (a text already kept stays as it is) and drop expired ones; how many new."""
    try:
        conn = sqlite3.connect(path, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError(explain_sqlite_error(path, exc)) from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA synchronous = FULL")
        with transaction(conn):
            before = conn.total_changes
            conn.executemany(
                f"INSERT OR IGNORE INTO receipt_texts ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
                rows,
            )
            added = conn.total_changes - before
            prune_receipt_texts(conn, now)
    except sqlite3.Error as exc:
        raise StoreError(explain_sqlite_error(path, exc)) from exc
    finally:
        conn.close()
    return added


def receipt_texts(
    store: Store,
    *,
    store_id: str | None = None,
    now: float | None = None,
    limit: int | None = None,
) -> list[ReceiptText]:
    """Kept texts, newest first (``now``: leave out those already expired)."""
    sql = f"SELECT {_COLUMNS} FROM receipt_texts WHERE 1"
    params: list[object] = []
    if store_id is not None:
        sql += " AND store = ?"
        params.append(store_id)
    if now is not None:
        sql += " AND expires > ?"
        params.append(now)
    sql += " ORDER BY start DESC, record_id"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    try:
        return [ReceiptText(*row) for row in store.conn.execute(sql, params)]
    except sqlite3.Error as exc:
        raise StoreError(explain_sqlite_error(store.path, exc)) from exc
