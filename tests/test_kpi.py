"""Mall figures at the edge: hourly traffic per zone, kpi per store, calibration, grouping."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from drivers.observations import Probe
from edge.aggregate import Aggregator
from edge.aggregate.ids import iso, record_id
from edge.config import Config, parse_config
from edge.errors import ConfigError
from edge.kpi import Calibration, KpiTracker
from edge.kpi.figures import percentile
from edge.records import RECORD_MODELS
from edge.runtime.pipeline import SLOW_CHECKPOINT_NAME, Pipeline
from edge.store import Store

T0 = 1_773_482_400.0  # 2026-03-14 10:00 UTC
HOUR = 3600.0


def config(
    camera: bool = True,
    pos: bool = True,
    grouping: bool = True,
    db: Path | None = None,
    attribution: bool = False,
    timezone: str = "UTC",
) -> Config:
    camera_sensor = """
[[sensors]]
type = "camera"
name = "door"
zone = "shop"
url = "rtsp://10.0.0.9/stream1"
[[sensors.lines]]
name = "entrance"
start = [0, 100]
end = [640, 100]
"""
    pos_sensor = """
[[sensors]]
type = "pos"
name = "till"
zone = "shop"
store = "s-07"
counter_zone = "hall"
port = "/dev/ttyUSB0"
"""
    return parse_config(
        f"""
mall = "m1"
box = "b1"
timezone = "{timezone}"
[[zones]]
id = "shop"
visitor_rssi_dbm = -70
[[zones]]
id = "hall"
visitor_rssi_dbm = -70
[[sensors]]
type = "wifi"
name = "w-shop"
zone = "shop"
[[sensors]]
type = "wifi"
name = "w-hall"
zone = "hall"
{camera_sensor if camera else ""}{pos_sensor if pos else ""}
[aggregation]
grouping = {"true" if grouping else "false"}
[privacy]
attribution = {"true" if attribution else "false"}
[store]
path = "{db or Path("unused.db")}"
"""
    )


def zone_hour(start: float, zone: str, visitors: int, devices: int) -> dict[str, Any]:
    return {
        "zone": zone, "source": "wifi", "partial": False, "start": start, "devices": devices,
        "devices_raw": devices * 3, "visitors": visitors, "grouping_confidence": 0.8,
    }  # fmt: skip


def footfall(start: float, count: int, supersedes: str | None = None) -> dict[str, Any]:
    rid = record_id(start, f"ff{start}{count}")
    return {
        "id": rid, "kind": "footfall", "zone": "shop", "in": count, "out": count,
        "start": iso(start), "end": iso(start + 60), "supersedes": supersedes,
    }  # fmt: skip


def sale(
    t: float, total: float | None, items: int | None = 1, refund: bool = False
) -> dict[str, Any]:
    return {
        "kind": "transaction", "store": "s-07", "total": total, "items": items,
        "refund": refund, "currency": "CNY", "start": iso(t), "end": iso(t + 2),
    }  # fmt: skip


def dwell(end: float, zone: str, duration: float, partial: bool = False) -> dict[str, Any]:
    return {
        "kind": "dwell", "zone": zone, "source": "wifi", "duration_s": duration,
        "end": iso(end), "partial": partial,
    }  # fmt: skip


def by(records: list[dict[str, Any]], kind: str, **match: Any) -> list[dict[str, Any]]:
    return [r for r in records if r["kind"] == kind and all(r[k] == v for k, v in match.items())]


def close_hour(tracker: KpiTracker, start: float, **extra: Any) -> list[dict[str, Any]]:
    """Feed one hour's counts and records, then move the clock past its grace period."""
    hours = [zone_hour(start, "shop", **extra.get("shop", {"visitors": 40, "devices": 100}))]
    hours.append(zone_hour(start, "hall", **extra.get("hall", {"visitors": 60, "devices": 90})))
    records = extra.get("records", [])
    return tracker.observe(records, hours, start + 2 * HOUR)


# -- traffic ------------------------------------------------------------------------------------


def test_traffic_figures_of_an_hour() -> None:
    tracker = KpiTracker(config())
    records = [dwell(T0 + 600 + 60 * i, "shop", d) for i, d in enumerate([60, 120, 300, 900])]
    records += [dwell(T0 + 700, "shop", 999, partial=True)]  # superseded later: not counted
    out = close_hour(tracker, T0, records=[*records, footfall(T0, 20)])
    (shop,) = by(out, "traffic", zone="shop")
    assert shop["devices"] == 100 and shop["devices_raw"] == 300 and shop["visitors"] == 40
    assert shop["passersby"] == 60 and shop["capture_rate"] == 0.4
    assert shop["dwell_sessions"] == 4
    assert shop["dwell_median_s"] == percentile([60, 120, 300, 900], 50) == 210.0
    assert shop["dwell_p90_s"] == 720.0
    assert shop["people_counted"] == 20
    assert shop["start"] == iso(T0) and shop["end"] == iso(T0 + HOUR) and not shop["partial"]
    (hall,) = by(out, "traffic", zone="hall")
    assert hall["people_counted"] is None  # no camera in the hall
    for record in out:
        RECORD_MODELS[record["kind"]].model_validate(record)


def test_an_hour_waits_for_its_late_records() -> None:
    tracker = KpiTracker(config())
    hours = [zone_hour(T0, "shop", 1, 1)]
    assert tracker.observe([], hours, T0 + HOUR + 60) == []  # a dwell may still end in it
    out = tracker.observe([dwell(T0 + HOUR - 5, "shop", 30)], [], T0 + HOUR + 600)
    (shop,) = by(out, "traffic", zone="shop")
    assert shop["dwell_sessions"] == 1


def test_repeat_visits_within_the_key_period() -> None:
    tracker = KpiTracker(config())

    def visit(end: float, device: str) -> dict[str, Any]:
        path = [{"zone": "shop", "start": iso(end - 60), "end": iso(end)}]
        return {
            "kind": "visit", "device": device, "source": "wifi", "path": path,
            "end": iso(end), "partial": False,
        }  # fmt: skip

    visits = [visit(T0 + 100, "a"), visit(T0 + 900, "b"), visit(T0 + 2000, "a")]
    (shop,) = by(close_hour(tracker, T0, records=visits), "traffic", zone="shop")
    assert shop["repeat_visits"] == 1
    next_day = T0 + 24 * HOUR  # a new key period: pseudonyms changed, nothing to match
    (later,) = by(
        close_hour(tracker, next_day, records=[visit(next_day + 10, "a")]), "traffic", zone="shop"
    )
    assert later["repeat_visits"] == 0


# -- calibration --------------------------------------------------------------------------------


def test_the_ratio_is_learned_from_the_camera_and_borrowed_elsewhere() -> None:
    tracker = KpiTracker(config())
    day1 = close_hour(tracker, T0, records=[footfall(T0, 20)])
    (shop1,) = by(day1, "traffic", zone="shop")
    assert shop1["devices_per_person"] is None
    # The camera's own zone: its count, not the ratio learned from it (contract 1.4)
    assert shop1["people_estimate"] == 20.0 and shop1["people_camera_weight"] == 1.0
    day2 = close_hour(tracker, T0 + 24 * HOUR, records=[footfall(T0 + 24 * HOUR, 25)])
    (shop2,) = by(day2, "traffic", zone="shop")
    assert shop2["devices_per_person"] == 2.0  # 40 visitors for 20 people, learned yesterday
    assert shop2["ratio_source"] == "zone" and shop2["people_estimate"] == 25.0
    assert shop2["people_counted"] == 25 and shop2["people_method"] is None
    (hall2,) = by(day2, "traffic", zone="hall")
    assert hall2["ratio_source"] == "box" and hall2["people_estimate"] == 30.0
    other_hour = close_hour(tracker, T0 + 24 * HOUR + 5 * HOUR)
    assert by(other_hour, "traffic", zone="shop")[0]["devices_per_person"] is None


def test_ratios_are_learned_per_hour_of_the_malls_day() -> None:
    tracker = KpiTracker(config(timezone="Asia/Shanghai"))
    close_hour(tracker, T0, records=[footfall(T0, 20)])  # 10:00 UTC is 18:00 in Shanghai
    assert set(tracker.calibration.table) == {"shop|wifi|18"}


def test_an_unknown_time_zone_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="IANA time zone"):
        config(timezone="Mars/Olympus")


def test_the_ratio_settles_then_follows_drift() -> None:
    cal = Calibration()
    for _ in range(5):
        cal.learn("shop", "wifi", 10, 30, 10)
    assert (r := cal.ratio("shop", "wifi", 10)) is not None and r.value == 3.0
    cal.learn("shop", "wifi", 10, 20, 10)
    assert (r := cal.ratio("shop", "wifi", 10)) is not None and r.value == 2.8
    cal.learn("shop", "wifi", 10, 100, 2)  # too few people to say anything
    assert (r := cal.ratio("shop", "wifi", 10)) is not None and r.value == 2.8


# -- kpi ----------------------------------------------------------------------------------------


def door(start: float, entries: int, exits: int) -> dict[str, Any]:
    return footfall(start, entries) | {"out": exits}


def test_a_door_camera_counts_who_was_inside_at_the_start_plus_its_entries() -> None:
    tracker = KpiTracker(config())
    hour1 = close_hour(tracker, T0, records=[door(T0, 30, 10)])
    assert by(hour1, "traffic", zone="shop")[0]["people_estimate"] == 30.0
    hour2 = close_hour(tracker, T0 + HOUR, records=[door(T0 + HOUR, 5, 40)])
    (shop2,) = by(hour2, "traffic", zone="shop")
    assert shop2["people_estimate"] == 25.0  # 20 still inside at 11:00, 5 came in
    assert shop2["people_counted"] == 5 and shop2["people_camera_weight"] == 1.0
    hour3 = close_hour(tracker, T0 + 2 * HOUR, records=[door(T0 + 2 * HOUR, 3, 0)])
    assert by(hour3, "traffic", zone="shop")[0]["people_estimate"] == 3.0  # never below 0
    tomorrow = T0 + 24 * HOUR
    close_hour(tracker, T0 + 3 * HOUR, records=[door(T0 + 3 * HOUR, 50, 0)])
    next_day = close_hour(tracker, tomorrow, records=[door(tomorrow, 4, 0)])
    assert by(next_day, "traffic", zone="shop")[0]["people_estimate"] == 4.0  # a new day
    assert by(next_day, "traffic", zone="hall")[0]["people_camera_weight"] is None


def test_the_count_inside_survives_a_restart() -> None:
    tracker = KpiTracker(config())
    close_hour(tracker, T0, records=[door(T0, 30, 10)])
    restarted = KpiTracker(config())
    restarted.restore(tracker.snapshot())
    hour2 = close_hour(restarted, T0 + HOUR, records=[door(T0 + HOUR, 5, 0)])
    assert by(hour2, "traffic", zone="shop")[0]["people_estimate"] == 25.0


def test_store_kpi_with_camera_entries() -> None:
    tracker = KpiTracker(config())
    records = [footfall(T0 + 60 * i, 10) for i in range(4)]  # 40 entries
    records += [sale(T0 + 100, 120.0, 3), sale(T0 + 200, 80.0, 1), sale(T0 + 300, 100.0, None)]
    records += [sale(T0 + 400, -50.0, 1, refund=True), sale(T0 + 500, None, None)]
    (kpi,) = by(close_hour(tracker, T0, records=records), "kpi")
    assert kpi["store"] == "s-07" and kpi["zone"] == "shop"
    assert kpi["entries"] == 40.0 and kpi["entries_source"] == "camera"
    assert kpi["transactions"] == 4 and kpi["refunds"] == 1 and kpi["unread_receipts"] == 1
    assert kpi["sales"] == 250.0 and kpi["currency"] == "CNY"
    assert kpi["average_ticket"] == 100.0 and kpi["items_per_ticket"] == 2.0
    assert kpi["conversion"] == 0.1 and kpi["expected_contribution"] == 10.0
    RECORD_MODELS["kpi"].model_validate(kpi)


def test_store_kpi_falls_back_to_wifi_visitors_without_a_camera() -> None:
    tracker = KpiTracker(config(camera=False))
    (kpi,) = by(close_hour(tracker, T0, records=[sale(T0 + 10, 50.0)]), "kpi")
    assert kpi["entries"] == 40.0 and kpi["entries_source"] == "wifi"
    assert kpi["conversion"] == 0.025


def test_a_superseded_footfall_count_is_replaced_not_added() -> None:
    tracker = KpiTracker(config())
    first = footfall(T0, 7)
    records = [first, footfall(T0, 9, supersedes=first["id"])]
    (shop,) = by(close_hour(tracker, T0, records=records), "traffic", zone="shop")
    assert shop["people_counted"] == 9


# -- partial hours and restarts -----------------------------------------------------------------


def test_a_stop_emits_partial_hours_that_the_final_one_supersedes() -> None:
    tracker = KpiTracker(config())
    open_hour = zone_hour(T0, "shop", 5, 9) | {"partial": True}
    partial = tracker.observe([footfall(T0, 3)], [open_hour], T0 + 1800)
    (shop_partial,) = by(partial, "traffic", zone="shop")
    assert shop_partial["partial"] and shop_partial["end"] == iso(T0 + 1800)
    (kpi_partial,) = by(partial, "kpi")
    restarted = KpiTracker(config())
    restarted.restore(tracker.snapshot())
    final = close_hour(restarted, T0)
    (shop,) = by(final, "traffic", zone="shop")
    assert not shop["partial"] and shop["supersedes"] == shop_partial["id"]
    assert shop["people_counted"] == 3  # the count before the stop was kept
    (kpi,) = by(final, "kpi")
    assert kpi["supersedes"] == kpi_partial["id"]


# -- through the aggregator: grouping and hours -------------------------------------------------


def scans(phones: int, scans_per_phone: int, start: float) -> list[Probe]:
    """Phones that use a new random MAC for every scan but keep their sequence counter."""
    probes = []
    for scan in range(scans_per_phone):
        for phone in range(phones):
            t = start + scan * 30 + phone * 0.37
            mac = f"p{phone}-s{scan}"
            seq = (phone * 997 + scan * 3) % 4096
            probes.append(Probe(t, "w-shop", mac, True, -55, 6, seq, False, None, f"fp{phone % 2}"))
    return sorted(probes)


@pytest.mark.parametrize("grouping", [True, False])
def test_presence_reports_devices_raw_and_grouped(grouping: bool) -> None:
    agg = Aggregator(config(grouping=grouping))
    agg.observe_batch(scans(phones=4, scans_per_phone=8, start=T0))
    agg.advance(T0 + 1000)
    presence = [r for r in agg.drain() if r["kind"] == "presence" and r["zone"] == "shop"]
    busy = [r for r in presence if r["devices_raw"]]
    assert sum(r["devices_raw"] for r in busy) == 32  # one MAC per phone and scan
    if grouping:
        assert all(r["devices"] <= 4 for r in busy)
        assert all(r["grouping_confidence"] is not None for r in busy)
    else:
        assert all(r["devices"] == r["devices_raw"] for r in busy)
        assert all(r["grouping_confidence"] is None for r in presence)


def test_records_do_not_depend_on_how_frames_were_batched() -> None:
    probes = scans(phones=6, scans_per_phone=20, start=T0)
    whole, pieces = Aggregator(config()), Aggregator(config())
    whole.observe_batch(probes)
    for i in range(0, len(probes), 7):
        pieces.observe_batch(probes[i : i + 7])
    for agg in (whole, pieces):
        agg.advance(T0 + 2 * HOUR)
        agg.flush_partial()
    assert whole.drain() == pieces.drain()
    assert whole.drain_hours() == pieces.drain_hours()


def test_the_pipeline_counts_a_device_once_per_hour(tmp_path: Path) -> None:
    cfg = config(camera=False, pos=False, db=tmp_path / "box.db")
    pipeline = Pipeline(cfg, b"k" * 32, None)
    probes = [
        Probe(T0 + 10 * i, "w-shop", "phone", False, -50, 6, i, False, None, "fp")
        for i in range(300)  # 50 minutes in the shop, heard in every presence interval
    ]
    pipeline.aggregator.observe_batch(probes)
    pipeline.aggregator.advance(T0 + 2 * HOUR)
    records, _ = pipeline.collect(checkpoint=False)
    (shop,) = by(records, "traffic", zone="shop", start=iso(T0))
    assert shop["devices"] == shop["visitors"] == 1 and shop["devices_raw"] == 1
    assert shop["dwell_sessions"] == 1 and shop["dwell_median_s"] == pytest.approx(2990, abs=1)
    (hall,) = by(records, "traffic", zone="hall", start=iso(T0))
    assert hall["devices"] == 0 and hall["capture_rate"] is None


# -- attribution (opt-in) -----------------------------------------------------------------------


def at_counter(pipeline: Pipeline, phones: dict[str, int], until: float) -> None:
    """Phones standing in the counter zone (``hall``) from T0 to ``until``, by RSSI."""
    probes = [
        Probe(T0 + t, "w-hall", phone, False, rssi, 6, t, False, None, "fp")
        for t in range(0, int(until - T0), 5)
        for phone, rssi in phones.items()
    ]
    pipeline.aggregator.observe_batch(sorted(probes))


def receipt(t: float) -> dict[str, Any]:
    return sale(t, 42.0) | {
        "id": record_id(t, "receipt"), "zone": "shop", "mall": "m1", "box": "b1",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("phones", "expected"),
    [({"alone": -50}, ("alone", 1.0)), ({"near": -50, "far": -60}, ("near", 0.9091)), ({}, None)],
)
def test_a_receipt_goes_to_the_strongest_device_at_the_counter(
    phones: dict[str, int], expected: tuple[str, float] | None
) -> None:
    pipeline = Pipeline(config(attribution=True), b"k" * 32, None)
    at_counter(pipeline, phones, T0 + 300)
    pipeline.add_records([receipt(T0 + 290)])
    records, _ = pipeline.collect(checkpoint=False)
    found = by(records, "attribution")
    if expected is None:
        assert found == []
        return
    (attribution,) = found
    assert (attribution["device"], attribution["confidence"]) == expected
    assert attribution["candidates"] == len(phones) and attribution["zone"] == "hall"
    assert attribution["transaction"] == receipt(T0 + 290)["id"]
    RECORD_MODELS["attribution"].model_validate(attribution)


def test_attribution_is_off_by_default() -> None:
    pipeline = Pipeline(config(), b"k" * 32, None)
    at_counter(pipeline, {"alone": -50}, T0 + 300)
    pipeline.add_records([receipt(T0 + 290)])
    records, _ = pipeline.collect(checkpoint=False)
    assert by(records, "attribution") == [] and len(by(records, "transaction")) == 1


def test_a_device_long_gone_is_not_attributed() -> None:
    pipeline = Pipeline(config(attribution=True), b"k" * 32, None)
    at_counter(pipeline, {"earlier": -50}, T0 + 100)
    pipeline.add_records([receipt(T0 + 250)])  # 150 s after it was last heard: window 60 s
    records, _ = pipeline.collect(checkpoint=False)
    assert by(records, "attribution") == []


# -- checkpoints --------------------------------------------------------------------------------


def test_the_hours_are_checkpointed_only_when_they_change(tmp_path: Path) -> None:
    db = tmp_path / "box.db"
    cfg = config(camera=False, pos=False, db=db)

    def phones(start: float, seconds: int) -> list[Probe]:
        return [
            Probe(start + t, "w-shop", f"p{t % 7}", False, -50, 6, t, False, None, "fp")
            for t in range(0, seconds, 3)
        ]

    def hours_written(store: Store) -> float:
        row = store.conn.execute(
            "SELECT updated FROM checkpoints WHERE name = ?", (SLOW_CHECKPOINT_NAME,)
        ).fetchone()
        return float(row[0])

    with Store(db) as store:
        pipeline = Pipeline(cfg, b"k" * 32, store)
        pipeline.aggregator.observe_batch(phones(T0, 150))  # two windows rolled
        pipeline.flush(checkpoint=True, now=1.0)
        assert hours_written(store) == 1.0
        pipeline.aggregator.observe_batch(phones(T0 + 150, 20))  # same window: no new hour data
        pipeline.flush(checkpoint=True, now=2.0)
        assert hours_written(store) == 1.0
        pipeline.aggregator.observe_batch(phones(T0 + 170, 60))  # the next window rolls
        pipeline.flush(checkpoint=True, now=3.0)
        assert hours_written(store) == 3.0
        again = Pipeline(cfg, b"k" * 32, store)
        assert again.restore()
        restored, running = again.aggregator.snapshot(), pipeline.aggregator.snapshot()
        assert as_sets(restored.pop("hours")) == as_sets(running.pop("hours"))
        assert restored == running


def as_sets(hours: list[Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """Hour snapshots with their device lists as sets (their order is not kept)."""
    return {
        (zone, source): {
            k: set(v) if k in ("devices", "raw", "visitors") else v for k, v in h.items()
        }
        for zone, source, h in hours
    }


def test_a_reload_to_another_time_zone_rebuilds_the_figures() -> None:
    pipeline = Pipeline(config(), b"k" * 32, None)
    assert pipeline.reconfigure(config(timezone="Asia/Shanghai"), b"k" * 32)
    close_hour(pipeline.kpi, T0, records=[footfall(T0, 20)])
    assert set(pipeline.kpi.calibration.table) == {"shop|wifi|18"}


def test_seen_pairs_answer_like_a_set_and_survive_a_checkpoint() -> None:
    from edge.kpi.seen import SeenPairs

    seen = SeenPairs()
    keys = [f"{i:016x}|shop" for i in range(20_000)]
    assert not any(seen.seen_before(k) for k in keys)  # first visits (no wrong "yes" here)
    assert all(seen.seen_before(k) for k in keys)  # never a wrong "no"
    restored = SeenPairs.from_json(seen.to_json())
    assert restored.count == 20_000 and all(restored.seen_before(k) for k in keys[:100])
    older = SeenPairs.from_json(["a|shop", "b|hall"])  # a checkpoint of the set of keys
    assert older.seen_before("a|shop") and not older.seen_before("c|shop")


def test_repeat_visits_survive_a_restart() -> None:
    tracker = KpiTracker(config())
    visit = {"kind": "visit", "device": "d1", "source": "wifi", "partial": False,
             "end": iso(T0 + 100), "path": [{"zone": "shop"}]}  # fmt: skip
    close_hour(tracker, T0, records=[visit])
    restarted = KpiTracker(config())
    restarted.restore(tracker.snapshot())
    again = visit | {"end": iso(T0 + HOUR + 100)}
    (shop,) = by(close_hour(restarted, T0 + HOUR, records=[again]), "traffic", zone="shop")
    assert shop["repeat_visits"] == 1
