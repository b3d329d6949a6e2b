"""SQLite store: records + outbox (+ checkpoints) written in one transaction."""

from edge.store.db import OutboxRow, Store

__all__ = ["OutboxRow", "Store"]
