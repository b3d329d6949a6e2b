"""Seq gaps per box and stream, kept in ``seq_gaps`` for the platform to alert on.

A box numbers its batches per stream (its database): ``(box, stream, seq)`` names
one batch, and a seq missing between two seen is a batch the platform never got.
Several workers store batches in whatever order the broker hands them out, so
the gaps are not worked out inside their transactions (which would make every
worker wait for every other on the same box) but afterwards, by whichever worker
takes the job's advisory lock first: it reads the ``batches`` rows not checked
yet, folds their seqs into each stream's highest seq and open gaps, and marks them
checked, in one transaction.

A gap that a late batch fills shrinks or closes (the late batch was on another
worker, or re-sent with ``resend``); what stays open has the time it was first
seen, so the platform alerts on gaps older than a few minutes, not on the
moment two workers cross. A stream first seen at a seq above 1 has a gap from 1:
its first batches never reached this database.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import Connection, sql

__all__ = ["Gap", "GapCheck", "check_gaps", "fold_seqs"]

_JOB_LOCK = "mallsense-ingest-gaps"


@dataclass(frozen=True, slots=True)
class Gap:
    """Seqs ``first``..``last`` missing; ``since`` is None for a gap found just now."""

    first: int
    last: int
    since: datetime | None = None


@dataclass(frozen=True, slots=True)
class GapCheck:
    """What one ``check_gaps`` did (all zero when another worker had the job)."""

    batches: int = 0
    opened: int = 0
    closed: int = 0
    open_gaps: int = 0
    """Open gaps in the whole database after the check."""


def fold_seqs(
    max_seq: int | None, gaps: list[Gap], seqs: Iterable[int]
) -> tuple[int | None, list[Gap]]:
    """A stream's highest seq and open gaps after seeing ``seqs`` (pure, any order)."""
    missing = list(gaps)
    for seq in sorted(set(seqs)):
        if max_seq is None:
            if seq > 1:
                missing.append(Gap(1, seq - 1))
            max_seq = seq
        elif seq > max_seq:
            if seq > max_seq + 1:
                missing.append(Gap(max_seq + 1, seq - 1))
            max_seq = seq
        else:
            missing = _take(missing, seq)
    return max_seq, sorted(missing, key=lambda g: g.first)


def _take(gaps: list[Gap], seq: int) -> list[Gap]:
    """``gaps`` without ``seq`` (a late batch splits or shrinks the gap it falls in)."""
    out: list[Gap] = []
    for gap in gaps:
        if gap.first <= seq <= gap.last:
            halves = (Gap(gap.first, seq - 1, gap.since), Gap(seq + 1, gap.last, gap.since))
            out += [g for g in halves if g.first <= g.last]
        else:
            out.append(gap)
    return out


Stream = tuple[str, str, str]


def check_gaps(conn: Connection[Any], schema: str, limit: int = 50_000) -> GapCheck:
    """Fold up to ``limit`` unchecked batches into ``streams`` and ``seq_gaps``; commits.

    Returns at once (all zero) if another worker is doing it.
    """
    s = sql.Identifier(schema)
    with conn.transaction():
        locked = conn.execute(
            "SELECT pg_try_advisory_xact_lock(hashtext(%s))", (_JOB_LOCK,)
        ).fetchone()
        if not locked or not locked[0]:
            return GapCheck()
        rows = conn.execute(
            sql.SQL(
                "SELECT mall, box, stream, seq FROM {}.batches WHERE NOT gap_checked"
                " ORDER BY mall, box, stream, seq LIMIT %s"
            ).format(s),
            (limit,),
        ).fetchall()
        if not rows:
            return GapCheck()
        seqs: dict[Stream, list[int]] = defaultdict(list)
        for mall, box, stream, seq in rows:
            seqs[(mall, box, stream)].append(seq)
        result = _fold_streams(conn, s, seqs)
        _mark_checked(conn, s, rows)
    return GapCheck(len(rows), *result)


def _unnest(streams: Iterable[Stream]) -> tuple[list[str], list[str], list[str]]:
    malls, boxes, names = [], [], []
    for mall, box, stream in streams:
        malls.append(mall)
        boxes.append(box)
        names.append(stream)
    return malls, boxes, names


def _fold_streams(
    conn: Connection[Any], s: sql.Identifier, seqs: dict[Stream, list[int]]
) -> tuple[int, int, int]:
    keys = _unnest(seqs)
    touched = sql.SQL(
        " WHERE (mall, box, stream) IN (SELECT * FROM unnest(%s::text[], %s::text[], %s::text[]))"
    )
    highest = {
        (m, b, st): mx
        for m, b, st, mx in conn.execute(
            sql.SQL("SELECT mall, box, stream, max_seq FROM {}.streams").format(s) + touched, keys
        )
    }
    gaps: dict[Stream, list[Gap]] = defaultdict(list)
    for m, b, st, first, last, since in conn.execute(
        sql.SQL("SELECT mall, box, stream, from_seq, to_seq, detected_at FROM {}.seq_gaps").format(
            s
        )
        + touched,
        keys,
    ):
        gaps[(m, b, st)].append(Gap(first, last, since))
    before = sum(len(g) for g in gaps.values())
    new_gaps: list[tuple[Stream, Gap]] = []
    stream_rows = []
    for key, batch_seqs in seqs.items():
        max_seq, open_gaps = fold_seqs(highest.get(key), gaps[key], batch_seqs)
        stream_rows.append((*key, min(batch_seqs), max_seq, len(batch_seqs)))
        new_gaps += [(key, g) for g in open_gaps]
    conn.execute(sql.SQL("DELETE FROM {}.seq_gaps").format(s) + touched, keys)
    _write_streams(conn, s, stream_rows)
    _write_gaps(conn, s, new_gaps)
    opened = sum(1 for _, g in new_gaps if g.since is None)
    total = conn.execute(sql.SQL("SELECT count(*) FROM {}.seq_gaps").format(s)).fetchone()
    return opened, max(0, before + opened - len(new_gaps)), int(total[0]) if total else 0


def _write_streams(conn: Connection[Any], s: sql.Identifier, rows: list[tuple[Any, ...]]) -> None:
    columns: tuple[list[Any], ...] = ([], [], [], [], [], [])
    for row in rows:
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    conn.execute(
        sql.SQL(
            "INSERT INTO {}.streams AS t (mall, box, stream, first_seq, max_seq, batches,"
            " last_batch_at) SELECT *, now() FROM unnest(%s::text[], %s::text[], %s::text[],"
            " %s::bigint[], %s::bigint[], %s::bigint[])"
            " ON CONFLICT (mall, box, stream) DO UPDATE SET max_seq = EXCLUDED.max_seq,"
            " batches = t.batches + EXCLUDED.batches, last_batch_at = now()"
        ).format(s),
        columns,
    )


def _write_gaps(conn: Connection[Any], s: sql.Identifier, gaps: list[tuple[Stream, Gap]]) -> None:
    if not gaps:
        return
    conn.cursor().executemany(
        sql.SQL(
            "INSERT INTO {}.seq_gaps (mall, box, stream, from_seq, to_seq, detected_at)"
            " VALUES (%s, %s, %s, %s, %s, coalesce(%s::timestamptz, now()))"
        ).format(s),
        [(*key, g.first, g.last, g.since) for key, g in gaps],
    )


def _mark_checked(conn: Connection[Any], s: sql.Identifier, rows: list[tuple[Any, ...]]) -> None:
    columns: tuple[list[Any], ...] = ([], [], [], [])
    for row in rows:
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    conn.execute(
        sql.SQL(
            "UPDATE {}.batches SET gap_checked = true WHERE NOT gap_checked AND"
            " (mall, box, stream, seq) IN (SELECT * FROM unnest(%s::text[], %s::text[],"
            " %s::text[], %s::bigint[]))"
        ).format(s),
        columns,
    )
