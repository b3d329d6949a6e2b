"""The uplink's own tables: batches it sent (for ``resend``) and records it set aside.

``sent_batches`` remembers, for every batch the broker acknowledged, which
records it carried, so the platform can ask for a seq range again (``resend``)
while those records are still in the database. It is written in the same
transaction that deletes the acknowledged outbox rows: a batch is either still
waiting or remembered, never neither.

``quarantine`` holds records that can never be delivered (the broker refused
them for good, or they are larger than the broker accepts): moved out of the
outbox with the reason, counted as ``drops.quarantined.<kind>``, never retried.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from edge.errors import StoreError
from edge.store import rows as decode
from edge.store.db import _OUTBOX_SELECT, OutboxRow, Store, explain_sqlite_error
from edge.store.rows import UnreadableRow
from edge.store.txn import UNREADABLE_DROP, set_aside, transaction

__all__ = [
    "ACKED_SEQ_KEY",
    "STREAM_KEY",
    "QuarantineSummary",
    "SentBatch",
    "acknowledge",
    "batch_rows",
    "last_acked_seq",
    "outbox_rows",
    "prune_sent",
    "quarantine",
    "quarantine_summary",
    "resend_window",
    "sent_batches",
    "stream_id",
    "to_runs",
]

QUARANTINE_DROP = "quarantined"
STREAM_KEY = "sync.stream"
"""The database's stream id (32 hex digits), in the key/value table."""
ACKED_SEQ_KEY = "sync.acked_seq"
"""The highest seq the broker acknowledged as delivered."""
log = logging.getLogger("mallsense.sync")
_MAX_BATCH_RECORDS = 1_000_000
"""More than any batch carries (``mqtt.batch_max_records``): a larger stored count is damage."""


@dataclass(frozen=True, slots=True)
class SentBatch:
    """An acknowledged batch: its seq and the ``records.seq`` of what it carried."""

    seq: int
    kind: str
    records: tuple[int, ...]
    sent_at: float
    resent_from: int | None = None


@dataclass(frozen=True, slots=True)
class QuarantineSummary:
    """How many records are in quarantine, and the latest one (for ``mallsense status``)."""

    count: int
    last: dict[str, Any] | None


def to_runs(seqs: Sequence[int]) -> list[list[int]]:
    """Sorted integers as ``[[first, last], ...]`` runs of consecutive values."""
    runs: list[list[int]] = []
    for seq in sorted(seqs):
        if runs and seq == runs[-1][1] + 1:
            runs[-1][1] = seq
        else:
            runs.append([seq, seq])
    return runs


@contextmanager
def _transaction(store: Store) -> Iterator[sqlite3.Connection]:
    try:
        with transaction(store.conn) as conn:
            yield conn
    except sqlite3.Error as exc:
        raise StoreError(explain_sqlite_error(store.path, exc)) from exc


def _read(store: Store, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    try:
        return store.conn.execute(sql, params).fetchall()
    except sqlite3.Error as exc:
        raise StoreError(explain_sqlite_error(store.path, exc)) from exc


def stream_id(store: Store) -> str:
    """This database's stream id, made (random, a UUIDv4's 32 hex digits) on first use.

    ``INSERT OR IGNORE`` in one transaction: the edge daemon and the sync agent may
    both ask first, and both get the one that was stored.
    """
    with _transaction(store) as conn:
        conn.execute(
            "INSERT OR IGNORE INTO kv (key, value) VALUES (?, ?)", (STREAM_KEY, uuid.uuid4().hex)
        )
        (value,) = conn.execute("SELECT value FROM kv WHERE key = ?", (STREAM_KEY,)).fetchone()
    return str(value)


def last_acked_seq(store: Store) -> int | None:
    """The highest seq the broker acknowledged as delivered, or None before the first."""
    value = store.get(ACKED_SEQ_KEY)
    return int(value) if value else None


def acknowledge(store: Store, row_ids: Sequence[int], sent: Sequence[SentBatch]) -> None:
    """Delete acknowledged outbox rows and remember their batches, in one transaction."""
    with _transaction(store) as conn:
        conn.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in row_ids])
        if sent:
            # Kept with the deletion, so it never claims a batch whose rows still wait.
            conn.execute(
                "INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET"
                " value = MAX(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))",
                (ACKED_SEQ_KEY, max(b.seq for b in sent)),
            )
        conn.executemany(
            "INSERT OR REPLACE INTO sent_batches (seq, kind, records, count, sent_at, resent_from)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [
                (
                    b.seq,
                    b.kind,
                    json.dumps(to_runs(b.records), separators=(",", ":")),
                    len(b.records),
                    b.sent_at,
                    b.resent_from,
                )
                for b in sent
                if b.resent_from is None  # a `resend` keeps the seq: remembered already
            ],
        )


def outbox_rows(store: Store, row_ids: Sequence[int]) -> list[OutboxRow]:
    """The outbox rows with these ids that are still waiting, in outbox order."""
    marks = ",".join("?" * len(row_ids))
    rows = _read(store, f"{_OUTBOX_SELECT} WHERE o.id IN ({marks}) ORDER BY o.id", list(row_ids))
    return store.decode_outbox(rows)


def quarantine(store: Store, rows: Sequence[tuple[int, str]], now: float) -> int:
    """Move outbox rows ``(outbox id, reason)`` to the quarantine; returns how many moved.

    Each moved record counts as a drop ``quarantined.<kind>`` (``Store.quarantine_outbox``).
    """
    return store.quarantine_outbox(rows, now)


def quarantine_summary(store: Store) -> QuarantineSummary:
    (count,) = _read(store, "SELECT COUNT(*) FROM quarantine")[0]
    last = _read(
        store,
        "SELECT CAST(record_id AS BLOB), CAST(kind AS BLOB), CAST(reason AS BLOB), at"
        " FROM quarantine ORDER BY id DESC LIMIT 1",
    )
    if not last:
        return QuarantineSummary(int(count), None)
    record_id, kind, reason, at = last[0]
    texts = [bytes(v).decode(errors="replace") if isinstance(v, bytes) else str(v) for v in
             (record_id, kind, reason)]  # fmt: skip
    keys = ("record_id", "kind", "reason")
    return QuarantineSummary(int(count), dict(zip(keys, texts, strict=True)) | {"at": at})


def resend_window(store: Store) -> tuple[int, int] | None:
    """(first, last) seq of the batches still remembered, or None when there are none."""
    first, last = _read(store, "SELECT MIN(seq), MAX(seq) FROM sent_batches")[0]
    return None if first is None else (int(first), int(last))


def sent_batches(store: Store, from_seq: int, to_seq: int) -> list[SentBatch]:
    """The remembered batches with seq in ``from_seq..to_seq``, in seq order."""
    rows = _read(
        store,
        "SELECT seq, CAST(kind AS BLOB), CAST(records AS BLOB), count, sent_at, resent_from"
        " FROM sent_batches WHERE seq BETWEEN ? AND ? ORDER BY seq",
        (from_seq, to_seq),
    )
    batches = []
    for seq, kind, runs, count, sent_at, resent_from in rows:
        try:
            records = _records_of(runs, count)
            batches.append(
                SentBatch(seq, decode.kind(kind), records, decode.number(sent_at, "sent_at"),
                          resent_from if isinstance(resent_from, int) else None)
            )  # fmt: skip
        except UnreadableRow as exc:
            _set_aside_batch(store, seq, runs, str(exc))
    return batches


def _records_of(runs: object, count: object) -> tuple[int, ...]:
    """The ``records.seq`` a batch carried, from its runs; bounded by its stored count."""
    _, parsed = decode.json_object(b'{"runs":' + _as_bytes(runs) + b"}", "records")
    pairs = parsed["runs"]
    if not isinstance(count, int) or not 0 <= count <= _MAX_BATCH_RECORDS:
        raise UnreadableRow(f"count {str(count)[:20]!r} is not a batch size")
    if not isinstance(pairs, list) or not all(
        isinstance(p, list) and len(p) == 2 and all(type(n) is int for n in p) for p in pairs
    ):
        raise UnreadableRow("records is not a list of [first, last] runs")
    if sum(max(last - first + 1, 0) for first, last in pairs) != count:
        raise UnreadableRow(f"records does not hold the {count} records the batch carried")
    return tuple(n for first, last in pairs for n in range(first, last + 1))


def _as_bytes(raw: object) -> bytes:
    return raw if isinstance(raw, bytes) else str(raw).encode()


def _set_aside_batch(store: Store, seq: int, runs: object, reason: str) -> None:
    """A remembered batch that cannot be read: forgotten (it cannot be resent), kept, counted."""
    log.error(
        "sent batch %d cannot be read for resend: %s; moved to the quarantine table (counted as"
        " drops.%s.sent_batches)", seq, reason, UNREADABLE_DROP,
    )  # fmt: skip
    with _transaction(store) as conn:
        conn.execute("DELETE FROM sent_batches WHERE seq = ?", (seq,))
        set_aside(conn, f"sent_batch:{seq}", "sent_batches", _as_bytes(runs), reason, time.time())


def batch_rows(store: Store, batch: SentBatch) -> list[OutboxRow]:
    """The records a batch carried that are still stored, as rows to publish again.

    ``records.seq`` can be reused once every newer record was deleted, so a record
    of another kind or written after the batch was sent is not the one it carried.
    The rows' outbox id is 0: they are not in the outbox.
    """
    rows: list[OutboxRow] = []
    for first, last in to_runs(batch.records):
        found = _read(
            store,
            "SELECT 0, CAST(kind AS BLOB), CAST(body AS BLOB), created, seq FROM records"
            " WHERE seq BETWEEN ? AND ? AND kind = ? AND created <= ? ORDER BY seq",
            (first, last, batch.kind, batch.sent_at),
        )
        for values in found:
            try:
                rows.append(OutboxRow.decode(values))
            except UnreadableRow as exc:  # sent once already; not in the outbox to quarantine
                log.error(
                    "record %d of batch %d cannot be sent again: %s", values[4], batch.seq, exc
                )
    return rows


def prune_sent(store: Store, before: float, keep: int) -> int:
    """Forget batches sent before ``before`` and all but the newest ``keep``; returns how many."""
    with _transaction(store) as conn:
        old = conn.execute("DELETE FROM sent_batches WHERE sent_at < ?", (before,)).rowcount
        extra = conn.execute(
            "DELETE FROM sent_batches WHERE seq <= (SELECT seq FROM sent_batches"
            " ORDER BY seq DESC LIMIT 1 OFFSET ?)",
            (keep,),
        ).rowcount
    return int(old) + int(extra)
