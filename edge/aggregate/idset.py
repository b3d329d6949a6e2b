"""A set of pseudonyms as sorted 64-bit integers, for the hour's device counts.

An hour of a busy zone holds every pseudonym heard in it: with randomized MACs, tens
of thousands of distinct ones a minute. As hex strings in a Python set each cost about
124 bytes (the string and its slot), and the hours of a real crowd, which does not repeat
itself as a test recording does, would grow to around 100 MB before they end. Here each
costs 8 bytes. The hour only ever asks how many there are, so nothing is lost: a
pseudonym is 8 bytes of keyed hash written as 16 hex digits (``drivers.privacy``), read
back exactly; any other key (a test's name) is hashed to 64 bits the same way on every
box and run, so a checkpoint restores the same set.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["PseudonymSet"]

_HEX_DIGITS = 16


def key_of(pseudonym: str) -> int:
    """The 64-bit integer a pseudonym is kept as (its own value when it is 16 hex digits)."""
    if len(pseudonym) == _HEX_DIGITS:
        try:
            return int(pseudonym, 16)
        except ValueError:
            pass
    digest = hashlib.blake2b(pseudonym.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def keys_of(pseudonyms: list[str]) -> npt.NDArray[np.uint64]:
    """``key_of`` for many at once: a window's pseudonyms are all 16 hex digits, and one
    ``bytes.fromhex`` of them joined reads them all (per pseudonym, the ingest benchmark
    lost a fifth of its rate)."""
    joined = "".join(pseudonyms)
    if len(joined) == _HEX_DIGITS * len(pseudonyms):
        try:
            return np.frombuffer(bytes.fromhex(joined), dtype=">u8").astype(np.uint64)
        except ValueError:
            pass  # not all hex: one by one
    return np.fromiter((key_of(p) for p in pseudonyms), dtype=np.uint64, count=len(pseudonyms))


class PseudonymSet:
    """Distinct pseudonyms, counted; added a window at a time (``update``).

    New keys wait in ``_pending`` and are merged in (sorted, without repeats) once they
    outnumber the kept ones, or when the set is read: a window's pseudonyms mostly repeat
    the hour's, and sorting the whole hour at every window cost more than the counting."""

    __slots__ = ("_keys", "_pending", "_waiting")

    def __init__(self, items: Iterable[Any] = ()) -> None:
        """``items``: pseudonyms, or the keys of ``to_json`` (a checkpoint)."""
        self._keys: npt.NDArray[np.uint64] = np.empty(0, dtype=np.uint64)
        self._pending: list[npt.NDArray[np.uint64]] = []
        self._waiting = 0
        if isinstance(items, np.ndarray):  # another set's keys
            self._keys = np.unique(items.astype(np.uint64))
            return
        keys = [item if isinstance(item, int) else key_of(item) for item in items]
        if keys:
            self._keys = np.unique(np.array(keys, dtype=np.uint64))

    def update(self, pseudonyms: list[str]) -> None:
        """Add pseudonyms. The keys are replaced by a new array, never changed in place,
        so a ``to_json`` taken before stays as it was (the hours' checkpoint keeps it)."""
        if not pseudonyms:
            return
        self._pending.append(keys_of(pseudonyms))
        self._waiting += len(pseudonyms)
        if self._waiting > max(len(self._keys), 4096):
            self._merge()

    def _merge(self) -> None:
        if self._pending:
            self._keys = np.unique(np.concatenate([self._keys, *self._pending]))
            self._pending, self._waiting = [], 0

    def __len__(self) -> int:
        self._merge()
        return int(self._keys.size)

    def __contains__(self, pseudonym: object) -> bool:
        if not isinstance(pseudonym, str):
            return False
        self._merge()
        key = np.uint64(key_of(pseudonym))
        at = int(np.searchsorted(self._keys, key))
        return at < self._keys.size and self._keys[at] == key

    def to_json(self) -> npt.NDArray[np.uint64]:
        """The sorted keys, as orjson writes them with ``OPT_SERIALIZE_NUMPY`` (a list of
        integers in the checkpoint); the array is not changed afterwards."""
        self._merge()
        return self._keys
