"""Reading one MQTT message of ``data/<kind>``: an envelope to store, or a refusal.

The checks are the cheap ones that decide where each record goes and whether it
may go there: size and nesting before parsing (``sync.payload_limits``), the
envelope's fields, and per record its id, kind, box and the UTC day of its
``start`` (the partition it lands in). A record that names another mall or box
than the topic it came on is refused: ACLs bind a box to its own topics, and
its payload must not write another box's rows. The values themselves are typed
by PostgreSQL when they are inserted; a batch whose values do not fit its
table is refused there, alone (``writer``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sync.payload_limits import CONSUMER_MAX_PACKET_BYTES, PayloadRejected, loads_limited

__all__ = ["Envelope", "Refused", "parse_message", "utc_day"]

_DAYS: dict[str, date] = {}


@dataclass(slots=True)
class Envelope:
    """One batch envelope, checked, with what the writer needs to know before SQL."""

    topic: str
    text: str
    """The payload as it arrived: stored whole for a kind without a table
    (``other_records``) and kept in ``rejected`` when a value does not fit."""
    kind: str
    mall: str
    box: str
    stream: str
    seq: int
    batch_id: str
    sent_at: str | None
    records: int
    docs: list[dict[str, Any]] = field(default_factory=list)
    """The records, parsed: the writer copies them into their table as rows."""
    record_days: list[date] = field(default_factory=list)
    """Each record's UTC day (its partition), in the order of ``docs``."""
    links: list[tuple[str, str]] = field(default_factory=list)
    """(superseded id, superseding id) for every record with ``supersedes``."""
    partial_ids: list[str] = field(default_factory=list)

    @property
    def days(self) -> set[date]:
        """UTC days of the records' starts: the partitions it needs."""
        return set(self.record_days)


@dataclass(frozen=True, slots=True)
class Refused:
    """A payload that is not a storable envelope: counted, logged, kept in ``rejected``."""

    topic: str
    reason: str
    counter: str
    payload: bytes


def utc_day(start: object) -> date | None:
    """The UTC day of a record time string, or None if it is not an ISO time with a zone."""
    if not isinstance(start, str) or len(start) < 10:
        return None
    if start.endswith("Z") and start[10:11] == "T":
        day = _DAYS.get(start[:10])
        if day is not None:
            return day
    try:
        moment = datetime.fromisoformat(start)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    day = moment.astimezone(UTC).date()
    if start.endswith("Z") and len(_DAYS) < 100_000:
        _DAYS[start[:10]] = day
    return day


def parse_message(
    topic: str, payload: bytes, *, max_bytes: int = CONSUMER_MAX_PACKET_BYTES
) -> Envelope | Refused:
    """The envelope in ``payload`` (published on ``topic``), or why it cannot be stored."""
    try:
        doc = loads_limited(payload, max_bytes=max_bytes)
    except PayloadRejected as exc:
        return Refused(topic, str(exc), exc.kind, payload)
    parts = topic.split("/")
    if len(parts) != 6 or parts[4] != "data":
        return Refused(topic, "not a data topic (mallsense/v1/<mall>/<box>/data/<kind>)",
                       "not_envelope", payload)  # fmt: skip
    if not isinstance(doc, dict):
        return Refused(topic, "payload is not a JSON object", "not_envelope", payload)
    head = _envelope_head(topic, parts, doc)
    if isinstance(head, str):
        return Refused(topic, head, "not_envelope", payload)
    records = doc["records"]
    envelope = Envelope(topic, payload.decode(), records=len(records), **head)
    problem = _check_records(envelope, records)
    if problem is not None:
        return Refused(topic, problem, "bad_record", payload)
    return envelope


def _envelope_head(topic: str, parts: list[str], doc: dict[str, Any]) -> dict[str, Any] | str:
    """The envelope's fields, or what is wrong with them."""
    mall, box, kind = parts[2], parts[3], parts[5]
    if doc.get("mall") != mall or doc.get("box") != box:
        return f"envelope names mall {doc.get('mall')!r} box {doc.get('box')!r}, not the topic's"
    if doc.get("kind", kind) != kind:
        return f"envelope kind {doc.get('kind')!r} on the topic of kind {kind!r}"
    seq, batch_id = doc.get("seq"), doc.get("batch_id")
    if type(seq) is not int or seq < 1:
        return f"seq {seq!r} is not a positive integer"
    if not isinstance(batch_id, str) or not batch_id:
        return "batch_id is missing"
    if not isinstance(doc.get("records"), list):
        return "the envelope has no records list"
    stream = doc.get("stream", "")
    sent_at = doc.get("sent_at")
    return {
        "kind": kind,
        "mall": mall,
        "box": box,
        "stream": stream if isinstance(stream, str) else str(stream),
        "seq": seq,
        "batch_id": batch_id,
        "sent_at": sent_at if isinstance(sent_at, str) else None,
    }


def _check_records(envelope: Envelope, records: list[Any]) -> str | None:
    """Fill the envelope's days, links and partial ids; or say which record is wrong."""
    kind, mall, box = envelope.kind, envelope.mall, envelope.box
    record_days = envelope.record_days
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            return f"record {i} is not an object"
        rid = record.get("id")
        if not isinstance(rid, str) or not rid:
            return f"record {i} has no string id"
        if record.get("kind") != kind:
            return f"record {rid} is of kind {record.get('kind')!r} in a batch of {kind!r}"
        if record.get("mall") != mall or record.get("box") != box:
            return f"record {rid} names another mall or box than its topic"
        day = utc_day(record.get("start"))
        if day is None:
            return f"record {rid} has no start time with a zone: {record.get('start')!r}"
        record_days.append(day)
        old = record.get("supersedes")
        if isinstance(old, str) and old:
            envelope.links.append((old, rid))
        if record.get("partial") is True:
            envelope.partial_ids.append(rid)
    envelope.docs = records
    return None
