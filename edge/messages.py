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

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from edge.records import (
    Attribution,
    Dwell,
    Footfall,
    Kpi,
    Occupancy,
    Presence,
    Traffic,
    Transaction,
    UtcTime,
    Visit,
)

__all__ = [
    "COMMANDS",
    "TOPIC_ROOT",
    "AttributionOnWire",
    "Batch",
    "CommandReply",
    "CommandRequest",
    "DwellOnWire",
    "FootfallOnWire",
    "KpiOnWire",
    "OccupancyOnWire",
    "PlatformState",
    "PresenceOnWire",
    "ResendArgs",
    "SensorHealth",
    "Status",
    "Telemetry",
    "TrafficOnWire",
    "TransactionOnWire",
    "VisitOnWire",
]

TOPIC_ROOT = "mallsense/v1"
COMMANDS = ("ping", "status", "resend", "config")


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class _OnWire(BaseModel):
    historical: bool = Field(
        description="The record waited in the outbox (broker or network down) longer than"
        " mqtt.historical_after_s before it was sent."
    )


class DwellOnWire(_OnWire, Dwell):
    """A dwell record as published."""


class VisitOnWire(_OnWire, Visit):
    """A visit record as published."""


class PresenceOnWire(_OnWire, Presence):
    """A presence record as published."""


class TransactionOnWire(_OnWire, Transaction):
    """A transaction record as published."""


class FootfallOnWire(_OnWire, Footfall):
    """A footfall record as published."""


class OccupancyOnWire(_OnWire, Occupancy):
    """An occupancy record as published."""


class TrafficOnWire(_OnWire, Traffic):
    """A traffic record as published."""


class KpiOnWire(_OnWire, Kpi):
    """A kpi record as published."""


class AttributionOnWire(_OnWire, Attribution):
    """An attribution record as published."""


RecordOnWire = Annotated[
    DwellOnWire
    | VisitOnWire
    | PresenceOnWire
    | TransactionOnWire
    | FootfallOnWire
    | OccupancyOnWire
    | TrafficOnWire
    | KpiOnWire
    | AttributionOnWire,
    Field(discriminator="kind"),
]


class Batch(_Message):
    """One publish on ``data/<kind>``: records of one kind, in outbox order."""

    schema_: Literal["envelope/1"] = Field("envelope/1", alias="schema")
    mall: str
    box: str
    kind: str = Field(description="The kind of every record in the batch.")
    seq: int = Field(
        ge=1,
        description="Grows by one per batch and survives restarts: a jump is a gap (a batch"
        " the box sent but the platform did not get). A batch re-sent after a reconnect"
        " carries a new seq; its records keep their ids.",
    )
    batch_id: str = Field(description="Unique id of this publish.")
    sent_at: UtcTime
    records: list[RecordOnWire]


class Status(_Message):
    """Retained availability of a box's uplink (MQTT 5 Last Will when offline)."""

    state: Literal["online", "offline"]
    mall: str
    box: str
    version: str = Field(description="mallsense software version.")
    config_hash: str = Field(description="Hash of the running configuration.")
    reconnects: int = Field(ge=0, description="Connections after the first since start.")
    started_at: UtcTime
    reason: str | None = Field(None, description="Why offline: 'stopped' or 'connection lost'.")


class SensorHealth(_Message):
    """One sensor, as the edge daemon last reported it."""

    sensor: str
    kind: str
    state: str = Field(description="running, silent, restarting, or replayed.")
    rate_per_s: float = Field(ge=0)
    last_frame_at: UtcTime | None
    restarts: int = Field(ge=0)


class Telemetry(_Message):
    """Box health, every minute on ``telemetry``."""

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


class ResendArgs(_Message):
    """Arguments of ``resend``: batches ``from_seq``..``to_seq`` (inclusive)."""

    from_seq: int = Field(ge=1)
    to_seq: int = Field(ge=1)


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
    """The platform's retained ``mallsense/v1/STATE/<platform>`` (Sparkplug primary host)."""

    online: bool
    timestamp: UtcTime | None = None
