"""The crowd simulator and its scoring on a small day (20,000 visitors: the benchmark only)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "benchmarks") not in sys.path:
    sys.path.insert(0, str(ROOT / "benchmarks"))

from crowd.evaluate import evaluate, replay  # noqa: E402
from crowd.heldout import CAMERA_ZONE, run_records  # noqa: E402
from crowd.metrics import figures, true_path  # noqa: E402
from crowd.phones import MODELS, pick_model  # noqa: E402
from crowd.render import CrowdParams, generate, load_truth  # noqa: E402
from crowd.scenarios import HELD_OUT, TUNING  # noqa: E402
from crowd.zonehours import score_hours, summarize, truth_hours  # noqa: E402

SMALL = CrowdParams(visitors=300, seed=7)


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(SMALL, tmp_path_factory.mktemp("crowd"))


@pytest.fixture(scope="module")
def truth(day: Path) -> dict[str, Any]:
    return load_truth(day)


@pytest.fixture(scope="module")
def result(truth: dict[str, Any]) -> dict[str, Any]:
    return figures(evaluate(truth), truth)


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()


def test_same_seed_same_recording(day: Path, tmp_path: Path) -> None:
    again = generate(SMALL, tmp_path)
    assert _digest(again) == _digest(day)
    assert generate(SMALL, tmp_path) == again  # cached: not generated twice


def test_truth_names_a_visitor_for_every_frame(truth: dict[str, Any]) -> None:
    people = {p["pid"] for p in truth["people"]}
    for info in truth["sensors"].values():
        assert len(info["persons"]) == info["frames"] > 0
        assert set(info["persons"]) <= people
    silent = {p["pid"] for p in truth["people"] if not p["wifi_on"]}
    heard = {pid for info in truth["sensors"].values() for pid in info["persons"]}
    assert silent and not silent & heard


def test_the_real_parser_keeps_every_frame_in_time_order(truth: dict[str, Any]) -> None:
    times = [p.t for chunk in replay(truth) for p, _ in chunk]
    assert len(times) == sum(i["frames"] for i in truth["sensors"].values())
    assert times == sorted(times)


def test_phones_behave_per_model(truth: dict[str, Any]) -> None:
    """Per-burst iPhones show many MACs per visitor; global-MAC phones exactly one."""
    model = {p["pid"]: p["model"] for p in truth["people"]}
    macs: dict[int, set[str]] = {}
    for chunk in replay(truth):
        for p, pid in chunk:
            macs.setdefault(pid, set()).add(p.device)
    per_model: dict[str, list[int]] = {}
    for pid, seen in macs.items():
        per_model.setdefault(model[pid], []).append(len(seen))
    assert all(n == 1 for n in per_model["android-legacy"])
    assert min(per_model["iphone-11/12"]) > 5
    iphone = sum(per_model["iphone-11/12"]) / len(per_model["iphone-11/12"])
    galaxy = sum(per_model["galaxy-s"]) / len(per_model["galaxy-s"])
    assert iphone > 3 * galaxy  # a MAC per burst against a MAC per scan


def test_model_mix_follows_the_shares() -> None:
    import random

    rng = random.Random(1)
    drawn = Counter(pick_model(rng, 0.4).os for _ in range(5000))
    assert 0.37 < drawn["ios"] / 5000 < 0.43
    assert {m.family for m in MODELS if m.name.startswith("iphone-11")} == {"ios-a"}
    families = Counter(m.family for m in MODELS)
    assert max(families.values()) >= 2  # some models share a fingerprint


def test_true_path_keeps_destinations_in_order() -> None:
    stays = [["corridor", 0, 1], ["shop-a", 1, 2], ["corridor", 2, 3], ["shop-a", 3, 4],
             ["food-court", 4, 5], ["corridor", 5, 6]]  # fmt: skip
    assert true_path(stays) == ("shop-a", "food-court")


def test_grouping_beats_raw_mac_counting(result: dict[str, Any]) -> None:
    m = result["methods"]
    assert m["raw"]["visitors_error"] > 5.0  # raw MAC counting: several hundred percent over
    assert abs(m["grouped"]["visitors_error"]) < m["raw"]["visitors_error"] / 5
    assert abs(m["oracle"]["visitors_error"]) < 0.05
    assert m["oracle"]["path_accuracy"] >= m["raw"]["path_accuracy"]
    assert result["grouping"]["groups"] < result["grouping"]["pseudonyms"] / 5


def test_run_cli_prints_json(day: Path) -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks/crowd/run.py"), "--visitors", "300",
         "--seed", "7", "--json", "--cache", str(day.parent)],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    data = json.loads(out.stdout)
    assert data["benchmark"] == "crowd"
    assert data["grouping_probes_per_s"] > 0 and data["parser_frames_per_s"] > 0
    assert set(data["methods"]) == {"raw", "grouped", "oracle"}


def test_scenario_sets_never_share_a_day() -> None:
    held = {(s.params.visitors, s.params.seed) for s in HELD_OUT}
    tuning = {(s.params.visitors, s.params.seed) for s in TUNING}
    assert not {seed for _, seed in held} & {seed for _, seed in tuning}
    assert len(held) == len(HELD_OUT) and len(tuning) == len(TUNING)
    assert max(s.params.shared_fp_share for s in HELD_OUT) == 0.6


def test_new_knobs_at_their_defaults_keep_the_cache_key() -> None:
    """Days generated before the scenario knobs existed stay valid in the cache."""
    blob = json.dumps(
        {"visitors": 300, "seed": 7, "ios_share": 0.4, "wifi_off_share": 0.1,
         "screen_on_median_s": 15.0, "screen_off_median_s": 60.0, "format": 4},
        sort_keys=True,
    ).encode()  # fmt: skip
    assert SMALL.key() == hashlib.sha256(blob).hexdigest()[:12]
    assert CrowdParams(visitors=300, seed=7, sitter_share=0.1).key() != SMALL.key()


def test_the_shared_fingerprint_knob_moves_phones_onto_one_model(tmp_path: Path) -> None:
    shared = load_truth(generate(CrowdParams(visitors=300, seed=7, shared_fp_share=0.6), tmp_path))
    models = Counter(p["model"] for p in shared["people"])
    assert models["iphone-11/12"] / 300 > 0.55


def test_truth_per_zone_hour_counts_people_and_presence(truth: dict[str, Any]) -> None:
    hours = truth_hours(truth)
    day = truth["day_epoch"]
    for (zone, start), t in hours.items():
        assert 0 < t["present"] <= t["people"]
        assert zone in truth["sensors"] and (start - day) % 3600 == 0
    people = {p["pid"] for p in truth["people"]}
    corridor = [t["people"] for (z, _), t in hours.items() if z == "corridor"]
    assert sum(corridor) >= len(people)  # everyone walks the corridor at least once


def test_the_box_reports_people_with_intervals_on_a_small_day(truth: dict[str, Any]) -> None:
    records, rate = run_records(truth)
    rows = score_hours(truth, records, min_people=1)
    assert rows and rate > 0
    for r in rows:
        assert r["people_method"] == "rate" and not r["people_missing"]
        assert r["people_low"] <= r["people"] <= r["people_high"]
    summary = summarize([r for r in rows if r["zone"] != "corridor"])
    assert summary["coverage_90"] >= 0.7  # a small day: few followed phones, wide intervals
    presence = [r for r in records if r["kind"] == "presence" and r["people_estimate"]]
    assert presence and all(r["people_low"] <= r["people_estimate"] for r in presence)
    # The shop whose door a (perfect) camera counts: its count, fused with the rate. On a
    # day this quiet the rate pulls it by a few per cent (the running count of who is
    # inside weighs less as the day's crossings add up); the truth stays inside.
    door = [r for r in rows if r["zone"] == CAMERA_ZONE and r["truth"]["people"] >= 10]
    assert door and summarize(door)["people_median_abs_error"] <= 0.08
    assert summarize(door)["coverage_90"] == 1.0
    weights = [r["people_camera_weight"] for r in records if r["kind"] == "traffic"]
    assert any(w is not None and w > 0.5 for w in weights)
