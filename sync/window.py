"""The agent's window over the outbox, for one connection.

Rows are read in windows of ``batch_max_records`` (never the whole outbox),
planned into batches, and published batches wait here for their PUBACK under
paho's message id. Those ids mean nothing on the next connection, so after any
failure the window is forgotten and the outbox is read again from its start:
whatever is still there was never acknowledged.

A batch keeps its seq when it is published again (``edge.messages.SEQ_TEXT``), so
the platform can de-duplicate on (box, stream, seq) and see gaps exactly: the
batches unacknowledged when a connection was lost (and those held because nobody
took them) are kept, numbered, and published first on the next connection under
their own seq and batch id, from the rows of theirs still waiting; the outbox read
from its start skips those rows. ``number`` gives every other batch the next seq.
A batch re-sent by ``resend`` is numbered by the caller (its original seq). What
is in memory dies with the process: a batch in flight when the sync agent stopped
goes out again in a new batch (docs/records.md says how a platform tells).

Records that can never be published (not a JSON object; larger than the
broker's Maximum Packet Size even alone) are quarantined here, before they
take a seq. A batch the broker refused because of its content comes back
through ``split`` to be sent again in halves, until the refused record is
alone (see ``sync.quarantine``).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Sequence

from edge.store import OutboxRow, Store
from edge.store.uplink import outbox_rows, quarantine, stream_id
from sync.envelope import Envelope, envelope_overhead, plan_batches, record_size

__all__ = ["OutboxWindow"]

log = logging.getLogger("mallsense.sync")

_NOT_AN_OBJECT = "the stored body is not a JSON object"


class OutboxWindow:
    """Planned batches, and published batches by message id, over one store."""

    def __init__(
        self,
        store: Store,
        mall: str,
        box: str,
        max_records: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.mall = mall
        self.box = box
        self.max_records = max_records
        self.clock = clock
        self.limit = 1
        self.max_bytes = 1024
        self.packet_limit: int | None = None  # the broker's limit on one payload, if it said
        self.cursor = 0  # the last outbox id planned on this connection
        self._planned: deque[list[OutboxRow]] = deque()
        self._inflight: dict[int, Envelope] = {}
        self._overheads: dict[str, int] = {}
        self.stream = stream_id(store)
        """The database's stream id: every envelope names it next to its seq."""
        self._again: deque[Envelope] = deque()
        """Numbered batches to publish again first, under their own seq, oldest first."""
        self._again_rows: set[int] = set()
        """Their outbox rows (and those of such a batch in flight): never planned anew."""
        self._numbering: tuple[tuple[int, ...], int, str] | None = None
        """(row ids, seq, batch id) of the batch ``take`` just gave out of ``_again``."""

    def configure(self, limit: int, max_bytes: int, packet_limit: int | None = None) -> None:
        """For the new connection: batches in flight at once, the largest batch payload,
        and the largest payload the broker accepts at all (from its Maximum Packet Size)."""
        self.limit = max(1, limit)
        self.max_bytes = max(1, max_bytes)
        self.packet_limit = packet_limit

    @property
    def full(self) -> bool:
        return len(self._inflight) >= self.limit

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    def take(self) -> list[OutboxRow] | None:
        """The rows of the next batch to publish, or None when the outbox has nothing new.

        Batches to publish again come first; ``number`` then gives their own seq.
        """
        again = self._take_again()
        if again is not None:
            return again
        while not self._planned:
            rows = self.store.outbox_after(self.cursor, self.max_records)
            if not rows:
                return None
            self.cursor = rows[-1].id
            if self._again_rows:
                rows = [row for row in rows if row.id not in self._again_rows]
            batches, rejected = plan_batches(rows, self.max_records, self.max_bytes, self._overhead)
            refused = [(row, _NOT_AN_OBJECT) for row in rejected]
            for batch in batches:
                too_large = self._too_large(batch)
                if too_large is None:
                    self._planned.append(batch)
                else:
                    refused.append((batch[0], too_large))
            if refused:
                self._quarantine(refused)
        return self._planned.popleft()

    def _take_again(self) -> list[OutboxRow] | None:
        while self._again:
            envelope = self._again.popleft()
            rows = outbox_rows(self.store, envelope.row_ids)  # retention may have taken some
            if len(rows) > 1 and self._too_big(rows):
                # This connection takes smaller batches: its rows are planned anew, in new
                # batches (its seq then never arrives; `resend` of it says why).
                self._again_rows.difference_update(envelope.row_ids)
                continue
            if rows:
                self._numbering = (tuple(r.id for r in rows), envelope.seq, envelope.batch_id)
                return rows
        return None

    def _too_big(self, rows: Sequence[OutboxRow]) -> bool:
        size = self._overhead(rows[0].kind) + sum(record_size(r.body) for r in rows)
        return len(rows) > self.max_records or size > self.max_bytes

    def number(self, rows: Sequence[OutboxRow], resent_from: int | None) -> tuple[int, str]:
        """The (seq, batch id) to publish ``rows`` under: a batch published again keeps
        its seq (``resent_from``, or the one ``take`` gave out again), a new one takes the
        store's next seq (persisted first, so never reused)."""
        if resent_from is not None:
            return resent_from, str(uuid.uuid4())
        numbering, self._numbering = self._numbering, None
        if numbering is not None and numbering[0] == tuple(r.id for r in rows):
            return numbering[1], numbering[2]
        return self.store.next_seq(), str(uuid.uuid4())

    def split(self, envelope: Envelope) -> int:
        """Plan a refused batch again as two halves, sent before anything else.

        Rows acknowledged or removed meanwhile are left out. Returns how many
        rows are planned again.
        """
        rows = outbox_rows(self.store, envelope.row_ids)
        half = (len(rows) + 1) // 2
        for part in (rows[half:], rows[:half]):
            if part:
                self._planned.appendleft(part)
        return len(rows)

    def quarantine_rows(self, row_ids: Sequence[int], reason: str) -> int:
        """Set rows aside for good (the broker refused them); returns how many moved."""
        return quarantine(self.store, [(i, reason) for i in row_ids], self.clock())

    def sent(self, mid: int, envelope: Envelope) -> None:
        self._inflight[mid] = envelope

    def acked(self, mid: int) -> Envelope | None:
        """The batch a PUBACK is for (None for the status message or a forgotten id)."""
        envelope = self._inflight.pop(mid, None)
        if envelope is not None and self._again_rows:
            self._again_rows.difference_update(envelope.row_ids)
        return envelope

    def forget(self, held: Iterable[Envelope] = ()) -> int:
        """After a lost connection: keep the unacknowledged batches (and ``held``, those
        nobody took) to publish again first under their own seq, and read the outbox
        again from its start; returns how many batches were unacknowledged."""
        unacked = len(self._inflight)
        numbered = [*self._again, *self._inflight.values(), *held]
        by_seq = {e.seq: e for e in numbered if e.row_ids}  # a `resend` batch has no rows
        self._again = deque(sorted(by_seq.values(), key=lambda e: e.seq))
        self._again_rows = {i for e in self._again for i in e.row_ids}
        self._numbering = None
        self.cursor = 0
        self._planned.clear()
        self._inflight.clear()
        return unacked

    def drained(self) -> bool:
        """True when the outbox is empty and nothing is in flight.

        Also the safety net for rows that nothing carries any more (a batch whose
        rows could not be deleted): with nothing in flight, a row at or below the
        cursor is read and published again.
        """
        if self._inflight or self._planned or self._again:
            return False
        first = self.store.outbox_after(0, 1)
        if not first:
            return True
        if first[0].id <= self.cursor:
            log.debug("outbox row %d is still waiting; reading the outbox again", first[0].id)
            self.cursor = 0
        return False

    def _overhead(self, kind: str) -> int:
        size = self._overheads.get(kind)
        if size is None:
            size = self._overheads[kind] = envelope_overhead(self.mall, self.box, kind)
        return size

    def _too_large(self, batch: list[OutboxRow]) -> str | None:
        """Why a single record can never be published, or None if it can."""
        if self.packet_limit is None or len(batch) > 1:
            return None
        row = batch[0]
        size = self._overhead(row.kind) + record_size(row.body)
        if size <= self.packet_limit:
            return None
        return (
            f"{size} bytes, more than the broker accepts in one message ({self.packet_limit}"
            " bytes after the MQTT header; its Maximum Packet Size)"
        )

    def _quarantine(self, refused: list[tuple[OutboxRow, str]]) -> None:
        # Sending these again would never help; the record stays in `records`, a copy of
        # it and the reason go to the quarantine table.
        for row, reason in refused:
            log.error(
                "outbox record %d (%s) can never be published: %s; moved to the quarantine"
                " table (counted as drops.quarantined.%s)",
                row.id,
                row.kind,
                reason,
                row.kind,
            )
        quarantine(self.store, [(row.id, reason) for row, reason in refused], self.clock())
