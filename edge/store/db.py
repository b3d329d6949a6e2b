"""The local store: records, their outbox rows and checkpoints, in one SQLite file.

Records and outbox rows are written in ONE transaction, together with the
aggregation checkpoint, so a crash at any point leaves either all of a batch
or none of it. The sync agent (another process) reads the outbox and deletes
rows once the broker acknowledged them. WAL mode lets both work at once.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from functools import wraps
from pathlib import Path
from typing import Any, Concatenate, NamedTuple, ParamSpec, TypeVar, cast

from sqlite_utils import Database

from edge.checkpoint_json import dump_checkpoint
from edge.errors import StoreError
from edge.records import Record
from edge.store import rows as decode
from edge.store.migrations import migrate
from edge.store.opening import (
    BUSY_TIMEOUT_MS,
    connect_readonly,
    create_database,
    enable_wal,
    explain_sqlite_error,
    refuse_empty,
    restore_advice,
)
from edge.store.rows import UnreadableRow
from edge.store.txn import (
    DROP_PREFIX,
    UNREADABLE_DROP,
    add_drop,
    label,
    quarantine_one,
    set_aside,
    transaction,
)

__all__ = [
    "DROP_PREFIX",
    "UNREADABLE_DROP",
    "Checkpoint",
    "OutboxRow",
    "Store",
    "add_drop",
    "explain_sqlite_error",
    "restore_advice",
    "set_aside",
]

log = logging.getLogger("mallsense.store")

_OUTBOX_SELECT = (
    "SELECT o.id, CAST(o.kind AS BLOB), CAST(r.body AS BLOB), o.created, o.record FROM outbox o"
    " JOIN records r ON r.seq = o.record"
)
"""Text columns as BLOBs: decoded row by row (``edge.store.rows``), so one bad row is set
aside rather than failing the whole read."""


P = ParamSpec("P")
R = TypeVar("R")

Checkpoint = tuple[str, dict[str, Any] | bytes]
"""A checkpoint row: its name, and its state or the state's JSON (``dump_checkpoint``)."""


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

    @classmethod
    def decode(cls, raw: Sequence[Any]) -> OutboxRow:
        """A row read with ``_OUTBOX_SELECT``; ``UnreadableRow`` says why it cannot be sent."""
        row_id, kind, body, created, record = raw
        body_text, _ = decode.json_object(body, "body")
        return cls(row_id, decode.kind(kind), body_text, decode.number(created, "created"), record)


class Store:
    """One connection to the database; not shared between threads."""

    def __init__(self, path: str | Path, *, create: bool = True, readonly: bool = False) -> None:
        """``readonly``: a reader beside the daemons (the metrics endpoint): no migrations,
        no writes, and the file must exist."""
        self.path = Path(path)
        self.readonly = readonly
        self.unreadable_records = 0
        """Records ``records()`` skipped because their stored body cannot be read."""
        if (readonly or not create) and not self.path.exists():
            raise StoreError(f"database {self.path} does not exist; check --db or store.path")
        if readonly:
            refuse_empty(self.path)
            self.conn = connect_readonly(self.path)
            self.db = Database(self.conn)
            return
        conn = None
        try:
            if create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                if not self.path.exists():
                    create_database(self.path)
            refuse_empty(self.path)
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            enable_wal(conn)
            # FULL: a mall box loses power without warning; an accepted record must survive.
            conn.execute("PRAGMA synchronous = FULL")
            self.db = Database(conn)
            migrate(self.db)
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            raise StoreError(explain_sqlite_error(self.path, exc, opening=True)) from exc
        except OSError as exc:
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
        checkpoint: Checkpoint | None = None,
        more_checkpoints: Sequence[Checkpoint] = (),
    ) -> int:
        """Insert records with their outbox rows (and checkpoints, as a state or already
        serialized by ``dump_checkpoint``) atomically.

        A record whose id is already stored is skipped, so re-processing the
        same frames never duplicates anything. Returns how many were new.
        """
        conn = self.conn
        new = 0
        try:
            with transaction(conn):
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
                    data = state if isinstance(state, bytes) else dump_checkpoint(state)
                    _write_checkpoint(conn, name, data, now)
        except sqlite3.Error as exc:
            raise StoreError(explain_sqlite_error(self.path, exc)) from exc
        return new

    @_converts_errors
    def load_checkpoint(self, name: str) -> dict[str, Any] | None:
        """A checkpoint's state; one that cannot be read is set aside (None: start afresh)."""
        row = self.conn.execute(
            "SELECT CAST(state AS BLOB) FROM checkpoints WHERE name = ?", (name,)
        ).fetchone()
        if row is None:
            return None
        try:
            return decode.json_object(row[0], "state")[1]
        except UnreadableRow as exc:
            self.set_aside_checkpoint(name, str(exc))
            return None

    @_converts_errors
    def set_aside_checkpoint(self, name: str, reason: str) -> None:
        """Move a checkpoint that cannot be used to the quarantine table, counted.

        The daemon then starts without it: sessions open at the last flush are lost,
        records already written are not.
        """
        log.error(
            "checkpoint %s of %s cannot be used: %s; moved to the quarantine table (counted as"
            " drops.%s.checkpoint), starting without it: sessions open at the last flush are"
            " lost, written records are not",
            name, self.path, reason, UNREADABLE_DROP,
        )  # fmt: skip
        with transaction(self.conn):
            raw = self.conn.execute(
                "SELECT CAST(state AS BLOB) FROM checkpoints WHERE name = ?", (name,)
            ).fetchone()
            self.conn.execute("DELETE FROM checkpoints WHERE name = ?", (name,))
            body = b"" if raw is None else raw[0]
            set_aside(self.conn, f"checkpoint:{name}", "checkpoint", body, reason, time.time())

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
        """Every sensor's health row; one that cannot be read is left out (and set aside)."""
        rows = self.conn.execute(
            "SELECT rowid, CAST(sensor AS BLOB), CAST(kind AS BLOB), CAST(stats AS BLOB), updated"
            " FROM sensor_stats ORDER BY sensor"
        ).fetchall()
        good: list[dict[str, Any]] = []
        for rowid, sensor, kind, stats, updated in rows:
            try:
                figures = decode.json_object(stats, "stats")[1]
                name, kind_text = decode.text(sensor, "sensor"), decode.text(kind, "kind")
                when = decode.number(updated, "updated")
            except UnreadableRow as exc:
                self._set_aside_stats(rowid, sensor, stats, str(exc))
                continue
            good.append({"sensor": name, "kind": kind_text, "updated": when, **figures})
        return good

    def _set_aside_stats(self, rowid: int, sensor: object, stats: object, reason: str) -> None:
        name = label(sensor)
        if self.readonly:  # a reader beside the daemons: the edge daemon rewrites the row
            log.warning("sensor_stats row %s cannot be read: %s; left out", name, reason)
            return
        log.error(
            "sensor_stats row %s cannot be read: %s; moved to the quarantine table (counted"
            " as drops.%s.sensor_stats)", name, reason, UNREADABLE_DROP,
        )  # fmt: skip
        with transaction(self.conn):
            self.conn.execute("DELETE FROM sensor_stats WHERE rowid = ?", (rowid,))
            body = stats if isinstance(stats, bytes) else str(stats).encode()
            set_aside(self.conn, f"sensor_stats:{name}", "sensor_stats", body, reason, time.time())

    # -- sync side ----------------------------------------------------------------------

    @_converts_errors
    def outbox_after(self, after_id: int, limit: int) -> list[OutboxRow]:
        """Outbox rows with id greater than ``after_id``, oldest first.

        Rows that cannot be read (a body that is not UTF-8 or not a JSON object, a
        kind or time that is not one) are quarantined and counted on the way, never
        returned: the rows behind them still flow.
        """
        while True:
            raw = self.conn.execute(
                _OUTBOX_SELECT + " WHERE o.id > ? ORDER BY o.id LIMIT ?", (after_id, limit)
            ).fetchall()
            rows = self.decode_outbox(raw)
            if rows or not raw:
                return rows
            after_id = raw[-1][0]  # a whole window of bad rows: read on past it

    def decode_outbox(self, raw: Sequence[Sequence[Any]]) -> list[OutboxRow]:
        """Rows read with ``_OUTBOX_SELECT``; those that cannot be read are quarantined."""
        rows: list[OutboxRow] = []
        bad: list[tuple[int, str]] = []
        for values in raw:
            try:
                rows.append(OutboxRow.decode(values))
            except UnreadableRow as exc:
                bad.append((int(values[0]), str(exc)))
        if bad:
            self.quarantine_outbox(bad, time.time())
        return rows

    def quarantine_outbox(self, rows: Sequence[tuple[int, str]], now: float) -> int:
        """Move outbox rows ``(outbox id, reason)`` to the quarantine; returns how many moved.

        Each moved record counts as a drop ``quarantined.<kind>``. The ``records`` row
        stays (it is a record like any other for local reports); the quarantine keeps
        a copy of its body as stored (bytes, if they are not text).
        """
        moved = 0
        try:
            with transaction(self.conn) as conn:
                for outbox_id, reason in rows:
                    moved += quarantine_one(conn, outbox_id, reason, now)
        except sqlite3.Error as exc:
            raise StoreError(explain_sqlite_error(self.path, exc)) from exc
        return moved

    def outbox_ack(self, ids: Sequence[int]) -> None:
        """Delete acknowledged rows (the broker has them)."""
        try:
            with transaction(self.conn):
                self.conn.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])
        except sqlite3.Error as exc:
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
        with transaction(self.conn):
            seq = int(self.get("sync.seq", "0") or 0) + 1
            self.put("sync.seq", str(seq))
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
        sql = "SELECT seq, CAST(body AS BLOB) FROM records"
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
            for seq, body in self.conn.execute(sql, params):
                try:
                    yield decode.json_object(body, "body")[1]
                except UnreadableRow as exc:
                    # A reader (records, report): skip and count; the uplink quarantines it.
                    self.unreadable_records += 1
                    log.warning("record %d of %s cannot be read: %s; left out", seq, self.path, exc)
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


def _write_checkpoint(conn: sqlite3.Connection, name: str, data: bytes, now: float) -> None:
    """Store a checkpoint's JSON as a BLOB, written through blob I/O.

    Bound as a parameter, the 18 MB of a busy box's checkpoint stayed in the cached
    INSERT statement (SQLite keeps a statement's bindings until the next ones) on top
    of the text itself: 17 MB held between flushes. Here the statement binds only the
    length, and the bytes go straight into the row."""
    cur = conn.execute(
        "INSERT OR REPLACE INTO checkpoints (name, state, updated) VALUES (?, zeroblob(?), ?)",
        (name, len(data), now),
    )
    assert cur.lastrowid is not None  # an INSERT into a rowid table
    with conn.blobopen("checkpoints", "state", cur.lastrowid) as blob:
        blob.write(data)
