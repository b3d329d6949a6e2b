"""Keeping the database inside its disk budget and age, losing the least valuable first.

Order of sacrifice, when the budget is exceeded:

1. records already delivered (kept only for ``resend`` and local checks);
2. records still waiting in the outbox, kind by kind in ``store.drop_order``
   (presence first: it is re-derivable in aggregate, a transaction is not),
   oldest first.

Records older than ``max_age_days`` are deleted whatever the budget. Every
record deleted before it was delivered is a *drop*, counted by reason and kind
in the key/value table (``drops.<reason>.<kind>``, ``Store.drop_counts``),
which telemetry and ``mallsense status`` report. Quarantined records (refused
by the broker) are kept for the same age, then deleted. Deleting rows frees
pages inside the file (SQLite reuses them); giving them back to the filesystem
is the maintenance timer's ``VACUUM``.

Masked POS receipt texts (``edge.store.receipts``) are deleted when their time
is up (each POS sensor's ``raw_text_retention_h``), whatever the budget.
"""

from __future__ import annotations

import logging
import sqlite3
from collections import Counter
from dataclasses import dataclass, field

from edge.config.models import StoreConfig
from edge.errors import StoreError
from edge.store.db import Store, add_drop
from edge.store.receipts import prune_receipt_texts
from edge.store.txn import transaction

__all__ = ["RetentionReport", "enforce", "used_bytes"]

log = logging.getLogger("mallsense.store")
_CHUNK = 1000
_WAITING_KINDS = "SELECT DISTINCT r.kind FROM outbox o JOIN records r ON r.seq = o.record"


@dataclass
class RetentionReport:
    """What one enforcement pass did."""

    used_before: int
    used_after: int
    deleted_delivered: int = 0
    deleted_receipt_texts: int = 0
    """Masked POS receipt texts past their retention."""
    dropped: Counter[str] = field(default_factory=Counter)
    """Undelivered records deleted, by ``<reason>.<kind>``."""


def used_bytes(store: Store) -> int:
    """Bytes of the database file in use (free pages excluded)."""
    conn = store.conn
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    return int((pages - free) * size)


def enforce(store: Store, config: StoreConfig, now: float) -> RetentionReport:
    """Apply the age limit, then the disk budget; one transaction per chunk."""
    try:
        report = RetentionReport(used_before=used_bytes(store), used_after=0)
        cutoff = now - config.max_age_days * 86_400
        _expire(store, cutoff, report)
        with transaction(store.conn):  # quarantined records are kept for inspection, not forever
            store.conn.execute("DELETE FROM quarantine WHERE at < ?", (cutoff,))
            report.deleted_receipt_texts = prune_receipt_texts(store.conn, now)
        budget = int(config.max_mb * 1024 * 1024)
        while used_bytes(store) > budget and _shed_one_chunk(store, config.drop_order, report):
            pass
        report.used_after = used_bytes(store)
    except sqlite3.Error as exc:
        raise StoreError(f"retention on {store.path} failed: {exc}") from exc
    _log(report, config)
    return report


def _expire(store: Store, cutoff: float, report: RetentionReport) -> None:
    report.deleted_delivered += _delete_delivered(store, "created < ?", (cutoff,))
    sql = f"{_WAITING_KINDS} WHERE r.created < ?"
    for (kind,) in store.conn.execute(sql, (cutoff,)).fetchall():
        reason = f"expired.{kind}"
        report.dropped[reason] += _drop_waiting(
            store, "r.created < ? AND r.kind = ?", (cutoff, kind), reason
        )


def _shed_one_chunk(store: Store, drop_order: list[str], report: RetentionReport) -> bool:
    """Delete the next chunk in the order of sacrifice; False when nothing is left."""
    n = _delete_delivered(store, "1", (), limit=_CHUNK)
    if n:
        report.deleted_delivered += n
        return True
    waiting = [kind for (kind,) in store.conn.execute(_WAITING_KINDS)]
    for kind in sorted(waiting, key=lambda k: _rank(k, drop_order)):
        reason = f"disk_budget.{kind}"
        n = _drop_waiting(store, "r.kind = ?", (kind,), reason, limit=_CHUNK)
        if n:
            report.dropped[reason] += n
            return True
    return False


def _rank(kind: str, drop_order: list[str]) -> int:
    return drop_order.index(kind) if kind in drop_order else len(drop_order)


def _delete_delivered(
    store: Store, where: str, params: tuple[object, ...], limit: int | None = None
) -> int:
    """Delete delivered records (no outbox row), oldest first; returns how many."""
    sql = f"SELECT seq FROM records WHERE {where} AND seq NOT IN (SELECT record FROM outbox)"
    sql += " ORDER BY seq" + (f" LIMIT {limit}" if limit else "")
    with transaction(store.conn):
        seqs = store.conn.execute(sql, params).fetchall()
        store.conn.executemany("DELETE FROM records WHERE seq = ?", seqs)
    return len(seqs)


def _drop_waiting(
    store: Store, where: str, params: tuple[object, ...], reason: str, limit: int | None = None
) -> int:
    """Delete undelivered records with their outbox rows, oldest first, counting the drop."""
    sql = f"SELECT o.id, o.record FROM outbox o JOIN records r ON r.seq = o.record WHERE {where}"
    sql += " ORDER BY o.id" + (f" LIMIT {limit}" if limit else "")
    with transaction(store.conn):
        rows = store.conn.execute(sql, params).fetchall()
        store.conn.executemany("DELETE FROM outbox WHERE id = ?", [(o,) for o, _ in rows])
        store.conn.executemany("DELETE FROM records WHERE seq = ?", [(r,) for _, r in rows])
        add_drop(store.conn, reason, len(rows))
    return len(rows)


def _log(report: RetentionReport, config: StoreConfig) -> None:
    if report.dropped:
        lost = ", ".join(f"{n} {reason.replace('.', ' ')}" for reason, n in report.dropped.items())
        log.warning(
            "dropped records that were never delivered (%s): the uplink is behind and the"
            " database reached its budget of %.0f MB or age of %.0f days; check the broker"
            " connection (`mallsense status`) or raise store.max_mb",
            lost, config.max_mb, config.max_age_days,
        )  # fmt: skip
