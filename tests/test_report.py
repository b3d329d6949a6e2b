"""``mallsense report``: the figures of a day agree with the stored records.

The database is made by the real pipeline: the demo shop replayed (traffic,
dwell, visit records), then a camera line's footfall and a POS line's
transactions written with the record models, and the store's ``kpi`` records
made from them by the real KpiTracker, across a stop (partial hours superseded
by their final records). The test computes every sum again from the records,
keeping only the latest revisions, and compares with ``report --json``.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import DEMO_CONFIG, DEMO_SPECS, KEY, failed_cleanly, invoke, stored
from click.testing import Result

from edge.aggregate.ids import iso, record_id
from edge.config import parse_config
from edge.kpi import KpiTracker
from edge.records import RECORD_MODELS
from edge.report import build_report
from edge.report.fmt import sparkline
from edge.report.movement import DWELL_EDGES_S
from edge.report.revisions import current
from edge.report.svg import nice_max
from edge.store import Store

T10 = 1_773_482_400.0  # 2026-03-14 10:00 UTC, the hour the demo recordings start
HOUR = 3600.0
DAY = "2026-03-14"
NEXT_DAY = "2026-03-15"
MALL, BOX = "demo-mall", "shop-12"

TRACKER_CONFIG = f"""
mall = "{MALL}"
box = "{BOX}"
[[zones]]
id = "entrance"
[[zones]]
id = "shop"
[[sensors]]
type = "wifi"
name = "shop"
zone = "shop"
[[sensors]]
type = "camera"
name = "door"
zone = "shop"
url = "rtsp://10.0.0.9/stream1"
[[sensors.lines]]
name = "entrance"
start = [0, 100]
end = [640, 100]
[[sensors]]
type = "pos"
name = "till"
zone = "shop"
store = "s-12"
port = "/dev/ttyUSB0"
"""


def valid(record: dict[str, Any]) -> dict[str, Any]:
    """The record as the contract has it (validated by its model)."""
    model = RECORD_MODELS[record["kind"]].model_validate(record)
    return dict(model.model_dump(mode="json", by_alias=True))


def head(kind: str, start: float, key: str, supersedes: str | None = None) -> dict[str, Any]:
    return {
        "id": record_id(start, f"report-test\x1f{kind}\x1f{key}"),
        "kind": kind,
        "schema": f"{kind}/1",
        "mall": MALL,
        "box": BOX,
        "supersedes": supersedes,
    }


def footfall(start: float, n_in: int, n_out: int, **extra: Any) -> dict[str, Any]:
    supersedes = extra.pop("supersedes", None)
    key = f"{start}\x1f{supersedes}"
    body = {"camera": "door", "line": "entrance", "zone": "shop", "in": n_in, "out": n_out}
    times = {"start": iso(start), "end": iso(start + 60), "partial": False}
    return valid(head("footfall", start, key, supersedes) | body | times | extra)


def sale(t: float, total: float | None, items: int | None, refund: bool = False) -> dict[str, Any]:
    body = {
        "store": "s-12", "zone": "shop", "sensor": "till", "start": iso(t), "end": iso(t + 4),
        "total": total, "currency": "EUR", "items": items, "receipt_no": f"R{int(t)}",
        "printed_at": None, "payment": "card", "refund": refund, "raster_only": False,
        "extractor": "default", "confidence": 0.9, "text_sha256": "0" * 64,
    }  # fmt: skip
    return valid(head("transaction", t, str(t)) | body)


def camera_and_till() -> list[dict[str, Any]]:
    """Two hours of a door camera's minutes and a till's receipts, with one revised minute."""
    records = []
    for i in range(120):
        if i == 95:  # a stop cut this minute short; its final record supersedes it
            partial = footfall(T10 + 60 * i, 1, 0, partial=True)
            records += [partial, footfall(T10 + 60 * i, 4, 2, supersedes=partial["id"])]
        else:
            records.append(footfall(T10 + 60 * i, (i * 7) % 5 + 1, (i * 3) % 4))
    totals = [12.5, 40.0, 7.99, None, 23.0, 61.2, 5.5, 18.0, 33.3, 9.9, 14.0, 27.75]
    for n, total in enumerate(totals):
        records.append(sale(T10 + 500 + 590 * n, total, None if total is None else 1 + n % 3))
    records.append(sale(T10 + 4000, -7.99, 1, refund=True))
    return sorted(records, key=lambda r: r["start"])


def kpi_across_a_stop(inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The store's kpi records from the real tracker: the box stops at 11:30, then goes on."""
    config = parse_config(TRACKER_CONFIG)
    stop = T10 + 1.5 * HOUR
    before = [r for r in inputs if r["start"] < iso(stop)]
    after = [r for r in inputs if r["start"] >= iso(stop)]
    open_hour = {
        "zone": "shop", "source": "wifi", "partial": True, "start": T10 + HOUR,
        "devices": 9, "devices_raw": 12, "visitors": 5, "grouping_confidence": 0.9,
    }  # fmt: skip
    tracker = KpiTracker(config)
    out = tracker.observe(before, [open_hour], stop)
    restarted = KpiTracker(config)
    restarted.restore(tracker.snapshot())
    out += restarted.observe(after, [], T10 + 3 * HOUR)
    return [valid(r) for r in out if r["kind"] == "kpi"]  # the traffic comes from the replay


def revised_traffic(db: Path) -> dict[str, Any]:
    """The final record of the shop's Wi-Fi hour that the replay left partial."""
    (partial,) = [
        r
        for r in stored(db, "traffic")
        if (r["zone"], r["source"], r["partial"]) == ("shop", "wifi", True)
    ]
    start = datetime.fromisoformat(partial["start"]).timestamp()
    extra = {"visitors": partial["visitors"] + 5, "devices": partial["devices"] + 5}
    return valid(
        partial
        | extra
        | {"id": record_id(start, "report-test-final"), "supersedes": partial["id"]}
        | {"partial": False, "end": iso(start + HOUR)}
    )


@dataclass(frozen=True)
class Box:
    db: Path
    kpi: list[dict[str, Any]]


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Box:
    db = tmp_path_factory.mktemp("report") / "box.db"
    result = invoke("replay", "--config", DEMO_CONFIG, *DEMO_SPECS, "--db", db, key=KEY)
    assert result.exit_code == 0, result.output
    inputs = camera_and_till()
    kpi = kpi_across_a_stop(inputs)
    later = footfall(T10 + 23 * HOUR, 50, 40)  # the next day: not in this day's report
    with Store(db) as store:
        store.write([*inputs, *kpi, revised_traffic(db), later], now=T10 + 2 * 86400)
    return Box(db, kpi)


def report_json(db: Path, *args: str) -> dict[str, Any]:
    result = invoke("report", "--db", db, "--json", *args)
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 1  # one JSON document
    document = json.loads(result.stdout)
    assert isinstance(document, dict)
    return document


def latest(db: Path, day: str = DAY) -> list[dict[str, Any]]:
    """The day's records, a record superseded by another one left out (computed here)."""
    records = stored(db)
    replaced = {r["supersedes"] for r in records if r["supersedes"]}
    return [r for r in records if r["id"] not in replaced and r["start"].startswith(day)]


def of(records: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r for r in records if r["kind"] == kind]


# -- the figures are the records' ------------------------------------------------------------


def test_the_box_has_revisions_to_leave_out(box: Box) -> None:
    kinds = Counter(r["kind"] for r in stored(box.db) if r["supersedes"])
    assert kinds["footfall"] == 1 and kinds["traffic"] == 1 and kinds["kpi"] == 1
    assert any(r["partial"] for r in box.kpi)


def test_traffic_totals_are_the_sums_of_the_traffic_records(box: Box) -> None:
    report = report_json(box.db, "--date", DAY)
    records = of(latest(box.db), "traffic")
    assert {(t["zone"], t["source"]) for t in report["traffic"]} == {
        (r["zone"], r["source"]) for r in records
    }
    for t in report["traffic"]:
        mine = [r for r in records if (r["zone"], r["source"]) == (t["zone"], t["source"])]
        totals = t["totals"]
        assert totals["visitor_hours"] == sum(r["visitors"] for r in mine)
        assert totals["passerby_hours"] == sum(r["passersby"] for r in mine)
        assert totals["device_hours"] == sum(r["devices"] for r in mine)
        assert totals["device_hours_raw"] == sum(r["devices_raw"] for r in mine)
        assert totals["dwell_sessions"] == sum(r["dwell_sessions"] for r in mine)
        hourly = {h["start"]: h for h in t["hours"]}
        assert len(hourly) == len(mine)
        for r in mine:
            for name in ("visitors", "capture_rate", "dwell_median_s", "dwell_p90_s"):
                assert hourly[r["start"]][name] == r[name]


def test_a_superseded_hour_is_not_counted_twice(box: Box) -> None:
    report = report_json(box.db, "--date", DAY)
    (shop,) = [t for t in report["traffic"] if (t["zone"], t["source"]) == ("shop", "wifi")]
    every = [
        r
        for r in stored(box.db, "traffic")
        if (r["zone"], r["source"]) == ("shop", "wifi") and r["start"].startswith(DAY)
    ]
    assert len(every) == 3 and len(shop["hours"]) == 2
    final = next(r for r in every if r["supersedes"])
    partial = next(r for r in every if r["id"] == final["supersedes"])
    naive = sum(r["visitors"] for r in every)
    assert shop["totals"]["visitor_hours"] == naive - partial["visitors"]
    assert shop["hours"][-1]["visitors"] == final["visitors"] and not shop["hours"][-1]["partial"]
    assert report["revisions"]["superseded"] == 3  # traffic, footfall, kpi
    assert report["revisions"]["duplicates"] == 0


def test_store_figures_are_the_kpi_records(box: Box) -> None:
    report = report_json(box.db, "--date", DAY)
    records = of(latest(box.db), "kpi")
    (store,) = report["stores"]
    assert (store["store"], store["zone"], store["currency"]) == ("s-12", "shop", "EUR")
    totals = store["totals"]
    assert totals["sales"] == round(sum(r["sales"] for r in records), 2)
    assert totals["transactions"] == sum(r["transactions"] for r in records) == 12
    assert totals["refunds"] == 1 and totals["unread_receipts"] == 1
    assert totals["entries"] == sum(r["entries"] for r in records)
    assert totals["conversion"] == round(totals["transactions"] / totals["entries"], 4)
    by_hour = {h["start"]: h for h in store["hours"]}
    for r in records:
        for name in ("conversion", "average_ticket", "sales", "entries", "partial"):
            assert by_hour[r["start"]][name] == r[name]
    naive = sum(r["sales"] for r in stored(box.db, "kpi"))
    assert totals["sales"] != round(naive, 2)  # the partial hour was left out


def test_sales_equal_the_receipts(box: Box) -> None:
    """The kpi records (and so the report) carry every receipt of the day once."""
    (store,) = report_json(box.db, "--date", DAY)["stores"]
    receipts = of(latest(box.db), "transaction")
    assert store["totals"]["sales"] == round(sum(r["total"] or 0 for r in receipts), 2)


def test_footfall_is_the_sum_of_the_footfall_records(box: Box) -> None:
    report = report_json(box.db, "--date", DAY)
    records = of(latest(box.db), "footfall")
    (line,) = report["footfall"]
    assert (line["camera"], line["line"], line["zone"]) == ("door", "entrance", "shop")
    assert line["totals"]["in"] == sum(r["in"] for r in records)
    assert line["totals"]["out"] == sum(r["out"] for r in records)
    assert line["totals"]["intervals"] == len(records) == 120  # the partial minute replaced
    for h in line["hours"]:
        mine = [r for r in records if int(r["start"][11:13]) == h["hour"]]
        assert h["in"] == sum(r["in"] for r in mine) and h["out"] == sum(r["out"] for r in mine)
    entries = {k["start"]: k["entries"] for k in of(latest(box.db), "kpi")}
    assert sum(entries.values()) == line["totals"]["in"]  # the camera is the store's entrance


def test_the_dwell_histogram_counts_the_dwell_records(box: Box) -> None:
    report = report_json(box.db, "--date", DAY)
    records = of(latest(box.db), "dwell")
    assert sum(d["sessions"] for d in report["dwell"]["zones"]) == len(records)
    for d in report["dwell"]["zones"]:
        mine = [r for r in records if (r["zone"], r["source"]) == (d["zone"], d["source"])]
        counts = [0] * len(report["dwell"]["bins"])
        for r in mine:
            counts[bisect_right(DWELL_EDGES_S, r["duration_s"])] += 1
        assert d["counts"] == counts
        assert d["partial"] == sum(1 for r in mine if r["partial"])


def test_the_zone_flow_counts_the_visit_paths(box: Box) -> None:
    report = report_json(box.db, "--date", DAY)
    visits = of(latest(box.db), "visit")
    for flow in report["flow"]:
        moves: Counter[tuple[str, str]] = Counter()
        mine = [v for v in visits if v["source"] == flow["source"]]
        for v in mine:
            zones = [stop["zone"] for stop in v["path"]]
            moves.update((a, b) for a, b in pairwise(zones) if a != b)
        assert flow["visits"] == len(mine)
        assert flow["transitions"] == sum(moves.values())
        for i, a in enumerate(flow["zones"]):
            for j, b in enumerate(flow["zones"]):
                assert flow["matrix"][i][j] == moves[a, b]
    (wifi,) = [f for f in report["flow"] if f["source"] == "wifi"]
    assert wifi["transitions"] > 0


def test_the_next_day_is_its_own_report(box: Box) -> None:
    report = report_json(box.db, "--date", NEXT_DAY)
    (line,) = report["footfall"]
    assert line["totals"]["in"] == 50 and report["traffic"] == []
    assert report_json(box.db, "--date", DAY)["footfall"][0]["totals"]["in"] != 0


# -- zone, empty day, errors -----------------------------------------------------------------


def test_zone_filters_every_section(box: Box) -> None:
    report = report_json(box.db, "--date", DAY, "--zone", "entrance")
    assert report["zone"] == "entrance"
    assert {t["zone"] for t in report["traffic"]} == {"entrance"}
    assert report["stores"] == [] and report["footfall"] == []
    assert {d["zone"] for d in report["dwell"]["zones"]} == {"entrance"}
    visits = of(latest(box.db), "visit")
    through = [v for v in visits if "entrance" in {s["zone"] for s in v["path"]}]
    assert sum(f["visits"] for f in report["flow"]) == len(through)
    shop = report_json(box.db, "--date", DAY, "--zone", "shop")
    assert [s["store"] for s in shop["stores"]] == ["s-12"] and len(shop["footfall"]) == 1


def test_an_unknown_zone_names_the_zones_that_have_records(box: Box) -> None:
    result = invoke("report", "--db", box.db, "--date", DAY, "--zone", "food-court")
    assert result.exit_code == 0, result.output
    assert "no records for zone food-court on 2026-03-14" in result.stdout
    assert "entrance, shop" in result.stdout


def test_an_empty_day_names_the_latest_day_with_records(box: Box) -> None:
    result = invoke("report", "--db", box.db, "--date", "2026-03-20")
    assert result.exit_code == 0, result.output
    assert "no records for 2026-03-20" in result.stdout
    assert f"latest day with records is {NEXT_DAY}" in result.stdout
    document = report_json(box.db, "--date", "2026-03-20")
    assert document["empty"] and document["latest_day"] == NEXT_DAY


def test_without_a_date_an_empty_today_gives_way_to_the_latest_day(box: Box) -> None:
    today = datetime.now(UTC).date().isoformat()
    result = invoke("report", "--db", box.db)
    assert result.exit_code == 0, result.output
    assert f"no records on {today} (today, UTC); showing 2026-03-15" in result.stderr
    assert "· 2026-03-15 (UTC) ·" in result.stdout  # the samples are from March 2026


def test_a_missing_database_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    failed_cleanly(invoke("report", "--db", missing), f"database {missing} does not exist")
    assert not missing.exists()


def test_a_bad_date_is_refused() -> None:
    result = invoke("report", "--db", "x.db", "--date", "14/03/2026")
    assert result.exit_code == 2 and "YYYY-MM-DD" in result.stderr + result.stdout


def test_help_shows_examples() -> None:
    result = invoke("report", "--help")
    assert result.exit_code == 0
    assert "Examples:" in result.stdout and "mallsense report --date" in result.stdout


# -- what people see -------------------------------------------------------------------------


def test_the_terminal_shows_tables_and_sparklines(box: Box) -> None:
    result = invoke("report", "--db", box.db, "--date", DAY, "--hourly")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "visitor-hours" in out and "s-12" in out and "door" in out
    assert any(c in out for c in "▁▂▃▄▅▆▇█")
    (store,) = report_json(box.db, "--date", DAY)["stores"]
    assert f"{store['totals']['sales']:,.2f} EUR" in out
    assert "Zone flow, wifi" in out and "10:00" in out and "11:00" in out


def test_the_html_report_is_self_contained(box: Box, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    result = invoke("report", "--db", box.db, "--date", DAY, "--html", page)
    assert result.exit_code == 0, result.output
    assert f"wrote {page}" in result.stdout
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and html.count("<svg") >= 5
    for remote in ("http://", "https://", "//cdn", "<script", "<link", "<img", "@import", "url("):
        assert remote not in html, remote
    (store,) = report_json(box.db, "--date", DAY)["stores"]
    assert f"{store['totals']['sales']:,.2f} EUR" in html
    for title in ("Footfall in and out by hour", "Conversion by hour", "Zone flow"):
        assert title in html


def test_json_and_html_together_keep_stdout_json(box: Box, tmp_path: Path) -> None:
    page = tmp_path / "r.html"
    result = invoke("report", "--db", box.db, "--date", DAY, "--json", "--html", page)
    assert result.exit_code == 0, result.output
    json.loads(result.stdout)
    assert page.exists() and "wrote" in result.stderr


def test_an_unwritable_html_path_is_a_clear_error(box: Box, tmp_path: Path) -> None:
    page = tmp_path / "no-such-dir" / "r.html"
    failed_cleanly(invoke("report", "--db", box.db, "--date", DAY, "--html", page), "cannot write")


# -- the pieces --------------------------------------------------------------------------------


def test_only_the_latest_revision_counts() -> None:
    def rec(rid: str, supersedes: str | None, partial: bool, end: str) -> dict[str, Any]:
        return {
            "id": rid, "kind": "footfall", "camera": "c", "line": "l", "zone": "z",
            "start": "2026-03-14T10:00:00.000Z", "end": end, "in": 1, "out": 0,
            "partial": partial, "supersedes": supersedes,
        }  # fmt: skip

    chain = [
        rec("a", None, True, "2026-03-14T10:00:20.000Z"),
        rec("b", "a", True, "2026-03-14T10:00:40.000Z"),
        rec("c", "b", False, "2026-03-14T10:01:00.000Z"),
    ]
    kept, revisions = current(chain)
    assert [r["id"] for r in kept] == ["c"] and revisions.superseded == 2
    unlinked = [rec("x", None, False, "2026-03-14T10:01:00.000Z"), rec("y", None, True, "Z")]
    kept, revisions = current(unlinked)
    assert [r["id"] for r in kept] == ["x"] and revisions.duplicates == 1
    report = build_report(chain + unlinked, date(2026, 3, 14))
    assert report.footfall[0].totals["in"] == 1


def test_sparkline_scales_to_the_largest_value() -> None:
    assert sparkline([0, 4, 8]) == "▁▅█"
    assert sparkline([None, 3, 0]) == " █▁"
    assert sparkline([0, 0]) == "▁▁"


def test_dwell_bin_edges_belong_to_the_longer_bin() -> None:
    assert bisect_right(DWELL_EDGES_S, 59.9) == 0
    assert bisect_right(DWELL_EDGES_S, 60.0) == 1
    assert bisect_right(DWELL_EDGES_S, 3600.0) == 5


@pytest.mark.parametrize(
    ("value", "top"), [(0, 1), (3, 4), (55, 60), (98, 100), (0.123, 0.16), (1001, 1200)]
)
def test_axis_tops_are_round(value: float, top: float) -> None:
    assert nice_max(value) == pytest.approx(top)


def test_an_empty_database_says_so(tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    Store(db).close()
    result: Result = invoke("report", "--db", db, "--date", DAY)
    assert result.exit_code == 0
    assert "holds no traffic, kpi, footfall, dwell or visit records" in result.stdout


def test_the_store_reads_a_day_by_start(box: Box) -> None:
    with Store(box.db, readonly=True) as store:
        day = list(store.records("footfall", since=DAY, before=NEXT_DAY))
        assert len(day) == 121 and all(r["start"].startswith(DAY) for r in day)
        assert [r["in"] for r in store.records("footfall", since=NEXT_DAY)] == [50]
        assert store.latest_start("footfall") == iso(T10 + 23 * HOUR)
        assert store.latest_start("occupancy") is None


def test_an_empty_day_still_writes_a_page(box: Box, tmp_path: Path) -> None:
    page = tmp_path / "empty.html"
    result = invoke("report", "--db", box.db, "--date", "2026-03-20", "--html", page)
    assert result.exit_code == 0, result.output
    html = page.read_text(encoding="utf-8")
    assert "No records for this day" in html and NEXT_DAY in html


# -- the mall's time zone ---------------------------------------------------------------------


def test_days_and_hours_in_the_malls_time_zone(box: Box) -> None:
    utc = report_json(box.db, "--date", DAY)
    shanghai = report_json(box.db, "--date", DAY, "--tz", "Asia/Shanghai")  # UTC+8
    assert utc["timezone"] == "UTC" and shanghai["timezone"] == "Asia/Shanghai"
    since, before = "2026-03-13T16:00:00.000Z", "2026-03-14T16:00:00.000Z"
    in_day = [r for r in of(stored(box.db), "traffic") if since <= r["start"] < before]
    replaced = {r["supersedes"] for r in stored(box.db) if r["supersedes"]}
    kept = [r for r in in_day if r["id"] not in replaced]
    (utc_shop,) = [t for t in utc["traffic"] if (t["zone"], t["source"]) == ("shop", "wifi")]
    (local_shop,) = [t for t in shanghai["traffic"] if (t["zone"], t["source"]) == ("shop", "wifi")]
    mine = [r for r in kept if (r["zone"], r["source"]) == ("shop", "wifi")]
    assert local_shop["totals"]["visitor_hours"] == sum(r["visitors"] for r in mine)
    utc_hours = [h["hour"] for h in utc_shop["hours"]]
    local_hours = [h["hour"] for h in local_shop["hours"]]
    shifted = [(h + 8) % 24 for h in utc_hours if (h + 8) < 24]
    assert local_hours == shifted  # same records, read at 8 hours later on the clock


def test_an_unknown_time_zone_is_refused(box: Box) -> None:
    result = invoke("report", "--db", box.db, "--tz", "Mars/Olympus")
    assert result.exit_code == 2
    assert "not an IANA time zone" in result.stderr
