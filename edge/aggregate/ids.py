"""Record ids, timestamps and the wire type, cheap enough for the per-record hot path."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

__all__ = ["Record", "iso", "record_id"]

Record = dict[str, Any]
"""A record in wire form (what is stored and published); ``edge.records`` validates it."""

_MINUTE_PREFIX: dict[int, str] = {}
_FIRST_T = -30_610_224_000.0  # 1000-01-01T00:00:00Z: strftime writes earlier years short
_LAST_T = 253_402_300_799.0  # 9999-12-31T23:59:59Z, the last


def _representable(t: float) -> float:
    """``t`` clamped to what a datetime and a UUIDv7 can hold (NaN: the last instant).

    Times are checked where they enter (``drivers.timegate``); this is the backstop that
    keeps a record's id and date from raising if an absurd one ever gets this far.
    """
    if _FIRST_T <= t <= _LAST_T:
        return t
    return _FIRST_T if t < _FIRST_T else _LAST_T


def iso(t: float) -> str:
    """Event time as the contract's string: ``2026-03-14T10:00:11.123Z`` (UTC, ms).

    Formatting a datetime costs a microsecond, and records are built tens of
    thousands of times a second in a replay: the date-hour-minute prefix is
    cached per minute. Never raises: a time no datetime can hold is clamped.
    """
    minute, millis = divmod(round(_representable(t) * 1000), 60_000)
    prefix = _MINUTE_PREFIX.get(minute)
    if prefix is None:
        if len(_MINUTE_PREFIX) > 4096:
            _MINUTE_PREFIX.clear()
        prefix = datetime.fromtimestamp(minute * 60, tz=UTC).strftime("%Y-%m-%dT%H:%M:")
        _MINUTE_PREFIX[minute] = prefix
    second, ms = divmod(millis, 1000)
    return f"{prefix}{second:02d}.{ms:03d}Z"


def record_id(t: float, natural_key: str) -> str:
    """A UUIDv7 for time ``t`` whose other 74 bits come from a hash of the natural key.

    Time-ordered like any UUIDv7, and deterministic: the same record from the
    same frames always gets the same id, so the consumer's de-duplication
    makes a re-send or a second replay harmless.
    """
    digest = hashlib.blake2b(natural_key.encode(), digest_size=10).digest()
    millis = round(_representable(t) * 1000) & 0xFFFF_FFFF_FFFF
    raw = (
        millis.to_bytes(6, "big")
        + bytes((0x70 | (digest[0] & 0x0F), digest[1], 0x80 | (digest[2] & 0x3F)))
        + digest[3:]
    )
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
