"""Only the latest revision of a record counts.

A partial record (a session or an hour cut short by a stop) is replaced by a later
record that names it in ``supersedes``; revisions chain (partial, partial, final).
A record another one supersedes is dropped. Two records with the same natural key
that no ``supersedes`` links (a restart without its checkpoint) are revisions too:
the complete one, else the one that ends last, is kept, so nothing is counted twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["Revisions", "current"]

Record = dict[str, Any]

_NATURAL_KEYS: dict[str, Callable[[Record], tuple[Any, ...]]] = {
    "traffic": lambda r: (r["zone"], r.get("source", "wifi"), r["start"]),
    "kpi": lambda r: (r["store"], r["start"]),
    "footfall": lambda r: (r["camera"], r["line"], r["start"]),
    "dwell": lambda r: (r["zone"], r.get("source", "wifi"), r["device"], r["start"]),
    "visit": lambda r: (r.get("source", "wifi"), r["device"], r["start"]),
}


@dataclass(frozen=True, slots=True)
class Revisions:
    """What was left out: records superseded, and unlinked duplicates of a natural key."""

    superseded: int
    duplicates: int


def current(records: Iterable[Record]) -> tuple[list[Record], Revisions]:
    """The latest revision of every record (input order kept) and what was left out."""
    records = list(records)
    replaced = {r["supersedes"] for r in records if r.get("supersedes")}
    live = [r for r in records if r["id"] not in replaced]
    chosen: dict[tuple[Any, ...], Record] = {}
    for r in live:
        key_of = _NATURAL_KEYS.get(r["kind"])
        key = (r["kind"], *key_of(r)) if key_of is not None else (r["kind"], r["id"])
        best = chosen.get(key)
        if best is None or _rank(r) > _rank(best):
            chosen[key] = r
    kept_ids = {id(r) for r in chosen.values()}
    kept = [r for r in live if id(r) in kept_ids]
    return kept, Revisions(len(records) - len(live), len(live) - len(kept))


def _rank(r: Record) -> tuple[bool, str, str]:
    return (not r.get("partial", False), str(r.get("end", "")), r["id"])
