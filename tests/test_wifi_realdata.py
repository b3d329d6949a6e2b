"""Real captures from ../shared/data/wifi: the parser finds what tshark finds, field by field."""

from __future__ import annotations

import functools
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from shared_data import shared_data
from wifi_frames import freq_to_channel, run_tshark, tshark_path

from drivers.observations import Probe
from drivers.privacy import Pseudonymizer
from drivers.wifi.parse import WifiParser
from drivers.wifi.pcap import open_capture

DATA = shared_data() / "wifi"
FIELDS = [
    "frame.number",
    "frame.time_epoch",
    "radiotap.dbm_antsignal",
    "radiotap.channel.freq",
    "wlan.sa",
    "wlan.seq",
]
KEY = b"realdata-test-key-0123456789"
ONE_PERIOD = 10**9
"""A rotation period longer than the captures: equal MACs must give equal pseudonyms."""

pytestmark = pytest.mark.realdata


def _captures() -> list[object]:
    files = sorted(DATA.glob("*.pcap")) + sorted((DATA / "probing-patterns").glob("*.pcap"))
    if not files:
        reason = f"{DATA} is absent (shared sample data not checked out)"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="no-data")]
    return [pytest.param(f, id=f.name) for f in files]


CAPTURES = _captures()


@functools.cache
def tshark_probes(path: Path) -> tuple[tuple[str, ...], ...]:
    """tshark's probe requests in ``path`` (one tshark run per file)."""
    rows = run_tshark(path, FIELDS, "wlan.fc.type_subtype == 4")
    return tuple(tuple(row) for row in rows)


@functools.cache
def parsed(path: Path) -> tuple[dict[int, Probe], int, int, int]:
    """Probes by frame number, and the parser's frames, ignored and rejected counts."""
    parser = WifiParser("lab", Pseudonymizer(KEY, ONE_PERIOD))
    probes = {}
    for number, (t, linktype, frame) in enumerate(open_capture(path), start=1):
        probe = parser.parse(t, frame, linktype)
        if probe is not None:
            probes[number] = probe
    return probes, parser.frames, parser.ignored, sum(parser.rejected.values())


def need(path: Path | None) -> Path:
    if path is None or not path.is_file():
        pytest.skip(f"{path} is absent")
    if tshark_path() is None:
        pytest.skip("tshark is not installed")
    return path


def first(values: str) -> int | None:
    return int(values.split(",", maxsplit=1)[0]) if values else None


@pytest.mark.parametrize("path", CAPTURES)
def test_same_probe_requests_as_tshark(path: Path | None) -> None:
    path = need(path)
    rows = tshark_probes(path)
    probes, frames, ignored, rejected = parsed(path)
    assert rows, "tshark finds no probe request"
    assert sorted(probes) == [int(row[0]) for row in rows]
    assert rejected == 0
    assert frames - ignored == len(rows)


@pytest.mark.parametrize("path", CAPTURES)
def test_same_fields_as_tshark(path: Path | None) -> None:
    path = need(path)
    probes, *_ = parsed(path)
    for number, time_epoch, signal, freq, _sa, seq in tshark_probes(path):
        probe = probes.get(int(number))
        assert probe is not None, number
        assert probe.rssi == first(signal), number
        want_channel = None if not freq else freq_to_channel(first(freq) or 0)
        assert probe.channel == want_channel, number
        assert probe.seq == int(seq), number
        assert abs(probe.t - float(time_epoch)) < 1e-6, number


@pytest.mark.parametrize("path", CAPTURES)
def test_equal_pseudonyms_iff_equal_addresses(path: Path | None) -> None:
    path = need(path)
    probes, *_ = parsed(path)
    by_mac: defaultdict[str, set[str]] = defaultdict(set)
    by_device: defaultdict[str, set[str]] = defaultdict(set)
    for number, *_rest, sa, _seq in tshark_probes(path):
        device = probes[int(number)].device
        by_mac[sa].add(device)
        by_device[device].add(sa)
        assert probes[int(number)].randomized == bool(int(sa[:2], 16) & 2), number
    assert all(len(v) == 1 for v in by_mac.values())
    assert all(len(v) == 1 for v in by_device.values())


def _one(name: str) -> Path:
    path = DATA / name
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path


def test_university_lab_capture_matches_its_readme() -> None:
    probes, frames, ignored, _ = parsed(_one("sc6-61_2022-11-09_p1.pcap"))
    assert (frames, len(probes), ignored) == (8563, 8563, 0)
    devices = {p.device for p in probes.values()}
    randomized = {p.device for p in probes.values() if p.randomized}
    assert (len(devices), len(randomized)) == (2210, 2054)
    rssi = [p.rssi for p in probes.values() if p.rssi is not None]
    assert (min(rssi), max(rssi)) == (-97, -35)


def test_extended_presence_bitmaps_capture() -> None:
    probes, frames, ignored, rejected = parsed(_one("tcpdump_ieee802.11_exthdr.pcap"))
    assert (frames, len(probes), ignored, rejected) == (26, 6, 20, 0)
    assert all(p.directed for p in probes.values())
    assert len({p.ssid_tag for p in probes.values()}) == 1
    assert [p.rssi for p in probes.values()] == [-22, -19, -61, -70, -67, -72]
    assert {p.channel for p in probes.values()} == {1}


def test_aircrack_mixed_capture() -> None:
    probes, frames, ignored, rejected = parsed(_one("aircrack-ng_test1.pcap"))
    assert (frames, len(probes), ignored, rejected) == (192, 5, 187, 0)
    assert len({p.device for p in probes.values()}) == 5
    assert all(p.directed for p in probes.values())


def test_one_phone_many_macs_one_fingerprint_family() -> None:
    """iPhone11-B: 782 probes from 465 MACs of one phone; few IE fingerprints."""
    probes, *_ = parsed(_one("probing-patterns/iPhone11-B_anonymized.pcap"))
    assert len(probes) == 782
    assert len({p.device for p in probes.values()}) == 465
    assert len({p.fingerprint for p in probes.values()}) <= 10


def _lab(fixed: bool) -> list[dict[str, Any]]:
    """sc6-61 through the box's pipeline (benchmarks/crowd/sc6_61.py), lab PCs configured."""
    _one("sc6-61_2022-11-09_p1.pcap")
    benchmarks = str(Path(__file__).resolve().parents[1] / "benchmarks")
    if benchmarks not in sys.path:
        sys.path.insert(0, benchmarks)
    from crowd.sc6_61 import run

    records: list[dict[str, Any]] = run(fixed)[0]
    return records


def test_the_lab_pcs_configured_as_fixed_devices_leave_every_figure() -> None:
    fixed, unfixed = _lab(True), _lab(False)
    presence = [r for r in fixed if r["kind"] == "presence" and not r["partial"]]
    busy = [r for r in presence if r["frames"]]
    assert sum(1 for r in busy if r["fixed"]) > len(busy) / 2  # PCs probe all the time
    assert not any(r["fixed"] for r in unfixed if r["kind"] == "presence")  # 12 h never pass

    def devices(records: list[dict[str, Any]]) -> int:
        return sum(int(r["devices"]) for r in records if r["kind"] == "presence")

    assert devices(fixed) < devices(unfixed)
    dwell = {r["device"] for r in fixed if r["kind"] == "dwell"}
    assert len(dwell) < len({r["device"] for r in unfixed if r["kind"] == "dwell"})


def test_the_labs_hourly_dwell_is_never_one_second() -> None:
    hours = [r for r in _lab(True) if r["kind"] == "traffic" and not r["partial"]]
    full = [r for r in hours if r["people_present"] and r["people_present"] > 5]
    assert full
    for r in full:
        assert r["dwell_method"] in ("sessions-sure", "little")
        assert r["dwell_median_s"] > 60  # people sat there for an hour
        assert r["people_low"] is not None and r["people_high"] is not None
