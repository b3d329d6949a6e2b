"""Printing ``benchmarks/whole_box.py``'s figures, each with issue 14's target."""

from __future__ import annotations

from typing import Any

__all__ = ["TARGETS", "print_table", "role_sums"]

TARGETS = {
    "cores": "<= 1.0 (one core)",
    "pss_mb": "< 400",
    "drops": "0",
    "growth_mb_per_h": "< 5 (two-hour soak)",
    "rates": "processed = offered",
}


def role(name: str) -> str:
    """The role of a process from ``Tree.names`` ("comm<TAB>command line"): its own name
    first (camera processes and the detector name themselves), then its command line."""
    comm, _, cmdline = name.partition("\t")
    if comm.startswith("cam "):
        return "camera"
    if comm == "detector":
        return "detector"
    for marker, role_name in (
        ("forkserver", "camera forkserver"),
        ("spawn_main", "camera"),
        ("resource_tracker", "resource_tracker"),
        (" run ", "daemon"),
        (" sync ", "agent"),
    ):
        if marker in cmdline:
            return role_name
    return cmdline[:40]


def role_sums(names: dict[int, str], by_pid: dict[int, float]) -> dict[str, float]:
    """PSS by process role; cameras numbered in pid order."""
    out: dict[str, float] = {}
    cameras = 0
    for pid in sorted(by_pid):
        name = role(names.get(pid, ""))
        if name == "camera":
            cameras += 1
            name = f"camera process {cameras}"
        out[name] = round(out.get(name, 0.0) + by_pid[pid], 1)
    return out


def _lag(s: dict[str, Any]) -> str:
    if not s["n"]:
        return "no records"
    return f"p50 {s['p50']:.2f} s, p99 {s['p99']:.2f} s (max {s['max']:.2f} s, {s['n']:,} records)"


def _behind(behind: dict[str, int]) -> str:
    late = {n: v for n, v in behind.items() if v > 0}
    if not late:
        return "every camera analysed in real time"
    return "frames behind: " + ", ".join(f"{n} {v:,}" for n, v in late.items())


def print_table(r: dict[str, Any]) -> None:
    c = r["config"]
    load = ", ".join(f"{v:.2f}" for v in r["load_average"])
    print(
        f"whole box on CPU(s) {r['box_cpus']}: {c['cameras']} cameras ({c['plaza']} plaza),"
        f" 2 Wi-Fi at {c['wifi_rate']:g} frames/s in all, BLE at {c['ble_rate']:g}/s,"
        f" {c['pos']} POS lines; {r['seconds'] / 60:.1f} min measured after a"
        f" {r['warm_up_s']:.0f} s warm-up; load average {load} at the end, 1-min load"
        f" {r['load1_during']['mean']:.2f} on average during the run (max"
        f" {r['load1_during']['max']:.2f}); the box's CPU(s) busy {r['box_cpus_busy']:.3f}"
        " (the box and anything else scheduled there)"
    )
    by_tree = ", ".join(f"{n} {v:.3f}" for n, v in r["cores_by_tree"].items())
    growth = r["growth_mb_per_h"]
    rows = [
        ("cores used", f"{r['cores']:.3f} ({by_tree})", TARGETS["cores"]),
        ("PSS, both trees", f"{r['pss_mb']:.0f} MB (max {r['pss_max_mb']:.0f})", TARGETS["pss_mb"]),
        (
            "memory growth",
            "n/a (run longer)" if growth is None else f"{growth:+.1f} MB/h",
            TARGETS["growth_mb_per_h"],
        ),
        ("drops", f"{sum(r['drops'].values()):g}", TARGETS["drops"]),
        ("camera backlog", _behind(r["camera_frames_behind"]), "0 frames behind"),
        ("frame -> outbox", _lag(r["frame_to_outbox_s"]), "-"),
        ("outbox -> broker", _lag(r["outbox_to_broker_s"]), "-"),
    ]
    daemon = r["daemon_growth_mb_per_h"]
    if daemon is not None:
        rows.insert(3, ("  of it the daemon", f"{daemon:+.1f} MB/h", "-"))
    for label, value, target in rows:
        print(f"  {label:<18} {value:<58} target {target}")
    for name, v in r["pss_by_process_mb"].items():
        print(f"  PSS {name}: " + ", ".join(f"{p} {mb:.0f} MB" for p, mb in v.items()))
    print(f"  drops: {', '.join(f'{k} {v:g}' for k, v in r['drops'].items())}")
    print("  per sensor          offered/s   processed/s   (target: processed = offered)")
    for name, rate in r["rates"].items():
        print(f"    {name:<16} {rate['offered']:>10.2f} {rate['processed']:>13.2f}")
    print("  frame -> outbox by kind (sessions: due at last frame + session gap):")
    for kind, s in r["frame_to_outbox_by_kind_s"].items():
        print(f"    {kind:<12} {_lag(s)}")
    print("  samples (t s, PSS MB, daemon PSS MB, open devices, queued batches):")
    for row in r["samples"]["rows"][:: max(1, len(r["samples"]["rows"]) // 12)]:
        print("    " + "  ".join(f"{v:g}" for v in row))
    print(
        f"  records in the window: {r['records_in_window']}; not received by the platform:"
        f" {r['not_received']}; outbox at the end: {r['outbox_depth_end']:g}"
    )
