"""Records waiting in memory while the database cannot be written (a full disk).

The edge daemon keeps sensing when a flush fails: its records wait here and the
next flush tries them again. The wait is bounded (``bound`` records, about 1 KB
each): beyond it the oldest are dropped, because the newest say most about the
mall right now. Every record lost is counted (``lost``, the metrics) and, once the
database takes a write again, added to ``drops.unwritten.<kind>`` (``mallsense
status``, telemetry). At stop, what still waits is written in small parts (a few
may fit where one large transaction did not) and the rest is reported lost.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

from edge.errors import StoreError
from edge.store import Store

__all__ = ["DEFAULT_BOUND", "EXIT_PART", "UNWRITTEN_DROP", "Backlog"]

log = logging.getLogger("mallsense.edge")

DEFAULT_BOUND = 200_000
EXIT_PART = 200
UNWRITTEN_DROP = "unwritten"
"""``drops.unwritten.<kind>``: records lost because the database could not be written."""


class Backlog:
    """The records no write has taken yet, and the count of those given up."""

    def __init__(self, bound: int | None = None) -> None:
        self.bound = DEFAULT_BOUND if bound is None else bound
        self.records: list[Any] = []
        self.lost = 0
        self._uncounted: Counter[str] = Counter()
        """Lost records by kind not yet added to the database's drop counters."""

    def __len__(self) -> int:
        return len(self.records)

    def keep(self, records: list[Any]) -> int:
        """After a failed write: keep ``records`` up to the bound; how many oldest were dropped."""
        excess = max(len(records) - self.bound, 0)
        self.records = records[excess:]
        self.lose(records[:excess])
        return excess

    def lose(self, records: list[Any]) -> None:
        self.lost += len(records)
        self._uncounted.update(str(r.get("kind", "unknown")) for r in records)

    def count_losses(self, store: Store) -> None:
        """Add what was lost to ``drops.unwritten.<kind>`` (StoreError if it cannot)."""
        while self._uncounted:
            kind, n = next(iter(self._uncounted.items()))
            store.count_drop(f"{UNWRITTEN_DROP}.{kind}", n)
            del self._uncounted[kind]

    def failed(self, records: list[Any], exc: StoreError, *, stopping: bool) -> None:
        """A write of ``records`` failed: keep them up to the bound, and say so."""
        excess = self.keep(records)
        if excess:
            log.error(
                "%d oldest records dropped to keep at most %d waiting in memory for the"
                " database (%d lost so far)",
                excess, self.bound, self.lost,
            )  # fmt: skip
        retry = "at exit" if stopping else "retrying"
        log.error(
            "cannot write %d records (kept in memory, %s; %d lost so far): %s",
            len(self.records), retry, self.lost, exc,
        )  # fmt: skip

    def write_at_exit(self, persist: Callable[[list[Any]], None], store: Store) -> None:
        """At stop: write what waits in parts (a few may fit where one large transaction
        did not), report the rest lost, and count the loss in ``store`` if it can."""
        if not self.records:
            earlier = f" ({self.lost} lost earlier)" if self.lost else ""
            log.info("at exit: every record held in memory was written%s", earlier)
            return
        waiting = len(self.records)
        written, error = self._write_in_parts(persist)
        if written == waiting:
            log.info("at exit: all %d records held in memory were written, in parts", written)
            return
        log.error(
            "at exit: %d records held in memory could not be written and are lost (%d of %d"
            " written in smaller parts; %d lost since start): %s",
            waiting - written, written, waiting, self.lost, error,
        )  # fmt: skip
        try:
            self.count_losses(store)
        except StoreError as exc:
            log.error(
                "the loss could not be counted in the database either (%s); `mallsense status`"
                " does not show it, this log does", exc,
            )  # fmt: skip

    def _write_in_parts(self, persist: Callable[[list[Any]], None]) -> tuple[int, str]:
        """Write what waits in parts until one fails; (written, the error)."""
        waiting, written, error = self.records, 0, ""
        for start in range(0, len(waiting), EXIT_PART):
            try:
                persist(waiting[start : start + EXIT_PART])
            except StoreError as exc:
                error = str(exc)
                break
            written = min(start + EXIT_PART, len(waiting))
        self.records = []
        self.lose(waiting[written:])
        return written, error
