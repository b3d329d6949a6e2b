"""Aggregation: dwell sessions, visits, presence, fixed devices, partial records, checkpoints."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.observations import Probe
from edge.aggregate import Aggregator
from edge.checkpoint_json import dump_checkpoint
from edge.config import Config, parse_config
from edge.records import RECORD_MODELS

T0 = 1_773_482_400.0  # 2026-03-14T10:00:00Z, on a minute boundary


def config(**aggregation: Any) -> Config:
    agg = "\n".join(f"{k} = {json.dumps(v)}" for k, v in aggregation.items())
    return parse_config(
        f"""
mall = "m1"
box = "b1"
[[zones]]
id = "entrance"
visitor_rssi_dbm = -65
[[zones]]
id = "shop"
visitor_rssi_dbm = -70
[[sensors]]
type = "wifi"
name = "door"
zone = "entrance"
[[sensors]]
type = "wifi"
name = "floor"
zone = "shop"
[aggregation]
{agg}
"""
    )


def probe(t: float, device: str = "d1", rssi: int | None = -60, sensor: str = "floor",
          randomized: bool = False) -> Probe:  # fmt: skip
    return Probe(t, sensor, device, randomized, rssi, 6, 0, False, None, "fp")


def run(agg: Aggregator, probes: list[Probe], end: float | None = None) -> list[dict[str, Any]]:
    agg.observe_batch(probes)
    if end is not None:
        agg.advance(end)
    return agg.drain()


def kind(records: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [r for r in records if r["kind"] == name]


def test_dwell_opens_at_threshold_and_closes_after_the_gap() -> None:
    agg = Aggregator(config(session_gap_s=300))
    probes = [probe(T0 + 10 + 20 * i, rssi=-60 - (i % 3)) for i in range(7)]  # 10 s .. 130 s
    records = run(agg, probes, end=T0 + 130 + 301)
    (dwell,) = kind(records, "dwell")
    assert dwell["zone"] == "shop"
    assert dwell["start"] == "2026-03-14T10:00:10.000Z"
    assert dwell["end"] == "2026-03-14T10:02:10.000Z"
    assert dwell["duration_s"] == 120.0
    assert dwell["samples"] == 7
    assert dwell["rssi_max"] == -60
    assert dwell["partial"] is False
    (visit,) = kind(records, "visit")
    assert [s["zone"] for s in visit["path"]] == ["shop"]
    assert visit["device"] == dwell["device"] == "d1"


def test_a_session_ends_soon_after_its_gap_while_the_phone_is_heard_elsewhere() -> None:
    """A phone that left the shop for the entrance, where it probes once every 4 minutes:
    its shop dwell is written within a sweep (10 s) of the gap, not on the next probe."""
    agg = Aggregator(config(session_gap_s=300))
    shop = [probe(T0 + 20 * i) for i in range(6)]  # the shop until T0 + 100
    entrance = [probe(T0 + 120 + 240 * i, sensor="door") for i in range(3)]
    records = run(agg, shop + entrance[:2])  # the entrance at T0 + 120 and T0 + 360
    assert kind(records, "dwell") == []
    closed = run(agg, [], end=T0 + 100 + 300 + 11)  # nothing heard since T0 + 360
    assert [r["zone"] for r in kind(closed, "dwell")] == ["shop"]
    assert kind(closed, "dwell")[0]["end"] == "2026-03-14T10:01:40.000Z"


def test_a_device_below_the_threshold_is_a_passer_by() -> None:
    agg = Aggregator(config())
    records = run(agg, [probe(T0 + 5, rssi=-80), probe(T0 + 30, rssi=-78)], end=T0 + 400)
    assert kind(records, "dwell") == []
    assert kind(records, "visit") == []
    first = next(r for r in kind(records, "presence") if r["zone"] == "shop")
    assert (first["devices"], first["visitors"], first["passersby"]) == (1, 0, 1)


def test_hysteresis_keeps_a_visitor_at_the_edge_of_the_zone() -> None:
    agg = Aggregator(config(rssi_hysteresis_db=5))
    rssi = [-66, -72, -73, -71, -72, -74]  # threshold -70: opens, then hovers just below
    records = run(agg, [probe(T0 + 10 * i, rssi=r) for i, r in enumerate(rssi)], end=T0 + 1000)
    (dwell,) = kind(records, "dwell")
    assert dwell["samples"] == len(rssi)


def test_a_long_silence_splits_sessions_but_a_short_one_does_not() -> None:
    agg = Aggregator(config(session_gap_s=300))
    times = [0, 100, 350, 1000, 1100]  # 250 s gap kept, 650 s gap splits
    records = run(agg, [probe(T0 + t) for t in times], end=T0 + 2000)
    dwells = sorted(kind(records, "dwell"), key=lambda r: r["start"])
    assert [d["samples"] for d in dwells] == [3, 2]
    assert len(kind(records, "visit")) == 2


def test_a_visit_records_the_path_through_zones_in_order() -> None:
    agg = Aggregator(config())
    probes = [probe(T0 + t, sensor="door", rssi=-55) for t in (0, 20)]
    probes += [probe(T0 + t, sensor="floor", rssi=-60) for t in range(40, 400, 30)]
    probes += [probe(T0 + 410, sensor="door", rssi=-55)]
    records = run(agg, probes, end=T0 + 2000)
    (visit,) = kind(records, "visit")
    assert [s["zone"] for s in visit["path"]] == ["entrance", "shop", "entrance"]
    assert visit["start"] == "2026-03-14T10:00:00.000Z"
    assert visit["end"] == "2026-03-14T10:06:50.000Z"


def test_presence_counts_every_interval_with_randomized_share() -> None:
    agg = Aggregator(config(presence_interval_s=60))
    probes = [
        probe(T0 + 1, "a", -60, randomized=True),
        probe(T0 + 2, "b", -80, randomized=True),
        probe(T0 + 3, "c", -61),
        probe(T0 + 3.5, "c", -61),
        probe(T0 + 125, "a", -60, randomized=True),
    ]
    records = run(agg, probes, end=T0 + 180)
    shop = sorted(
        (r for r in kind(records, "presence") if r["zone"] == "shop"), key=lambda r: r["start"]
    )
    assert [(r["devices"], r["visitors"], r["passersby"], r["frames"]) for r in shop] == [
        (3, 2, 1, 4),
        (0, 0, 0, 0),  # an empty minute is reported as zero, not left out
        (1, 1, 0, 1),
    ]
    assert shop[0]["randomized_share"] == pytest.approx(2 / 3, abs=1e-4)
    assert shop[0]["end"] == "2026-03-14T10:01:00.000Z"
    # every zone reports every interval
    assert len([r for r in kind(records, "presence") if r["zone"] == "entrance"]) == 3


def test_fixed_devices_are_left_out_of_visitor_figures() -> None:
    agg = Aggregator(config(fixed_device_after_h=0.05, session_gap_s=300))  # 3 minutes
    staff = [probe(T0 + t, "staff", -50) for t in range(0, 600, 20)]
    shopper = [probe(T0 + t, "shopper", -60) for t in (300, 320, 340)]
    records = run(agg, sorted(staff + shopper), end=T0 + 2000)
    assert {r["device"] for r in kind(records, "dwell")} == {"shopper"}
    assert {r["device"] for r in kind(records, "visit")} == {"shopper"}
    late = next(
        r
        for r in kind(records, "presence")
        if r["zone"] == "shop" and r["start"].endswith("10:05:00.000Z")
    )
    assert (late["devices"], late["fixed"]) == (1, 1)


def test_every_record_validates_against_the_contract_models() -> None:
    agg = Aggregator(config())
    probes = [
        probe(T0 + t * 7, f"d{t % 5}", -50 - t % 40, sensor=("door", "floor")[t % 2])
        for t in range(300)
    ]
    agg.observe_batch(probes)
    agg.flush_partial()
    records = agg.drain()
    assert {r["kind"] for r in records} == {"dwell", "visit", "presence"}
    for record in records:
        model = RECORD_MODELS[record["kind"]].model_validate(record)
        assert json.loads(model.model_dump_json(by_alias=True)) == record


def test_same_frames_give_the_same_record_ids() -> None:
    probes = [probe(T0 + t, f"d{t % 3}", -60) for t in range(0, 900, 13)]
    ids = []
    for _ in range(2):
        agg = Aggregator(config())
        agg.observe_batch(probes)
        agg.flush_partial()
        ids.append([r["id"] for r in agg.drain()])
    assert ids[0] == ids[1]
    assert len(set(ids[0])) == len(ids[0])


def test_partial_records_are_superseded_after_a_restart() -> None:
    cfg = config(session_gap_s=300)
    first = Aggregator(cfg)
    first.observe_batch([probe(T0 + t) for t in range(0, 200, 20)])
    first.flush_partial()  # what a stop does
    partial = first.drain()
    snapshot = json.loads(json.dumps(first.snapshot()))  # through JSON, like the database
    (partial_dwell,) = kind(partial, "dwell")
    assert partial_dwell["partial"] is True

    second = Aggregator(cfg)
    second.restore(snapshot)
    final = run(second, [probe(T0 + t) for t in range(200, 400, 20)], end=T0 + 2000)
    (dwell,) = kind(final, "dwell")
    assert dwell["partial"] is False
    assert dwell["supersedes"] == partial_dwell["id"]
    assert dwell["id"] != partial_dwell["id"]
    assert dwell["start"] == partial_dwell["start"]
    assert dwell["samples"] == 20  # one session across the restart, not two
    (visit,) = kind(final, "visit")
    assert visit["supersedes"] == kind(partial, "visit")[0]["id"]


def test_state_stays_bounded_by_live_devices() -> None:
    agg = Aggregator(config(session_gap_s=60))
    peak = 0
    for minute in range(600):  # ten hours, a new random MAC every few seconds
        batch = [probe(T0 + minute * 60 + s, f"m{minute}-{s}", -60) for s in range(0, 60, 2)]
        agg.observe_batch(batch)
        agg.drain()
        peak = max(peak, agg.open_devices)
    assert peak <= 100  # about two minutes' worth of devices, whatever the total


def test_a_watermark_closes_sessions_during_silence() -> None:
    agg = Aggregator(config(session_gap_s=60))
    agg.observe_batch([probe(T0 + 1), probe(T0 + 5)])
    assert kind(agg.drain(), "dwell") == []
    agg.advance(T0 + 70)
    assert len(kind(agg.drain(), "dwell")) == 1


def test_unknown_sensors_are_counted_not_crashed_on() -> None:
    agg = Aggregator(config())
    agg.observe_batch([probe(T0, sensor="nope")])
    assert agg.unknown_sensor == 1


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(0, 4000, allow_nan=False),
            st.sampled_from(["a", "b", "c", "d"]),
            st.one_of(st.none(), st.integers(-100, -20)),
            st.sampled_from(["door", "floor"]),
            st.booleans(),
        ),
        max_size=200,
    )
)
def test_any_sequence_of_probes_gives_consistent_records(items: list[Any]) -> None:
    agg = Aggregator(config(session_gap_s=120))
    probes = sorted((probe(T0 + t, d, r, s, rnd) for t, d, r, s, rnd in items), key=lambda p: p.t)
    agg.observe_batch(probes)
    agg.flush_partial()
    records = agg.drain()
    for record in records:
        RECORD_MODELS[record["kind"]].model_validate(record)
        if record["kind"] == "presence":
            assert record["visitors"] + record["passersby"] == record["devices"]
        else:
            assert record["duration_s"] >= 0
    frames = sum(r["frames"] for r in kind(records, "presence"))
    assert frames == len(probes)


def test_a_checkpoint_from_the_live_state_is_the_snapshot_byte_for_byte() -> None:
    """The daemon serializes its checkpoint from the live devices and windows (no copy);
    what it writes must be what the copy gave, so that a restart restores the same."""
    agg = Aggregator(config(session_gap_s=300))
    agg.observe_batch([probe(T0 + t, f"d{t % 7}", -50 - t % 30) for t in range(0, 900, 3)])
    live = dump_checkpoint(agg.checkpoint_state())
    assert live == dump_checkpoint(agg.snapshot())
    assert b'"devices":[{' in live  # the devices went through their to_json
