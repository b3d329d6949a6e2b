"""The MQTT messages around the records: batch envelopes, status, telemetry, commands.

With ``edge.records`` these models are the single source of the JSON Schemas
and of the AsyncAPI document (``docs/asyncapi.yaml``) the platform reads.
Topics, all under ``mallsense/v1/<mall>/<box>/``:

- ``data/<kind>``: a ``Batch`` of that kind's records (QoS 1, not retained);
- ``status``: ``Status`` (retained; also the MQTT 5 Last Will, ``offline``);
- ``telemetry``: ``Telemetry`` every minute;
- ``cmd/<name>`` -> ``cmd/<name>/reply``: a ``CommandRequest`` and its ``CommandReply``.

The platform's own retained ``mallsense/v1/STATE/<platform>`` is a ``PlatformState``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Union, cast

from pydantic import BaseModel, ConfigDict, Field, create_model

from edge.records import RECORD_SPECS, RecordSpec, UtcTime

__all__ = [
    "COMMANDS",
    "CONTRACT_VERSION",
    "ON_WIRE",
    "SEQ_TEXT",
    "STREAM_PATTERN",
    "TOPIC_ROOT",
    "Batch",
    "CommandReply",
    "CommandRequest",
    "PlatformState",
    "ResendArgs",
    "SensorHealth",
    "Status",
    "Telemetry",
]

TOPIC_ROOT = "mallsense/v1"
COMMANDS = ("ping", "status", "resend", "config")
CONTRACT_VERSION = "1.4"
"""The contract's version (docs/records.md, "Versioning"): the major is the ``v1`` of
``TOPIC_ROOT`` and of every ``schema`` (``dwell/1``, ``envelope/1``); the minor counts
additions (1.1: ``stream`` and the last seqs; 1.2: the money ladder and
``receipt_kind`` of ``transaction``; 1.3: people estimates with their 90 % interval
and method on ``presence`` and ``traffic``, dwell method and intervals on
``traffic``). Bump the minor when a field is added, and
name the field in ``added_in`` of its message model, or of its record kind's
``RecordSpec`` (``edge.records.RECORD_SPECS``)."""
STREAM_PATTERN = r"^[0-9a-f]{32}$"
"""A stream id: 32 lowercase hex digits (a random UUIDv4), made with the box's database."""

_STREAM_TEXT = (
    "Id of the box's database the seq belongs to (32 hex digits, random, made with the"
    " database): a new or replaced database is a new stream and numbers from 1 again."
    " (box, stream, seq) names one batch."
)


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    added_in: ClassVar[dict[str, str]] = {}
    """Field -> the contract minor version that added it. The published schemas do not
    require these: a box of an earlier minor version of the same major does not write them."""


class _OnWire(BaseModel):
    added_in: ClassVar[dict[str, str]] = {}
    """As ``_Message.added_in``: from the record kind's ``RecordSpec.added_in``."""

    historical: bool = Field(
        description="The record waited in the outbox (broker or network down) longer than"
        " mqtt.historical_after_s before it was sent."
    )


def _on_wire(kind: str, spec: RecordSpec) -> type[_OnWire]:
    """A record kind as published: its model plus ``historical`` (``DwellOnWire``...)."""
    article = "An" if kind[0] in "aeiou" else "A"
    model = create_model(
        f"{spec.model.__name__}OnWire",
        __base__=(_OnWire, spec.model),
        __doc__=f"{article} {kind} record as published.",
        __module__=__name__,
    )
    on_wire = cast(type[_OnWire], model)
    on_wire.added_in = dict(spec.added_in)
    return on_wire


ON_WIRE: dict[str, type[_OnWire]] = {kind: _on_wire(kind, s) for kind, s in RECORD_SPECS.items()}
"""Record kind -> its model as published, made from ``edge.records.RECORD_SPECS``."""

if TYPE_CHECKING:
    RecordOnWire = _OnWire
else:  # a union made at run time, which a type checker cannot read
    RecordOnWire = Annotated[Union[tuple(ON_WIRE.values())], Field(discriminator="kind")]  # noqa: UP007


SEQ_TEXT = (
    "The batch's number in its stream: one more for every new batch, never reused, kept"
    " across restarts; (box, stream, seq) names the batch. A batch published again (nobody"
    " took it, a reconnect while it was unacknowledged, a `resend` command) keeps its seq;"
    " a seq at or below the highest seen is such a batch. A seq missing between two seen"
    " is a gap: ask for it with `resend`."
)
"""The one meaning of ``seq``, written once and used by the models and the documents."""


class Batch(_Message):
    """One publish on ``data/<kind>``: records of one kind, in outbox order."""

    added_in: ClassVar[dict[str, str]] = {"stream": "1.1"}

    schema_: Literal["envelope/1"] = Field("envelope/1", alias="schema")
    mall: str
    box: str
    kind: str = Field(description="The kind of every record in the batch.")
    stream: str = Field(pattern=STREAM_PATTERN, description=_STREAM_TEXT)
    seq: int = Field(ge=1, description=SEQ_TEXT)
    batch_id: str = Field(
        description="Id of the batch as published: kept when the box publishes it again from"
        " its outbox (nobody took it, a reconnect), new for a `resend`, which builds it"
        " again from the database. De-duplicate batches on (box, stream, seq), records"
        " on `id`."
    )
    sent_at: UtcTime
    records: list[RecordOnWire]


class Status(_Message):
    """Retained availability of a box's uplink (MQTT 5 Last Will when offline)."""

    added_in: ClassVar[dict[str, str]] = {"stream": "1.1"}

    state: Literal["online", "offline"]
    mall: str
    box: str
    version: str = Field(description="mallsense software version.")
    config_hash: str = Field(description="Hash of the running configuration.")
    reconnects: int = Field(ge=0, description="Connections after the first since start.")
    started_at: UtcTime
    reason: str | None = Field(None, description="Why offline: 'stopped' or 'connection lost'.")
    stream: str = Field(pattern=STREAM_PATTERN, description=_STREAM_TEXT)


class SensorHealth(_Message):
    """One sensor, as the edge daemon last reported it."""

    sensor: str
    kind: str
    state: str = Field(
        description="waiting (started, nothing received yet), running, silent, restarting,"
        " unavailable (its library is missing), or replayed."
    )
    rate_per_s: float = Field(ge=0)
    last_frame_at: UtcTime | None
    restarts: int = Field(ge=0)


class Telemetry(_Message):
    """Box health, every minute on ``telemetry``."""

    added_in: ClassVar[dict[str, str]] = {
        "stream": "1.1",
        "last_seq": "1.1",
        "last_acked_seq": "1.1",
    }

    schema_: Literal["telemetry/1"] = Field("telemetry/1", alias="schema")
    mall: str
    box: str
    sent_at: UtcTime
    outbox_depth: int = Field(ge=0, description="Records waiting to be sent.")
    outbox_oldest_age_s: float | None = Field(description="Age of the oldest waiting record.")
    records_sent: int = Field(ge=0, description="Records acknowledged by the broker, ever.")
    drops: dict[str, int] = Field(description="Records dropped, by reason.")
    sensors: list[SensorHealth]
    disk_free_bytes: int = Field(ge=0)
    clock_synced: bool | None = Field(description="NTP synchronized; null if unknown.")
    stream: str = Field(pattern=STREAM_PATTERN, description=_STREAM_TEXT)
    last_seq: int | None = Field(
        ge=1,
        description="The highest seq given to a batch in this stream (published, in flight"
        " or held); null before the first batch.",
    )
    last_acked_seq: int | None = Field(
        ge=1,
        description="The highest seq the broker acknowledged as delivered to a subscriber;"
        " null before the first. A platform whose highest seq for (box, stream) stays below"
        " it lost the batches in between (a consumer session that expired): ask with"
        " `resend`.",
    )


class ResendArgs(_Message):
    """Arguments of ``resend``: batches ``from_seq``..``to_seq`` (inclusive)."""

    added_in: ClassVar[dict[str, str]] = {"stream": "1.1"}

    from_seq: int = Field(ge=1)
    to_seq: int = Field(ge=1)
    stream: str | None = Field(
        None,
        pattern=STREAM_PATTERN,
        description="The stream the seqs are of; refused when it is not the box's current"
        " one (its database was replaced: those batches are gone). Without it, the box's"
        " current stream.",
    )


class CommandRequest(_Message):
    """A command on ``cmd/<name>``; ``args`` are per command (``resend``: ``ResendArgs``)."""

    id: str = Field(min_length=1, max_length=64, description="Correlation id, echoed in the reply.")
    args: dict[str, Any] = Field(default_factory=dict)


class CommandReply(_Message):
    """The answer on ``cmd/<name>/reply``."""

    id: str | None = Field(description="The request's id (null if it could not be read).")
    command: str
    ok: bool
    result: dict[str, Any] | None = None
    error: str | None = Field(None, description="What was wrong, in words, when ok is false.")


class PlatformState(_Message):
    """The platform's retained ``mallsense/v1/STATE/<platform>`` (Sparkplug primary host).

    The platform's own message, for it to evolve: a field the box does not know is
    ignored (not a reason to keep the gate as it was), as the versioning rule asks of
    every reader.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    online: bool
    timestamp: UtcTime | None = None
