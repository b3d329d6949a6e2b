"""The ``telemetry`` message: what the platform needs to see that a box is healthy.

Read from the store (outbox, drop counters, the edge daemon's ``sensor_stats``)
and from the machine (free disk under the database, NTP state): a box whose
backlog grows, whose disk fills or whose clock drifts is visible before it
loses data. It names the box's stream and its last seqs (given, and acknowledged
by the broker), so a platform that misses the last batches of a stream sees it
within a minute, not only when the next batch shows the gap.
"""

from __future__ import annotations

import logging
import math
import shutil
import subprocess
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from edge.messages import SensorHealth, Telemetry
from edge.records import utc
from edge.store import Store
from edge.store.uplink import last_acked_seq, stream_id

__all__ = ["clock_synced", "disk_free", "sensor_health", "telemetry_payload"]

log = logging.getLogger("mallsense.sync")

_TIMESYNC_FLAG = Path("/run/systemd/timesync/synchronized")
_TIMEDATECTL_TIMEOUT_S = 1.0


def clock_synced() -> bool | None:
    """NTP synchronized? From ``timedatectl``, else systemd-timesyncd's flag; None if unknown."""
    tool = shutil.which("timedatectl")
    if tool is not None:
        try:
            out = subprocess.run(
                [tool, "show", "-p", "NTPSynchronized", "--value"],
                capture_output=True,
                text=True,
                timeout=_TIMEDATECTL_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            out = None
        if out is not None and out.returncode == 0 and out.stdout.strip() in ("yes", "no"):
            return out.stdout.strip() == "yes"
    if _TIMESYNC_FLAG.exists():
        return True
    return None


def disk_free(path: Path) -> int:
    """Free bytes on the filesystem that holds ``path`` (0 if it cannot be read)."""
    try:
        return shutil.disk_usage(path.parent if not path.is_dir() else path).free
    except OSError as exc:
        log.warning("cannot read the free disk space under %s: %s", path, exc)
        return 0


def _number(value: Any, default: float = 0.0) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if math.isfinite(number) else default


def sensor_health(stats: dict[str, Any]) -> SensorHealth | None:
    """One sensor's row of ``sensor_stats`` (written by the edge daemon) as telemetry."""
    last = stats.get("last_frame_at")
    try:
        return SensorHealth(
            sensor=str(stats["sensor"]),
            kind=str(stats["kind"]),
            state=str(stats.get("state") or "replayed"),
            rate_per_s=max(_number(stats.get("rate_per_s")), 0.0),
            last_frame_at=None if last is None else utc(_number(last)),
            restarts=max(int(_number(stats.get("restarts"))), 0),
        )
    except (KeyError, ValidationError, OverflowError, OSError, ValueError) as exc:
        log.warning("left sensor %s out of telemetry: %s", stats.get("sensor"), exc)
        return None


def telemetry_payload(
    store: Store,
    *,
    mall: str,
    box: str,
    now: float,
    records_sent: int,
    synced: bool | None,
) -> bytes:
    """The telemetry message for this moment, as the JSON the contract describes."""
    depth, oldest = store.outbox_depth()
    sensors = [s for s in map(sensor_health, store.sensor_stats()) if s is not None]
    message = Telemetry(
        mall=mall,
        box=box,
        sent_at=utc(now),
        outbox_depth=depth,
        outbox_oldest_age_s=None if oldest is None else round(max(now - oldest, 0.0), 1),
        records_sent=records_sent,
        drops=store.drop_counts(),
        sensors=sensors,
        disk_free_bytes=disk_free(store.path),
        clock_synced=synced,
        stream=stream_id(store),
        last_seq=int(store.get("sync.seq", "0") or 0) or None,
        last_acked_seq=last_acked_seq(store),
    )
    return message.model_dump_json(by_alias=True).encode()
