"""Records as rows of their kind table, for ``COPY``: one list of values per record.

The worker has parsed every record already (it checks ids, kinds, boxes and
days before anything is written), so handing PostgreSQL the values is cheaper
than handing it the JSON text again: parsing text into ``jsonb`` and unpacking
it with ``jsonb_populate_record`` cost the server about twice what ``COPY`` of
the same rows costs. The values are left as they arrived; PostgreSQL types
them when it reads the ``COPY`` stream, and a value that does not fit its
column (a string where a number belongs) fails the batch there, as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from psycopg import DataError, ProgrammingError
from psycopg.types.json import Jsonb

from sync.ingest.envelopes import Envelope
from sync.ingest.schema import KindTable

__all__ = ["META_NAMES", "RowMaker"]

META_NAMES = ("day", "seq", "stream", "batch_id", "extra")
"""The columns after the record's own: filled from the envelope and the record's day."""


class RowMaker:
    """Turns one kind's records into rows in ``table.fields + META_NAMES`` order."""

    def __init__(self, table: KindTable) -> None:
        self.names = table.fields
        self.known = frozenset(self.names)
        self.json_at = tuple(i for i, c in enumerate(table.columns) if c.type == "jsonb")
        """Columns kept as JSON (paths, payments): the value goes in whole."""

    def rows(self, envelope: Envelope) -> Iterator[list[Any]]:
        """The envelope's records as rows (its seq, stream and batch id on each)."""
        names, known, json_at = self.names, self.known, self.json_at
        seq, stream, batch_id = envelope.seq, envelope.stream, envelope.batch_id
        for record, day in zip(envelope.docs, envelope.record_days, strict=True):
            get = record.get
            row: list[Any] = [get(name) for name in names]
            for i in json_at:
                if row[i] is not None:
                    row[i] = Jsonb(row[i])
            extra = None
            if not record.keys() <= known:  # a newer box's added fields: kept, not lost
                extra = Jsonb({k: v for k, v in record.items() if k not in known})
            row += (day, seq, stream, batch_id, extra)
            yield row


def unfit(exc: ProgrammingError) -> DataError:
    """A value psycopg cannot put in its column (an object where text belongs), as the
    ``DataError`` PostgreSQL raises for one it cannot read: the batch is refused alone."""
    return DataError(f"a value does not fit its column: {exc}")
