"""What goes on the wire: topics, batch envelopes and status messages.

A batch envelope is built by splicing the stored record bodies (already the
JSON the platform reads, written by ``edge.store``) instead of parsing and
re-serializing them: on a box with a week of backlog that is most of the
uplink's CPU. Each record gets ``"historical": true|false`` appended, decided
at send time, so a record re-sent after an outage is flagged by how long it
really waited.

An envelope names its batch by ``stream`` (the database's id, ``edge.store.uplink
.stream_id``) and ``seq``; what seq means is written once, in
``edge.messages.SEQ_TEXT``, and the agent keeps to it: a new batch takes the next
seq, a batch published again keeps its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from edge.store import OutboxRow

__all__ = [
    "ENVELOPE_SCHEMA",
    "TOPIC_ROOT",
    "Envelope",
    "build_envelope",
    "command_filter",
    "data_topic",
    "envelope_overhead",
    "is_object_text",
    "iso_utc",
    "plan_batches",
    "platform_topic",
    "record_size",
    "reply_topic",
    "splice_record",
    "status_payload",
    "status_topic",
    "telemetry_topic",
]

ENVELOPE_SCHEMA = "envelope/1"
TOPIC_ROOT = "mallsense/v1"
# What splicing adds to a record at most (the comma before it in the list included).
_RECORD_EXTRA = len(',"historical":false') + 1
# Placeholders as wide as the real values can be, so a planned batch never grows past
# its byte limit once the sequence number, batch id and time are filled in.
_WIDEST_SEQ = 10**19
_WIDEST_BATCH_ID = "0" * 36
_WIDEST_STREAM = "0" * 32
_WIDEST_SENT_AT = "2000-01-01T00:00:00.000Z"


def data_topic(mall: str, box: str, kind: str) -> str:
    return f"{TOPIC_ROOT}/{mall}/{box}/data/{kind}"


def status_topic(mall: str, box: str) -> str:
    return f"{TOPIC_ROOT}/{mall}/{box}/status"


def telemetry_topic(mall: str, box: str) -> str:
    return f"{TOPIC_ROOT}/{mall}/{box}/telemetry"


def command_filter(mall: str, box: str) -> str:
    """This box's commands only: ``cmd/+`` does not match ``cmd/<name>/reply``."""
    return f"{TOPIC_ROOT}/{mall}/{box}/cmd/+"


def reply_topic(mall: str, box: str, command: str) -> str:
    return f"{TOPIC_ROOT}/{mall}/{box}/cmd/{command}/reply"


def platform_topic(platform_id: str) -> str:
    return f"{TOPIC_ROOT}/STATE/{platform_id}"


def iso_utc(t: float) -> str:
    """Epoch seconds as ISO 8601 UTC with milliseconds and a trailing Z (the records' format)."""
    stamp = datetime.fromtimestamp(t, tz=UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Envelope:
    """One published batch: its payload and the outbox rows it carries."""

    kind: str
    seq: int
    batch_id: str
    row_ids: tuple[int, ...]
    """Outbox ids to delete on PUBACK (none for a batch re-sent by ``resend``)."""
    historical: int
    payload: bytes
    records: tuple[int, ...] = ()
    """``records.seq`` of what it carries, remembered for ``resend`` once acknowledged."""
    sent_at: float = 0.0
    resent_from: int | None = None
    """For a batch re-sent by ``resend``: the seq it was first sent under."""


def _prefix(
    *, mall: str, box: str, kind: str, stream: str | None, seq: int, batch_id: str, sent_at: str
) -> str:
    dumps = json.dumps
    # The stream goes next to the seq it qualifies; only a caller without a database
    # (a simulation) leaves it out, as a box before contract 1.1 did.
    named = "" if stream is None else f'"stream":{dumps(stream)},'
    return (
        f'{{"schema":"{ENVELOPE_SCHEMA}","mall":{dumps(mall)},"box":{dumps(box)},'
        f'"kind":{dumps(kind)},{named}"seq":{seq},"batch_id":{dumps(batch_id)},'
        f'"sent_at":{dumps(sent_at)},"records":['
    )


def envelope_overhead(mall: str, box: str, kind: str) -> int:
    """Bytes of an envelope without its records (an upper bound)."""
    head = _prefix(
        mall=mall,
        box=box,
        kind=kind,
        stream=_WIDEST_STREAM,
        seq=_WIDEST_SEQ,
        batch_id=_WIDEST_BATCH_ID,
        sent_at=_WIDEST_SENT_AT,
    )
    return len(head.encode()) + len("]}")


def record_size(body: str) -> int:
    """Bytes a stored record takes in an envelope at most (flag and comma included)."""
    size = len(body) if body.isascii() else len(body.encode())
    return size + _RECORD_EXTRA


def is_object_text(body: str) -> bool:
    """A cheap check that a stored body can be spliced (the store writes compact objects)."""
    if body[:1] == "{" and body[-1:] == "}":
        return True  # the store's own compact form: no need to strip
    text = body.strip()
    return len(text) >= 2 and text[0] == "{" and text[-1] == "}"


_HISTORICAL = {True: ',"historical":true}', False: ',"historical":false}'}


def splice_record(body: str, historical: bool) -> str:
    """The stored record JSON with ``"historical"`` appended, without re-parsing it.

    Runs once per record sent: the store's compact ``{...}`` takes the fast path.
    """
    if body[:1] == "{" and body[-1:] == "}" and len(body) > 2 and body[1] != "}":
        return body[:-1] + _HISTORICAL[historical]
    if not is_object_text(body):
        raise ValueError(f"record body is not a JSON object: {body[:60]!r}")
    text = body.strip()
    flag = "true" if historical else "false"
    if text[1:-1].strip() == "":
        return f'{{"historical":{flag}}}'
    return f'{text[:-1]},"historical":{flag}}}'


def plan_batches(
    rows: Sequence[OutboxRow],
    max_records: int,
    max_bytes: int,
    overhead: Callable[[str], int],
) -> tuple[list[list[OutboxRow]], list[OutboxRow]]:
    """Split rows into batches of one kind each, oldest batch first.

    Within a kind the outbox order is kept. A batch holds at most ``max_records``
    records and its payload at most ``max_bytes`` bytes (``overhead(kind)`` is the
    size of that kind's envelope without records); a single record larger than that travels alone.
    Rows whose body cannot be spliced are returned separately.
    """
    open_batches: dict[str, tuple[list[OutboxRow], int]] = {}
    done: list[list[OutboxRow]] = []
    rejected: list[OutboxRow] = []
    for row in rows:
        body, kind = row.body, row.kind
        if not (body[:1] == "{" and body[-1:] == "}") and not is_object_text(body):
            rejected.append(row)
            continue
        size = (len(body) if body.isascii() else len(body.encode())) + _RECORD_EXTRA
        current = open_batches.get(kind)
        batch: list[OutboxRow]
        if current is None:
            batch, used = [], overhead(kind)
        else:
            batch, used = current
            if len(batch) >= max_records or used + size > max_bytes:
                done.append(batch)
                batch, used = [], overhead(kind)
        batch.append(row)
        open_batches[kind] = (batch, used + size)
    done.extend(batch for batch, _ in open_batches.values())
    done.sort(key=lambda batch: batch[0].id)
    return done, rejected


def build_envelope(
    mall: str,
    box: str,
    rows: Sequence[OutboxRow],
    *,
    seq: int,
    batch_id: str,
    now: float,
    historical_after_s: float,
    resent_from: int | None = None,
    stream: str | None = None,
) -> Envelope:
    """The payload of one batch (all rows of one kind), sent at ``now``.

    A batch re-sent on request (``resent_from``, the seq it is re-sent under) is
    historical as a whole, however recent its records are: the platform had them (or
    should have) already. ``stream`` is the database's stream id; the sync agent always
    gives it.
    """
    kind = rows[0].kind
    parts: list[str] = []
    historical = 0
    for row in rows:
        old = resent_from is not None or now - row.created > historical_after_s
        historical += old
        parts.append(splice_record(row.body, old))
    head = _prefix(
        mall=mall, box=box, kind=kind, stream=stream, seq=seq, batch_id=batch_id,
        sent_at=iso_utc(now),
    )  # fmt: skip
    text = head + ",".join(parts) + "]}"
    return Envelope(
        kind,
        seq,
        batch_id,
        () if resent_from is not None else tuple(r.id for r in rows),
        historical,
        text.encode(),
        records=tuple(r.record for r in rows),
        sent_at=now,
        resent_from=resent_from,
    )


def status_payload(
    state: Literal["online", "offline"],
    *,
    mall: str,
    box: str,
    version: str,
    config_hash: str,
    reconnects: int,
    started_at: float,
    reason: str | None = None,
    stream: str | None = None,
) -> bytes:
    """The retained status message (``online`` at connect, ``offline`` as will or at stop)."""
    body: dict[str, object] = {
        "state": state,
        "version": version,
        "config_hash": config_hash,
        "reconnects": reconnects,
        "started_at": iso_utc(started_at),
        "mall": mall,
        "box": box,
    }
    if reason is not None:
        body["reason"] = reason
    if stream is not None:
        body["stream"] = stream
    return json.dumps(body, separators=(",", ":")).encode()
