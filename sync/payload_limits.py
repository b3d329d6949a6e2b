"""Limits on JSON that arrives over MQTT, checked before the JSON parser sees it.

Python's ``json`` parser recurses once per nesting level: 16 KB of ``[`` ends the
process that parses it with ``RecursionError``, which is not a ``ValueError``
and so escaped every ``except ValueError`` around ``json.loads``. Everything the
box and the reference consumer read from the broker (commands, the platform's
STATE, data batches, status, telemetry) therefore goes through ``loads_limited``:
size first, then a cheap scan of the bracket depth (C-speed byte operations, no
recursion), and only then the parser, orjson, which takes RFC 8259 JSON and
nothing else. Each refusal is a ``PayloadRejected`` with a one-line reason and a
short ``kind`` for counters.

The MQTT packet sizes the box and the consumer announce on CONNECT (the MQTT 5
Maximum Packet Size, so that the broker drops anything larger instead of making
us read it into memory) are defined here too, next to the payload limits they
must hold.
"""

from __future__ import annotations

import itertools

import orjson

from edge.errors import MallsenseError

__all__ = [
    "AGENT_MAX_PACKET_BYTES",
    "CONSUMER_MAX_PACKET_BYTES",
    "MAX_COMMAND_BYTES",
    "MAX_DEPTH",
    "PayloadRejected",
    "loads_limited",
    "nesting_depth",
]

MAX_COMMAND_BYTES = 16 * 1024
"""A command payload is a few dozen bytes (id and a couple of arguments); more is not one."""

MAX_DEPTH = 32
"""Deepest nesting accepted. The contract's deepest message (a batch of visit records,
each with its path of zone stops) nests 4 levels; telemetry 4. 32 leaves room for
newer record kinds and stays far below the parser's recursion limit (about 1000)."""

AGENT_MAX_PACKET_BYTES = 32 * 1024
"""The Maximum Packet Size the sync agent announces on CONNECT. The agent subscribes
only to its own ``cmd/+`` (payload at most ``MAX_COMMAND_BYTES``, answered with an
error reply above that) and to the platform's retained STATE (``online``/``offline``,
a few bytes). The other 16 KiB are for the PUBLISH header, the topic and properties
(Correlation Data). The broker drops anything larger for this client, so a 200 MB
"command" never reaches the box's memory; the platform simply gets no reply."""

CONSUMER_MAX_PACKET_BYTES = 8 * 1024 * 1024 + 64 * 1024
"""The default Maximum Packet Size of the reference consumer (``mallsense subscribe
--max-packet-bytes``): the largest batch a box can be configured to send
(``mqtt.batch_max_bytes`` is at most 8 MiB, envelope included) plus 64 KiB for the
PUBLISH header, the topic and properties. A box configured with a smaller
``batch_max_bytes`` never comes near it. A larger message is dropped by the broker and
shows up at the consumer as a gap in that box's ``seq``."""

_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_NOT_MARKS = bytes(b for b in range(256) if b not in b'"[]{}')
# +1 for an opening bracket, -1 for a closing one (the only bytes left after the strip).
_STEP = tuple(1 if b in b"[{" else -1 for b in range(256))


class PayloadRejected(MallsenseError):
    """A payload refused before or while parsing; ``kind`` names the counter it goes to."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind


def nesting_depth(data: bytes) -> int:
    """The deepest bracket nesting in ``data`` (JSON strings skipped), without recursion."""
    return _depth(_structural_brackets(data))


def _structural_brackets(data: bytes) -> bytes:
    """The brackets of ``data`` outside JSON strings, in order.

    Fast when no string holds a bracket (nearly always): with escaped quotes and
    backslashes gone and only quotes and brackets kept, each bracket-free string is
    an adjacent ``""``, and one left-to-right ``replace`` takes them all. A quote
    left over means some string held a bracket (its quotes were not adjacent): then
    the exact scan of ``_outside_strings``.
    """
    unescaped = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    marks = unescaped.translate(None, _NOT_MARKS).replace(b'""', b"")
    if b'"' not in marks:
        return marks
    return _outside_strings(data).translate(None, _NOT_BRACKETS)


def _outside_strings(data: bytes) -> bytes:
    """``data`` without its JSON strings: what is left are numbers, brackets and literals.

    UTF-8 multi-byte sequences never contain ASCII bytes, so scanning the bytes is
    exact for UTF-8 text. An unterminated string is kept as if it were not one,
    which can only over-estimate what the parser refuses anyway.
    """
    # Escapes are only valid inside strings, and the parser stops at the first one outside
    # a string, so removing them (left to right, as the parser pairs them) changes nothing
    # the parser would reach. What is left splits at the quotes into outside, inside,
    # outside, ...: C-speed splitting, where a regex costs a Python step per string.
    parts = data.replace(b"\\\\", b"").replace(b'\\"', b"").split(b'"')
    bare = b"".join(parts[0::2])
    if len(parts) % 2 == 0:  # an odd number of quotes: the last string is unterminated
        bare += b'"' + parts[-1]
    return bare


def _depth(brackets: bytes) -> int:
    return max(itertools.accumulate(map(_STEP.__getitem__, brackets), initial=0))


def loads_limited(payload: bytes, *, max_bytes: int, max_depth: int = MAX_DEPTH) -> object:
    """``payload`` parsed as JSON, or ``PayloadRejected`` saying in one line why not.

    Never raises anything else: whatever the bytes, the caller gets a value or a reason.
    """
    if len(payload) > max_bytes:
        raise PayloadRejected(
            "too_large", f"payload of {len(payload)} bytes is too large (at most {max_bytes})"
        )
    depth = nesting_depth(payload)
    if depth > max_depth:
        raise PayloadRejected(
            "too_deep", f"payload is nested {depth} levels deep (at most {max_depth})"
        )
    try:
        # orjson takes RFC 8259 only: no NaN or Infinity, no number that overflows to
        # infinity, no lone surrogate, nothing that is not UTF-8; and it is 3x faster.
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise PayloadRejected("not_json", f"payload is not JSON: {_first_line(exc)}") from None


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
