"""Reading stored rows as bytes, so one damaged row is set aside instead of stopping a reader.

SQLite's Python module decodes every TEXT column to ``str`` while it fetches, and
a single value that is not UTF-8 (a flipped bit, a bad sector, a hand edit) makes
the whole query fail with "Could not decode to UTF-8 column ...". The daemons
read the columns that matter as ``CAST(... AS BLOB)`` and decode them here, row
by row: a row that cannot be read raises ``UnreadableRow`` with the reason in
words, and the caller quarantines and counts it and goes on with the others.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

__all__ = ["UnreadableRow", "json_object", "kind", "number", "text", "utf8_problem"]

_KIND = re.compile(r"[a-z][a-z0-9_]{0,31}")
"""A record kind as the store writes it (it becomes an MQTT topic level)."""


class UnreadableRow(ValueError):
    """A stored value that cannot be read; the message says which column and why."""


def utf8_problem(raw: bytes) -> str | None:
    """Why ``raw`` is not UTF-8 ("byte 0xff at 17"), or None if it is."""
    try:
        raw.decode()
    except UnicodeDecodeError as exc:
        return f"byte 0x{raw[exc.start]:02x} at {exc.start}"
    return None


def text(raw: object, column: str) -> str:
    """A column read as a BLOB (or stored as a number), decoded; ``UnreadableRow`` if not text."""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, bytes):
        try:
            return raw.decode()
        except UnicodeDecodeError as exc:
            detail = f"byte 0x{raw[exc.start]:02x} at {exc.start}"
            raise UnreadableRow(f"{column} is not valid UTF-8 ({detail})") from None
    raise UnreadableRow(f"{column} is not text but {type(raw).__name__}")


def kind(raw: object) -> str:
    """A record kind: text of the form the store writes (it becomes a topic level)."""
    value = text(raw, "kind")
    if _KIND.fullmatch(value) is None:
        raise UnreadableRow(f"kind {value[:40]!r} is not a record kind")
    return value


def number(raw: object, column: str) -> float:
    """A finite number (a time)."""
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise UnreadableRow(f"{column} is not a number ({str(raw)[:40]!r})")
    return float(raw)


def json_object(raw: object, column: str) -> tuple[str, dict[str, Any]]:
    """A column holding a JSON object: (its text, the object)."""
    value = text(raw, column)
    try:
        parsed = json.loads(value)
    except (ValueError, RecursionError) as exc:
        raise UnreadableRow(f"{column} is not valid JSON ({_short(exc)})") from None
    if not isinstance(parsed, dict):
        raise UnreadableRow(f"{column} is not a JSON object but {type(parsed).__name__}")
    return value, parsed


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:80] if str(exc) else type(exc).__name__
