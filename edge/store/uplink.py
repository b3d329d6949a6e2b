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
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from edge.errors import StoreError
from edge.store.db import OutboxRow, Store, add_drop, explain_sqlite_error

__all__ = [
    "QuarantineSummary",
    "SentBatch",
    "acknowledge",
    "batch_rows",
    "outbox_rows",
    "prune_sent",
    "quarantine",
    "quarantine_summary",
    "resend_window",
    "sent_batches",
    "to_runs",
]

QUARANTINE_DROP = "quarantined"


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
    conn = store.conn
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        raise StoreError(explain_sqlite_error(store.path, exc)) from exc


def _read(store: Store, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    try:
        return store.conn.execute(sql, params).fetchall()
    except sqlite3.Error as exc:
        raise StoreError(explain_sqlite_error(store.path, exc)) from exc


def acknowledge(store: Store, row_ids: Sequence[int], sent: Sequence[SentBatch]) -> None:
    """Delete acknowledged outbox rows and remember their batches, in one transaction."""
    with _transaction(store) as conn:
        conn.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in row_ids])
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
            ],
        )


def outbox_rows(store: Store, row_ids: Sequence[int]) -> list[OutboxRow]:
    """The outbox rows with these ids that are still waiting, in outbox order."""
    marks = ",".join("?" * len(row_ids))
    rows = _read(
        store,
        "SELECT o.id, o.kind, r.body, o.created, o.record FROM outbox o"
        f" JOIN records r ON r.seq = o.record WHERE o.id IN ({marks}) ORDER BY o.id",
        list(row_ids),
    )
    return [OutboxRow(*row) for row in rows]


def quarantine(store: Store, rows: Sequence[tuple[int, str]], now: float) -> int:
    """Move outbox rows ``(outbox id, reason)`` to the quarantine; returns how many moved.

    Each moved record counts as a drop ``quarantined.<kind>``. The ``records`` row
    stays (it is a record like any other for local reports).
    """
    moved = 0
    with _transaction(store) as conn:
        for outbox_id, reason in rows:
            found = conn.execute(
                "SELECT o.record, r.id, o.kind, r.body FROM outbox o"
                " JOIN records r ON r.seq = o.record WHERE o.id = ?",
                (outbox_id,),
            ).fetchone()
            conn.execute("DELETE FROM outbox WHERE id = ?", (outbox_id,))
            if found is None:
                continue
            conn.execute(
                "INSERT INTO quarantine (record, record_id, kind, body, reason, at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (*found, reason, now),
            )
            add_drop(conn, f"{QUARANTINE_DROP}.{found[2]}", 1)
            moved += 1
    return moved


def quarantine_summary(store: Store) -> QuarantineSummary:
    (count,) = _read(store, "SELECT COUNT(*) FROM quarantine")[0]
    last = _read(
        store, "SELECT record_id, kind, reason, at FROM quarantine ORDER BY id DESC LIMIT 1"
    )
    keys = ("record_id", "kind", "reason", "at")
    return QuarantineSummary(int(count), dict(zip(keys, last[0], strict=True)) if last else None)


def resend_window(store: Store) -> tuple[int, int] | None:
    """(first, last) seq of the batches still remembered, or None when there are none."""
    first, last = _read(store, "SELECT MIN(seq), MAX(seq) FROM sent_batches")[0]
    return None if first is None else (int(first), int(last))


def sent_batches(store: Store, from_seq: int, to_seq: int) -> list[SentBatch]:
    """The remembered batches with seq in ``from_seq..to_seq``, in seq order."""
    rows = _read(
        store,
        "SELECT seq, kind, records, sent_at, resent_from FROM sent_batches"
        " WHERE seq BETWEEN ? AND ? ORDER BY seq",
        (from_seq, to_seq),
    )
    batches = []
    for seq, kind, runs, sent_at, resent_from in rows:
        records = tuple(n for first, last in json.loads(runs) for n in range(first, last + 1))
        batches.append(SentBatch(seq, kind, records, sent_at, resent_from))
    return batches


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
            "SELECT 0, kind, body, created, seq FROM records"
            " WHERE seq BETWEEN ? AND ? AND kind = ? AND created <= ? ORDER BY seq",
            (first, last, batch.kind, batch.sent_at),
        )
        rows += [OutboxRow(*row) for row in found]
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
