"""The record contract: what leaves the box. These models are the single source
of the JSON Schemas and of the MQTT documentation the central platform reads.

Field names are a contract (``mallsense records --json`` and the MQTT payloads
use them as they are). Every record has a stable ``id``: a UUIDv7 whose time
part is the record's start and whose random part is a hash of its natural key,
so processing the same recording twice gives the same ids and the consumer's
de-duplication makes re-sends harmless.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from edge.aggregate.ids import Record, iso, record_id

__all__ = [
    "RECORD_MODELS",
    "Dwell",
    "Presence",
    "Record",
    "RecordKind",
    "RecordModel",
    "UtcTime",
    "Visit",
    "ZoneStop",
    "iso",
    "record_id",
    "utc",
]

RecordKind = Literal["dwell", "visit", "presence"]


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


UtcTime = Annotated[
    datetime,
    PlainSerializer(_iso, return_type=str, when_used="json"),
    Field(description="UTC, ISO 8601 with milliseconds, e.g. 2026-11-27T10:15:00.000Z"),
]


def utc(t: float) -> datetime:
    """Event time (epoch seconds) as an aware UTC datetime, to the millisecond."""
    return datetime.fromtimestamp(round(t, 3), tz=UTC)


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: str = Field(description="Stable record id (UUIDv7); the consumer de-duplicates on it.")
    kind: str = Field(description="Record kind; also the last part of the MQTT topic.")
    schema_: str = Field(alias="schema", description="Record schema name and version.")
    mall: str = Field(description="Mall id.")
    box: str = Field(description="Box id.")
    supersedes: str | None = Field(
        None,
        description="Id of an earlier partial record this one replaces (a session that"
        " continued across a restart).",
    )


class Dwell(_Record):
    """One device in one zone: from the first frame at or above the zone's threshold to the last."""

    kind: Literal["dwell"] = "dwell"
    schema_: Literal["dwell/1"] = Field("dwell/1", alias="schema")
    zone: str
    device: str = Field(description="Keyed pseudonym of the device for the rotation period.")
    randomized: bool = Field(description="The device used a randomized (locally administered) MAC.")
    source: Literal["wifi"] = Field("wifi", description="Radio that heard the device.")
    start: UtcTime
    end: UtcTime
    duration_s: float = Field(ge=0)
    samples: int = Field(ge=1, description="Frames that counted towards the session.")
    rssi_max: int | None = Field(description="Strongest signal in dBm.")
    rssi_mean: float | None = Field(description="Mean signal in dBm.")
    partial: bool = Field(
        description="The session was still open when the box stopped or the recording ended."
    )


class ZoneStop(BaseModel):
    """One zone on a visit's path."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    zone: str
    start: UtcTime
    end: UtcTime


class Visit(_Record):
    """One device's visit to the box's area: the ordered zones it dwelt in."""

    kind: Literal["visit"] = "visit"
    schema_: Literal["visit/1"] = Field("visit/1", alias="schema")
    device: str
    randomized: bool
    source: Literal["wifi"] = "wifi"
    start: UtcTime
    end: UtcTime
    duration_s: float = Field(ge=0)
    path: list[ZoneStop] = Field(description="Zones in the order they were entered.")
    partial: bool


class Presence(_Record):
    """Per zone and interval: who was around, visitors versus passers-by."""

    kind: Literal["presence"] = "presence"
    schema_: Literal["presence/1"] = Field("presence/1", alias="schema")
    zone: str
    source: Literal["wifi"] = "wifi"
    start: UtcTime
    end: UtcTime
    devices: int = Field(ge=0, description="Distinct devices heard (fixed devices excluded).")
    visitors: int = Field(ge=0, description="Devices inside the zone (at or above its threshold).")
    passersby: int = Field(ge=0, description="Devices heard only below the threshold.")
    randomized_share: float = Field(
        ge=0, le=1, description="Share of the devices that used a randomized MAC."
    )
    fixed: int = Field(ge=0, description="Fixed infrastructure or staff devices heard (excluded).")
    frames: int = Field(ge=0, description="Probe requests heard in the interval.")
    partial: bool = Field(False, description="The interval was cut short by a stop.")


RecordModel = Dwell | Visit | Presence
RECORD_MODELS: dict[str, type[Dwell] | type[Visit] | type[Presence]] = {
    "dwell": Dwell,
    "visit": Visit,
    "presence": Presence,
}
