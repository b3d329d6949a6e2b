"""Storing many envelopes in one PostgreSQL transaction, idempotently.

The worker has parsed and checked every record; the writer hands the values to
PostgreSQL with ``COPY`` into a per-connection staging table of each kind
(``rows``), and one ``INSERT ... SELECT`` per kind moves them into the kind's
table: two statements per kind and transaction instead of one per record. In
that one transaction:

1. advisory locks on the ids of partial records and of the records they are
   replaced by, so a partial record and its replacement written by two workers
   at once are applied in one order (a late partial never outlives its successor);
2. per kind, each ``supersedes`` link is recorded in ``superseded`` and the
   superseded row deleted;
3. per kind, the staged records are inserted ``ON CONFLICT (id, day) DO NOTHING``,
   minus any id already superseded: a record sent twice (a re-sent batch, a
   broker redelivery, a replay) adds nothing;
4. one ``batches`` row per batch, named by (box, stream, seq): a batch published
   again (a broker redelivery, a ``resend``) is the same row.

Records of a kind this version has no table for go whole, as ``jsonb``, to
``other_records``.

The caller acknowledges the messages to the broker only after ``write`` returns,
that is after the commit. A batch whose values do not fit its table (a string
where a number belongs) fails the statement; the transaction is then done again
envelope by envelope, each in a savepoint, and only the failing envelopes are
refused (kept in ``rejected``), so one bad box does not hold up the others.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from psycopg import Connection, ProgrammingError, sql
from psycopg.errors import DataError, IntegrityError

from sync.ingest.envelopes import Envelope, Refused
from sync.ingest.rows import META_NAMES, RowMaker, unfit
from sync.ingest.schema import DEFAULT_SCHEMA, KindTable, ensure_partitions, kind_tables

__all__ = ["WriteResult", "Writer"]

log = logging.getLogger("mallsense.ingest")

_REJECTED_PAYLOAD_BYTES = 1024 * 1024
"""What ``rejected`` keeps of a refused payload: enough to see what was wrong."""


@dataclass
class WriteResult:
    """What one ``write`` did."""

    envelopes: int = 0
    records: int = 0
    """Records in the envelopes stored (refused ones not counted)."""
    inserted: int = 0
    replaced: int = 0
    refused: list[Refused] = field(default_factory=list)

    @property
    def duplicates(self) -> int:
        """Records already stored (or superseded) before this write."""
        return max(0, self.records - self.inserted)


def _uuid7_day(record_id: str) -> date | None:
    """The UTC day in a UUIDv7's time bits (a record id's time is its start)."""
    try:
        millis = int(record_id.replace("-", "")[:12], 16)
        return datetime.fromtimestamp(millis / 1000, tz=UTC).date()
    except (ValueError, OverflowError, OSError):
        return None


@dataclass(frozen=True, slots=True)
class _Stage:
    """One kind's staging table on the writer's connection, and its statements."""

    rows: RowMaker
    copy: sql.Composed
    """``COPY`` into the stage."""
    insert: sql.Composed
    """Into the kind's table, skipping stored and superseded ids."""
    clear: sql.Composed


class Writer:
    """Writes envelopes to the tables of ``schema`` on one connection (not thread-safe)."""

    def __init__(self, conn: Connection[Any], schema: str = DEFAULT_SCHEMA) -> None:
        self.conn = conn
        self.schema = schema
        # The broker hears PUBACK once ``write`` returns, and then forgets the message: the
        # commit must be on disk by then, whatever the server's default. An asynchronous
        # commit is lost in a crash shortly after it returned (the outage test found it).
        conn.execute("SET synchronous_commit TO on")
        self.tables = kind_tables()
        self._partitions: set[tuple[str, date]] = set()
        self._stages = {kind: self._stage(t) for kind, t in self.tables.items()}
        s = sql.Identifier(schema)
        self._other = sql.SQL(
            "INSERT INTO {}.other_records (id, kind, mall, box, doc, batch_id)"
            " SELECT r->>'id', r->>'kind', r->>'mall', r->>'box', r, e.env->>'batch_id'"
            " FROM jsonb_array_elements(%s::jsonb) AS e(env)"
            " CROSS JOIN LATERAL jsonb_array_elements(e.env->'records') AS r"
            " ON CONFLICT (id, kind) DO NOTHING"
        ).format(s)
        self._batches = sql.SQL(
            "INSERT INTO {}.batches (batch_id, mall, box, stream, seq, kind, records, sent_at)"
            " SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[],"
            " %s::bigint[], %s::text[], %s::int[], %s::timestamptz[])"
            " ON CONFLICT (mall, box, stream, seq) DO NOTHING"
        ).format(s)
        self._link = sql.SQL(
            "INSERT INTO {}.superseded (id, by, kind) SELECT old, new, %s"
            " FROM unnest(%s::text[], %s::text[]) AS l(old, new) ON CONFLICT (id) DO NOTHING"
        ).format(s)
        self._reject_sql = sql.SQL(
            "INSERT INTO {}.rejected (topic, reason, payload) VALUES (%s, %s, %s)"
        ).format(s)

    def _columns(self, table: KindTable) -> sql.Composable:
        names = [*table.fields, *META_NAMES]
        return sql.SQL(", ").join(map(sql.Identifier, names))

    def _stage(self, table: KindTable) -> _Stage:
        """Create this connection's staging table of a kind, with its statements.

        A temporary table: no WAL, no constraints (a missing id fails at the insert into
        the kind's table, where it belongs), private to the connection.
        """
        s, t = sql.Identifier(self.schema), sql.Identifier(table.kind)
        stage, cols = sql.Identifier(f"stage_{table.kind}"), self._columns(table)
        create = "CREATE TEMP TABLE IF NOT EXISTS {} AS SELECT {} FROM {}.{} WITH NO DATA"
        self.conn.execute(sql.SQL(create).format(stage, cols, s, t))
        insert = sql.SQL(
            "INSERT INTO {s}.{t} ({cols}) SELECT {cols} FROM pg_temp.{stage} staged"
            " WHERE NOT EXISTS (SELECT 1 FROM {s}.superseded x WHERE x.id = staged.id)"
            " ON CONFLICT (id, day) DO NOTHING"
        ).format(stage=stage, s=s, t=t, cols=cols)
        return _Stage(
            rows=RowMaker(table),
            copy=sql.SQL("COPY pg_temp.{} ({}) FROM STDIN").format(stage, cols),
            insert=insert,
            clear=sql.SQL("TRUNCATE pg_temp.{}").format(stage),
        )

    # -- one transaction -------------------------------------------------------------------

    def write(self, envelopes: Sequence[Envelope], refused: Sequence[Refused] = ()) -> WriteResult:
        """Store ``envelopes`` and keep ``refused`` in one transaction; returns after COMMIT.

        Raises psycopg's ``OperationalError`` (connection lost, deadlock) for the caller
        to retry: nothing was committed then.
        """
        result = WriteResult(envelopes=len(envelopes), records=sum(e.records for e in envelopes))
        result.refused.extend(refused)
        wanted = {(e.kind, d) for e in envelopes if e.kind in self.tables for d in e.days}
        ensure_partitions(self.conn, self.schema, wanted, self._partitions)
        try:
            with self.conn.transaction():
                self._write(envelopes, result)
                self._keep_refused(result.refused)
        except (DataError, IntegrityError) as exc:
            log.info("a batch did not fit its table (%s); storing envelope by envelope", _line(exc))
            result = self._write_one_by_one(envelopes, refused)
        return result

    def _write_one_by_one(
        self, envelopes: Sequence[Envelope], refused: Sequence[Refused]
    ) -> WriteResult:
        result = WriteResult(envelopes=len(envelopes), records=sum(e.records for e in envelopes))
        result.refused.extend(refused)
        with self.conn.transaction():
            for envelope in envelopes:
                try:
                    with self.conn.transaction():  # a savepoint
                        self._write([envelope], result)
                except (DataError, IntegrityError) as exc:
                    result.envelopes -= 1
                    result.records -= envelope.records
                    reason = f"values do not fit the {envelope.kind} table: {_line(exc)}"
                    result.refused.append(
                        Refused(envelope.topic, reason, "bad_value", envelope.text.encode())
                    )
            self._keep_refused(result.refused)
        return result

    def _write(self, envelopes: Sequence[Envelope], result: WriteResult) -> None:
        self._lock_partials(envelopes)
        by_kind: dict[str, list[Envelope]] = defaultdict(list)
        for envelope in envelopes:
            by_kind[envelope.kind].append(envelope)
        for kind in sorted(by_kind):
            group = by_kind[kind]
            if kind not in self.tables:
                payload = "[" + ",".join(e.text for e in group) + "]"
                self.conn.execute(self._other, (payload,))
                continue
            result.replaced += self._replace(kind, group)
            result.inserted += self._insert_group(self._stages[kind], group)
        self._record_batches(envelopes)

    def _insert_group(self, stage: _Stage, group: list[Envelope]) -> int:
        """COPY the group's records into the stage, move the new ones into the kind's
        table, empty the stage; returns the rows inserted."""
        with self.conn.cursor().copy(stage.copy) as copy:
            try:
                for envelope in group:
                    for row in stage.rows.rows(envelope):
                        copy.write_row(row)
            except ProgrammingError as exc:  # psycopg could not adapt a value
                raise unfit(exc) from exc
        inserted = max(0, self.conn.execute(stage.insert).rowcount)
        # Emptied for the next batch: cheaper than deleting its rows one by one, and
        # undone with the rest if the transaction fails.
        self.conn.execute(stage.clear)
        return inserted

    def _lock_partials(self, envelopes: Sequence[Envelope]) -> None:
        keys = [i for e in envelopes for i in e.partial_ids]
        keys += [old for e in envelopes for old, _new in e.links]
        if keys:
            self.conn.execute(
                "SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT"
                " hashtextextended(x, 0) AS k FROM unnest(%s::text[]) AS x ORDER BY 1) AS keys",
                (keys,),
            )

    def _replace(self, kind: str, group: list[Envelope]) -> int:
        """Record the group's ``supersedes`` links and delete the rows they replace."""
        links = [link for e in group for link in e.links]
        if not links:
            return 0
        old, new = [o for o, _ in links], [n for _, n in links]
        self.conn.execute(self._link, (kind, old, new))
        days = {d for e in group if e.links for d in e.days}
        days |= {d for d in map(_uuid7_day, old) if d is not None}
        cursor = self.conn.execute(
            sql.SQL(
                "DELETE FROM {}.{} WHERE id = ANY(%s::text[]) AND day = ANY(%s::date[])"
            ).format(sql.Identifier(self.schema), sql.Identifier(kind)),
            (old, sorted(days)),
        )
        return max(0, cursor.rowcount)

    def _record_batches(self, envelopes: Sequence[Envelope]) -> None:
        """One row per envelope, last, so ``stored_at`` is close to the commit."""
        if not envelopes:
            return
        columns: tuple[list[Any], ...] = ([], [], [], [], [], [], [], [])
        for e in envelopes:
            values = (e.batch_id, e.mall, e.box, e.stream, e.seq, e.kind, e.records, e.sent_at)
            for column, value in zip(columns, values, strict=True):
                column.append(value)
        self.conn.execute(self._batches, columns)

    def _keep_refused(self, refused: Sequence[Refused]) -> None:
        for r in refused:
            payload = r.payload[:_REJECTED_PAYLOAD_BYTES]
            self.conn.execute(self._reject_sql, (r.topic, r.reason, payload))


def _line(exc: BaseException) -> str:
    """An error's first line, short."""
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]
