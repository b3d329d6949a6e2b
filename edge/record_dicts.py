"""The records in wire form, as TypedDicts: one per record kind of ``edge.records``.

Generated from the pydantic models by ``python -m edge.contract_typeddicts``; do not
edit. A record built by hand (the hot path cannot afford a model per record) is a
dict literal annotated with its kind's TypedDict, so mypy checks its keys and values
against the contract. Times are the wire's strings (``edge.aggregate.ids.iso``).
"""

from __future__ import annotations

from typing import Literal, TypedDict

__all__ = [
    "AttributionDict",
    "DwellDict",
    "FootfallDict",
    "HourFiguresDict",
    "KpiDict",
    "OccupancyDict",
    "PresenceDict",
    "PresenceEstimateDict",
    "StoreFiguresDict",
    "TrafficDict",
    "TrafficEstimateDict",
    "TransactionDict",
    "VisitDict",
    "ZoneStopDict",
]


class ZoneStopDict(TypedDict):
    """One zone on a visit's path."""

    zone: str
    start: str
    end: str


class PresenceEstimateDict(TypedDict):
    """People present in one zone and interval, with the 90 % interval."""

    people_estimate: float | None
    people_low: float | None
    people_high: float | None
    people_method: Literal["rate", "rate+devices"] | None


class TrafficEstimateDict(TypedDict):
    """How one zone's hourly people and dwell figures were made, and how sure they are."""

    people_low: float | None
    people_high: float | None
    people_method: Literal["rate", "camera-ratio"] | None
    people_present: float | None
    people_camera_weight: float | None
    dwell_method: Literal["sessions-sure", "little", "sessions"] | None
    dwell_sure_sessions: int | None
    dwell_median_low_s: float | None
    dwell_median_high_s: float | None
    dwell_p90_low_s: float | None
    dwell_p90_high_s: float | None


class HourFiguresDict(TypedDict):
    """What an hour's counts make of a traffic record (``edge.kpi.figures``)."""

    devices: int
    devices_raw: int
    grouping_confidence: float | None
    visitors: int
    passersby: int
    capture_rate: float | None
    dwell_sessions: int
    dwell_median_s: float | None
    dwell_p90_s: float | None
    repeat_visits: int
    people_counted: int | None
    devices_per_person: float | None
    ratio_source: Literal["zone", "box"] | None
    people_estimate: float | None
    people_method: Literal["rate", "camera-ratio"] | None


class StoreFiguresDict(TypedDict):
    """What a store's receipts make of a kpi record (``edge.kpi.figures``)."""

    transactions: int
    refunds: int
    sales: float
    currency: str | None
    average_ticket: float | None
    items_per_ticket: float | None
    conversion: float | None
    expected_contribution: float | None
    unread_receipts: int


class DwellDict(TypedDict):
    """One device in one zone: from the first frame at or above the zone's threshold to the last."""

    id: str
    kind: Literal["dwell"]
    schema: Literal["dwell/1"]
    mall: str
    box: str
    supersedes: str | None
    zone: str
    device: str
    randomized: bool
    source: Literal["wifi", "ble"]
    start: str
    end: str
    duration_s: float
    samples: int
    rssi_max: int | None
    rssi_mean: float | None
    partial: bool


class VisitDict(TypedDict):
    """One device's visit to the box's area: the ordered zones it dwelt in."""

    id: str
    kind: Literal["visit"]
    schema: Literal["visit/1"]
    mall: str
    box: str
    supersedes: str | None
    device: str
    randomized: bool
    source: Literal["wifi", "ble"]
    start: str
    end: str
    duration_s: float
    path: list[ZoneStopDict]
    partial: bool


class PresenceDict(TypedDict):
    """Per zone, radio and interval: who was around, visitors versus passers-by."""

    people_estimate: float | None
    people_low: float | None
    people_high: float | None
    people_method: Literal["rate", "rate+devices"] | None
    id: str
    kind: Literal["presence"]
    schema: Literal["presence/1"]
    mall: str
    box: str
    supersedes: str | None
    zone: str
    source: Literal["wifi", "ble"]
    start: str
    end: str
    devices: int
    devices_raw: int
    grouping_confidence: float | None
    visitors: int
    passersby: int
    randomized_share: float
    fixed: int
    frames: int
    partial: bool


class TransactionDict(TypedDict):
    """One receipt printed by a shop's POS line: the sale, never the receipt's text."""

    id: str
    kind: Literal["transaction"]
    schema: Literal["transaction/1"]
    mall: str
    box: str
    supersedes: str | None
    store: str
    zone: str
    sensor: str
    start: str
    end: str
    total: float | None
    currency: str | None
    items: int | None
    receipt_no: str | None
    printed_at: str | None
    payment: str | None
    refund: bool
    raster_only: bool
    extractor: str
    confidence: float
    text_sha256: str
    gross: float | None
    discount: float | None
    tendered: float | None
    change: float | None
    payments: list[dict[str, str | float]] | None
    doubts: list[str] | None
    receipt_kind: str | None


FootfallDict = TypedDict(
    "FootfallDict",
    {
        "id": str,
        "kind": Literal["footfall"],
        "schema": Literal["footfall/1"],
        "mall": str,
        "box": str,
        "supersedes": str | None,
        "camera": str,
        "line": str,
        "zone": str,
        "start": str,
        "end": str,
        "in": int,
        "out": int,
        "partial": bool,
    },
)
"""People crossing one camera line in one interval."""


class OccupancyDict(TypedDict):
    """People in one camera area in one interval, and how long those who left stayed."""

    id: str
    kind: Literal["occupancy"]
    schema: Literal["occupancy/1"]
    mall: str
    box: str
    supersedes: str | None
    camera: str
    area: str
    zone: str
    start: str
    end: str
    visits: int
    occupancy_max: int
    occupancy_mean: float
    dwell_s: list[float]
    partial: bool


class TrafficDict(TypedDict):
    """Per zone, radio and hour: the mall metrics of a zone, with the people estimate."""

    people_low: float | None
    people_high: float | None
    people_method: Literal["rate", "camera-ratio"] | None
    people_present: float | None
    people_camera_weight: float | None
    dwell_method: Literal["sessions-sure", "little", "sessions"] | None
    dwell_sure_sessions: int | None
    dwell_median_low_s: float | None
    dwell_median_high_s: float | None
    dwell_p90_low_s: float | None
    dwell_p90_high_s: float | None
    id: str
    kind: Literal["traffic"]
    schema: Literal["traffic/1"]
    mall: str
    box: str
    supersedes: str | None
    zone: str
    source: Literal["wifi", "ble"]
    start: str
    end: str
    devices: int
    devices_raw: int
    grouping_confidence: float | None
    visitors: int
    passersby: int
    capture_rate: float | None
    dwell_sessions: int
    dwell_median_s: float | None
    dwell_p90_s: float | None
    repeat_visits: int
    people_counted: int | None
    devices_per_person: float | None
    ratio_source: Literal["zone", "box"] | None
    people_estimate: float | None
    partial: bool


class KpiDict(TypedDict):
    """Per store (a POS line) and hour: sales, entries and conversion."""

    id: str
    kind: Literal["kpi"]
    schema: Literal["kpi/1"]
    mall: str
    box: str
    supersedes: str | None
    store: str
    zone: str
    start: str
    end: str
    entries: float | None
    entries_source: Literal["camera", "wifi-estimate", "wifi", "ble"] | None
    transactions: int
    refunds: int
    sales: float
    currency: str | None
    average_ticket: float | None
    items_per_ticket: float | None
    conversion: float | None
    expected_contribution: float | None
    unread_receipts: int
    partial: bool


class AttributionDict(TypedDict):
    """Which pseudonymous device was at the counter when a receipt printed."""

    id: str
    kind: Literal["attribution"]
    schema: Literal["attribution/1"]
    mall: str
    box: str
    supersedes: str | None
    transaction: str
    store: str
    zone: str
    start: str
    device: str
    source: Literal["wifi", "ble"]
    confidence: float
    candidates: int
