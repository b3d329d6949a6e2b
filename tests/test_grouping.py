"""Grouping of random MACs into device groups: the rules, the bounds, and real phones."""

from __future__ import annotations

import csv
import statistics
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shared_data import shared_data

from drivers.observations import Probe
from drivers.privacy import Pseudonymizer
from drivers.wifi.parse import WifiParser
from drivers.wifi.pcap import open_capture
from edge.grouping import Grouper, GroupingConfig
from edge.grouping.rules import link_confidence, rssi_distance, seq_step

DATA = shared_data() / "wifi"
KEY = b"grouping-test-key-0123456789abcd"


def probe(
    t: float,
    device: str,
    seq: int,
    rssi: int | None = -60,
    sensor: str = "s1",
    fp: str = "fp-iphone",
    randomized: bool = True,
    tag: str | None = None,
) -> Probe:
    return Probe(t, sensor, device, randomized, rssi, 6, seq, tag is not None, tag, fp)


# -- the rules, one by one ----------------------------------------------------------------


def test_seq_step_wraps_at_4096() -> None:
    assert seq_step(4090, 3) == 9
    assert seq_step(100, 101) == 1
    assert seq_step(101, 100) == 4095


def test_rssi_distance_charges_unknown_sensors() -> None:
    assert rssi_distance({"a": -60}, "a", -66, 6.0) == 6.0
    assert rssi_distance({"a": -60}, "b", -60, 9.0) == 9.0
    assert rssi_distance({"a": -60}, "a", None, 7.0) == 7.0


def test_a_mac_that_two_phones_fit_equally_is_left_unlinked() -> None:
    """Two phones of one model, the same signal, both quiet: a new MAC is not a guess."""
    g = Grouper()
    a = g.assign(probe(0.0, "a", 10, rssi=-60))
    b = g.assign(probe(2.0, "b", 900, rssi=-78))  # too far from a to be a
    assert a != b
    new = g.assign(probe(30.0, "c", 2000, rssi=-69))  # 9 dB from both, both quiet
    assert new not in (a, b)
    assert g.ambiguous == 1 and g.stats()["ambiguous"] == 1


def test_timing_links_lose_confidence_with_rivals() -> None:
    assert link_confidence("timing", 0) > link_confidence("timing", 3)
    assert link_confidence("seq", 0) > link_confidence("timing", 0)


def test_counter_continuing_across_a_mac_change_links() -> None:
    g = Grouper()
    ids = g.assign_batch([probe(0, "a", 100), probe(0.02, "a", 101), probe(40, "b", 104)])
    assert ids == ["a", "a", "a"]
    assert g.links["seq"] == 1
    assert g.confidence("a") == pytest.approx(0.95)


def test_per_burst_macs_of_one_scan_are_one_group() -> None:
    """A modern iPhone: a new MAC and a random counter for every burst of one scan."""
    scan = [probe(0.05 * i, f"m{i}", (i * 977) % 4096, -62 + i % 3) for i in range(6)]
    g = Grouper()
    assert set(g.assign_batch(scan)) == {"m0"}
    assert g.links["burst"] == 5


def test_unique_ssid_links_across_a_long_silence() -> None:
    g = Grouper()
    first = [probe(0, "a", 10, tag="home-net"), probe(0.02, "a", 11)]
    later = probe(140, "b", 3000, rssi=-80, tag="home-net")
    assert g.assign_batch([*first, later]) == ["a", "a", "a"]
    assert g.links["ssid"] == 1


def test_two_people_with_the_same_model_stay_apart() -> None:
    """Same fingerprint, interleaved scans every 20 s, MAC per scan, counters that run on.

    They start in different places (the signal keeps them apart), then stand side by
    side (same RSSI): by then each group has proven that its counter runs on, so the
    other phone's MACs, whose counter does not follow, are refused.
    """
    g = Grouper()
    probes = []
    for k in range(12):
        near = k >= 5
        for who, seq0, rssi, offset in (("A", 100, -50, 0.0), ("B", 2100, -75, 10.0)):
            seq = seq0 + 3 * k
            level = -60 if near else rssi
            t = 20.0 * k + offset
            probes += [
                probe(t, f"{who}{k}", seq, level),
                probe(t + 0.02, f"{who}{k}", seq + 1, level),
            ]
    ids = g.assign_batch(probes)
    assert set(ids[0::4]) == {"A0"} and set(ids[2::4]) == {"B0"}
    assert g.groups == 2


def test_same_model_with_random_counters_apart_by_signal() -> None:
    g = Grouper()
    probes = []
    for k in range(10):
        probes.append(probe(30.0 * k, f"A{k}", (k * 1231) % 4096, -52))
        probes.append(probe(30.0 * k + 7, f"B{k}", (k * 2711 + 5) % 4096, -80))
    ids = g.assign_batch(probes)
    assert set(ids[0::2]) == {"A0"} and set(ids[1::2]) == {"B0"}


def test_a_global_mac_phone_is_one_group_and_absorbs_no_one() -> None:
    g = Grouper()
    probes = []
    for k in range(120):  # two hours, a scan a minute
        probes.append(probe(60.0 * k, "global", k * 2, -55, randomized=False))
        probes.append(probe(60.0 * k + 5, f"r{k}", (k * 733) % 4096, -55))
    ids = g.assign_batch(probes)
    assert set(ids[0::2]) == {"global"}
    assert "global" not in ids[1::2]


def test_distrusting_the_local_bit_lets_scrambled_captures_link() -> None:
    scan = [probe(0.05 * i, f"m{i}", 900 * i % 4096, randomized=i % 2 == 0) for i in range(4)]
    assert len(set(Grouper().assign_batch(scan))) > 1
    assert set(Grouper(GroupingConfig(trust_local_bit=False)).assign_batch(scan)) == {"m0"}


def test_groups_close_after_the_session_gap_with_a_summary() -> None:
    g = Grouper(keep_summaries=True)
    g.assign_batch([probe(0, "a", 1), probe(10, "a", 2), probe(1000, "b", 3)])
    closed = g.drain()
    assert [(s.group, s.probes, s.pseudonyms, s.confidence) for s in closed] == [("a", 2, 1, 1.0)]
    assert g.open_groups == 1
    assert g.confidence("a") == 1.0  # still readable for a while (presence intervals)
    assert g.confidence("never-seen") is None
    g.close_all()
    assert [s.group for s in g.drain()] == ["b"]


def test_a_closed_groups_confidence_is_forgotten_after_recent_s() -> None:
    """A crowd closes thousands of groups an hour: they are kept for as long as a presence
    interval may ask (``recent_s`` after their last probe), not by the tens of thousands."""
    g = Grouper(GroupingConfig(recent_s=600.0))
    phones = [probe(t, f"p{t}", t, fp=f"fp-{t}", randomized=False) for t in range(0, 2000, 100)]
    g.assign_batch(phones)
    g.assign_batch([probe(3000.0, "late", 1, fp="fp-late", randomized=False)])  # sweeps all
    assert g.confidence("p1900") == 1.0  # closed within 600 s of the newest closed group
    assert g.confidence("p1200") is None and g.confidence("p0") is None


def test_memory_is_bounded_by_the_last_session_gap() -> None:
    """Ten hours of a churning crowd: state never grows past what one gap holds."""
    g = Grouper()
    peak_groups = peak_macs = 0
    for minute in range(600):
        batch = [
            probe(minute * 60.0 + i * 0.5, f"{minute}-{i}", (minute * 31 + i * 517) % 4096,
                  -50 - (i % 40), fp=f"fp{i % 7}")
            for i in range(100)
        ]  # fmt: skip
        g.assign_batch(batch)
        peak_groups = max(peak_groups, g.open_groups)
        peak_macs = max(peak_macs, g.open_pseudonyms)
    assert g.pseudonyms == 60_000
    assert peak_macs <= 100 * 6  # the pseudonyms of ~5 minutes
    assert peak_groups <= peak_macs


# -- properties ---------------------------------------------------------------------------

_probe = st.builds(
    probe,
    t=st.floats(0, 5000, allow_nan=False),
    device=st.sampled_from([f"d{i}" for i in range(12)]),
    seq=st.integers(-10, 5000),
    rssi=st.one_of(st.none(), st.integers(-120, 0)),
    sensor=st.sampled_from(["s1", "s2"]),
    fp=st.sampled_from(["f1", "f2"]),
    randomized=st.booleans(),
    tag=st.one_of(st.none(), st.sampled_from(["x", "y"])),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_probe, max_size=60), st.booleans())
def test_never_raises_and_counts_are_consistent(probes: list[Probe], trust: bool) -> None:
    probes.sort(key=lambda p: p.t)
    g = Grouper(GroupingConfig(trust_local_bit=trust), keep_summaries=True)
    ids = g.assign_batch(probes)
    assert len(ids) == len(probes)
    assert len(set(ids)) <= len({p.device for p in probes})
    assert g.groups <= g.pseudonyms
    assert set(ids) <= {p.device for p in probes}  # a group is named by one of its pseudonyms
    g.close_all()
    assert all(0.0 < s.confidence <= 1.0 for s in g.drain())


@settings(max_examples=200, deadline=None)
@given(st.lists(_probe, max_size=60))
def test_a_pseudonym_keeps_its_group_while_heard(probes: list[Probe]) -> None:
    probes.sort(key=lambda p: p.t)
    g = Grouper()
    last: dict[str, tuple[float, str]] = {}
    for p, gid in zip(probes, g.assign_batch(probes), strict=True):
        seen = last.get(p.device)
        if seen is not None and p.t - seen[0] < g.config.session_gap_s / 2:
            assert gid == seen[1]
        last[p.device] = (p.t, gid)


# -- real phones (shared data) ------------------------------------------------------------

_PATTERNS = DATA / "probing-patterns"
# Groups measured per capture (one phone each; anonymized, so trust_local_bit=False):
# lab recordings at arm's length whose RSSI swings by 10-20 dB (std) split more.
# (MACs, groups at most). Since issue 11 a MAC that two groups fit equally by timing is
# left unlinked (``ambiguity_margin``): one phone's own earlier splits now cost a group
# or a few more (iPhone11-B 7 -> 8, iPhoneXR-L 26 -> 30).
_BOUNDS = {
    "OppoFindX3Neo-A": (15, 5),
    "S21Ultra-M": (28, 2),
    "iPhone11-B": (465, 8),
    "iPhone11-C": (334, 12),
    "iPhone11-F": (47, 11),
    "iPhone11-M": (236, 65),  # 21 days of recording: many visits, not one
    "iPhone12-M": (325, 13),
    "iPhone12Pro-C": (1, 1),
    "iPhone7-F": (35, 5),
    "iPhoneXR-A": (9, 5),
    "iPhoneXR-L": (91, 30),
}


def _probes(path: Path) -> list[Probe]:
    parser = WifiParser("lab", Pseudonymizer(KEY, 10**9))
    out: list[Probe] = []
    for batch in open_capture(path).batches():
        out += parser.parse_batch(batch)
    return out


@pytest.mark.realdata
@pytest.mark.parametrize("name", sorted(_BOUNDS))
def test_one_phone_collapses_to_few_groups(name: str) -> None:
    path = _PATTERNS / f"{name}_anonymized.pcap"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    probes = sorted(_probes(path), key=lambda p: p.t)
    macs, bound = _BOUNDS[name]
    groups = set(Grouper(GroupingConfig(trust_local_bit=False)).assign_batch(probes))
    assert len({p.device for p in probes}) == macs
    assert len(groups) <= bound


@pytest.mark.realdata
def test_lab_occupancy_correlates_better_with_groups_than_macs() -> None:
    """sc6-61: per-minute distinct devices against the lab's occupancy column."""
    pcap, table = DATA / "sc6-61_2022-11-09_p1.pcap", DATA / "sc6-61_2022-11-09_p1.csv"
    if not (pcap.is_file() and table.is_file()):
        pytest.skip("sc6-61 capture absent")
    with table.open(encoding="utf-8") as f:
        occupancy = [float(row["occupancy"]) for row in csv.DictReader(f, delimiter=";")]
    pairs = sorted(zip(_probes(pcap), occupancy, strict=True), key=lambda x: x[0].t)
    ids = Grouper().assign_batch([p for p, _ in pairs])
    t0 = pairs[0][0].t
    raw: dict[int, set[str]] = {}
    grouped: dict[int, set[str]] = {}
    occ: dict[int, list[float]] = {}
    for (p, o), gid in zip(pairs, ids, strict=True):
        minute = int((p.t - t0) // 60)
        raw.setdefault(minute, set()).add(p.device)
        grouped.setdefault(minute, set()).add(gid)
        occ.setdefault(minute, []).append(o)
    minutes = sorted(occ)
    truth = [statistics.fmean(occ[m]) for m in minutes]
    r_raw = statistics.correlation([len(raw[m]) for m in minutes], truth)
    r_grouped = statistics.correlation([len(grouped[m]) for m in minutes], truth)
    assert r_grouped >= 0.8 > r_raw  # measured: 0.845 against 0.687
