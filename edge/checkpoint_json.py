"""A checkpoint's JSON: the aggregation state as bytes, for the store to keep.

orjson: a busy box's aggregation state is tens of MB, written with every flush, and
``json.dumps`` took most of a core for it (9x slower). Objects with a ``to_json`` (the
live devices and windows of ``Aggregator.checkpoint_state``) are turned into their
snapshot form as they are reached, so no copy of the whole state is built first; numpy
arrays (the hours' pseudonym keys, ``edge.aggregate.idset``) are written as lists of
integers. The snapshots write None, not infinity, for an unset clock.
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["dump_checkpoint", "plain_state"]

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_SERIALIZE_NUMPY


def dump_checkpoint(state: dict[str, Any]) -> bytes:
    """The state as JSON (UTF-8)."""
    return orjson.dumps(state, default=_to_json, option=_OPTIONS)


def plain_state(state: dict[str, Any]) -> dict[str, Any]:
    """The state as plain JSON values (what a checkpoint restores from): for a restart
    within the process, and for whoever dumps it with another library."""
    plain: dict[str, Any] = orjson.loads(dump_checkpoint(state))
    return plain


def _to_json(value: Any) -> Any:
    to_json = getattr(value, "to_json", None)
    if to_json is None:
        raise TypeError(f"{type(value).__name__} cannot go into a checkpoint")
    return to_json()
