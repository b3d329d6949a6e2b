"""People and dwell without linking random MACs (``edge.estimate``), and fixed devices.

The estimators are fed what the aggregator feeds them (windows of pseudonyms with
their scan events) or run inside the real aggregator on probes pseudonymized with the
real ``Pseudonymizer``; the crowd-level figures are scored by
``benchmarks/crowd/heldout.py`` (docs/figures.md).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import pytest

from drivers.observations import Probe
from drivers.privacy import Pseudonymizer
from edge.aggregate import Aggregator
from edge.aggregate.state import Heard, HourState, Run, expire_runs, run_evidence, tally_window
from edge.config import Config, parse_config
from edge.estimate import PeopleEstimator, ScanRates, Turnover, dwell_figures, hour_people
from edge.estimate.dwell import MIN_SURE, quantile_interval
from edge.estimate.people import FOLLOW_SPAN_S, WindowPeople
from edge.grouping import Grouper
from edge.kpi.calibration import DwellPool
from edge.records import RECORD_MODELS

T0 = 1_773_482_400.0  # 2026-03-14 10:00 UTC
KEY = b"estimate-test-key-0123456789abcdef"
PC = "dc:fb:48:68:be:e4"


def test_the_scan_interval_is_learned_from_followed_runs() -> None:
    rates = ScanRates()
    rng = random.Random(3)
    for _ in range(400):  # phones scanning every 30 s on average, staying 2-20 minutes
        stay = rng.uniform(120, 1200)
        scans = sorted(rng.uniform(0, stay) for _ in range(max(2, round(stay / 30))))
        rates.learn_run("shop", len(scans), scans[-1] - scans[0])
    interval, rel_se = rates.interval("shop")
    assert interval == pytest.approx(30, rel=0.15)
    assert rel_se < 0.05
    assert rates.interval("elsewhere")[0] == pytest.approx(interval, rel=0.1)  # box-wide


def _followed_phone_gaps(gap: Callable[[random.Random], float], phones: int) -> PeopleEstimator:
    """``phones`` global MACs, one after another, each heard for ten minutes in "shop" with
    scan gaps drawn from ``gap``, through the aggregator's two interval steps."""
    est = PeopleEstimator(60.0, phone_share=1.0, enter_dbm={"shop": -70})
    grouper = Grouper()  # knows the MAC was heard across scans, as the aggregator's does
    rng = random.Random(9)
    t = T0
    for phone in range(phones):
        mac, scans, s = f"phone-{phone}", [], t + rng.uniform(0, 60)
        while s < t + 600:
            scans.append(s)
            s += gap(rng)
        for start in range(int(t), int(t) + 660, 60):  # its windows, and one after it left
            inside = [x for x in scans if start <= x < start + 60]
            grouper.assign_batch(
                Probe(x, "s1", mac, False, -60, 6, 0, False, None, "fp") for x in inside
            )
            window = (
                {mac: Heard(inside[0], inside[-1], -60, len(inside), "fp", False)} if inside else {}
            )
            close_window(est, {"shop": window}, start + 60, grouper)
        t += 1200  # gone for longer than the session gap: its run ends
    close_window(est, {"shop": {}}, t + 600, grouper)
    return est


def test_the_time_before_the_first_scan_and_after_the_last_is_learned() -> None:
    """Regular scanners leave one mean gap unseen at a stay's ends; bursty ones, with the
    same mean, leave more (a forward and a backward recurrence time)."""
    regular = _followed_phone_gaps(lambda rng: rng.uniform(25, 35), 60)
    bursty = _followed_phone_gaps(lambda rng: rng.lognormvariate(math.log(30) - 0.5, 1.0), 60)
    assert regular.rates.gap_cv2("shop") < 0.1  # uniform(25, 35): 0.009, from a prior of 0.7
    assert regular.rates.unseen("shop") == pytest.approx(30, rel=0.15)
    assert 0.9 < bursty.rates.gap_cv2("shop") < 1.9  # log-normal sigma 1: e - 1 = 1.72
    # (stays of ten minutes cut the longest gaps short: 1.8 times, not 2.7)
    assert bursty.rates.unseen("shop") > 1.5 * regular.rates.unseen("shop")


def test_an_hour_checkpointed_before_the_unseen_edges_were_learned_keeps_the_old_value() -> None:
    old = HourState(T0).to_json() | {"people": [2.0, 10.0, 1.0, 0.1, 3.0, 80.0]}
    hour = HourState.from_json(old)
    assert hour.people == [2.0, 10.0, 1.0, 0.1, 3.0, 80.0, 136.0]  # 1.7 x the interval


def test_macs_per_scan_come_from_siblings_less_chance() -> None:
    rates = ScanRates()
    rng = random.Random(5)
    for window in range(200):
        firsts = []
        for _ in range(4):  # four phones a minute, each two MACs 0.1 s apart per scan
            t = window * 60 + rng.uniform(0, 59)
            firsts += [t, t + 0.1]
        rates.learn_siblings("ios", firsts, 60.0)
        rates.learn_siblings("android", [window * 60 + rng.uniform(0, 60) for _ in range(6)], 60)
    assert rates.macs_per_scan("ios")[0] == pytest.approx(2.0, rel=0.1)
    assert rates.macs_per_scan("android")[0] == pytest.approx(1.0, abs=0.1)
    assert rates.macs_per_scan("unknown") == (1.0, 0.5)


def heard(macs: int, fp: str = "fp", rssi: int = -60, t: float = T0) -> dict[str, Heard]:
    return {f"{fp}-{i}": Heard(t + i, t + i, rssi, 1, fp, True) for i in range(macs)}


def close_window(
    est: PeopleEstimator,
    heard_by_zone: dict[str, dict[str, Heard]],
    end: float,
    grouper: Grouper | None = None,
) -> dict[str, WindowPeople]:
    """One interval through the two steps the aggregator runs (``closing.WindowCloser``)."""
    ended: list[Run] = []
    tallies = tally_window(
        heard_by_zone, list(heard_by_zone), est.enter_dbm, set(), grouper or Grouper(), est.runs,
        est.gap_s, FOLLOW_SPAN_S, ended,
    )  # fmt: skip
    expire_runs(est.runs, end, est.gap_s, ended)
    return est.close(tallies, run_evidence(ended), {})


def test_people_present_from_scan_events() -> None:
    est = PeopleEstimator(60.0, phone_share=1.0, enter_dbm={"shop": -70})
    out = close_window(est, {"shop": heard(30)}, T0 + 60)["shop"]
    interval, _ = est.rates.interval("shop")  # the prior: nobody followed yet
    assert out.people == pytest.approx(30 * interval / 60, rel=0.01)
    assert out.low < out.people < out.high
    quiet = close_window(est, {"shop": heard(30, rssi=-80)}, T0 + 120)["shop"]
    assert quiet.people == 0 and quiet.low == 0 < quiet.high  # passers-by only


def test_a_pseudonym_counts_in_the_zone_that_heard_it_loudest() -> None:
    est = PeopleEstimator(60.0, enter_dbm={"a": -80, "b": -80})
    near_a = heard(10, rssi=-50)
    near_b = {d: Heard(e.first, e.last, -70, 1, "fp", True) for d, e in near_a.items()}
    out = close_window(est, {"a": near_a, "b": near_b}, T0 + 60)
    assert out["a"].people > 0 and out["b"].people == 0


def test_hour_people_is_occupancy_times_the_followed_turnover() -> None:
    # 60 intervals of 10 people present; 40 followed phones seen for 5 present on average.
    sums = [60, 600.0, 60 * 10.0, 60 * 0.01, 60 * 5.0]
    hour = hour_people(sums, 40, prior=6.0)
    assert hour is not None
    assert hour.present == 10
    assert hour.people == pytest.approx(10 * (40 + 2 * 6) / (5 + 2), rel=0.01)
    assert hour.low < hour.people < hour.high
    assert hour_people([0, 0, 0, 0, 0], 0, 6.0) is None


def test_turnover_prior_follows_the_zones_past_hours() -> None:
    t = Turnover()
    assert t.prior("shop") == 6.0
    t.learn("shop", 30, 3.0)
    assert t.prior("shop") == pytest.approx(10.0)
    assert t.prior("cafe") == pytest.approx(10.0)  # borrowed from the box
    assert Turnover.from_json(t.to_json()) == t


def test_dwell_from_sure_sessions_with_an_order_statistic_interval() -> None:
    sure = [float(60 * i) for i in range(1, 21)]
    fields = dwell_figures(sure, [], None)
    assert fields["dwell_method"] == "sessions-sure"
    assert fields["dwell_median_low_s"] <= fields["dwell_median_s"] <= fields["dwell_median_high_s"]
    assert fields["dwell_p90_s"] > fields["dwell_median_s"]
    assert quantile_interval([5.0], 0.5) == (5.0, 5.0, 5.0)


def test_dwell_by_littles_law_when_sure_sessions_are_few() -> None:
    pooled = [600.0] * 50  # every stay ten minutes
    fields = dwell_figures([300.0, 900.0], pooled, (7.0, 0.01))
    assert fields["dwell_method"] == "little"
    assert fields["dwell_median_s"] == pytest.approx(3600 / 6, rel=0.01)
    assert dwell_figures([], [], None)["dwell_method"] == "none"


def test_a_zone_without_its_own_sure_sessions_borrows_the_boxs_shape() -> None:
    """A food court where no phone kept its MAC yet: its turnover gives the mean stay, the
    other zones' sure sessions its shape, and the interval is wider for the borrowing."""
    box = [300.0, 600.0, 900.0] * 10  # median = mean
    turnover = (3.0, 0.01)  # 3 people per one present: half-hour stays
    fields = dwell_figures([1500.0], [], turnover, box)
    assert fields["dwell_method"] == "little"
    assert fields["dwell_median_s"] == pytest.approx(1800, rel=0.01)
    own = dwell_figures([1500.0], box, turnover)
    assert own["dwell_median_s"] == fields["dwell_median_s"]
    assert own["dwell_median_high_s"] < fields["dwell_median_high_s"]
    assert dwell_figures([1500.0], [], turnover)["dwell_method"] == "none"  # nothing to borrow
    few = dwell_figures([1500.0, 1600.0, 1700.0], [], turnover, box)
    assert few["dwell_method"] == "sessions-sure"  # its own three stays come first
    pool = DwellPool({"shop|wifi": [300.0, 600.0], "floor|wifi": [900.0], "shop|ble": [5.0]})
    assert sorted(pool.box("food|wifi")) == [300.0, 600.0, 900.0]  # Wi-Fi stays, any zone


def test_an_hours_few_sure_sessions_lean_on_the_zones_recent_ones() -> None:
    pooled = [600.0] * 100
    few = dwell_figures([300.0] * 4, pooled, None)
    assert few["dwell_method"] == "sessions-sure"
    assert 300 < few["dwell_median_s"] < 600  # shrunk towards the zone's 600 s
    assert few["dwell_median_low_s"] <= few["dwell_median_s"] <= few["dwell_median_high_s"]
    many = dwell_figures([300.0] * (MIN_SURE * 10), pooled, None)
    assert abs(many["dwell_median_s"] - 300) < abs(few["dwell_median_s"] - 300)


def lab(fixed: list[str]) -> Config:
    macs = ", ".join(f'"{m}"' for m in fixed)
    return parse_config(
        f"""mall = "m"\nbox = "b"\n[[zones]]\nid = "lab"\nvisitor_rssi_dbm = -80
[[sensors]]\ntype = "wifi"\nname = "s1"\nzone = "lab"
[aggregation]\nfixed_devices = [{macs}]\n[store]\npath = "unused.db"\n"""
    )


def probes_of(pseudo: Pseudonymizer, mac: str, times: list[float]) -> list[Probe]:
    device = pseudo.pseudonym(bytes.fromhex(mac.replace(":", "")), T0)
    return [
        Probe(t, "s1", device, False, -50, 6, i, False, None, "pc") for i, t in enumerate(times)
    ]


@pytest.mark.parametrize("configured", [True, False])
def test_configured_fixed_devices_are_fixed_from_their_first_frame(configured: bool) -> None:
    agg = Aggregator(lab([PC] if configured else []))
    agg.key_fixed_devices(KEY)
    pseudo = Pseudonymizer(KEY)
    agg.observe_batch(probes_of(pseudo, PC, [T0 + 5 + 20 * i for i in range(30)]))
    agg.advance(T0 + 3600)
    records = agg.drain()
    presence = [r for r in records if r["kind"] == "presence" and r["frames"]]
    dwells = [r for r in records if r["kind"] == "dwell"]
    if configured:
        assert all(r["fixed"] == 1 and r["devices"] == 0 for r in presence[1:])
        assert not dwells
    else:
        assert all(r["devices"] == 1 for r in presence) and dwells
    for r in records:
        RECORD_MODELS[r["kind"]].model_validate(r)


def test_the_raw_mac_is_nowhere_in_the_aggregators_state() -> None:
    agg = Aggregator(lab([PC]))
    agg.key_fixed_devices(KEY)
    agg.observe_batch(probes_of(Pseudonymizer(KEY), PC, [T0 + 1, T0 + 61]))
    text = repr(agg.snapshot())
    for form in (PC, PC.replace(":", ""), PC.upper()):
        assert form not in text


def test_presence_records_carry_people_with_an_interval() -> None:
    agg = Aggregator(lab([]))
    rng = random.Random(1)
    probes = []
    for phone in range(12):  # twelve phones, a new random MAC per scan every ~40 s
        t = T0 + rng.uniform(0, 40)
        while t < T0 + 1800:
            probes.append(Probe(t, "s1", f"r{phone}-{t:.0f}", True, -55, 6, 0, False, None, "fp"))
            t += rng.uniform(25, 55)
    agg.observe_batch(sorted(probes))
    agg.advance(T0 + 1800)
    presence = [r for r in agg.drain() if r["kind"] == "presence"]
    assert presence and all(r["people_method"] in ("rate", "rate+devices") for r in presence)
    assert all(r["people_low"] <= r["people_estimate"] <= r["people_high"] for r in presence)
    mean = sum(r["people_estimate"] for r in presence[5:]) / len(presence[5:])
    assert 12 * 0.5 < mean < 12 * 2  # the prior's interval, not the phones' (nobody followed)


def test_a_door_camera_outweighs_a_vague_rate_estimate_and_is_pulled_by_a_sharp_one() -> None:
    from edge.estimate.camera import camera_people

    people, low, high, weight = camera_people(20.0, 180.0, 0.0, (300.0, 150.0, 600.0))
    assert weight > 0.95 and 200.0 < people < 206.0 and low < 200.0 < high
    same = camera_people(0.0, 100.0, 0.0, (121.0, 110.0, 133.1))  # as sure as the camera
    assert 0.4 < same[3] < 0.6 and 100.0 < same[0] < 121.0
    alone = camera_people(5.0, 10.0, 0.0, None)
    assert alone[0] == 15.0 and alone[3] == 1.0
    assert camera_people(0.0, 0.0, 0.0, (3.0, 1.0, 6.0))[0] == 0.0  # nobody came: the door says so


def test_a_long_day_of_crossings_makes_the_running_count_less_sure() -> None:
    """The people inside are entries minus exits since the morning: every crossing the
    camera got wrong is in there, so late in a busy day the count weighs less."""
    from edge.estimate.camera import camera_people

    morning = camera_people(10.0, 90.0, 0.0, (110.0, 70.0, 170.0))
    evening = camera_people(10.0, 90.0, 4000.0, (110.0, 70.0, 170.0))
    assert evening[2] - evening[1] > morning[2] - morning[1]
    assert evening[3] < morning[3]
