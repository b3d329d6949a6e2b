"""Named, ordered schema migrations. Append only: never edit one that has shipped."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlite_utils import Database

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


MIGRATIONS: list[tuple[str, Callable[[Database], None]]] = [
    ("0001_initial", _initial),
]


def migrate(db: Database) -> list[str]:
    """Apply the migrations this database has not seen; returns their names.

    Each step runs in its own ``BEGIN IMMEDIATE`` transaction together with its
    ``_migrations`` row, so the edge and sync services opening a new database
    at the same moment cannot both apply it, and a crash mid-step leaves the
    database as it was before the step.
    """
    conn = db.conn
    conn.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied TEXT NOT NULL)"
    )
    applied = []
    for name, step in MIGRATIONS:
        conn.execute("BEGIN IMMEDIATE")
        try:
            done = conn.execute("SELECT 1 FROM _migrations WHERE name = ?", (name,)).fetchone()
            if done is None:
                step(db)
                conn.execute(
                    "INSERT INTO _migrations (name, applied) VALUES (?, ?)",
                    (name, datetime.now(UTC).isoformat()),
                )
                applied.append(name)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return applied
