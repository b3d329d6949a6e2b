"""People, dwell and their intervals per zone-hour, on fixed scenarios the box was not tuned on.

    python benchmarks/crowd/heldout.py [--set heldout|tuning] [--only NAME ...] [--json]
                                       [--camera-miss 0.04]

Every scenario of the chosen set (``scenarios.py``) is simulated (once, cached) and
replayed through the box's real pipeline (parser, grouping, aggregation, ``edge.kpi``)
with a camera on shop-b's door simulated from the truth (a perfect count of who came
in and went out; the shop's door is its only way in); the five other zones have no
camera. Printed per scenario and for the whole set, separately for zones with
and without a camera: people per zone-hour (total error, median absolute error, 90 %
interval coverage), mean people present (from the presence records), dwell median.
Only the held-out set's figures go into docs/figures.md; tune on ``--set tuning``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))
sys.path.insert(0, str(HERE.parent))

import edge.config  # noqa: E402, F401  (before edge.aggregate: the sensor plugins import it)
from crowd.calibrated import crowd_config, play_day  # noqa: E402
from crowd.evaluate import KEY  # noqa: E402
from crowd.render import generate, load_truth  # noqa: E402
from crowd.scenarios import HELD_OUT, TUNING, Scenario, by_name  # noqa: E402
from crowd.zonehours import score_hours, summarize  # noqa: E402
from edge.aggregate.ids import Record  # noqa: E402
from edge.runtime.pipeline import Pipeline  # noqa: E402

_KINDS = frozenset({"traffic", "presence"})
CAMERA_ZONE = "shop-b"
"""The zone whose door a camera counts. Until 2026-12-07 the camera was the mall's
entrance, set in the corridor's zone; but the corridor is entered from every shop, so
its people are not the entrance's count plus those inside (docs/figures.md)."""


def run_records(truth: dict[str, Any], camera_miss: float = 0.0) -> tuple[list[Record], float]:
    """The day through the box's pipeline: its traffic and presence records, frames/s."""
    pipeline = Pipeline(crowd_config(True, CAMERA_ZONE), KEY, None)
    return play_day(pipeline, truth, _KINDS, CAMERA_ZONE, camera_miss)


def run_scenario(s: Scenario, cache: Path, camera_miss: float = 0.0) -> dict[str, Any]:
    truth = load_truth(generate(s.params, cache))
    records, rate = run_records(truth, camera_miss)
    rows = score_hours(truth, records)
    camera = [r for r in rows if r["zone"] == CAMERA_ZONE]
    no_camera = [r for r in rows if r["zone"] != CAMERA_ZONE]
    peak = max((r["truth"]["present"] for r in rows), default=0.0)
    return {
        "scenario": s.name, "varies": s.varies, "visitors": s.params.visitors,
        "peak_present": round(peak), "camera": summarize(camera),
        "no_camera": summarize(no_camera), "frames_per_s": round(rate), "rows": rows,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description="Held-out zone-hour figures (see docstring).")
    parser.add_argument("--set", choices=("heldout", "tuning"), default="heldout")
    parser.add_argument("--only", nargs="*", help="scenario names")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--camera-miss",
        type=float,
        default=0.0,
        help="share of door crossings the camera misses, each at random (0: a perfect count)",
    )
    parser.add_argument("--rows", action="store_true", help="keep the zone-hour rows in --json")
    parser.add_argument("--cache", type=Path, default=HERE.parent / ".cache")
    args = parser.parse_args()
    chosen: tuple[Scenario, ...] = HELD_OUT if args.set == "heldout" else TUNING
    if args.only:
        chosen = tuple(by_name(n) for n in args.only)
    results = [run_scenario(s, args.cache, args.camera_miss) for s in chosen]
    rows = [r for res in results for r in res["rows"]]
    overall = {
        "camera": summarize([r for r in rows if r["zone"] == CAMERA_ZONE]),
        "no_camera": summarize([r for r in rows if r["zone"] != CAMERA_ZONE]),
    }
    if not args.rows:
        for res in results:
            del res["rows"]
    if args.json:
        print(json.dumps({"set": args.set, "scenarios": results, "overall": overall}))
        return
    _print(results, overall)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:+.1f}%"


def _abs(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.1f}%"


def _line(name: str, s: dict[str, Any]) -> str:
    if not s.get("zone_hours"):
        return f"  {name:10} no zone-hours"
    cov = _abs(s["coverage_90"]) if s["coverage_90"] is not None else "-"
    present, dwell = _abs(s["present_median_abs_error"]), _abs(s["dwell_median_abs_error"])
    return (f"  {name:10}{s['zone_hours']:>5}{_pct(s['people_total_error']):>9}"
            f"{_abs(s['people_median_abs_error']):>9}{cov:>8}{s['people_missing']:>6}"
            f"{present:>9}{dwell:>9}")  # fmt: skip


def _print(results: list[dict[str, Any]], overall: dict[str, Any]) -> None:
    head = (f"  {'zones':10}{'z-h':>5}{'ppl sum':>9}{'ppl |e|':>9}{'cov90':>8}{'miss':>6}"
            f"{'pres |e|':>9}{'dwl |e|':>9}")  # fmt: skip
    for res in results:
        print(
            f"{res['scenario']} ({res['varies']}; {res['visitors']:,} visitors, peak"
            f" {res['peak_present']} present in a zone; {res['frames_per_s']:,} frames/s)"
        )
        print(head)
        print(_line("camera", res["camera"]))
        print(_line("no camera", res["no_camera"]))
    print("overall")
    print(head)
    print(_line("camera", overall["camera"]))
    print(_line("no camera", overall["no_camera"]))


if __name__ == "__main__":
    main()
