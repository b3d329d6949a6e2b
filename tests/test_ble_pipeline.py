"""BLE through the pipeline: the sample recording -> records, roles, classes, grouping, privacy.

The sample (``edge/demo/samples/ble.jsonl``, made by ``fixtures.ble_simulation`` with its
truth in ``ble_truth.json``) is a shop's twenty minutes: six phones whose private
addresses rotate, a watch, earbuds, the mall's iBeacon, a staff tag, passers-by.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from fixtures.ble_simulation import write

from drivers.observations import Advert, Probe
from drivers.timeline import Timeline
from edge.aggregate import Aggregator
from edge.aggregate.ids import record_id
from edge.config import Config, parse_config
from edge.demo.privacy_check import mac_forms
from edge.records import RECORD_MODELS
from edge.runtime.daemon import EdgeDaemon
from edge.runtime.replay import replay
from edge.sensors.table import plugin_for
from edge.store import Store

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "edge" / "demo" / "samples"
SAMPLE = SAMPLES / "ble.jsonl"
TRUTH: dict[str, Any] = json.loads((SAMPLES / "ble_truth.json").read_text())
KEY = bytes(range(32))
T0 = 1_773_482_400.0
PEOPLE = ("phone", "wearable")


def config(
    db: Path,
    publish: tuple[str, ...] = PEOPLE,
    wifi: bool = False,
    roles: bool = True,
    ble: bool = True,
) -> Config:
    lists = (
        f'fixed_beacons = ["{TRUTH["fixed_beacon"]}"]\nstaff_tags = ["{TRUTH["staff_tag"]}"]\n'
        if roles
        else ""
    )
    wifi_sensor = '[[sensors]]\ntype = "wifi"\nname = "wifi1"\nzone = "shop"\n' if wifi else ""
    ble_sensor = (
        '[[sensors]]\ntype = "ble"\nname = "ble1"\nzone = "shop"\n'
        f"publish_classes = {json.dumps(list(publish))}\n{lists}"
        if ble
        else ""
    )
    return parse_config(
        f"""
mall = "m1"
box = "b1"
[[zones]]
id = "shop"
visitor_rssi_dbm = -70
{ble_sensor}{wifi_sensor}
[aggregation]
flush_interval_s = 0.2
[store]
path = "{db}"
"""
    )


def run(
    cfg: Config, wifi: Path | None = None, ble: bool = True
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Replay into the configuration's database; (records as stored, BLE counters)."""
    captures = {"wifi1": wifi} if wifi is not None else {}
    recordings = {"ble1": SAMPLE} if ble else {}
    with Store(cfg.store.path) as store:
        pipeline = replay(cfg, captures, KEY, store, ble=recordings)
        return list(store.records()), pipeline.sensor_stats().get("ble1", {})


@pytest.fixture(scope="module")
def sample(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[list[dict[str, Any]], dict[str, Any], Path]:
    db = tmp_path_factory.mktemp("ble") / "ble.db"
    records, stats = run(config(db))
    return records, stats, db


def by_kind(records: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r for r in records if r["kind"] == kind]


def test_the_sample_is_small_and_made_by_its_script(tmp_path: Path) -> None:
    recording, truth = write(tmp_path)
    assert recording.read_bytes() == SAMPLE.read_bytes()
    assert truth.read_text() == (SAMPLES / "ble_truth.json").read_text()
    assert SAMPLE.stat().st_size < 300_000


def test_the_sample_becomes_ble_records_that_fit_the_contract(sample: Any) -> None:
    records, _, _ = sample
    kinds = Counter(r["kind"] for r in records)
    assert kinds == {"dwell": 7, "visit": 7, "presence": 20, "traffic": 1}  # a partial hour
    for record in records:
        RECORD_MODELS[record["kind"]].model_validate(record)
        assert record["source"] == "ble"
    people = TRUTH["visitors"]["phone"] + TRUTH["visitors"]["wearable"]
    assert len(by_kind(records, "visit")) == people  # one visit each, rotations included
    assert all(v["randomized"] for v in by_kind(records, "visit"))


def test_rotating_addresses_are_grouped_and_the_share_is_counted(sample: Any) -> None:
    _, stats, _ = sample
    rotations = TRUTH["rotations"]
    grouped = sum(n for name, n in rotations.items() if name != "airpods")  # earbuds not counted
    passersby = TRUTH["passersby"]
    addresses = grouped + TRUTH["visitors"]["phone"] + TRUTH["visitors"]["wearable"] + passersby
    assert stats["addresses_grouped"] == grouped == 6
    assert stats["addresses"] == stats["private_addresses"] == addresses
    assert stats["devices"] == addresses - grouped
    assert stats["grouped_share"] == round(grouped / addresses, 4)
    assert (stats["grouping_ambiguous"], stats["grouping_false_links"]) == (0, 0)


def test_the_fixed_beacon_is_health_not_a_person(sample: Any) -> None:
    _, stats, _ = sample
    beacon = stats["fixed_beacons"][TRUTH["fixed_beacon"]]
    assert beacon["seen"] == stats["fixed_beacon_adverts"] > 100
    assert -75 < beacon["rssi_mean"] < -69  # placed at -72 dBm in the simulation
    assert stats["staff_adverts"] > 100
    assert "beacon" not in stats["not_published"]  # neither reached the class allowlist


def test_fixed_beacon_and_staff_tag_stay_out_even_when_beacons_are_published(
    tmp_path: Path,
) -> None:
    with_roles, stats = run(config(tmp_path / "a.db", (*PEOPLE, "beacon")))
    assert len(by_kind(with_roles, "visit")) == 7
    assert stats["devices"] == 10
    without, _ = run(config(tmp_path / "b.db", (*PEOPLE, "beacon"), roles=False))
    assert len(by_kind(without, "visit")) == 9  # the mall's beacon and the staff tag


def test_the_class_allowlist_decides_what_is_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    phones, stats = run(config(tmp_path / "a.db", ("phone",)))
    assert len(by_kind(phones, "visit")) == TRUTH["visitors"]["phone"]
    assert stats["not_published"]["wearable"] > 0
    with caplog.at_level(logging.INFO):
        nothing, stats = run(config(tmp_path / "b.db", ()))
    assert nothing == []
    assert stats["counted_adverts"] == 0 and stats["fixed_beacon_adverts"] > 0
    (line,) = [
        r.getMessage() for r in caplog.records if "publish_classes is empty" in r.getMessage()
    ]
    assert "ble1" in line


def test_a_zone_heard_by_both_radios_gets_a_presence_per_radio(tmp_path: Path) -> None:
    both, _ = run(config(tmp_path / "a.db", wifi=True), SAMPLES / "shop.pcap")
    wifi_only, _ = run(
        config(tmp_path / "b.db", wifi=True, ble=False), SAMPLES / "shop.pcap", False
    )
    presence = by_kind(both, "presence")
    sources = Counter(r["start"] for r in presence if r["source"] == "ble")
    assert len(sources) == len(by_kind(wifi_only, "presence")) == 120  # zeros included
    assert by_kind(both, "dwell")
    for start, count in sources.items():
        assert count == 1
        assert [r["source"] for r in presence if r["start"] == start] == ["wifi", "ble"]
    assert len({r["id"] for r in both}) == len(both)
    # Wi-Fi figures unchanged; only a partial hour's end moves: the box's clock is later
    assert [without_end(r) for r in both if r["source"] == "wifi"] == list(
        map(without_end, wifi_only)
    )
    devices = {r["device"] for r in both if r["kind"] == "visit"}
    assert len(devices) == len(by_kind(both, "visit"))  # the radios never share a pseudonym


def without_end(record: dict[str, Any]) -> dict[str, Any]:
    """A record without the end of a partial hour (``traffic``)."""
    if record["kind"] == "traffic" and record["partial"]:
        return {k: v for k, v in record.items() if k not in ("end", "id")}
    return record


def test_no_raw_address_or_name_anywhere(sample: Any) -> None:
    records, _, db = sample
    blobs = [p.read_bytes() for p in db.parent.iterdir() if p.name.startswith(db.name)]
    blobs.append(json.dumps(records).encode())
    assert len(blobs) >= 2
    for address in TRUTH["addresses"]:
        mac = bytes.fromhex(address.replace(":", ""))
        found = [form for form in mac_forms(mac) for blob in blobs if form in blob]
        assert not found, address


def test_wifi_presence_ids_are_what_they_were_before_ble() -> None:
    cfg = config(Path("unused.db"), wifi=True)
    agg = Aggregator(cfg)
    agg.observe_batch([Probe(T0 + 1, "wifi1", "d1", False, -60, 6, 0, False, None, "fp")])
    agg.advance(T0 + 61)
    (presence,) = [r for r in by_kind(agg.drain(), "presence") if r["source"] == "wifi"]
    assert presence["id"] == record_id(T0, f"m1\x1fb1\x1fpresence\x1fshop\x1f{T0!r}\x1f0")


# -- the aggregator's BLE path ---------------------------------------------------------------


def advert(t: float, device: str = "d1", rssi: int | None = -60, kind: str = "resolvable",
           features: str = "f1") -> Advert:  # fmt: skip
    return Advert(t, "ble1", device, kind, rssi, "apple", "phone", features, 76, None)


def test_ble_sessions_follow_the_same_rules_as_wifi() -> None:
    cfg = config(Path("unused.db"), wifi=True, roles=False)
    times_rssi = [(5, -60), (30, -75), (60, -62), (200, -80), (250, -64), (900, -61), (930, -90)]
    wifi, ble = Aggregator(cfg), Aggregator(cfg)
    wifi.observe_batch(
        [Probe(T0 + t, "wifi1", "d1", True, r, 6, 0, False, None, "fp") for t, r in times_rssi]
    )
    ble.observe_adverts([advert(T0 + t, rssi=r) for t, r in times_rssi])
    for agg in (wifi, ble):
        agg.advance(T0 + 3000)

    def shape(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {
                k: v
                for k, v in r.items()
                if k not in ("id", "source", "supersedes", "grouping_confidence")
                and not k.startswith("people_")  # Wi-Fi's rate estimator (edge.estimate)
            }
            for r in records
            if r["kind"] != "presence" or r["devices"]
        ]

    wifi_records = [r for r in wifi.drain() if r["source"] == "wifi"]
    assert shape(wifi_records) == shape(ble.drain())
    assert len(by_kind(wifi_records, "dwell")) == 2


def test_a_rotation_in_the_aggregator_gives_one_dwell_and_one_visit() -> None:
    agg = Aggregator(config(Path("unused.db")))
    old = [advert(T0 + i * 2.0, "old") for i in range(60)]  # until T0 + 118
    new = [advert(T0 + 121 + i * 2.0, "new") for i in range(60)]
    agg.observe_adverts(old + new)
    agg.advance(T0 + 1200)
    records = agg.drain()
    (dwell,) = by_kind(records, "dwell")
    assert (dwell["device"], dwell["samples"], dwell["source"]) == ("old", 120, "ble")
    assert dwell["duration_s"] == pytest.approx(121 + 118)
    (visit,) = by_kind(records, "visit")
    assert visit["device"] == "old"
    assert max(r["devices"] for r in by_kind(records, "presence")) == 1
    assert agg.ble_stats("ble1")["addresses_grouped"] == 1


def test_grouping_continues_across_a_checkpoint() -> None:
    cfg = config(Path("unused.db"))
    adverts = [advert(T0 + i * 2.0, "old") for i in range(60)]
    adverts += [advert(T0 + 121 + i * 2.0, "new") for i in range(60)]
    whole = Aggregator(cfg)
    whole.observe_adverts(adverts)
    whole.advance(T0 + 1200)
    first = Aggregator(cfg)
    first.observe_adverts(adverts[:65])  # the new address is heard, not yet grouped
    snap = json.loads(json.dumps(first.snapshot()))
    second = Aggregator(cfg)
    second.restore(snap)
    second.observe_adverts(adverts[65:])
    second.advance(T0 + 1200)
    assert first.drain() + second.drain() == whole.drain()


# -- the daemon: a recording played as the adapter ---------------------------------------------


def test_the_daemon_runs_a_simulated_adapter_into_ble_records(tmp_path: Path) -> None:
    db = tmp_path / "edge.db"
    cfg = config(db)
    timeline = Timeline(speed=400)
    (sensor,) = cfg.sensors
    backend = plugin_for("ble").simulate(sensor, SAMPLE, timeline)  # type: ignore[misc]
    with Store(db) as store:
        daemon = EdgeDaemon(cfg, KEY, store, radios={"ble1": backend}, clock=timeline.now)

        async def body() -> None:
            deadline = time.monotonic() + 10
            while daemon.pipeline.ble["ble1"].frames < 600:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)

        async def main() -> None:
            task = asyncio.create_task(daemon.run())
            try:
                await body()
            finally:
                daemon.stop()
                await asyncio.wait_for(task, 10)

        asyncio.run(main())
        (stats,) = [s for s in store.sensor_stats() if s["sensor"] == "ble1"]
        records = list(store.records())
    assert stats["kind"] == "ble" and stats["scan_mode"] in ("passive", "stopped")
    assert stats["state"] == "running" and stats["counted_adverts"] > 0
    assert {"scanner_restarts", "adapter_resets", "grouped_share"} <= set(stats)
    assert records and {r["source"] for r in records} == {"ble"}
    assert any(r["kind"] == "dwell" for r in records)
