"""What ``mallsense status`` shows, read from the store alone.

It lives here, not in the CLI, because the sync agent answers the ``status``
command with the very same dict, and ``sync`` may import ``edge.store`` but not
the CLI.
"""

from __future__ import annotations

from typing import Any

from edge.store.db import Store
from edge.store.uplink import STREAM_KEY, last_acked_seq, quarantine_summary

__all__ = ["collect_status"]


_UNWRITTEN = "unwritten."
"""Drops the edge daemon counts for records the database could not take (a full disk)."""


def _age(now: float, then: float | None) -> float | None:
    return None if then is None else round(max(now - then, 0.0), 1)


def _float(value: str | None) -> float | None:
    return None if value is None or value == "" else float(value)


def _int(store: Store, key: str) -> int:
    return int(store.get(key, "0") or 0)


def collect_status(store: Store, now: float) -> dict[str, Any]:
    """Everything ``mallsense status`` shows, as one JSON-serializable dict."""
    depth, oldest = store.outbox_depth()
    sensors = []
    for s in store.sensor_stats():
        s["last_frame_age_s"] = _age(now, s.get("last_frame_at"))
        s["updated_age_s"] = _age(now, s["updated"])
        sensors.append(s)
    last_upload = _float(store.get("sync.last_upload"))
    quarantined = quarantine_summary(store)
    drops = store.drop_counts()
    return {
        "db": str(store.path),
        "sensors": sensors,
        "records": store.counts(),
        "outbox": {"depth": depth, "oldest_age_s": _age(now, oldest)},
        "uplink": {
            "connected": store.get("sync.connected") == "1",
            "last_upload_age_s": _age(now, last_upload),
            "records_sent": _int(store, "sync.records_sent"),
            "reconnects": _int(store, "sync.reconnects"),
            # The batch stream of this database (None until the uplink first ran), the
            # last seq given to a batch and the last the broker acknowledged: what the
            # platform compares with what it received to see a missing last batch.
            "stream": store.get(STREAM_KEY) or None,
            "last_seq": _int(store, "sync.seq"),
            "last_acked_seq": last_acked_seq(store),
            "platform": store.get("sync.platform"),
            # Why the sync agent holds data batches (None while they flow), and how often
            # the broker gave a batch to nobody or another client took this box's id.
            "held": store.get("sync.held") or None,
            "untaken_batches": _int(store, "sync.untaken_batches"),
            "takeovers": _int(store, "sync.takeovers"),
        },
        "drops": drops,
        "records_lost": sum(n for k, n in drops.items() if k.startswith(_UNWRITTEN)),
        "quarantine": {"count": quarantined.count, "last": quarantined.last},
    }
