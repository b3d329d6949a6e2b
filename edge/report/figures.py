"""The figures of one day, built from the stored records (pure: records in, a Report out).

Every number is a sum or a copy of record fields, never a new estimate, so the
report agrees with what the platform receives:

- per zone and radio and hour: the ``traffic`` records (visitors, passers-by, capture
  rate, dwell median and p90, devices raw and grouped, people estimate);
- per store and hour: the ``kpi`` records (transactions, sales, ticket, conversion);
- per camera line and hour: the sum of the ``footfall`` records' in and out;
- the dwell histogram of the ``dwell`` records and the zone flow of the ``visit``
  paths that started on the day (``edge.report.movement``).

Only the latest revision of a record counts (``edge.report.revisions``). Days and
hours are the mall's (its configured time zone; UTC by default), the records' hours
being UTC hours.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from edge.records import Record
from edge.report.movement import DWELL_BINS, DWELL_EDGES_S, DwellHistogram, ZoneFlow, dwell, flows
from edge.report.revisions import Revisions, current

__all__ = [
    "KINDS",
    "LineCount",
    "Report",
    "StoreSales",
    "ZoneTraffic",
    "build_report",
    "day_bounds",
]

KINDS = ("traffic", "kpi", "footfall", "dwell", "visit")
"""The record kinds a report reads."""

TRAFFIC_FIELDS = (
    "start", "end", "visitors", "passersby", "capture_rate", "devices", "devices_raw",
    "grouping_confidence", "dwell_sessions", "dwell_median_s", "dwell_p90_s", "repeat_visits",
    "people_counted", "devices_per_person", "ratio_source", "people_estimate", "partial",
    "people_low", "people_high", "people_method", "people_present", "dwell_method",
    "dwell_sure_sessions", "dwell_median_low_s", "dwell_median_high_s", "people_camera_weight",
)  # fmt: skip
KPI_FIELDS = (
    "start", "end", "entries", "entries_source", "transactions", "refunds", "sales", "currency",
    "average_ticket", "items_per_ticket", "conversion", "expected_contribution",
    "unread_receipts", "partial",
)  # fmt: skip

Hours = dict[int, dict[str, Any]]
"""Hour of the day (the mall's time) -> that hour's figures."""


@dataclass(frozen=True, slots=True)
class ZoneTraffic:
    """One zone heard by one radio: its ``traffic`` records of the day."""

    zone: str
    source: str
    hours: Hours
    totals: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StoreSales:
    """One store (a POS line): its ``kpi`` records of the day."""

    store: str
    zone: str
    currency: str | None
    hours: Hours
    totals: dict[str, Any]


@dataclass(frozen=True, slots=True)
class LineCount:
    """One camera line: its ``footfall`` records of the day summed per hour."""

    camera: str
    line: str
    zone: str
    hours: Hours
    totals: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Report:
    """A day's figures, optionally for one zone."""

    day: date
    zone: str | None
    timezone: str
    """IANA name of the time zone of ``day`` and of the hours."""
    mall: str | None
    box: str | None
    traffic: list[ZoneTraffic]
    stores: list[StoreSales]
    footfall: list[LineCount]
    dwell: list[DwellHistogram]
    flows: list[ZoneFlow]
    revisions: Revisions
    zones: list[str] = field(default_factory=list)
    """Zones with records on the day (whatever the zone filter)."""
    latest_day: date | None = None
    """When the report is empty: the latest day that has records, if any."""
    notes: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.traffic or self.stores or self.footfall or self.dwell or self.flows)

    @property
    def hours(self) -> list[int]:
        """The hours (mall time) from the first to the last one with hourly figures."""
        series: list[ZoneTraffic | StoreSales | LineCount] = [
            *self.traffic,
            *self.stores,
            *self.footfall,
        ]
        seen = {h for s in series for h in s.hours}
        return list(range(min(seen), max(seen) + 1)) if seen else []

    def to_json(self) -> dict[str, Any]:
        """The report as one JSON document (``mallsense report --json``)."""
        return {
            "schema": "report/1",
            "date": self.day.isoformat(),
            "timezone": self.timezone,
            "zone": self.zone,
            "mall": self.mall,
            "box": self.box,
            "empty": self.empty,
            "latest_day": self.latest_day.isoformat() if self.latest_day else None,
            "zones": self.zones,
            "hours": self.hours,
            "traffic": [_series_json(t, zone=t.zone, source=t.source) for t in self.traffic],
            "stores": [
                _series_json(s, store=s.store, zone=s.zone, currency=s.currency)
                for s in self.stores
            ],
            "footfall": [
                _series_json(f, camera=f.camera, line=f.line, zone=f.zone) for f in self.footfall
            ],
            "dwell": {
                "bins": list(DWELL_BINS),
                "edges_s": list(DWELL_EDGES_S),
                "zones": [d.to_json() for d in self.dwell],
            },
            "flow": [f.to_json() for f in self.flows],
            "revisions": {
                "superseded": self.revisions.superseded,
                "duplicates": self.revisions.duplicates,
            },
            "notes": self.notes,
        }


def day_bounds(day: date, timezone: str = "UTC") -> tuple[str, str]:
    """The ``start`` range of a day in ``timezone``, as the UTC text the store compares."""
    tz = ZoneInfo(timezone)

    def midnight(d: date) -> str:
        return datetime.combine(d, time(), tz).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")

    return midnight(day), midnight(day + timedelta(days=1))


def local_day(start: str, timezone: str = "UTC") -> date:
    """The day, in ``timezone``, of a record's UTC ``start``."""
    return datetime.fromisoformat(start).astimezone(ZoneInfo(timezone)).date()


def build_report(
    records: Iterable[Record],
    day: date,
    zone: str | None = None,
    latest_day: date | None = None,
    timezone: str = "UTC",
) -> Report:
    """The report of ``day`` (in ``timezone``) from the records that started on it."""
    since, before = day_bounds(day, timezone)
    hour = _hour_in(ZoneInfo(timezone))
    day_records = [r for r in records if since <= r["start"] < before]
    kept, revisions = current(day_records)
    by_kind: dict[str, list[Record]] = {k: [] for k in KINDS}
    for r in kept:
        if r["kind"] in by_kind:
            by_kind[r["kind"]].append(r)
    first = kept[0] if kept else {}
    report = Report(
        day=day,
        zone=zone,
        timezone=timezone,
        mall=first.get("mall"),
        box=first.get("box"),
        traffic=_traffic(_in_zone(by_kind["traffic"], zone), hour),
        stores=_stores(_in_zone(by_kind["kpi"], zone), hour),
        footfall=_footfall(_in_zone(by_kind["footfall"], zone), hour),
        dwell=dwell(_in_zone(by_kind["dwell"], zone)),
        flows=flows(by_kind["visit"], zone),
        revisions=revisions,
        zones=_zones(kept),
    )
    latest = latest_day if report.empty else None
    return replace(report, notes=_notes(report), latest_day=latest)


def _in_zone(records: list[Record], zone: str | None) -> list[Record]:
    return records if zone is None else [r for r in records if r.get("zone") == zone]


def _zones(records: list[Record]) -> list[str]:
    zones = {r["zone"] for r in records if r.get("zone")}
    zones |= {stop["zone"] for r in records if r["kind"] == "visit" for stop in r["path"]}
    return sorted(zones)


HourOf = Callable[[Record], int]


def _hour_in(tz: ZoneInfo) -> HourOf:
    """A record's hour of the day in ``tz`` (UTC: read from the text, the common case)."""
    if tz.key == "UTC":
        return lambda record: int(record["start"][11:13])
    return lambda record: datetime.fromisoformat(record["start"]).astimezone(tz).hour


# -- traffic --------------------------------------------------------------------------------


def _traffic(records: list[Record], _hour: HourOf) -> list[ZoneTraffic]:
    groups: dict[tuple[str, str], Hours] = {}
    for r in records:
        hours = groups.setdefault((r["zone"], r.get("source", "wifi")), {})
        hours[_hour(r)] = {k: r.get(k) for k in TRAFFIC_FIELDS}
    return [
        ZoneTraffic(zone, source, dict(sorted(hours.items())), _traffic_totals(hours))
        for (zone, source), hours in sorted(groups.items())
    ]


def _traffic_totals(hours: Hours) -> dict[str, Any]:
    rows = list(hours.values())
    visitors, devices = _sum(rows, "visitors"), _sum(rows, "devices")
    people = _sum_known(rows, "people_counted")
    peak = max(sorted(hours), key=lambda h: hours[h]["visitors"])
    return {
        "visitor_hours": visitors,
        "passerby_hours": _sum(rows, "passersby"),
        "device_hours": devices,
        "device_hours_raw": _sum(rows, "devices_raw"),
        "capture_rate": round(visitors / devices, 4) if devices else None,
        "dwell_sessions": _sum(rows, "dwell_sessions"),
        "repeat_visits": _sum(rows, "repeat_visits"),
        "people_counted": None if people is None else int(people),
        "people_estimate": _round(_sum_known(rows, "people_estimate"), 1),
        # The hours' errors are alike (one learned scan interval): their ends add up.
        "people_low": _round(_sum_known(rows, "people_low"), 1),
        "people_high": _round(_sum_known(rows, "people_high"), 1),
        "peak_hour": peak,
        "hours": len(rows),
        "partial_hours": sum(1 for r in rows if r["partial"]),
    }


# -- stores ---------------------------------------------------------------------------------


def _stores(records: list[Record], _hour: HourOf) -> list[StoreSales]:
    groups: dict[tuple[str, str], Hours] = {}
    for r in records:
        hours = groups.setdefault((r["store"], r["zone"]), {})
        hours[_hour(r)] = {k: r.get(k) for k in KPI_FIELDS}
    out = []
    for (store, zone), hours in sorted(groups.items()):
        currencies = Counter(h["currency"] for h in hours.values() if h["currency"])
        currency = currencies.most_common(1)[0][0] if currencies else None
        out.append(
            StoreSales(store, zone, currency, dict(sorted(hours.items())), _kpi_totals(hours))
        )
    return out


def _kpi_totals(hours: Hours) -> dict[str, Any]:
    """The day from the hours: sums, and ratios of the sums (not means of the ratios)."""
    rows = list(hours.values())
    transactions = _sum(rows, "transactions")
    counted = [r for r in rows if r["entries"] is not None]
    entries = _sum_known(rows, "entries")
    converted = _sum(counted, "transactions")
    conversion = round(converted / entries, 4) if entries else None
    average = _weighted(rows, "average_ticket", 2)
    contribution = None
    if conversion is not None and average is not None:
        contribution = round(conversion * average, 2)
    return {
        "entries": _round(entries, 1),
        "entries_source": sorted({r["entries_source"] for r in counted if r["entries_source"]}),
        "transactions": transactions,
        "refunds": _sum(rows, "refunds"),
        "unread_receipts": _sum(rows, "unread_receipts"),
        "sales": round(sum(r["sales"] for r in rows), 2),
        "currencies": sorted({r["currency"] for r in rows if r["currency"]}),
        "average_ticket": average,
        "items_per_ticket": _weighted(rows, "items_per_ticket", 2),
        "conversion": conversion,
        "expected_contribution": contribution,
        "hours": len(rows),
        "partial_hours": sum(1 for r in rows if r["partial"]),
    }


def _weighted(rows: list[dict[str, Any]], name: str, digits: int) -> float | None:
    """An hourly mean over the day, weighted by the hours' transactions."""
    known = [(float(r[name]), int(r["transactions"])) for r in rows if r[name] is not None]
    weight = sum(n for _v, n in known)
    if not weight:
        return None
    return round(sum(v * n for v, n in known) / weight, digits)


# -- footfall -------------------------------------------------------------------------------


def _footfall(records: list[Record], _hour: HourOf) -> list[LineCount]:
    groups: dict[tuple[str, str, str], Hours] = {}
    for r in records:
        hours = groups.setdefault((r["camera"], r["line"], r["zone"]), {})
        row = hours.setdefault(_hour(r), {"in": 0, "out": 0, "intervals": 0, "partial": False})
        row["in"] += r["in"]
        row["out"] += r["out"]
        row["intervals"] += 1
        row["partial"] = row["partial"] or bool(r.get("partial"))
    out = []
    for (camera, line, zone), hours in sorted(groups.items()):
        rows = list(hours.values())
        totals = {
            "in": _sum(rows, "in"),
            "out": _sum(rows, "out"),
            "intervals": _sum(rows, "intervals"),
            "peak_hour": max(sorted(hours), key=lambda h: hours[h]["in"]),
        }
        out.append(LineCount(camera, line, zone, dict(sorted(hours.items())), totals))
    return out


# -- helpers --------------------------------------------------------------------------------


def _sum(rows: list[dict[str, Any]], name: str) -> int:
    return sum(int(r[name]) for r in rows)


def _sum_known(rows: list[dict[str, Any]], name: str) -> float | None:
    values = [float(r[name]) for r in rows if r[name] is not None]
    return sum(values) if values else None


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _series_json(series: ZoneTraffic | StoreSales | LineCount, **head: Any) -> dict[str, Any]:
    return head | {
        "totals": series.totals,
        "hours": [{"hour": h} | row for h, row in series.hours.items()],
    }


def _notes(report: Report) -> list[str]:
    notes = [f"Days and hours are {report.timezone} time; the records' hours are UTC hours."]
    if report.traffic:
        notes.append(
            "Visitors, passers-by and devices are distinct per hour: a device heard in three"
            " hours counts once in each, so the day's totals are visitor-hours (device-hours),"
            " not distinct people."
        )
    if {t.source for t in report.traffic} >= {"wifi", "ble"}:
        notes.append(
            "Wi-Fi and BLE are listed apart: one person's phone can be heard by both radios."
        )
    if report.stores:
        notes.append(
            "A store's day conversion is its transactions over its entries (hours with counted"
            " entries); its average ticket is the hourly average tickets weighted by the hours'"
            " transactions."
        )
    hourly: list[ZoneTraffic | StoreSales] = [*report.traffic, *report.stores]
    partial = sum(int(s.totals["partial_hours"]) for s in hourly)
    if partial:
        notes.append(
            f"{partial} hourly record(s) are partial: the hour was cut short by a stop of the"
            " box or the end of a recording."
        )
    if report.revisions.superseded or report.revisions.duplicates:
        notes.append(
            f"{report.revisions.superseded} record(s) replaced by a later revision and"
            f" {report.revisions.duplicates} unlinked duplicate(s) were left out: only the"
            " latest revision of a record counts."
        )
    return notes
