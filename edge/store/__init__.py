"""SQLite store: records + outbox (+ checkpoints) written in one transaction."""

from edge.store.db import Checkpoint, OutboxRow, Store

__all__ = ["Checkpoint", "OutboxRow", "Store"]
