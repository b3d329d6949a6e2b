"""The report in the terminal: rich tables, and a sparkline per hourly series."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from edge.report.figures import LineCount, Report, StoreSales, ZoneTraffic
from edge.report.fmt import (
    doubt,
    duration,
    estimate,
    hour_label,
    money,
    number,
    percent,
    sparkline,
)  # fmt: skip
from edge.report.movement import DWELL_BINS, ZoneFlow

__all__ = ["empty_message", "render"]

_SPARK_STYLE = "cyan"


def render(report: Report, console: Console, hourly: bool = False) -> None:
    """Print the report: a title, one table per section, the notes."""
    console.print(_title(report))
    if report.empty:
        console.print(empty_message(report))
        return
    span = report.hours
    if span:
        console.print(
            f"[dim]sparklines: one block per hour, {hour_label(span[0])} to"
            f" {hour_label(span[-1])} {report.timezone}, scaled to the row's largest value[/]"
        )
    sections = (
        (_traffic_table(report.traffic, span), "no traffic records (Wi-Fi or BLE zones)"),
        (_stores_table(report.stores, span), "no kpi records (a store needs a POS line)"),
        (_footfall_table(report.footfall, span), "no footfall records (camera lines)"),
        (_dwell_table(report), "no dwell records"),
    )
    for table, missing in sections:
        console.print(table if table is not None else f"[dim]{missing} on this day[/]")
    for flow in report.flows:
        console.print(
            f"[italic]Zone flow, {flow.source}[/]: {flow.visits:,} visits, {flow.transitions:,}"
            " moves from a zone (row) to the next (column)"
        )
        console.print(_flow_table(flow))
    if hourly:
        _print_hourly(report, console)
    for note in report.notes:
        console.print(f"[dim]• {escape(note)}[/]", soft_wrap=False)


def empty_message(report: Report) -> str:
    """What to say when the day (or the zone) has no records, and where to look instead."""
    day = report.day.isoformat()
    if report.zone is not None and report.zones:
        zones = ", ".join(report.zones)
        return (
            f"no records for zone {report.zone} on {day} ({report.timezone}); zones with"
            f" records: {zones}"
        )
    text = f"no records for {day} ({report.timezone}) in this database"
    if report.latest_day is not None:
        latest = report.latest_day.isoformat()
        text += f"; the latest day with records is {latest}: mallsense report --date {latest}"
    else:
        text += "; it holds no traffic, kpi, footfall, dwell or visit records at all"
    return text


def _title(report: Report) -> str:
    where = " / ".join(escape(x) for x in (report.mall, report.box) if x) or "this box"
    zone = f"zone {escape(report.zone)}" if report.zone else "all zones"
    day = f"{report.day.isoformat()} ({report.timezone})"
    return f"[bold]mallsense report[/] · {where} · {day} · {zone}"


def _series(hours: dict[int, dict[str, Any]], name: str, span: list[int]) -> str:
    values = [hours[h][name] if h in hours else None for h in span]
    return f"[{_SPARK_STYLE}]{sparkline(values)}[/]"


def _traffic_table(rows: list[ZoneTraffic], span: list[int]) -> Table | None:
    if not rows:
        return None
    table = Table(title="Zones (traffic records, per hour)", title_justify="left")
    for name in ("zone", "radio", "visitor-hours", "by hour", "passer-by-hours", "capture"):
        table.add_column(name, justify="left" if name in {"zone", "radio", "by hour"} else "right")
    for name in ("dwell median by hour", "device-hours raw → grouped", "people est.", "counted"):
        table.add_column(name, justify="right")
    for t in rows:
        s = t.totals
        medians = [v["dwell_median_s"] for v in t.hours.values() if v["dwell_median_s"]]
        low, high = (duration(min(medians)), duration(max(medians))) if medians else ("—", "—")
        table.add_row(
            escape(t.zone),
            t.source,
            number(s["visitor_hours"]),
            _series(t.hours, "visitors", span),
            number(s["passerby_hours"]),
            percent(s["capture_rate"]),
            low if low == high else f"{low} – {high}",
            f"{number(s['device_hours_raw'])} → {number(s['device_hours'])}",
            estimate(s["people_estimate"], s.get("people_low"), s.get("people_high")),
            number(s["people_counted"]),
        )
    return table


def _stores_table(rows: list[StoreSales], span: list[int]) -> Table | None:
    if not rows:
        return None
    table = Table(title="Stores (kpi records, per hour)", title_justify="left")
    for name in ("store", "zone", "transactions", "by hour", "sales", "avg ticket", "entries"):
        table.add_column(name, justify="left" if name in {"store", "zone", "by hour"} else "right")
    for name in ("conversion", "by hour", "expected per entry"):
        table.add_column(name, justify="left" if name == "by hour" else "right")
    for s in rows:
        t = s.totals
        sources = ", ".join(t["entries_source"])
        table.add_row(
            escape(s.store),
            escape(s.zone),
            number(t["transactions"]) + _refunds(t["refunds"]),
            _series(s.hours, "transactions", span),
            money(t["sales"], s.currency),
            money(t["average_ticket"]),
            number(t["entries"], 1) + (f" ({sources})" if sources else ""),
            percent(t["conversion"]),
            _series(s.hours, "conversion", span),
            money(t["expected_contribution"]),
        )
    return table


def _refunds(n: int) -> str:
    return "" if not n else f" (+{n} refund{'s' if n > 1 else ''})"


def _footfall_table(rows: list[LineCount], span: list[int]) -> Table | None:
    if not rows:
        return None
    table = Table(title="Footfall (camera lines, footfall records)", title_justify="left")
    for name in ("camera", "line", "zone", "in", "in by hour", "out", "out by hour"):
        table.add_column(name, justify="right" if name in {"in", "out"} else "left")
    for f in rows:
        table.add_row(
            escape(f.camera),
            escape(f.line),
            escape(f.zone),
            number(f.totals["in"]),
            _series(f.hours, "in", span),
            number(f.totals["out"]),
            _series(f.hours, "out", span),
        )
    return table


def _dwell_table(report: Report) -> Table | None:
    if not report.dwell:
        return None
    table = Table(title="Dwell (dwell records that started on the day)", title_justify="left")
    table.add_column("zone")
    table.add_column("radio")
    table.add_column("sessions", justify="right")
    for name in DWELL_BINS:
        table.add_column(name, justify="right")
    for name in ("shape", "median", "p90"):
        table.add_column(name, justify="left" if name == "shape" else "right")
    for d in report.dwell:
        sessions = number(d.sessions) + (f" ({d.partial} partial)" if d.partial else "")
        table.add_row(
            escape(d.zone),
            d.source,
            sessions,
            *(number(c) for c in d.counts),
            f"[{_SPARK_STYLE}]{sparkline([float(c) for c in d.counts])}[/]",
            duration(d.median_s),
            duration(d.p90_s),
        )
    return table


def _flow_table(flow: ZoneFlow) -> Table:
    table = Table()
    table.add_column("from \\ to")
    for z in flow.zones:
        table.add_column(escape(z), justify="right")
    table.add_column("visits began here", justify="right")
    table.add_column("ended here", justify="right")
    for z, row in zip(flow.zones, flow.matrix, strict=True):
        table.add_row(
            escape(z),
            *(number(n) if n else "·" for n in row),
            number(flow.arrivals.get(z, 0)),
            number(flow.departures.get(z, 0)),
        )
    return table


def _print_hourly(report: Report, console: Console) -> None:
    for t in report.traffic:
        table = Table(title=f"{t.zone} ({t.source}) by hour", title_justify="left")
        names = ("hour", "visitors", "passers-by", "capture", "dwell median", "dwell p90")
        for name in (*names, "devices raw", "grouped", "people (90 %)", "counted", "doubt", ""):
            table.add_column(name, justify="left" if name == "hour" else "right")
        for h, r in t.hours.items():
            table.add_row(
                hour_label(h),
                number(r["visitors"]),
                number(r["passersby"]),
                percent(r["capture_rate"]),
                duration(r["dwell_median_s"]),
                duration(r["dwell_p90_s"]),
                number(r["devices_raw"]),
                number(r["devices"]),
                estimate(r["people_estimate"], r.get("people_low"), r.get("people_high")),
                number(r["people_counted"]),
                doubt(r),
                "partial" if r["partial"] else "",
            )
        console.print(table)
    for s in report.stores:
        table = Table(title=f"store {s.store} by hour", title_justify="left")
        names = ("hour", "entries", "transactions", "refunds", "sales", "avg ticket")
        for name in (*names, "conversion", "expected per entry", ""):
            table.add_column(name, justify="left" if name == "hour" else "right")
        for h, r in s.hours.items():
            table.add_row(
                hour_label(h),
                number(r["entries"], 1),
                number(r["transactions"]),
                number(r["refunds"]),
                money(r["sales"]),
                money(r["average_ticket"]),
                percent(r["conversion"]),
                money(r["expected_contribution"]),
                "partial" if r["partial"] else "",
            )
        console.print(table)
    for f in report.footfall:
        table = Table(title=f"line {f.camera}/{f.line} by hour", title_justify="left")
        for name in ("hour", "in", "out", "intervals"):
            table.add_column(name, justify="left" if name == "hour" else "right")
        for h, r in f.hours.items():
            table.add_row(hour_label(h), number(r["in"]), number(r["out"]), number(r["intervals"]))
        console.print(table)
