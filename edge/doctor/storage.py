"""The database: whether its disk budget fits the disk, and whether the file is sound.

The database is opened read-only (``mode=ro``): no migration, no write, nothing
that could disturb the services while they run. The budget is measured as
retention measures it (pages in use, ``edge.store.maintenance.page_stats``);
the integrity check is the maintenance timer's ``PRAGMA quick_check``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edge.config import Config
from edge.doctor.host import Host
from edge.doctor.result import Check
from edge.errors import StoreError
from edge.store.db import DROP_PREFIX
from edge.store.maintenance import page_stats
from edge.store.opening import refuse_empty, restore_advice

__all__ = ["check_database", "check_disk"]

_MB = 2**20
_SUDO = "run `sudo mallsense doctor` to check it"
_FIT_SHARE = 0.8
"""A suggested budget leaves a fifth of the room for the WAL, backups and the system."""


@contextlib.contextmanager
def _read_only(path: Path, timeout: float) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=timeout)
    try:
        yield conn
    finally:
        conn.close()


def check_disk(config: Config, host: Host) -> Check:
    """The budget (``store.max_mb``) fits on the disk; the database is within it."""
    store = config.store
    path = store.path
    if _visible(path) is None:
        return Check("disk", "warn", f"cannot look into {path.parent} as this user", _SUDO)
    where = _existing_parent(path)
    usage = shutil.disk_usage(where)
    used, drops = _usage(path, host.timeout_s)
    budget = int(store.max_mb * _MB)
    facts: dict[str, Any] = {
        "database_bytes": used,
        "budget_bytes": budget,
        "disk_free_bytes": usage.free,
        "disk_total_bytes": usage.total,
        "dropped_for_budget": drops,
    }
    room = f"{_mb(usage.free)} free on the disk of {where}"
    if budget - used > usage.free:
        most = int((usage.free + used) * _FIT_SHARE / _MB)
        detail = (
            f"store.max_mb = {store.max_mb:g} MB does not fit: the database uses {_mb(used)}"
            f" and there is {room}"
        )
        fix = f"lower store.max_mb to {most} or less, or free space on that disk"
        return Check("disk", "fail", detail, fix, facts)
    dropped = f"; {drops} unsent records dropped to keep within it so far" if drops else ""
    detail = f"database {_mb(used)} of its {store.max_mb:g} MB budget{dropped}; {room}"
    if used > budget:
        fix = (
            "retention brings it under the budget while mallsense-edge runs (or run `sudo"
            " mallsense maintenance`); if it stays over, check that mallsense-edge runs"
        )
        return Check("disk", "warn", f"over budget: {detail}", fix, facts)
    return Check("disk", "pass", detail, facts=facts)


def check_database(config: Config, host: Host) -> Check:
    """``PRAGMA quick_check`` on the database, read-only."""
    path = config.store.path
    visible = _visible(path)
    if visible is None or (visible and not os.access(path, os.R_OK)):
        return Check("database", "warn", f"cannot read {path} as this user", _SUDO)
    if not visible:
        detail = f"no database at {path} yet (mallsense-edge creates it when it starts)"
        return Check("database", "skip", detail, facts={"path": str(path)})
    try:
        refuse_empty(path)
    except StoreError as exc:  # a failed copy: the services refuse to start on it
        return Check("database", "fail", f"{path} is an empty file (0 bytes)", str(exc).split(
            "; ", 1)[-1], {"path": str(path), "bytes": 0})  # fmt: skip
    try:
        with _read_only(path, host.timeout_s) as conn:
            rows = [str(row[0]) for row in conn.execute("PRAGMA quick_check")]
    except sqlite3.Error as exc:  # too damaged to even check (or not a database at all)
        rows = [str(exc)]
    facts = {"path": str(path), "quick_check": rows[:20]}
    if rows == ["ok"]:
        return Check("database", "pass", f"{path}: PRAGMA quick_check ok", facts=facts)
    detail = f"{path} is damaged (PRAGMA quick_check: {'; '.join(rows[:5])})"
    return Check("database", "fail", detail, _restore_fix(path), facts)


def _restore_fix(path: Path) -> str:
    return restore_advice(path)


def _usage(path: Path, timeout: float) -> tuple[int, int]:
    """(bytes in use, undelivered records dropped for the budget), as retention counts them.

    A database that cannot be read counts with its file sizes (the integrity check says why).
    """
    if not path.exists():
        return 0, 0
    try:
        with _read_only(path, timeout) as conn:
            file_bytes, free_bytes = page_stats(conn)
            return file_bytes - free_bytes, _budget_drops(conn)
    except (sqlite3.Error, ValueError):
        sizes = (Path(f"{path}{suffix}") for suffix in ("", "-wal"))
        return sum(p.stat().st_size for p in sizes if p.exists()), 0


def _budget_drops(conn: sqlite3.Connection) -> int:
    """Records dropped for the disk budget so far (0 in a database without the counters)."""
    try:
        rows = conn.execute(
            "SELECT value FROM kv WHERE key LIKE ?", (f"{DROP_PREFIX}disk_budget.%",)
        ).fetchall()
    except sqlite3.Error:
        return 0
    return sum(int(value) for (value,) in rows)


def _visible(path: Path) -> bool | None:
    """Whether ``path`` exists; None when its directory cannot be looked into."""
    try:
        return path.exists()
    except PermissionError:
        return None


def _existing_parent(path: Path) -> Path:
    for candidate in (path.parent, *path.parent.parents):
        if candidate.exists():
            return candidate
    return Path("/")


def _mb(n: int) -> str:
    return f"{n / _MB:.1f} MB" if n < 1024 * _MB else f"{n / (1024 * _MB):.1f} GB"
