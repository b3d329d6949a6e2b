"""Named, ordered schema migrations. Append only: never edit one that has shipped."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlite_utils import Database

__all__ = ["MIGRATIONS", "migrate"]


def _initial(db: Database) -> None:
    db["records"].create(
        {"seq": int, "id": str, "kind": str, "start": str, "body": str, "created": float},
        pk="seq",
        not_null={"id", "kind", "start", "body", "created"},
    )
    db["records"].create_index(["id"], unique=True)
    db["records"].create_index(["kind", "start"])
    # AUTOINCREMENT so an acknowledged (deleted) outbox id is never reused.
    db.execute(
        "CREATE TABLE outbox ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " record INTEGER NOT NULL REFERENCES records(seq),"
        " kind TEXT NOT NULL,"
        " created REAL NOT NULL)"
    )
    db["checkpoints"].create({"name": str, "state": str, "updated": float}, pk="name")
    db["sensor_stats"].create(
        {"sensor": str, "kind": str, "stats": str, "updated": float}, pk="sensor"
    )
    db["kv"].create({"key": str, "value": str}, pk="key")


MIGRATIONS: list[tuple[str, Callable[[Database], None]]] = [
    ("0001_initial", _initial),
]


def migrate(db: Database) -> list[str]:
    """Apply the migrations this database has not seen; returns their names."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied TEXT NOT NULL)"
    )
    done = {row["name"] for row in db.query("SELECT name FROM _migrations")}
    applied = []
    for name, step in MIGRATIONS:
        if name in done:
            continue
        with db.conn:
            step(db)
            db.execute(
                "INSERT INTO _migrations (name, applied) VALUES (?, ?)",
                [name, datetime.now(UTC).isoformat()],
            )
        applied.append(name)
    return applied
