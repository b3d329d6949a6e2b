"""The agent's window over the outbox, for one connection.

Rows are read in windows of ``batch_max_records`` (never the whole outbox),
planned into batches, and published batches wait here for their PUBACK under
paho's message id. Those ids mean nothing on the next connection, so after any
failure the whole window is forgotten and the outbox is read again from its
start: whatever is still there was never acknowledged.
"""

from __future__ import annotations

import logging
from collections import deque

from edge.store import OutboxRow, Store
from sync.envelope import Envelope, envelope_overhead, plan_batches

__all__ = ["OutboxWindow"]

log = logging.getLogger("mallsense.sync")


class OutboxWindow:
    """Planned batches, and published batches by message id, over one store."""

    def __init__(self, store: Store, mall: str, box: str, max_records: int) -> None:
        self.store = store
        self.mall = mall
        self.box = box
        self.max_records = max_records
        self.limit = 1
        self.max_bytes = 1024
        self.cursor = 0  # the last outbox id planned on this connection
        self._planned: deque[list[OutboxRow]] = deque()
        self._inflight: dict[int, Envelope] = {}
        self._overheads: dict[str, int] = {}

    def configure(self, limit: int, max_bytes: int) -> None:
        """Batches in flight at once, and the largest payload, for the new connection."""
        self.limit = max(1, limit)
        self.max_bytes = max(1, max_bytes)

    @property
    def full(self) -> bool:
        return len(self._inflight) >= self.limit

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    def take(self) -> list[OutboxRow] | None:
        """The rows of the next batch to publish, or None when the outbox has nothing new."""
        while not self._planned:
            rows = self.store.outbox_after(self.cursor, self.max_records)
            if not rows:
                return None
            self.cursor = rows[-1].id
            batches, rejected = plan_batches(rows, self.max_records, self.max_bytes, self._overhead)
            self._planned.extend(batches)
            if rejected:
                self._quarantine(rejected)
        return self._planned.popleft()

    def sent(self, mid: int, envelope: Envelope) -> None:
        self._inflight[mid] = envelope

    def acked(self, mid: int) -> Envelope | None:
        """The batch a PUBACK is for (None for the status message or a forgotten id)."""
        return self._inflight.pop(mid, None)

    def forget(self) -> int:
        """After a lost connection: drop everything; returns how many batches were unacked."""
        unacked = len(self._inflight)
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
        if self._inflight or self._planned:
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

    def _quarantine(self, rows: list[OutboxRow]) -> None:
        # A body that is not a JSON object would make the whole batch unreadable for the
        # platform, and sending it again would never help; the record stays in `records`.
        for row in rows:
            log.error(
                "outbox row %d (%s) does not hold a JSON object; removing it from the outbox"
                " (the record stays in the records table)",
                row.id,
                row.kind,
            )
        self.store.outbox_ack([row.id for row in rows])
