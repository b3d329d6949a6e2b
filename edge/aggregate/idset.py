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


class PseudonymSet:
    """Distinct pseudonyms, counted; added a window at a time (``update``)."""

    __slots__ = ("_keys",)

    def __init__(self, items: Iterable[Any] = ()) -> None:
        """``items``: pseudonyms, or the keys of ``to_json`` (a checkpoint)."""
        self._keys: npt.NDArray[np.uint64] = np.empty(0, dtype=np.uint64)
        if isinstance(items, np.ndarray):  # another set's keys
            self._keys = np.unique(items.astype(np.uint64))
            return
        keys = [item if isinstance(item, int) else key_of(item) for item in items]
        if keys:
            self._keys = np.unique(np.array(keys, dtype=np.uint64))

    def update(self, pseudonyms: Iterable[str]) -> None:
        """Add pseudonyms. The keys are replaced by a new array, never changed in place,
        so a ``to_json`` taken before stays as it was (the hours' checkpoint keeps it)."""
        new = np.fromiter((key_of(p) for p in pseudonyms), dtype=np.uint64)
        if new.size:
            self._keys = np.union1d(self._keys, new)

    def __len__(self) -> int:
        return int(self._keys.size)

    def __contains__(self, pseudonym: object) -> bool:
        if not isinstance(pseudonym, str):
            return False
        key = np.uint64(key_of(pseudonym))
        at = int(np.searchsorted(self._keys, key))
        return at < self._keys.size and self._keys[at] == key

    def to_json(self) -> npt.NDArray[np.uint64]:
        """The sorted keys, as orjson writes them with ``OPT_SERIALIZE_NUMPY`` (a list of
        integers in the checkpoint); the array is not changed afterwards."""
        return self._keys
