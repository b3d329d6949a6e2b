"""Only the latest revision of a record counts.

A partial record (a session or an hour cut short by a stop) is replaced by a later
record that names it in ``supersedes``; revisions chain (partial, partial, final).
A record another one supersedes is dropped. Two records with the same natural key
that no ``supersedes`` links (a restart without its checkpoint) are revisions too:
the complete one, else the one that ends last, is kept, so nothing is counted twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from edge.records import RECORD_SPECS, Record

__all__ = ["Revisions", "current"]

_DEFAULTS = {"source": "wifi"}
"""Fields records written before they existed lack (a Wi-Fi record had no ``source``)."""


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
        key = _natural_key(r)
        best = chosen.get(key)
        if best is None or _rank(r) > _rank(best):
            chosen[key] = r
    kept_ids = {id(r) for r in chosen.values()}
    kept = [r for r in live if id(r) in kept_ids]
    return kept, Revisions(len(records) - len(live), len(live) - len(kept))


def _natural_key(r: Record) -> tuple[Any, ...]:
    spec = RECORD_SPECS.get(r["kind"])
    if spec is None or not spec.natural_key:
        return (r["kind"], r["id"])
    return (r["kind"], *(r.get(f, _DEFAULTS.get(f)) for f in spec.natural_key))


def _rank(r: Record) -> tuple[bool, str, str]:
    return (not r.get("partial", False), str(r.get("end", "")), r["id"])
