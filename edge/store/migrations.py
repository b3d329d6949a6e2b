"""Named, ordered schema migrations. Append only: never edit one that has shipped."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlite_utils import Database

from edge.store.backup import backup_before_migrating
from edge.store.txn import transaction

__all__ = ["MIGRATIONS", "migrate"]


def _initial(db: Database) -> None:
    records = db.table("records")
    records.create(
        {"seq": int, "id": str, "kind": str, "start": str, "body": str, "created": float},
        pk="seq",
        not_null={"id", "kind", "start", "body", "created"},
    )
    records.create_index(["id"], unique=True)
    records.create_index(["kind", "start"])
    # AUTOINCREMENT so an acknowledged (deleted) outbox id is never reused.
    db.execute(
        "CREATE TABLE outbox ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " record INTEGER NOT NULL REFERENCES records(seq),"
        " kind TEXT NOT NULL,"
        " created REAL NOT NULL)"
    )
    db.table("checkpoints").create({"name": str, "state": str, "updated": float}, pk="name")
    db.table("sensor_stats").create(
        {"sensor": str, "kind": str, "stats": str, "updated": float}, pk="sensor"
    )
    db.table("kv").create({"key": str, "value": str}, pk="key")


def _sent_batches(db: Database) -> None:
    # What each acknowledged batch carried, for the `resend` command: the records as runs
    # of records.seq ("[[first, last], ...]", compact because a batch's records are
    # mostly consecutive) rather than one row per record, which would double the writes
    # of the uplink's hot path. Pruned by age and count (mqtt.resend_window_*).
    db.execute(
        "CREATE TABLE sent_batches ("
        " seq INTEGER PRIMARY KEY,"
        " kind TEXT NOT NULL,"
        " records TEXT NOT NULL,"
        " count INTEGER NOT NULL,"
        " sent_at REAL NOT NULL,"
        " resent_from INTEGER)"
    )
    db.execute("CREATE INDEX sent_batches_sent_at ON sent_batches (sent_at)")


def _quarantine(db: Database) -> None:
    # Records the broker refused for good (or that can never be sent): a copy of the
    # body, so retention deleting the `records` row cannot lose the evidence.
    db.execute(
        "CREATE TABLE quarantine ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " record INTEGER NOT NULL,"
        " record_id TEXT NOT NULL,"
        " kind TEXT NOT NULL,"
        " body TEXT NOT NULL,"
        " reason TEXT NOT NULL,"
        " at REAL NOT NULL)"
    )


def _receipt_texts(db: Database) -> None:
    # The masked text of each POS receipt, for a technician checking templates: it never
    # leaves the box and is deleted at `expires` (the sensor's raw_text_retention_h after
    # the receipt printed), by edge.store.retention and at each write.
    db.execute(
        "CREATE TABLE receipt_texts ("
        " record_id TEXT PRIMARY KEY,"
        " sensor TEXT NOT NULL,"
        " store TEXT NOT NULL,"
        " start TEXT NOT NULL,"
        " text TEXT NOT NULL,"
        " extractor TEXT NOT NULL,"
        " confidence REAL NOT NULL,"
        " created REAL NOT NULL,"
        " expires REAL NOT NULL)"
    )
    db.execute("CREATE INDEX receipt_texts_expires ON receipt_texts (expires)")
    db.execute("CREATE INDEX receipt_texts_store ON receipt_texts (store, start)")


MIGRATIONS: list[tuple[str, Callable[[Database], None]]] = [
    ("0001_initial", _initial),
    ("0002_sent_batches", _sent_batches),
    ("0003_quarantine", _quarantine),
    ("0004_receipt_texts", _receipt_texts),
]


def migrate(db: Database) -> list[str]:
    """Apply the migrations this database has not seen; returns their names.

    Each step runs in its own ``BEGIN IMMEDIATE`` transaction together with its
    ``_migrations`` row, so the edge and sync services opening a new database
    at the same moment cannot both apply it, and a crash mid-step leaves the
    database as it was before the step.
    """
    conn = db.conn
    backup_before_migrating(conn, [name for name, _step in MIGRATIONS])  # <db>.bak-<last>
    conn.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied TEXT NOT NULL)"
    )
    applied = []
    for name, step in MIGRATIONS:
        with transaction(conn):
            done = conn.execute("SELECT 1 FROM _migrations WHERE name = ?", (name,)).fetchone()
            if done is None:
                step(db)
                conn.execute(
                    "INSERT INTO _migrations (name, applied) VALUES (?, ?)",
                    (name, datetime.now(UTC).isoformat()),
                )
                applied.append(name)
    return applied
