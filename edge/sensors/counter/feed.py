"""One reading of a counter's feed: HTTP GET, JSON, two running totals. Pure but for the GET."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from typing import Any

__all__ = ["FeedError", "Totals", "fetch", "totals_from"]

MAX_REPLY_BYTES = 64 * 1024
"""A count feed is a few hundred bytes; more is not a count feed."""


class FeedError(ValueError):
    """The reply is not a count feed's (not JSON, a total missing or not a whole number)."""


@dataclass(frozen=True)
class Totals:
    """The counter's running totals at one reading."""

    entered: int
    exited: int


def fetch(url: str, timeout_s: float) -> bytes:
    """The feed's reply body; ``OSError`` when the counter cannot be reached."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout_s) as reply:
        body: bytes = reply.read(MAX_REPLY_BYTES + 1)
    if len(body) > MAX_REPLY_BYTES:
        raise FeedError(f"the reply is over {MAX_REPLY_BYTES // 1024} KiB")
    return body


def totals_from(body: bytes, in_key: str, out_key: str) -> Totals:
    """The totals in a reply, or ``FeedError`` saying what is wrong with it."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise FeedError(f"the reply is not JSON ({exc})") from None
    return Totals(_count(document, in_key), _count(document, out_key))


def _count(document: Any, key: str) -> int:
    value = document
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            raise FeedError(f"the reply has no {key!r}")
        value = value[part]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FeedError(f"{key!r} is {value!r}, not a count (a whole number, 0 or more)")
    return value
