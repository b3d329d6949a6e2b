"""SQLite store: records + outbox (+ checkpoints) written in one transaction."""

from edge.store.db import Checkpoint, OutboxRow, Store, dump_checkpoint

__all__ = ["Checkpoint", "OutboxRow", "Store", "dump_checkpoint"]
