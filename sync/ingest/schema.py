"""The platform's tables, generated from the record models (``edge.messages``).

One table per record kind, named after the kind, in one PostgreSQL schema
(``mallsense`` by default). Columns are the record's JSON fields as they are
named on the wire (``schema``, ``in``: always quoted), so PostgreSQL's
``jsonb_populate_record`` fills them from the record as it arrived:

- text, numbers, booleans and times map to ``text``, ``bigint``, ``double
  precision``, ``boolean`` and ``timestamptz``; lists and nested objects
  (``visit.path``, ``occupancy.dwell_s``) to ``jsonb``;
- ``historical`` (how the record travelled), ``day`` (the UTC day of ``start``,
  the partition key), ``seq``, ``stream`` and ``batch_id`` (the envelope that
  carried it first), ``received_at``, and ``extra``: fields this version of the
  models does not know (a newer box), kept rather than dropped.

Every kind table is range-partitioned by ``day``, one partition per day created on
demand (``ensure_partitions``), so late and historical data land in a partition of
their own day and old days can be detached or dropped whole. The primary key is
``(id, day)`` (a partitioned table's unique key must hold the partition key; a
record's id is a UUIDv7 of its start, so one id always has one day).
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal, get_args, get_origin

from psycopg import Connection, sql
from pydantic import BaseModel

from edge.messages import Batch

__all__ = [
    "DEFAULT_SCHEMA",
    "META_COLUMNS",
    "Column",
    "KindTable",
    "create_schema",
    "ensure_partitions",
    "kind_tables",
    "partition_name",
]

DEFAULT_SCHEMA = "mallsense"

META_COLUMNS: tuple[tuple[str, str], ...] = (
    ("day", "date NOT NULL"),
    ("seq", "bigint"),
    ("stream", "text NOT NULL DEFAULT ''"),
    ("batch_id", "text"),
    ("received_at", "timestamptz NOT NULL DEFAULT now()"),
    ("extra", "jsonb"),
)
"""Columns every kind table has besides the record's own fields."""

_NOT_NULL = frozenset({"id", "kind", "mall", "box", "start"})
"""Fields a row cannot do without. Others stay nullable: a newer box may drop an
optional field, and the platform should still store what it sends."""

_SCALARS: dict[Any, str] = {
    bool: "boolean",
    int: "bigint",
    float: "double precision",
    str: "text",
    datetime: "timestamptz",
}


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a kind table: a record field as it is named on the wire."""

    name: str
    type: str
    not_null: bool


@dataclass(frozen=True, slots=True)
class KindTable:
    """The table of one record kind."""

    kind: str
    columns: tuple[Column, ...]
    """The record's fields (``historical`` included), in the model's order."""

    @property
    def fields(self) -> tuple[str, ...]:
        """The JSON keys this version knows (anything else goes to ``extra``)."""
        return tuple(c.name for c in self.columns)


def _sql_type(annotation: Any) -> tuple[str, bool]:
    """(PostgreSQL type, nullable) of a pydantic field annotation."""
    origin = get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        nullable = len(args) < len(get_args(annotation))
        if len(args) == 1:
            return _sql_type(args[0])[0], nullable
        return "jsonb", nullable
    if origin is Literal:
        values = get_args(annotation)
        return ("text" if all(isinstance(v, str) for v in values) else "jsonb"), False
    if annotation in _SCALARS:
        return _SCALARS[annotation], False
    return "jsonb", False  # lists, dicts, nested models: kept whole


def _table_of(model: type[BaseModel]) -> KindTable:
    columns = []
    for name, field in model.model_fields.items():
        wire = field.alias or name
        sql_type, _nullable = _sql_type(field.annotation)
        columns.append(Column(wire, sql_type, wire in _NOT_NULL))
    kind = model.model_fields["kind"].default
    return KindTable(str(kind), tuple(columns))


def kind_tables() -> dict[str, KindTable]:
    """Kind -> its table, from the on-wire record models of ``Batch.records``."""
    union = get_args(Batch.model_fields["records"].annotation)[0]
    models = get_args(get_args(union)[0]) if get_origin(union) is typing.Annotated else ()
    models = models or get_args(union)
    return {table.kind: table for table in map(_table_of, models)}


def partition_name(kind: str, day: date) -> str:
    return f"{kind}_p{day:%Y%m%d}"


def _kind_ddl(schema: str, table: KindTable) -> sql.Composed:
    cols = [
        sql.SQL("{} {}{}").format(
            sql.Identifier(c.name), sql.SQL(c.type), sql.SQL(" NOT NULL" if c.not_null else "")
        )
        for c in table.columns
    ]
    cols += [sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t)) for n, t in META_COLUMNS]
    return sql.SQL(
        "CREATE TABLE IF NOT EXISTS {}.{} ({}, PRIMARY KEY (id, day)) PARTITION BY RANGE (day)"
    ).format(sql.Identifier(schema), sql.Identifier(table.kind), sql.SQL(", ").join(cols))


_SHARED_DDL = (
    # What arrived: one row per batch, named by (box, stream, seq); a batch published
    # again (redelivered, re-sent) is the same row.
    """CREATE TABLE IF NOT EXISTS {s}.batches (
        mall text NOT NULL, box text NOT NULL, stream text NOT NULL DEFAULT '',
        seq bigint NOT NULL, batch_id text NOT NULL, kind text NOT NULL,
        records integer NOT NULL, sent_at timestamptz,
        received_at timestamptz NOT NULL DEFAULT now(),
        stored_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        gap_checked boolean NOT NULL DEFAULT false, PRIMARY KEY (mall, box, stream, seq))""",
    """CREATE INDEX IF NOT EXISTS batches_unchecked ON {s}.batches (mall, box, stream, seq)
        WHERE NOT gap_checked""",
    # Per box and stream: the highest seq seen (gaps.py keeps it).
    """CREATE TABLE IF NOT EXISTS {s}.streams (
        mall text NOT NULL, box text NOT NULL, stream text NOT NULL,
        first_seq bigint NOT NULL, max_seq bigint NOT NULL, batches bigint NOT NULL,
        last_batch_at timestamptz NOT NULL, PRIMARY KEY (mall, box, stream))""",
    # Seq ranges still missing: what the platform alerts on.
    """CREATE TABLE IF NOT EXISTS {s}.seq_gaps (
        mall text NOT NULL, box text NOT NULL, stream text NOT NULL,
        from_seq bigint NOT NULL, to_seq bigint NOT NULL, detected_at timestamptz NOT NULL,
        PRIMARY KEY (mall, box, stream, from_seq))""",
    # Partial records replaced by a later record (kept so a late partial stays out).
    """CREATE TABLE IF NOT EXISTS {s}.superseded (
        id text PRIMARY KEY, by text NOT NULL, kind text NOT NULL,
        replaced_at timestamptz NOT NULL DEFAULT now())""",
    # Records of kinds this version does not know: kept whole, never dropped.
    """CREATE TABLE IF NOT EXISTS {s}.other_records (
        id text NOT NULL, kind text NOT NULL, mall text, box text, doc jsonb NOT NULL,
        batch_id text, received_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (id, kind))""",
    # Payloads refused (not JSON, too deep, not an envelope, values of the wrong type).
    """CREATE TABLE IF NOT EXISTS {s}.rejected (
        received_at timestamptz NOT NULL DEFAULT now(), topic text NOT NULL,
        reason text NOT NULL, payload bytea)""",
)


def create_schema(conn: Connection[Any], schema: str = DEFAULT_SCHEMA) -> None:
    """Create the schema, the kind tables and the shared tables if missing; commits.

    Serialized by an advisory lock: several workers start at once and
    ``CREATE ... IF NOT EXISTS`` is not safe against a concurrent create.
    """
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('mallsense-ingest-ddl'))")
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        for table in kind_tables().values():
            conn.execute(_kind_ddl(schema, table))
        for statement in _SHARED_DDL:
            conn.execute(sql.SQL(statement).format(s=sql.Identifier(schema)))


def ensure_partitions(
    conn: Connection[Any], schema: str, wanted: set[tuple[str, date]], known: set[tuple[str, date]]
) -> None:
    """Create the (kind, day) partitions not in ``known`` and add them to it; commits.

    Runs before the data's transaction, under the DDL lock, so two workers meeting
    the same new day do not race to create it. One transaction per partition:
    creating one locks its kind's whole table, and a transaction that held that
    lock while it waited for the next kind's (which another worker's data
    transaction holds, and which then waits for the first) would deadlock.
    """
    for kind, day in sorted(wanted - known):
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('mallsense-ingest-ddl'))")
            conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {}.{} PARTITION OF {}.{}"
                    " FOR VALUES FROM ({}) TO ({})"
                ).format(
                    sql.Identifier(schema),
                    sql.Identifier(partition_name(kind, day)),
                    sql.Identifier(schema),
                    sql.Identifier(kind),
                    sql.Literal(day),
                    sql.Literal(day + timedelta(days=1)),
                )
            )
        known.add((kind, day))
