"""The report as one self-contained HTML page a store manager can open.

Inline CSS and inline SVG charts (``edge.report.svg``): no script, no font, no
stylesheet or image fetched from anywhere, so the page works offline and shows
nothing but the figures of the records.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape
from typing import Any

from edge.report.figures import Report, StoreSales, ZoneTraffic
from edge.report.fmt import doubt, duration, estimate, hour_label, money, number, percent
from edge.report.movement import DWELL_BINS
from edge.report.svg import PALETTE, Bars, bar_chart, heatmap

__all__ = ["render_html"]

_CSS = """
body { font-family: system-ui, sans-serif; color: #1a202c; margin: 0 auto; max-width: 960px;
       padding: 24px; line-height: 1.4; }
h1 { font-size: 1.6em; margin-bottom: 0; }
h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #e2e8f0; }
h3 { font-size: 1em; margin-bottom: 0.3em; }
.sub, .empty, figcaption { color: #4a5568; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin-top: 16px; }
.card { border: 1px solid #e2e8f0; border-radius: 8px; padding: 10px 14px; min-width: 150px; }
.card b { display: block; font-size: 1.5em; }
.card span { color: #4a5568; font-size: 0.85em; }
table { border-collapse: collapse; margin: 8px 0; font-size: 0.9em; }
th, td { padding: 3px 10px; border-bottom: 1px solid #edf2f7; text-align: right; }
th:first-child, td:first-child { text-align: left; }
figure { margin: 8px 0; overflow-x: auto; }
svg { max-width: 100%; height: auto; }
.partial { color: #b7791f; }
@media print { section { break-inside: avoid; } }
"""


def render_html(report: Report, source: str = "") -> str:
    """The whole page; ``source`` names where the records came from (the database)."""
    zone = f"zone {report.zone}" if report.zone else "all zones"
    where = " / ".join(x for x in (report.mall, report.box) if x) or "mallsense"
    head = (
        f"<h1>{escape(where)} — {report.day.isoformat()}</h1>"
        f'<p class="sub">{escape(zone)} · hours in {escape(report.timezone)} time · drawn by'
        f" mallsense from the records of {escape(source or 'the box database')}</p>"
    )
    if report.empty:
        body = f'<p class="empty">No records for this day{_zone_hint(report)}.</p>'
    else:
        body = "".join(
            (
                _cards(report),
                _footfall(report),
                _visitors(report),
                _conversion(report),
                _dwell(report),
                _flow(report),
                _notes(report),
            )
        )
    title = f"mallsense report {report.day.isoformat()} {where}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head>"
        f"<body>{head}{body}</body></html>\n"
    )


def _zone_hint(report: Report) -> str:
    if report.zone is not None and report.zones:
        zones = escape(", ".join(report.zones))
        return f" in zone {escape(report.zone)} (zones with records: {zones})"
    if report.latest_day is not None:
        return f"; the latest day with records is {report.latest_day.isoformat()}"
    return ""


def _hours(report: Report) -> list[str]:
    return [hour_label(h) for h in report.hours]


def _values(hours: dict[int, dict[str, Any]], name: str, span: list[int]) -> list[float | None]:
    return [hours[h][name] if h in hours and hours[h][name] is not None else None for h in span]


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figure(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{escape(caption)}</figcaption></figure>"


def _section(title: str, content: str) -> str:
    return f"<section><h2>{escape(title)}</h2>{content}</section>"


def _partial(row: dict[str, Any]) -> str:
    return '<span class="partial">partial</span>' if row.get("partial") else ""


# -- sections -------------------------------------------------------------------------------


def _cards(report: Report) -> str:
    cards: list[tuple[str, str]] = []
    for f in report.footfall:
        cards.append((number(f.totals["in"]), f"people in · {f.camera}/{f.line}"))
    for t in report.traffic:
        cards.append((number(t.totals["visitor_hours"]), f"visitor-hours · {t.zone} ({t.source})"))
    for s in report.stores:
        cards.append((money(s.totals["sales"], s.currency), f"sales · {s.store}"))
        cards.append((number(s.totals["transactions"]), f"transactions · {s.store}"))
        cards.append((percent(s.totals["conversion"]), f"conversion · {s.store}"))
    html = "".join(
        f"<div class='card'><b>{escape(v)}</b><span>{escape(k)}</span></div>" for v, k in cards
    )
    return f'<div class="cards">{html}</div>'


def _footfall(report: Report) -> str:
    if not report.footfall:
        return _section(
            "Footfall in and out by hour",
            '<p class="empty">No camera line counted people on this day.</p>',
        )
    span, parts = report.hours, []
    for f in report.footfall:
        series = [
            Bars("in", _values(f.hours, "in", span), PALETTE[0]),
            Bars("out", _values(f.hours, "out", span), PALETTE[1]),
        ]
        title = f"{f.camera} / {f.line} ({f.zone}): people crossing per hour"
        caption = f"In: {f.totals['in']:,}, out: {f.totals['out']:,} (sum of the footfall records)."
        parts.append(f"<h3>{escape(title)}</h3>")
        parts.append(_figure(bar_chart(_hours(report), series, title=title), caption))
        rows = [[hour_label(h), number(r["in"]), number(r["out"])] for h, r in f.hours.items()]
        parts.append(_table(("hour", "in", "out"), rows))
    return _section("Footfall in and out by hour", "".join(parts))


def _visitors(report: Report) -> str:
    if not report.traffic:
        return ""
    span = report.hours
    series = [
        Bars(f"{t.zone} ({t.source})", _values(t.hours, "visitors", span), PALETTE[i % 8])
        for i, t in enumerate(report.traffic)
    ]
    chart = bar_chart(_hours(report), series, title="Visitors per hour by zone")
    caption = "Devices inside each zone at some time in the hour (traffic records)."
    rows = [_traffic_row(t) for t in report.traffic]
    header = ["zone", "radio", "visitor-hours", "passer-by-hours", "capture rate"]
    header += ["dwell sessions", "devices raw → grouped", "people estimate", "people counted"]
    detail = "".join(_traffic_hours(t) for t in report.traffic)
    return _section("Visitors by zone", _figure(chart, caption) + _table(header, rows) + detail)


def _traffic_row(t: ZoneTraffic) -> list[str]:
    s = t.totals
    return [
        escape(t.zone),
        t.source,
        number(s["visitor_hours"]),
        number(s["passerby_hours"]),
        percent(s["capture_rate"]),
        number(s["dwell_sessions"]),
        f"{number(s['device_hours_raw'])} → {number(s['device_hours'])}",
        number(s["people_estimate"], 1),
        number(s["people_counted"]),
    ]


def _traffic_hours(t: ZoneTraffic) -> str:
    rows = [
        [
            hour_label(h), number(r["visitors"]), number(r["passersby"]),
            percent(r["capture_rate"]), duration(r["dwell_median_s"]),
            duration(r["dwell_p90_s"]),
            estimate(r["people_estimate"], r.get("people_low"), r.get("people_high")),
            doubt(r), _partial(r),
        ]
        for h, r in t.hours.items()
    ]  # fmt: skip
    header = ("hour", "visitors", "passers-by", "capture", "dwell median", "dwell p90")
    return f"<h3>{escape(t.zone)} ({t.source}) by hour</h3>" + _table(
        (*header, "people (90 % interval)", "doubt", ""), rows
    )


def _conversion(report: Report) -> str:
    if not report.stores:
        return _section(
            "Conversion by hour", '<p class="empty">No store (POS line) recorded on this day.</p>'
        )
    parts = [_store(report, s, i) for i, s in enumerate(report.stores)]
    return _section("Conversion by hour", "".join(parts))


def _store(report: Report, s: StoreSales, i: int) -> str:
    span = report.hours
    pct: Callable[[float], str] = percent
    series = [Bars("conversion", _values(s.hours, "conversion", span), PALETTE[(i + 2) % 8])]
    title = f"Store {s.store} ({s.zone}): transactions / entries per hour"
    t = s.totals
    caption = (
        f"Day: {t['transactions']:,} transactions for {number(t['entries'], 1)} entries"
        f" ({', '.join(t['entries_source']) or 'no entrance'}): {percent(t['conversion'])};"
        f" sales {money(t['sales'], s.currency)}, average ticket {money(t['average_ticket'])},"
        f" expected per entry {money(t['expected_contribution'])} (kpi records)."
    )
    rows = [
        [
            hour_label(h), number(r["entries"], 1), number(r["transactions"]),
            number(r["refunds"]), money(r["sales"]), money(r["average_ticket"]),
            percent(r["conversion"]), money(r["expected_contribution"]), _partial(r),
        ]
        for h, r in s.hours.items()
    ]  # fmt: skip
    header = ("hour", "entries", "transactions", "refunds", "sales", "average ticket")
    return (
        f"<h3>{escape(title)}</h3>"
        + _figure(bar_chart(_hours(report), series, title=title, fmt=pct), caption)
        + _table((*header, "conversion", "expected per entry", ""), rows)
    )


def _dwell(report: Report) -> str:
    if not report.dwell:
        return ""
    series = [
        Bars(f"{d.zone} ({d.source})", [float(c) for c in d.counts], PALETTE[i % 8])
        for i, d in enumerate(report.dwell)
    ]
    title = "Dwell sessions by length"
    chart = bar_chart(list(DWELL_BINS), series, title=title)
    caption = "Dwell records that started on the day, per zone and radio."
    rows = [
        [
            escape(d.zone), d.source, _sessions(d.sessions, d.partial),
            *(number(c) for c in d.counts), duration(d.median_s), duration(d.p90_s),
        ]
        for d in report.dwell
    ]  # fmt: skip
    header = ("zone", "radio", "sessions", *DWELL_BINS, "median", "p90")
    return _section("How long visitors stayed", _figure(chart, caption) + _table(header, rows))


def _sessions(sessions: int, partial: int) -> str:
    return number(sessions) + (f" ({partial} partial)" if partial else "")


def _flow(report: Report) -> str:
    if not report.flows:
        return ""
    parts = []
    for flow in report.flows:
        title = f"Zone flow, {flow.source}: visits moving from a zone (row) to the next (column)"
        svg = heatmap(flow.zones, flow.zones, flow.matrix, title=title)
        caption = (
            f"{flow.visits:,} visits, {flow.transitions:,} moves between zones (visit records)."
        )
        rows = [
            [escape(z), number(flow.arrivals.get(z, 0)), number(flow.departures.get(z, 0))]
            for z in sorted(set(flow.arrivals) | set(flow.departures))
        ]
        parts.append(f"<h3>{escape(flow.source)}</h3>" + _figure(svg, caption))
        parts.append(_table(("zone", "visits began here", "visits ended here"), rows))
    return _section("Zone flow", "".join(parts))


def _notes(report: Report) -> str:
    items = "".join(f"<li>{escape(n)}</li>" for n in report.notes)
    return _section("How these figures are counted", f"<ul>{items}</ul>")
