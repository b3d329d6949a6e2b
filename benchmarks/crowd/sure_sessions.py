"""Sure dwell sessions against the true stays of the phones behind them.

    python benchmarks/crowd/sure_sessions.py [SCENARIO] [--json]

Dwell figures rest on *sure* sessions: dwell records of global MACs, one phone each
(``edge.kpi.tracker``). The simulator knows whose phone sent every probe
(``crowd.evaluate.replay``), so each sure session of a day can be laid over that
person's true stays in the zone: whether it overlaps one at all (else it is a passer-by
heard at the zone's visitor level), how late it starts and how late it ends. Per zone:
sessions, the share that overlaps no stay, the medians of the sure sessions with and
without those, and the median of the stays they belong to. Run it on a tuning day
(``t-base`` by default): the held-out days are for reporting only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent.parent))

import edge.config  # noqa: E402,F401  (before edge.aggregate: the sensor plugins import it)
from crowd.calibrated import crowd_config, play_day  # noqa: E402
from crowd.evaluate import KEY, replay  # noqa: E402
from crowd.heldout import CAMERA_ZONE  # noqa: E402
from crowd.render import generate, load_truth  # noqa: E402
from crowd.scenarios import TUNING, by_name  # noqa: E402
from edge.aggregate.ids import Record  # noqa: E402
from edge.kpi.hours import epoch  # noqa: E402
from edge.runtime.pipeline import Pipeline  # noqa: E402

_SURE_MIN_S = 2.0  # as edge.kpi.tracker counts a sure session


def global_phones(truth: dict[str, Any]) -> dict[str, int]:
    """Pseudonym of every global MAC -> the simulated person it belongs to."""
    return {p.device: pid for chunk in replay(truth) for p, pid in chunk if not p.randomized}


def sure_dwells(truth: dict[str, Any]) -> list[Record]:
    pipeline = Pipeline(crowd_config(True, CAMERA_ZONE), KEY, None)
    records, _ = play_day(pipeline, truth, frozenset({"dwell"}), CAMERA_ZONE)
    return [
        r for r in records
        if r["source"] == "wifi" and r["randomized"] is False and not r["partial"]
        and r["duration_s"] > _SURE_MIN_S
    ]  # fmt: skip


def overlay(truth: dict[str, Any]) -> dict[str, list[tuple[float, float | None, float, float]]]:
    """Per zone, each sure session as (its length, the length of the true stay it overlaps
    most or None, how late it started, how late it ended) in seconds."""
    owner = global_phones(truth)
    stays = {p["pid"]: p["stays"] for p in truth["people"]}
    day = truth["day_epoch"]
    out: dict[str, list[tuple[float, float | None, float, float]]] = {}
    for r in sure_dwells(truth):
        pid = owner.get(r["device"])
        if pid is None:
            continue
        a, b = epoch(r["start"]), epoch(r["end"])
        own = [(day + x, day + y) for zone, x, y in stays[pid] if zone == r["zone"]]
        best = max(own, key=lambda s: min(b, s[1]) - max(a, s[0]), default=None)
        if best is None or min(b, best[1]) <= max(a, best[0]):
            out.setdefault(r["zone"], []).append((r["duration_s"], None, 0.0, 0.0))
        else:
            row = (r["duration_s"], best[1] - best[0], a - best[0], b - best[1])
            out.setdefault(r["zone"], []).append(row)
    return out


def summary(rows: list[tuple[float, float | None, float, float]]) -> dict[str, Any]:
    real = [r for r in rows if r[1] is not None]
    return {
        "sessions": len(rows),
        "passers_by_share": round(1 - len(real) / len(rows), 3),
        "median_s": round(statistics.median(r[0] for r in rows), 1),
        "median_without_passers_by_s": round(statistics.median(r[0] for r in real), 1),
        "median_true_stay_s": round(statistics.median(r[1] for r in real if r[1]), 1),
        "starts_late_s": round(statistics.median(r[2] for r in real), 1),
        "ends_late_s": round(statistics.median(r[3] for r in real), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Sure sessions vs true stays (see docstring).")
    parser.add_argument("scenario", nargs="?", default="t-base",
                        choices=[s.name for s in TUNING], help="a tuning day")  # fmt: skip
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--cache", type=Path, default=HERE.parent / ".cache")
    args = parser.parse_args()
    truth = load_truth(generate(by_name(args.scenario).params, args.cache))
    result = {zone: summary(rows) for zone, rows in sorted(overlay(truth).items()) if rows}
    if args.json:
        print(json.dumps({"scenario": args.scenario, "zones": result}))
        return
    print(f"{args.scenario}: sure sessions against the true stays of their phones")
    for zone, s in result.items():
        print(f"  {zone:11} {s['sessions']:4} sessions, {s['passers_by_share'] * 100:4.0f} %"
              f" overlap no stay; median {s['median_s']:7.0f} s, without those"
              f" {s['median_without_passers_by_s']:6.0f} s, their stays"
              f" {s['median_true_stay_s']:6.0f} s; start {s['starts_late_s']:+.0f} s,"
              f" end {s['ends_late_s']:+.0f} s")  # fmt: skip


if __name__ == "__main__":
    main()
