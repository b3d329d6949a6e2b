"""Real phones: the sc6-61 lab capture against the people counted in the room.

    python benchmarks/crowd/sc6_61.py [--json] [--no-fixed]

``../shared/data/wifi/sc6-61_2022-11-09_p1.pcap`` (tomas-fryza/probe-request-project,
MIT): an ESP32 sniffer in a university lab for two hours; the CSV beside it gives, for
every frame, the ``occupancy`` of the room (0-17 people): the truth. The project's
README lists 14 all-in-one PCs of the lab that probe all day: they are configured as
``aggregation.fixed_devices`` (``--no-fixed`` leaves them to the 12-hour rule, which a
two-hour capture never reaches). The capture goes through the box's real pipeline
(parser, grouping, aggregation, rate estimator, ``edge.kpi``); per minute, the
presence record's ``people_estimate`` is compared with the mean occupancy of that
minute's frames: correlation, mean absolute error (relative to the mean occupancy)
and the share of minutes inside the 90 % interval. The zone's visitor threshold is
the default (-70 dBm): nothing here is tuned on this capture.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

import edge.config  # noqa: E402  (before edge.aggregate: the sensor plugins import it)
from drivers.wifi.pcap import open_capture  # noqa: E402
from edge.aggregate.ids import Record  # noqa: E402
from edge.config import parse_config  # noqa: E402
from edge.kpi.hours import epoch  # noqa: E402
from edge.runtime.pipeline import Pipeline  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "wifi"
CAPTURE = "sc6-61_2022-11-09_p1"
KEY = b"sc6-61-benchmark-key-0123456789ab"
LAB_PCS = (
    "dc:fb:48:68:be:e4", "dc:fb:48:8c:71:fc", "dc:fb:48:2a:52:e0", "dc:fb:48:f5:c6:c2",
    "dc:fb:48:e3:ab:78", "dc:fb:48:00:51:90", "dc:fb:48:75:d8:42", "dc:fb:48:de:86:8d",
    "dc:fb:48:dd:c6:0b", "dc:fb:48:55:d5:78", "dc:fb:48:c2:1d:64", "40:ec:99:f9:34:a6",
    "40:ec:99:8e:3f:63", "40:ec:99:1f:3e:75",
)  # fmt: skip
"""The lab's all-in-one PCs, as the capture's README lists them ("must be removed")."""


def lab_config(fixed: bool) -> edge.config.Config:
    macs = ", ".join(f'"{m}"' for m in LAB_PCS) if fixed else ""
    return parse_config(
        f"""mall = "vut"\nbox = "sc6-61"\ntimezone = "Europe/Prague"
[[zones]]\nid = "lab"
[[sensors]]\ntype = "wifi"\nname = "esp32"\nzone = "lab"
[aggregation]\nfixed_devices = [{macs}]
[store]\npath = "unused.db"
"""
    )


def run(fixed: bool) -> tuple[list[Record], list[float]]:
    """The capture through the pipeline: its records, and each frame's time."""
    pipeline = Pipeline(lab_config(fixed), KEY, None)
    parser = pipeline.parsers["esp32"]
    records: list[Record] = []
    times: list[float] = []
    for batch in open_capture(DATA / f"{CAPTURE}.pcap").batches():
        probes = parser.parse_batch(batch)
        times += [p.t for p in probes]
        pipeline.aggregator.observe_batch(probes)
        records += pipeline.collect(checkpoint=False)[0]
    pipeline.aggregator.advance(times[-1] + 2 * 3600)
    records += pipeline.collect(checkpoint=False)[0]
    return records, times


def occupancy_per_minute(times: list[float]) -> dict[float, float]:
    """Minute start -> mean occupancy of the CSV rows (one per frame, in pcap order)."""
    with (DATA / f"{CAPTURE}.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter=";"))
    if len(rows) != len(times):
        raise SystemExit(f"{len(rows)} CSV rows for {len(times)} frames")
    minutes: dict[float, list[float]] = {}
    for t, row in zip(times, rows, strict=True):
        minutes.setdefault(t // 60 * 60, []).append(float(row["occupancy"]))
    return {m: statistics.fmean(v) for m, v in minutes.items()}


def score(records: list[Record], truth: dict[float, float]) -> dict[str, Any]:
    pairs: list[tuple[float, float]] = []
    inside = 0
    for r in records:
        if r["kind"] != "presence" or r["partial"] or r["people_estimate"] is None:
            continue
        occupancy = truth.get(epoch(r["start"]))
        if occupancy is None:
            continue
        pairs.append((r["people_estimate"], occupancy))
        inside += r["people_low"] <= occupancy <= r["people_high"]
    est = [p[0] for p in pairs]
    true = [p[1] for p in pairs]
    hours = [
        {k: r[k] for k in ("start", "people_estimate", "people_low", "people_high",
                           "people_present", "visitors", "dwell_method", "dwell_median_s",
                           "dwell_median_low_s", "dwell_median_high_s", "dwell_sure_sessions",
                           "dwell_sessions")}
        for r in records if r["kind"] == "traffic" and not r["partial"]
    ]  # fmt: skip
    return {
        "minutes": len(pairs),
        "correlation": round(statistics.correlation(est, true), 3),
        "mean_abs_error": round(
            statistics.fmean(abs(a - b) for a, b in pairs) / statistics.fmean(true), 4
        ),
        "bias": round(sum(est) / sum(true) - 1, 4),
        "coverage_90": round(inside / len(pairs), 3),
        "mean_occupancy": round(statistics.fmean(true), 2),
        "mean_estimate": round(statistics.fmean(est), 2),
        "hours": hours,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description="sc6-61 lab capture (see docstring).")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-fixed", action="store_true", help="do not configure the lab PCs")
    args = parser.parse_args()
    if not (DATA / f"{CAPTURE}.pcap").is_file():
        raise SystemExit(f"{DATA / CAPTURE}.pcap is absent")
    records, times = run(not args.no_fixed)
    result: dict[str, Any] = {"capture": CAPTURE, "fixed_devices": not args.no_fixed}
    result |= score(records, occupancy_per_minute(times))
    if args.json:
        print(json.dumps(result))
        return
    print(f"{CAPTURE}: {result['minutes']} minutes, occupancy {result['mean_occupancy']} on"
          f" average, estimate {result['mean_estimate']}")  # fmt: skip
    print(f"per minute: correlation {result['correlation']}, mean absolute error"
          f" {result['mean_abs_error'] * 100:.1f} %, bias {result['bias'] * 100:+.1f} %,"
          f" 90 % interval covers {result['coverage_90'] * 100:.0f} %")  # fmt: skip
    for h in result["hours"]:
        print(f"  hour {h['start']}: people {h['people_estimate']} [{h['people_low']},"
              f" {h['people_high']}], present {h['people_present']}, dwell median"
              f" {h['dwell_median_s']} s ({h['dwell_method']}, {h['dwell_sure_sessions']} sure"
              f" of {h['dwell_sessions']} sessions)")  # fmt: skip


if __name__ == "__main__":
    main()
