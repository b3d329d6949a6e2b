"""Wi-Fi ingest benchmark: our replay against scapy and dpkt, in one run.

    python benchmarks/wifi_ingest.py [--json]

Generates (once, cached in benchmarks/.cache/) a simulated busy mall corridor:
at least 200,000 probe requests from a few thousand phones, with randomized
MACs that change every few minutes as real phones do. Then, pinned to one
CPU core, it measures:

- ours: ``edge.runtime.replay`` end to end (pcap reading, radiotap and 802.11
  parsing, HMAC pseudonymization, aggregation into dwell/visit/presence
  records), the median of several runs after a warm-up;
- scapy: ``PcapReader`` dissection of the same file (a prefix; its rate is
  the same over the whole file), touching the fields we extract;
- dpkt: ``dpkt.pcap.Reader`` + ``Radiotap`` (which decodes the 802.11 frame
  and its elements), touching the same fields;
- memory: peak RSS of a replay of the first quarter, half and all of the
  file, each in a fresh process, to show it does not grow with frames.

The JSON has ``frames_per_s``, ``vs_scapy`` and ``vs_dpkt`` (ratios measured
here, now) among other figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tests"))  # the simulator is a test fixture

from fixtures.wifi_simulation import corridor_scenario, write  # noqa: E402

import drivers.wifi.parse  # noqa: E402
from drivers.wifi.pcap import open_capture  # noqa: E402
from edge.config import replay_defaults  # noqa: E402
from edge.runtime.replay import replay  # noqa: E402
from edge.store import Store  # noqa: E402

MIN_FRAMES = 200_000
KEY = bytes(range(32))


def corridor_pcap(cache: Path) -> Path:
    """The benchmark's recording, generated on first use."""
    path = cache / "corridor.pcap"
    if not path.exists():
        print("generating the corridor recording (once)...", file=sys.stderr)
        write(corridor_scenario(people=6000, hours=8, linger_median_s=1000), cache)
    return path


def hot_path() -> str:
    """'compiled' when the mypyc build is what runs, else 'python'."""
    return "python" if drivers.wifi.parse.__file__.endswith(".py") else "compiled"


def pin_to_one_core() -> int | None:
    """Run on one CPU, as the target says; returns the core or None if not possible."""
    try:
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
    except (AttributeError, OSError):
        return None
    return core


def measure_ours(pcap: Path, runs: int) -> dict[str, Any]:
    config = replay_defaults(["corridor"], Path("unused.db"))
    replay(config, {"corridor": pcap}, KEY, None)  # warm-up
    rates = []
    for _ in range(runs):
        started = time.perf_counter()
        pipeline = replay(config, {"corridor": pcap}, KEY, None)
        elapsed = time.perf_counter() - started
        rates.append(pipeline.parsers["corridor"].frames / elapsed)
    return {
        "frames": pipeline.parsers["corridor"].frames,
        "probes": pipeline.parsers["corridor"].probes,
        "frames_per_s": round(statistics.median(rates)),
        "frames_per_s_best": round(max(rates)),
        "records": dict(pipeline.stats.records_by_kind),
        "devices": pipeline.parsers["corridor"].probes
        and len(pipeline.aggregator.snapshot()["devices"]),
    }


def measure_with_store(pcap: Path) -> float:
    """Replay into a real SQLite file (records + outbox), for reference."""
    config = replay_defaults(["corridor"], Path("unused.db"))
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "bench.db") as store:
        started = time.perf_counter()
        pipeline = replay(config, {"corridor": pcap}, KEY, store)
        return pipeline.parsers["corridor"].frames / (time.perf_counter() - started)


def measure_scapy(pcap: Path, limit: int) -> float:
    from scapy.layers.dot11 import Dot11, Dot11Elt, RadioTap
    from scapy.utils import PcapReader

    count = 0
    started = time.perf_counter()
    with PcapReader(str(pcap)) as reader:
        for packet in reader:
            radiotap = packet[RadioTap]
            _ = (radiotap.dBm_AntSignal, radiotap.ChannelFrequency)
            dot11 = packet[Dot11]
            _ = (dot11.addr2, dot11.SC)
            element = packet.getlayer(Dot11Elt)
            while isinstance(element, Dot11Elt):
                _ = (element.ID, element.info)
                element = element.payload
            count += 1
            if count >= limit:
                break
    return count / (time.perf_counter() - started)


def measure_dpkt(pcap: Path) -> float:
    import dpkt

    count = 0
    started = time.perf_counter()
    with pcap.open("rb") as f:
        for _ts, buf in dpkt.pcap.Reader(f):
            radiotap = dpkt.radiotap.Radiotap(buf)
            _ = (radiotap.ant_sig.db, radiotap.channel.freq)
            frame = radiotap.data
            _ = (frame.mgmt.src, frame.mgmt.frag_seq)
            for element in frame.ies:
                _ = (element.id, element.info)
            count += 1
    return count / (time.perf_counter() - started)


def measure_memory(pcap: Path, total: int) -> list[dict[str, Any]]:
    """Peak RSS of replays over growing prefixes, each in a fresh process."""
    out = []
    for fraction in (0.25, 0.5, 1.0):
        limit = int(total * fraction)
        child = subprocess.run(
            [sys.executable, __file__, "--child-memory", str(pcap), "--limit", str(limit)],
            capture_output=True,
            text=True,
            check=True,
        )
        out.append({"fraction": fraction, "frames": limit, **json.loads(child.stdout)})
    return out


def child_memory(pcap: Path, limit: int) -> None:
    """Replay the first ``limit`` frames of ``pcap`` and print peak RSS and state size."""
    from edge.runtime.pipeline import Pipeline

    config = replay_defaults(["corridor"], Path("unused.db"))
    pipeline = Pipeline(config, KEY, None)
    parse_batch = pipeline.parsers["corridor"].parse_batch
    seen = peak_devices = 0
    for chunk in open_capture(pcap).batches():
        batch = chunk[: max(limit - seen, 0)]
        pipeline.aggregator.observe_batch(parse_batch(batch))
        pipeline.aggregator.drain()
        peak_devices = max(peak_devices, pipeline.aggregator.open_devices)
        seen += len(batch)
        if seen >= limit:
            break
    print(json.dumps({"rss_mb": round(peak_rss_mb(), 1), "peak_open_devices": peak_devices}))


def peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM; ru_maxrss would include the parent's at fork)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Wi-Fi ingest benchmark (see the module docstring)."
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of our replay")
    parser.add_argument("--scapy-frames", type=int, default=10_000, help="frames scapy dissects")
    parser.add_argument("--cache", type=Path, default=HERE / ".cache")
    parser.add_argument("--child-memory", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_memory:
        child_memory(args.child_memory, args.limit)
        return
    core = pin_to_one_core()
    pcap = corridor_pcap(args.cache)
    ours = measure_ours(pcap, args.runs)
    if ours["frames"] < MIN_FRAMES:
        sys.exit(f"the recording has {ours['frames']} frames, fewer than {MIN_FRAMES}")
    scapy_rate = measure_scapy(pcap, args.scapy_frames)
    dpkt_rate = measure_dpkt(pcap)
    memory = measure_memory(pcap, ours["frames"])
    result = {
        "benchmark": "wifi_ingest",
        "pcap": str(pcap),
        "cpu_core": core,
        "hot_path": hot_path(),
        **ours,
        "frames_per_s_with_sqlite": round(measure_with_store(pcap)),
        "scapy_frames_per_s": round(scapy_rate),
        "dpkt_frames_per_s": round(dpkt_rate),
        "vs_scapy": round(ours["frames_per_s"] / scapy_rate, 1),
        "vs_dpkt": round(ours["frames_per_s"] / dpkt_rate, 2),
        "memory": memory,
        "rss_growth_quarter_to_full": round(memory[-1]["rss_mb"] / memory[0]["rss_mb"], 3),
    }
    if args.json:
        print(json.dumps(result))
        return
    _print_table(result)


def _print_table(r: dict[str, Any]) -> None:
    print(f"Wi-Fi ingest, {r['frames']:,} frames, {r['probes']:,} probe requests")
    print(f"  (one CPU core: {r['cpu_core']}; hot path: {r['hot_path']})")
    print(
        f"  mallsense replay  {r['frames_per_s']:>10,} frames/s  (best {r['frames_per_s_best']:,})"
    )
    print(f"  + SQLite store    {r['frames_per_s_with_sqlite']:>10,} frames/s")
    print(f"  scapy dissection  {r['scapy_frames_per_s']:>10,} frames/s  -> ours x{r['vs_scapy']}")
    print(f"  dpkt              {r['dpkt_frames_per_s']:>10,} frames/s  -> ours x{r['vs_dpkt']}")
    for m in r["memory"]:
        print(f"  memory after {m['frames']:>8,} frames: {m['rss_mb']:6.1f} MB peak RSS,"
              f" {m['peak_open_devices']:,} devices tracked at most")  # fmt: skip


if __name__ == "__main__":
    main()
