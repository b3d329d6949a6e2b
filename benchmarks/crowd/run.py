"""Crowd benchmark: counting people from random MACs, raw against grouped.

    python benchmarks/crowd/run.py [--visitors 20000] [--seed 2026] [--json]

Simulates (once, cached in benchmarks/.cache/) a mall day of N visitors whose
phones probe as measured phones do, one pcap per sensor plus the truth; then
replays it through the real parser and scores three ways of counting (see
``evaluate``): raw MACs, our grouping, and the oracle (perfect grouping). It
prints unique visitors, median dwell per zone and zone-path accuracy with
their errors, the grouping's purity and speed next to the parser's.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))
sys.path.insert(0, str(HERE.parent))

from crowd.evaluate import KEY, evaluate  # noqa: E402
from crowd.metrics import figures  # noqa: E402
from crowd.render import CrowdParams, generate, load_truth  # noqa: E402
from drivers.privacy import Pseudonymizer  # noqa: E402
from drivers.wifi.parse import WifiParser  # noqa: E402
from drivers.wifi.pcap import open_capture  # noqa: E402


def parse_rate(truth: dict[str, Any], limit: int = 1_000_000) -> float:
    """Parser frames/s on the same recording (the ingest rate grouping must not halve)."""
    frames, spent = 0, 0.0
    for name, info in truth["sensors"].items():
        parser = WifiParser(name, Pseudonymizer(KEY))
        for batch in open_capture(info["pcap"]).batches():
            started = time.perf_counter()
            parser.parse_batch(batch)
            spent += time.perf_counter() - started
            frames += len(batch)
            if frames >= limit:
                return frames / spent
    return frames / spent if spent else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description="Crowd benchmark (see the module docstring).")
    parser.add_argument("--visitors", type=int, default=20_000, help="visitors in the day")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--cache", type=Path, default=HERE.parent / ".cache")
    args = parser.parse_args()
    params = CrowdParams(visitors=args.visitors, seed=args.seed)
    started = time.perf_counter()
    folder = generate(params, args.cache)
    truth = load_truth(folder)
    generated = time.perf_counter() - started
    ev = evaluate(truth)
    result = {"benchmark": "crowd", "folder": str(folder), **figures(ev, truth)}
    ingest = parse_rate(truth)
    group = result["grouping_probes_per_s"]
    result["parser_frames_per_s"] = round(ingest)
    result["ingest_kept_with_grouping"] = round(group / (ingest + group), 3) if group else 0.0
    result["seconds"] = {
        "generate_or_load": round(generated, 1),
        "total": round(time.perf_counter() - started, 1),
    }
    if args.json:
        print(json.dumps(result))
        return
    _print(result)


def _pct(x: float) -> str:
    return f"{x * 100:+.1f}%"


def _print(r: dict[str, Any]) -> None:
    t, m = r["truth"], r["methods"]
    print(f"Crowd day: {t['people']:,} visitors, {t['wifi_on']:,} with Wi-Fi on,"
          f" {t['heard']:,} heard; {r['probes']:,} probe requests")  # fmt: skip
    print(f"{'':10}{'visitors':>10}{'error':>9}{'path acc':>10}{'purity':>8}{'dev/vis':>9}")
    for name in ("raw", "grouped", "oracle"):
        x = m[name]
        print(f"{name:10}{x['visitors']:>10,}{_pct(x['visitors_error']):>9}"
              f"{x['path_accuracy'] * 100:>9.1f}%{x['purity'] * 100:>7.1f}%"
              f"{x['devices_per_visitor']:>9.2f}")  # fmt: skip
    print(
        "\nper zone: visitors (truth, errors) and median dwell in s (truth, raw, grouped, oracle)"
    )
    print(f"{'zone':12}{'true vis':>9}{'raw err':>9}{'grp err':>9}{'orc err':>9}"
          f"{'true dwell':>11}{'raw':>7}{'grouped':>8}{'oracle':>8}")  # fmt: skip
    for z, truth_visitors in t["zone_visitors"].items():
        raw, grp, orc = (m[k]["zones"][z] for k in ("raw", "grouped", "oracle"))
        print(f"{z:12}{truth_visitors:>9,}{_pct(raw['visitors_error']):>9}"
              f"{_pct(grp['visitors_error']):>9}{_pct(orc['visitors_error']):>9}"
              f"{t['median_dwell_s'][z]:>11.0f}{raw['median_dwell_s']:>7.0f}"
              f"{grp['median_dwell_s']:>8.0f}{orc['median_dwell_s']:>8.0f}")  # fmt: skip
    g = r["grouping"]
    print(f"\ngrouping: {g['pseudonyms']:,} pseudonyms -> {g['groups']:,} groups;"
          f" links {g['links']};"
          f" mean confidence {r['mean_group_confidence']:.2f}")  # fmt: skip
    print(f"speed: grouping {r['grouping_probes_per_s']:,} probes/s, parser"
          f" {r['parser_frames_per_s']:,} frames/s -> parse+group keeps"
          f" {r['ingest_kept_with_grouping'] * 100:.0f}% of the parse rate")  # fmt: skip
    print(
        f"target (grouped within 10%, raw off by >100%): {'met' if r['target_met'] else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
