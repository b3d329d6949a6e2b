"""The local store: records, their outbox rows and checkpoints, in one SQLite file.

Records and outbox rows are written in ONE transaction, together with the
aggregation checkpoint, so a crash at any point leaves either all of a batch
or none of it. The sync agent (another process) reads the outbox and deletes
rows once the broker acknowledged them. WAL mode lets both work at once.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from functools import wraps
from pathlib import Path
from typing import Any, Concatenate, NamedTuple, ParamSpec, TypeVar, cast

from sqlite_utils import Database

from edge.errors import StoreError
from edge.records import Record
from edge.store.migrations import migrate

__all__ = ["DROP_PREFIX", "OutboxRow", "Store", "add_drop", "explain_sqlite_error"]

_BUSY_TIMEOUT_MS = 10_000
DROP_PREFIX = "drops."


P = ParamSpec("P")
R = TypeVar("R")


def _converts_errors(
    method: Callable[Concatenate[Store, P], R],
) -> Callable[Concatenate[Store, P], R]:
    """SQLite errors leave the store as StoreError naming the database and the likely cause."""

    @wraps(method)
    def wrapper(self: Store, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise StoreError(explain_sqlite_error(self.path, exc)) from exc

    return cast("Callable[Concatenate[Store, P], R]", wrapper)


class OutboxRow(NamedTuple):
    """A record waiting to be published (a NamedTuple: the uplink reads a million a drain)."""

    id: int
    kind: str
    body: str
    created: float
    record: int = 0
    """The record's ``records.seq`` (what ``sent_batches`` remembers for ``resend``)."""


class Store:
    """One connection to the database; not shared between threads."""

    def __init__(self, path: str | Path, *, create: bool = True, readonly: bool = False) -> None:
        """``readonly``: a reader beside the daemons (the metrics endpoint): no migrations,
        no writes, and the file must exist."""
        self.path = Path(path)
        if (readonly or not create) and not self.path.exists():
            raise StoreError(f"database {self.path} does not exist; check --db or store.path")
        if readonly:
            self.conn = _connect_readonly(self.path)
            self.db = Database(self.conn)
            return
        try:
            if create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            _enable_wal(conn)
            # FULL: a mall box loses power without warning; an accepted record must survive.
            conn.execute("PRAGMA synchronous = FULL")
            self.db = Database(conn)
            migrate(self.db)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(
                f"cannot open database {self.path}: {exc}; check the path, its permissions"
                " and free disk space"
            ) from exc
        self.conn = conn

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- edge side ----------------------------------------------------------------------

    def write(
        self,
        records: Sequence[Record],
        now: float,
        checkpoint: tuple[str, dict[str, Any]] | None = None,
        more_checkpoints: Sequence[tuple[str, dict[str, Any]]] = (),
    ) -> int:
        """Insert records with their outbox rows (and checkpoints) atomically.

        A record whose id is already stored is skipped, so re-processing the
        same frames never duplicates anything. Returns how many were new.
        """
        conn = self.conn
        new = 0
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for record in records:
                    cur = conn.execute(
                        "INSERT OR IGNORE INTO records (id, kind, start, body, created)"
                        " VALUES (?, ?, ?, ?, ?)",
                        (
                            record["id"],
                            record["kind"],
                            record["start"],
                            json.dumps(record, ensure_ascii=False, separators=(",", ":")),
                            now,
                        ),
                    )
                    if cur.rowcount == 1:
                        conn.execute(
                            "INSERT INTO outbox (record, kind, created) VALUES (?, ?, ?)",
                            (cur.lastrowid, record["kind"], now),
                        )
                        new += 1
                rows = ([checkpoint] if checkpoint is not None else []) + list(more_checkpoints)
                for name, state in rows:
                    conn.execute(
                        "INSERT OR REPLACE INTO checkpoints (name, state, updated)"
                        " VALUES (?, ?, ?)",
                        (name, json.dumps(state, separators=(",", ":")), now),
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StoreError(explain_sqlite_error(self.path, exc)) from exc
        return new

    @_converts_errors
    def load_checkpoint(self, name: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT state FROM checkpoints WHERE name = ?", (name,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    @_converts_errors
    def put_sensor_stats(self, sensor: str, kind: str, stats: dict[str, Any], now: float) -> None:
        """Per-sensor health for `mallsense status`, written by the edge daemon."""
        self.conn.execute(
            "INSERT OR REPLACE INTO sensor_stats (sensor, kind, stats, updated)"
            " VALUES (?, ?, ?, ?)",
            (sensor, kind, json.dumps(stats), now),
        )

    @_converts_errors
    def forget_sensor_stats(self, sensors: Sequence[str]) -> None:
        """Sensors removed from the configuration (a reload): no longer in `mallsense status`."""
        self.conn.executemany("DELETE FROM sensor_stats WHERE sensor = ?", [(s,) for s in sensors])

    @_converts_errors
    def sensor_stats(self) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT sensor, kind, stats, updated FROM sensor_stats ORDER BY sensor"
        )
        return [
            {"sensor": s, "kind": k, "updated": u, **json.loads(stats)} for s, k, stats, u in rows
        ]

    # -- sync side ----------------------------------------------------------------------

    @_converts_errors
    def outbox_after(self, after_id: int, limit: int) -> list[OutboxRow]:
        """Outbox rows with id greater than ``after_id``, oldest first."""
        rows = self.conn.execute(
            "SELECT o.id, o.kind, r.body, o.created, o.record FROM outbox o"
            " JOIN records r ON r.seq = o.record WHERE o.id > ? ORDER BY o.id LIMIT ?",
            (after_id, limit),
        )
        return list(map(OutboxRow._make, rows))

    def outbox_ack(self, ids: Sequence[int]) -> None:
        """Delete acknowledged rows (the broker has them)."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])
            self.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise StoreError(explain_sqlite_error(self.path, exc)) from exc

    @_converts_errors
    def outbox_depth(self) -> tuple[int, float | None]:
        """(rows waiting, creation time of the oldest)."""
        count, oldest = self.conn.execute("SELECT COUNT(*), MIN(created) FROM outbox").fetchone()
        return int(count), oldest

    # -- drop counters --------------------------------------------------------------------

    @_converts_errors
    def count_drop(self, reason: str, n: int) -> None:
        """Count ``n`` records deleted or set aside before delivery (``drops.<reason>``).

        ``reason`` is ``<why>.<kind>`` by convention (``disk_budget.presence``,
        ``quarantined.dwell``), as ``edge.store.retention`` writes them.
        """
        add_drop(self.conn, reason, n)

    @_converts_errors
    def drop_counts(self) -> dict[str, int]:
        """Every drop counter, ``{"<reason>.<kind>": n}`` (telemetry, ``mallsense status``)."""
        rows = self.conn.execute(
            "SELECT key, value FROM kv WHERE key LIKE ? ORDER BY key", (DROP_PREFIX + "%",)
        )
        return {key.removeprefix(DROP_PREFIX): int(value) for key, value in rows}

    # -- shared key/value state ---------------------------------------------------------

    @_converts_errors
    def get(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return default if row is None else str(row[0])

    @_converts_errors
    def put(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", (key, value))

    @_converts_errors
    def claim_identity(self, mall: str, box: str) -> None:
        """Record which box writes this database; refuse a database of another box.

        The sync agent publishes under this identity even without a configuration.
        """
        current = self.identity()
        if current is None:
            self.put("identity.mall", mall)
            self.put("identity.box", box)
        elif current != (mall, box):
            raise StoreError(
                f"database {self.path} holds records of mall {current[0]} box {current[1]},"
                f" not of mall {mall} box {box}; use the right --db (or store.path)"
            )

    @_converts_errors
    def identity(self) -> tuple[str, str] | None:
        """(mall, box) of the records in this database, if any were written."""
        mall, box = self.get("identity.mall"), self.get("identity.box")
        return None if mall is None or box is None else (mall, box)

    @_converts_errors
    def next_seq(self) -> int:
        """The next batch sequence number; persisted before use, so never reused."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            seq = int(self.get("sync.seq", "0") or 0) + 1
            self.put("sync.seq", str(seq))
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        return seq

    # -- reading records ----------------------------------------------------------------

    def records(
        self,
        kind: str | None = None,
        limit: int | None = None,
        *,
        since: str | None = None,
        before: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Stored records (oldest first), as the JSON objects that are published.

        ``since`` / ``before``: only records whose ``start`` (ISO 8601 UTC, compared as
        text) is at or after / before it, e.g. ``since="2026-03-14", before="2026-03-15"``.
        """
        sql = "SELECT body FROM records"
        where: list[str] = []
        params: list[Any] = []
        for clause, value in (("kind = ?", kind), ("start >= ?", since), ("start < ?", before)):
            if value:
                where.append(clause)
                params.append(value)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY start, seq"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        try:
            for (body,) in self.conn.execute(sql, params):
                yield json.loads(body)
        except sqlite3.Error as exc:
            raise StoreError(explain_sqlite_error(self.path, exc)) from exc

    @_converts_errors
    def latest_start(self, kind: str) -> str | None:
        """``start`` of the newest record of a kind (None without one)."""
        row = self.conn.execute("SELECT MAX(start) FROM records WHERE kind = ?", (kind,)).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    @_converts_errors
    def counts(self) -> dict[str, int]:
        rows = self.conn.execute("SELECT kind, COUNT(*) FROM records GROUP BY kind ORDER BY kind")
        return {kind: int(n) for kind, n in rows}


def add_drop(conn: sqlite3.Connection, reason: str, n: int) -> None:
    """Add to a drop counter inside the caller's transaction (if any)."""
    if n > 0:
        conn.execute(
            "INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key)"
            " DO UPDATE SET value = CAST(value AS INTEGER) + excluded.value",
            (DROP_PREFIX + reason, n),
        )


def _connect_readonly(path: Path) -> sqlite3.Connection:
    try:
        uri = f"{path.resolve().as_uri()}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
    except sqlite3.Error as exc:
        raise StoreError(explain_sqlite_error(path, exc)) from exc
    return conn


def _enable_wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL; retried because the switch does not wait on the busy timeout.

    Two services opening a new database at the same moment is the normal boot.
    """
    deadline = time.monotonic() + _BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def explain_sqlite_error(path: Path, exc: sqlite3.Error) -> str:
    """A SQLite error on ``path`` in words, with the likely cause."""
    text = str(exc)
    if "full" in text:
        return (
            f"database {path} cannot grow: the disk is full ({text}); free space or lower retention"
        )
    if "locked" in text or "busy" in text:
        return f"database {path} is locked by another process for too long ({text})"
    if "readonly" in text:
        return f"database {path} is read-only ({text}); check its owner and mode"
    return f"database {path}: {text}"
