"""The record contract: what leaves the box. These models are the single source
of the JSON Schemas and of the MQTT documentation the central platform reads.

Field names are a contract (``mallsense records --json`` and the MQTT payloads
use them as they are). Every record has a stable ``id``: a UUIDv7 whose time
part is the record's start and whose random part is a hash of its natural key,
so processing the same recording twice gives the same ids and the consumer's
de-duplication makes re-sends harmless.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from edge.aggregate.ids import Record, iso, record_id
from edge.estimate.fields import PresenceEstimate, TrafficEstimate

__all__ = [
    "RECORD_MODELS",
    "RECORD_SPECS",
    "Attribution",
    "Dwell",
    "Footfall",
    "Kpi",
    "Occupancy",
    "Presence",
    "Radio",
    "Record",
    "RecordKind",
    "RecordModel",
    "RecordSpec",
    "Traffic",
    "Transaction",
    "UtcTime",
    "Visit",
    "ZoneStop",
    "iso",
    "record_id",
    "utc",
]

RecordKind = Literal[
    "dwell",
    "visit",
    "presence",
    "transaction",
    "footfall",
    "occupancy",
    "traffic",
    "kpi",
    "attribution",
]
Radio = Literal["wifi", "ble"]


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

    @classmethod
    def build(cls, natural_key: str, **fields: Any) -> Record:
        """The record as the wire carries it, checked against its model on the way; its
        ``id`` from its start and natural key (the same inputs give the same id)."""
        start: datetime = fields["start"]
        model = cls(id=record_id(start.timestamp(), natural_key), **fields)
        record: Record = model.model_dump(mode="json", by_alias=True)
        return record


class Dwell(_Record):
    """One device in one zone: from the first frame at or above the zone's threshold to the last."""

    kind: Literal["dwell"] = "dwell"
    schema_: Literal["dwell/1"] = Field("dwell/1", alias="schema")
    zone: str
    device: str = Field(
        description="Keyed pseudonym of the device for the rotation period (BLE: of its first"
        " address in the visit, rotating addresses grouped)."
    )
    randomized: bool = Field(
        description="The device used a randomized address: a locally administered MAC (Wi-Fi),"
        " a resolvable or non-resolvable private address (BLE)."
    )
    source: Radio = Field("wifi", description="Radio that heard the device.")
    start: UtcTime
    end: UtcTime
    duration_s: float = Field(ge=0)
    samples: int = Field(
        ge=1,
        description="Frames (probe requests, advertisements) that counted towards the session.",
    )
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
    source: Radio = Field("wifi", description="Radio that heard the device.")
    start: UtcTime
    end: UtcTime
    duration_s: float = Field(ge=0)
    path: list[ZoneStop] = Field(description="Zones in the order they were entered.")
    partial: bool


class Presence(_Record, PresenceEstimate):
    """Per zone, radio and interval: who was around, visitors versus passers-by.

    A zone heard by Wi-Fi and BLE sensors has one record per radio and interval.
    """

    kind: Literal["presence"] = "presence"
    schema_: Literal["presence/1"] = Field("presence/1", alias="schema")
    zone: str
    source: Radio = Field("wifi", description="Radio that heard the devices.")
    start: UtcTime
    end: UtcTime
    devices: int = Field(
        ge=0,
        description="Distinct devices heard, after grouping a phone's random MACs (Wi-Fi) or"
        " rotating addresses (BLE) into one device; fixed devices excluded; BLE: only the"
        " configured device classes, fixed beacons and staff tags left out.",
    )
    devices_raw: int = Field(
        ge=0,
        description="Distinct pseudonyms heard, before grouping: what counting MAC addresses"
        " gives (overcounts phones that randomize their MAC).",
    )
    grouping_confidence: float | None = Field(
        ge=0,
        le=1,
        description="Mean confidence of the device groups (1.0: every device kept one"
        " address); null when grouping is off or not scored (BLE).",
    )
    visitors: int = Field(ge=0, description="Devices inside the zone (at or above its threshold).")
    passersby: int = Field(ge=0, description="Devices heard only below the threshold.")
    randomized_share: float = Field(
        ge=0,
        le=1,
        description="Share of the devices that used a randomized MAC (Wi-Fi) or a private"
        " address (BLE).",
    )
    fixed: int = Field(ge=0, description="Fixed infrastructure or staff devices heard (excluded).")
    frames: int = Field(
        ge=0,
        description="Frames heard in the interval: probe requests (Wi-Fi); advertisements of"
        " the configured device classes, fixed beacons and staff tags left out (BLE).",
    )
    partial: bool = Field(False, description="The interval was cut short by a stop.")


class Transaction(_Record):
    """One receipt printed by a shop's POS line: the sale, never the receipt's text."""

    kind: Literal["transaction"] = "transaction"
    schema_: Literal["transaction/1"] = Field("transaction/1", alias="schema")
    store: str = Field(description="Store id of the POS line.")
    zone: str = Field(description="Zone the store's POS line belongs to.")
    sensor: str = Field(description="The POS sensor that read the receipt.")
    start: UtcTime = Field(description="When the receipt's first byte was printed.")
    end: UtcTime = Field(description="When its last byte was printed.")
    total: float | None = Field(description="Amount paid; negative for a refund; null if unread.")
    currency: str | None = Field(description="ISO 4217 code.")
    items: int | None = Field(description="Number of items (units) sold, if printed or countable.")
    receipt_no: str | None = Field(description="The receipt number as printed.")
    printed_at: str | None = Field(
        description="Date and time printed on the receipt (shop's local time, no zone)."
    )
    payment: str | None = Field(description="cash, card, wechat, alipay, unionpay, mixed, other...")
    refund: bool
    raster_only: bool = Field(description="The receipt was printed as an image: no text to read.")
    extractor: str = Field(description="'default' or the store template used.")
    confidence: float = Field(ge=0, le=1, description="How complete and consistent the fields are.")
    text_sha256: str = Field(description="SHA-256 of the (masked) receipt text.")
    gross: float | None = Field(
        None,
        description="Before discounts and service charge (合计, 小计, SUBTOTAL); null if not"
        " printed.",
    )
    discount: float | None = Field(
        None,
        description="Everything taken off (优惠, 会员折扣, 满减, 券, 抹零...), as a positive"
        " amount; null if not printed.",
    )
    tendered: float | None = Field(
        None,
        description="What the customer handed over (实收 when change is given, 现金, CASH);"
        " null if not printed.",
    )
    change: float | None = Field(
        None, description="Change given (找零, CHANGE); null if not printed."
    )
    payments: list[dict[str, str | float]] | None = Field(
        None,
        description="Each payment printed, {method, amount} (微信 50.00 and 现金 37.00 for a split"
        " payment; a stored-value card is 'stored_value'); null if none printed.",
    )
    doubts: list[str] | None = Field(
        None,
        description="Why `total` may be wrong: figures that disagree (gross_vs_total,"
        " change_vs_total, payments_vs_total, items_vs_gross), two candidates for the total,"
        " an amount line nothing explains. Null or empty: none.",
    )
    receipt_kind: str | None = Field(
        None,
        description="sale, refund, or not a sale: reprint (the same receipt printed again),"
        " void (a cancelled order), prebill (a bill before payment), kitchen (a kitchen"
        " ticket). Only sale and refund count in the figures; null (earlier boxes): sale.",
    )


class Footfall(_Record):
    """People crossing one camera line in one interval."""

    kind: Literal["footfall"] = "footfall"
    schema_: Literal["footfall/1"] = Field("footfall/1", alias="schema")
    camera: str
    line: str
    zone: str
    start: UtcTime
    end: UtcTime
    in_: int = Field(alias="in", ge=0, description="Crossings towards the line's in side.")
    out: int = Field(ge=0, description="Crossings towards the other side.")
    partial: bool = Field(False, description="The interval was cut short by a stop.")


class Occupancy(_Record):
    """People in one camera area in one interval, and how long those who left stayed."""

    kind: Literal["occupancy"] = "occupancy"
    schema_: Literal["occupancy/1"] = Field("occupancy/1", alias="schema")
    camera: str
    area: str
    zone: str
    start: UtcTime
    end: UtcTime
    visits: int = Field(ge=0, description="People who entered the area in the interval.")
    occupancy_max: int = Field(ge=0)
    occupancy_mean: float = Field(ge=0)
    dwell_s: list[float] = Field(
        description="Time in the area of each person who left it in the interval."
    )
    partial: bool = Field(False, description="The interval was cut short by a stop.")


class Traffic(_Record, TrafficEstimate):
    """Per zone, radio and hour: the mall metrics of a zone, with the people estimate.

    Devices are counted once per hour however many presence intervals heard them. Where
    the zone has a camera line, its entries calibrate a learned ratio of devices to
    people per zone and hour of the day; the estimate uses the ratio learned before
    this hour, so the platform sees the estimate, the count and the drift of the ratio.
    """

    kind: Literal["traffic"] = "traffic"
    schema_: Literal["traffic/1"] = Field("traffic/1", alias="schema")
    zone: str
    source: Radio = Field("wifi", description="Radio that heard the devices.")
    start: UtcTime = Field(description="Start of the hour.")
    end: UtcTime = Field(description="End of the hour (or of the data, when partial).")
    devices: int = Field(ge=0, description="Distinct devices heard in the hour, after grouping.")
    devices_raw: int = Field(ge=0, description="Distinct pseudonyms heard, before grouping.")
    grouping_confidence: float | None = Field(
        ge=0, le=1, description="Mean confidence of the hour's device groups; null if not scored."
    )
    visitors: int = Field(ge=0, description="Devices inside the zone at some time in the hour.")
    passersby: int = Field(ge=0, description="Devices heard in the hour but never inside.")
    capture_rate: float | None = Field(
        ge=0,
        le=1,
        description="Visitors / all devices passing (visitors + passers-by): the share of the"
        " traffic passing the zone that came in; null when nobody was heard.",
    )
    dwell_sessions: int = Field(
        ge=0, description="Visitor dwell sessions in the zone that ended in the hour."
    )
    dwell_median_s: float | None = Field(
        ge=0, description="Median time people stayed in the zone, made as dwell_method says."
    )
    dwell_p90_s: float | None = Field(ge=0, description="Its 90th percentile, likewise.")
    repeat_visits: int = Field(
        ge=0,
        description="Visits that ended in the hour by a device that had already made a visit"
        " within the current pseudonymization key period (a return the same day).",
    )
    people_counted: int | None = Field(
        ge=0, description="Camera line entries into the zone in the hour; null without a camera."
    )
    devices_per_person: float | None = Field(
        gt=0,
        description="Learned ratio of visitors (devices) to people for this zone and hour of"
        " the day (before this hour's update); null until a camera has calibrated it.",
    )
    ratio_source: Literal["zone", "box"] | None = Field(
        description="'zone': learned from this zone's camera; 'box': the mean of the box's"
        " calibrated zones for this hour (no camera here); null: not calibrated."
    )
    people_estimate: float | None = Field(
        ge=0,
        description="Distinct people in the zone in the hour, made as people_method says"
        " (docs/figures.md); null when no method could make it.",
    )
    partial: bool = Field(False, description="The hour was cut short by a stop.")


class Kpi(_Record):
    """Per store (a POS line) and hour: sales, entries and conversion."""

    kind: Literal["kpi"] = "kpi"
    schema_: Literal["kpi/1"] = Field("kpi/1", alias="schema")
    store: str = Field(description="Store id of the POS line.")
    zone: str = Field(description="The store's zone.")
    start: UtcTime = Field(description="Start of the hour.")
    end: UtcTime = Field(description="End of the hour (or of the data, when partial).")
    entries: float | None = Field(
        ge=0,
        description="People who entered the store in the hour: camera line entries, else the"
        " calibrated Wi-Fi people estimate, else Wi-Fi visitors; null without an entrance.",
    )
    entries_source: Literal["camera", "wifi-estimate", "wifi", "ble"] | None = Field(
        description="Where the entries come from."
    )
    transactions: int = Field(ge=0, description="Sales receipts (refunds not included).")
    refunds: int = Field(ge=0, description="Refund receipts.")
    sales: float = Field(description="Net sales: sum of the totals, refunds negative.")
    currency: str | None = Field(description="ISO 4217 code of the totals (the most common).")
    average_ticket: float | None = Field(description="Mean total of the sales receipts.")
    items_per_ticket: float | None = Field(
        ge=0, description="Mean items of the sales receipts that printed a count."
    )
    conversion: float | None = Field(
        ge=0, description="Transactions / entries; null when no entries were counted."
    )
    expected_contribution: float | None = Field(
        description="Conversion x average ticket: what one entering visitor is worth."
    )
    unread_receipts: int = Field(
        ge=0, description="Receipts whose total could not be read (not in sales or tickets)."
    )
    partial: bool = Field(False, description="The hour was cut short by a stop.")


class Attribution(_Record):
    """Which pseudonymous device was at the counter when a receipt printed.

    Only with ``privacy.attribution`` on (off by default): the platform joins it with
    visits for members who consented. One per receipt that had a device at the counter.
    """

    kind: Literal["attribution"] = "attribution"
    schema_: Literal["attribution/1"] = Field("attribution/1", alias="schema")
    transaction: str = Field(description="Id of the transaction record.")
    store: str
    zone: str = Field(description="The counter zone.")
    start: UtcTime = Field(description="When the receipt printed (the transaction's end).")
    device: str = Field(description="Pseudonym of the most likely device (as in dwell/visit).")
    source: Radio = Field(description="Radio that heard it.")
    confidence: float = Field(
        ge=0,
        le=1,
        description="Its share of the received signal power among the devices at the counter"
        " (1.0: the only one).",
    )
    candidates: int = Field(ge=1, description="Devices at the counter at that time.")


RecordModel = (
    Dwell | Visit | Presence | Transaction | Footfall | Occupancy | Traffic | Kpi | Attribution
)


@dataclass(frozen=True)
class RecordSpec:
    """One record kind, once: its model (from which the wire model and the JSON Schema
    are made, ``edge.contract``), what names one record across its revisions, and what
    ``mallsense records`` shows of it."""

    model: type[RecordModel]
    natural_key: tuple[str, ...]
    """Fields naming the same record across revisions (a partial one, then the final one,
    ``edge.report.revisions``); empty: only ``supersedes`` links its revisions."""
    columns: tuple[str, ...]
    """The columns of its table in ``mallsense records`` (``--json`` gives every field)."""
    added_in: dict[str, str] = field(default_factory=dict)
    """Field -> the contract minor version that added it: the published schemas do not
    require these (boxes of an earlier minor version do not write them)."""


RECORD_SPECS: dict[str, RecordSpec] = {
    "dwell": RecordSpec(
        Dwell,
        ("zone", "source", "device", "start"),
        ("start", "end", "zone", "device", "randomized", "duration_s", "samples", "rssi_max",
         "partial"),
    ),
    "visit": RecordSpec(
        Visit,
        ("source", "device", "start"),
        ("start", "end", "device", "randomized", "duration_s", "path", "partial"),
    ),
    "presence": RecordSpec(
        Presence,
        (),
        ("start", "end", "zone", "source", "devices", "visitors", "passersby",
         "randomized_share", "fixed"),
        added_in=dict.fromkeys(("people_estimate", "people_low", "people_high", "people_method"),
                               "1.3"),
    ),
    "transaction": RecordSpec(
        Transaction,
        (),
        ("start", "store", "total", "currency", "items", "payment", "refund"),
        added_in=dict.fromkeys(("gross", "discount", "tendered", "change", "payments", "doubts",
                                "receipt_kind"), "1.2"),
    ),
    "footfall": RecordSpec(
        Footfall,
        ("camera", "line", "start"),
        ("start", "end", "camera", "line", "zone", "in", "out", "partial"),
    ),
    "occupancy": RecordSpec(
        Occupancy,
        (),
        ("start", "end", "camera", "area", "zone", "visits", "occupancy_max", "partial"),
    ),
    "traffic": RecordSpec(
        Traffic,
        ("zone", "source", "start"),
        ("start", "zone", "source", "devices_raw", "devices", "visitors", "capture_rate",
         "dwell_median_s", "people_estimate", "partial"),
        added_in=dict.fromkeys(("people_low", "people_high", "people_method", "people_present",
                                "dwell_method", "dwell_sure_sessions", "dwell_median_low_s",
                                "dwell_median_high_s", "dwell_p90_low_s", "dwell_p90_high_s"),
                               "1.3") | {"people_camera_weight": "1.4"},
    ),
    "kpi": RecordSpec(
        Kpi,
        ("store", "start"),
        ("start", "store", "entries", "transactions", "sales", "average_ticket", "conversion",
         "partial"),
    ),
    "attribution": RecordSpec(
        Attribution,
        (),
        ("start", "store", "zone", "device", "confidence", "candidates"),
    ),
}  # fmt: skip
"""Every record kind. A new kind is a model above and a line here; its wire model
(``edge.messages``), schemas, TypedDict (``edge.record_dicts``) and table follow."""
RECORD_MODELS: dict[str, type[RecordModel]] = {k: s.model for k, s in RECORD_SPECS.items()}
