"""The whole box, live, on a chosen number of cores: every sensor at once, for minutes or hours.

    python benchmarks/whole_box.py [--minutes 10 | --hours 2] [--cameras 4] [--plaza 2]
        [--cores 1] [--wifi-rate 2000] [--ble-rate 300] [--pos 2] [--json]

Runs the real edge daemon (``mallsense run``) and the real sync agent (``mallsense sync``)
as processes, both pinned to the first ``--cores`` CPUs (their children inherit it),
against a Mosquitto of its own on a free loopback port, with a platform subscriber on
``mallsense/v1/+/+/data/+`` (the box holds data nobody subscribes to). Every sensor is
fed live, in real time (``benchmarks/whole_box_inputs.py`` says what with):

- two Wi-Fi sensors from generated pcaps (``--simulate``), ``--wifi-rate`` frames/s in all;
- one BLE sensor from a generated JSON lines recording (``--simulate``), ``--ble-rate``;
- ``--cameras`` cameras from video files at their frame rate (``--simulate``): the first
  ``--plaza`` on the crowded plaza (``vtest.avi``, ``make footage``), the others on the
  one-by-one video;
- ``--pos`` POS lines, each a pseudo-terminal the daemon opens as its serial port, fed
  with receipts at 115,200 baud (``--receipts-per-min`` per line).

The benchmark itself (broker, subscriber, POS feeders) is pinned to the other CPUs when
there are any. After a warm-up (every sensor has produced frames, camera models loaded)
it measures for the chosen time and prints each figure next to issue 14's target:

- ``cores``: CPU seconds of the process trees (edge with its camera processes, sync)
  over wall seconds, from /proc;
- ``pss_mb``: the sum of PSS (``/proc/PID/smaps_rollup``) over both trees, at the end
  (``pss_max_mb``: the highest sample); per process in ``--json``;
- per sensor: offered rate (what the recording, video or feeder sends) against the rate
  the daemon counted (``mallsense_sensor_frames_total``; receipts for POS);
- ``drops``: queue overflows, records dropped or lost, parser rejections, restarts;
- ``frame_to_outbox_s``: p50 / p99 of (outbox row ``created`` - the moment the record
  became due) over the kinds whose due time is exact (intervals, receipts); per kind,
  sessions included, in ``frame_to_outbox_by_kind_s`` (``whole_box_lag.py`` says how);
- ``camera_frames_behind``: a file's frames wait for the counting, so a camera that
  cannot keep up falls behind (live, it would drop them): (offered - processed) x time;
- ``outbox_to_broker_s``: p50 / p99 of (subscriber receive time - outbox row ``created``),
  same host, same clock;
- ``growth_mb_per_h``: least-squares slope of the total PSS samples over the measured
  time (the first ``--settle`` seconds of it left out of the fit).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from whole_box_inputs import ONE_BY_ONE, PLAZA, ble_recording, receipt, wifi_recordings
from whole_box_lag import Subscriber, lags
from whole_box_probe import PosFeeder, Tree, cpu_busy_s, scrape, slope_per_hour
from whole_box_report import print_table, role_sums

from edge.demo.broker import LocalBroker, free_port

MALLSENSE = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "mallsense"
CAMERA_LINES = {
    "plaza": ('start = [330, 575]\nend = [330, 140]\nin_side = "left"', None),
    "one-by-one": (
        'start = [580, 250]\nend = [580, 432]\nin_side = "right"',
        "[[360, 320], [540, 320], [540, 400], [360, 400]]",
    ),
}


def camera_block(name: str, video: str, threads: int) -> str:
    line, area = CAMERA_LINES[video]
    path = PLAZA if video == "plaza" else ONE_BY_ONE
    text = (
        f'[[sensors]]\ntype = "camera"\nname = "{name}"\nzone = "door"\nurl = "{path}"\n'
        f'threads = {threads}\n[[sensors.lines]]\nname = "door"\n{line}\n'
    )
    if area:
        text += f'[[sensors.areas]]\nname = "table"\npoints = {area}\n'
    return text


def write_config(
    args: argparse.Namespace, work: Path, broker: str, ttys: list[str], ports: tuple[int, int]
) -> Path:
    parts = [
        'mall = "bench-mall"\nbox = "whole-box"\n'
        '[[zones]]\nid = "corridor"\nvisitor_rssi_dbm = -65\n'
        '[[zones]]\nid = "shop"\nvisitor_rssi_dbm = -70\n[[zones]]\nid = "door"\n'
        '[[sensors]]\ntype = "wifi"\nname = "wifi-a"\nzone = "corridor"\ninterface = "wlan0mon"\n'
        "channels = [1]\n"
        '[[sensors]]\ntype = "wifi"\nname = "wifi-b"\nzone = "shop"\ninterface = "wlan1mon"\n'
        "channels = [6]\n"
        '[[sensors]]\ntype = "ble"\nname = "ble"\nzone = "shop"\nadapter = "hci0"\n'
        'publish_classes = ["phone", "wearable"]\n'
        'fixed_beacons = ["6d616c6c-7365-6e73-652d-626561636f6e:1:1"]\n'
        'staff_tags = ["5354a1ff-0000-4000-8000-000000000007:7:42"]\n'
    ]
    for i, path in enumerate(ttys, 1):
        parts.append(
            f'[[sensors]]\ntype = "pos"\nname = "till-{i}"\nzone = "shop"\n'
            f'store = "shop-{i}"\nport = "{path}"\nbaudrate = 115200\n'
        )
    for i in range(args.cameras):
        video = "plaza" if i < args.plaza else "one-by-one"
        parts.append(camera_block(f"cam-{i + 1}", video, args.camera_threads))
    parts.append(
        f'[store]\npath = "{work / "box.db"}"\nmax_mb = 8192\n'
        f'[mqtt]\nurl = "{broker}"\n'
        f'[metrics]\nenabled = true\nlisten = "127.0.0.1:{ports[0]}"\n'
        f'sync_listen = "127.0.0.1:{ports[1]}"\n'
    )
    config = work / "box.toml"
    config.write_text("".join(parts))
    return config


def start(
    argv: list[str], cpus: set[int], log: Path, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    """A daemon, pinned at once (threads and children it makes later inherit the mask)."""
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    os.sched_setaffinity(proc.pid, cpus)
    return proc


def sensor_values(metrics: dict[str, Any], name: str) -> dict[str, float]:
    return {
        labels["sensor"]: value for labels, value in metrics.get(name, []) if "sensor" in labels
    }


def total(metrics: dict[str, Any], name: str) -> float:
    return float(sum(value for _, value in metrics.get(name, [])))


def warm_up(ports: tuple[int, int], sensors: list[str], timeout: float) -> float:
    """Wait until every sensor counted frames; the seconds it took."""
    begun = time.monotonic()
    while time.monotonic() - begun < timeout:
        frames = sensor_values(scrape(ports[0]), "mallsense_sensor_frames_total")
        if all(frames.get(s, 0) > 0 for s in sensors):
            return time.monotonic() - begun
        time.sleep(2)
    frames = sensor_values(scrape(ports[0]), "mallsense_sensor_frames_total")
    silent = [s for s in sensors if frames.get(s, 0) <= 0]
    print(f"warning: no frames after {timeout:.0f} s from {', '.join(silent)}", file=sys.stderr)
    return time.monotonic() - begun


def drop_counters(edge: dict[str, Any], sync: dict[str, Any]) -> dict[str, float]:
    return {
        "observations_dropped": total(edge, "mallsense_observations_dropped_total"),
        "records_dropped": total(edge, "mallsense_records_dropped_total"),
        "records_lost": total(edge, "mallsense_records_lost_total"),
        "store_write_failures": total(edge, "mallsense_store_write_failures_total"),
        "parser_rejected": total(edge, "mallsense_sensor_rejected_total"),
        "time_rejected": total(edge, "mallsense_sensor_time_rejected_total"),
        "sensor_restarts": total(edge, "mallsense_sensor_restarts_total"),
        "camera_process_restarts": total(edge, "mallsense_camera_process_restarts_total"),
    }


class Run:
    """One measured run: everything started, sampled, stopped; then the figures."""

    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args, self.work = args, work
        ncpu = os.cpu_count() or 1
        self.box_cpus = set(range(min(args.cores, ncpu)))
        self.own_cpus = set(range(ncpu)) - self.box_cpus or self.box_cpus
        self.ports = (free_port(), free_port())
        self.samples: list[dict[str, Any]] = []

    def inputs(self) -> dict[str, Any]:
        a = self.args
        wifi = wifi_recordings(a.wifi_rate, a.loop_s)
        ble = ble_recording(a.ble_rate, a.loop_s)
        if a.plaza and not PLAZA.exists():
            raise SystemExit(f"{PLAZA} is missing: run `make footage`")
        if a.cameras > a.plaza and not ONE_BY_ONE.exists():
            raise SystemExit(f"{ONE_BY_ONE} is missing (../shared/data)")
        return {"wifi": wifi, "ble": ble}

    def simulate_args(self, rec: dict[str, Any]) -> list[str]:
        out = []
        for name, r in rec["wifi"].items():
            out += ["--simulate", f"{name}={r.path}"]
        out += ["--simulate", f"ble={rec['ble'].path}"]
        for i in range(self.args.cameras):
            out += ["--simulate", f"cam-{i + 1}={PLAZA if i < self.args.plaza else ONE_BY_ONE}"]
        return out

    def offered(self, rec: dict[str, Any], feeders: list[PosFeeder]) -> dict[str, float]:
        out = {name: r.rate for name, r in rec["wifi"].items()} | {"ble": rec["ble"].rate}
        for i in range(self.args.cameras):
            out[f"cam-{i + 1}"] = 10.0  # both videos are 10 fps; fps_cap is 10
        for i in range(1, len(feeders) + 1):
            out[f"till-{i}"] = self.args.receipts_per_min / 60
        return out

    def sample(self, trees: dict[str, Tree], t0: float) -> dict[str, Any]:
        edge, sync = scrape(self.ports[0]), scrape(self.ports[1])
        pss = {name: tree.pss_mb() for name, tree in trees.items()}
        return {
            "t": time.monotonic() - t0,
            "wall": time.time(),
            "cpu": {name: tree.cpu_s() for name, tree in trees.items()},
            "box_cpus_busy": cpu_busy_s(self.box_cpus),
            "load1": os.getloadavg()[0],
            "pss": {name: sum(v.values()) for name, v in pss.items()},
            "pss_by_pid": pss,
            "frames": sensor_values(edge, "mallsense_sensor_frames_total"),
            "observations": sensor_values(edge, "mallsense_sensor_observations_total"),
            "drops": drop_counters(edge, sync),
            "outbox_depth": total(edge, "mallsense_outbox_depth"),
            "open_devices": total(edge, "mallsense_aggregation_open_devices"),
            "queue_batches": total(edge, "mallsense_aggregation_queue_batches"),
            "daemon_pss": pss["edge"].get(trees["edge"].root, 0.0),
            "sent": total(sync, "mallsense_uplink_records_sent_total"),
        }

    def execute(self) -> dict[str, Any]:
        a = self.args
        rec = self.inputs()
        os.sched_setaffinity(0, self.own_cpus)
        env = os.environ | {"MALLSENSE_KEY": secrets.token_hex(32)}
        broker = LocalBroker(self.work / "broker")
        broker.start()
        subscriber = Subscriber(broker.host, broker.port, "mallsense/v1/+/+/data/+")
        feeders = [PosFeeder(a.receipts_per_min, receipt) for _ in range(a.pos)]
        config = write_config(a, self.work, broker.url, [f.path for f in feeders], self.ports)
        log = self.work / "daemons.log"
        edge = start(
            [str(MALLSENSE), "run", "--config", str(config), *self.simulate_args(rec)],
            self.box_cpus,
            log,
            env,
        )
        sync = start([str(MALLSENSE), "sync", "--config", str(config)], self.box_cpus, log, env)
        trees = {"edge": Tree(edge.pid), "sync": Tree(sync.pid)}
        try:
            for feeder in feeders:
                feeder.start()
            sensors = ["wifi-a", "wifi-b", "ble"] + [f"cam-{i + 1}" for i in range(a.cameras)]
            warm = warm_up(self.ports, sensors, a.warm_up)
            time.sleep(a.steady_s)  # cameras that started late catch up before the clock runs
            warm += a.steady_s
            return self.measure(rec, feeders, trees, subscriber, config, warm, edge, sync)
        finally:
            for proc in (edge, sync):
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in (edge, sync):
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
            for feeder in feeders:
                feeder.stop()
            subscriber.close()
            broker.kill()

    def measure(
        self,
        rec: dict[str, Any],
        feeders: list[PosFeeder],
        trees: dict[str, Tree],
        subscriber: Subscriber,
        config: Path,
        warm: float,
        *procs: subprocess.Popen[bytes],
    ) -> dict[str, Any]:
        a = self.args
        t0 = time.monotonic()
        self.samples.append(self.sample(trees, t0))
        next_progress = _PROGRESS_S
        while (elapsed := time.monotonic() - t0) < a.seconds:
            time.sleep(min(a.sample_s, a.seconds - elapsed))
            self.samples.append(self.sample(trees, t0))
            if self.samples[-1]["t"] >= next_progress:
                progress(self.samples[0], self.samples[-1], a.seconds)
                next_progress += _PROGRESS_S
            if any(p.poll() is not None for p in procs):
                print("error: a daemon exited during the run", file=sys.stderr)
                break
        first, last = self.samples[0], self.samples[-1]
        status = subprocess.run(
            [str(MALLSENSE), "status", "--config", str(config), "--json"],
            capture_output=True,
            text=True,
            check=False,
        )
        time.sleep(a.drain_s)  # let the last records of the window reach the subscriber
        names = {name: tree.names() for name, tree in trees.items()}
        lag = lags(self.work / "box.db", first["wall"], last["wall"], subscriber.received())
        return self.figures(rec, feeders, first, last, warm, status.stdout, names, lag)

    def figures(
        self,
        rec: dict[str, Any],
        feeders: list[PosFeeder],
        first: dict[str, Any],
        last: dict[str, Any],
        warm: float,
        status: str,
        names: dict[str, Any],
        lag: dict[str, Any],
    ) -> dict[str, Any]:
        wall = last["t"] - first["t"]
        cpu = {n: (last["cpu"][n] - first["cpu"][n]) / wall for n in last["cpu"]}
        offered = self.offered(rec, feeders)
        processed = {}
        for name in offered:
            counter = "observations" if name.startswith("till-") else "frames"
            processed[name] = (last[counter].get(name, 0) - first[counter].get(name, 0)) / wall
        for i, feeder in enumerate(feeders, 1):  # what really went over the line
            sent = [s for s in feeder.sent if first["wall"] <= s[0] <= last["wall"]]
            offered[f"till-{i}"] = len(sent) / wall
        pss_series = [(s["t"], sum(s["pss"].values())) for s in self.samples]
        fit = [p for p in pss_series if p[0] >= self.args.settle]
        drops = {k: last["drops"][k] - first["drops"][k] for k in last["drops"]}
        behind = {  # frames a live camera would have dropped (a file's frames wait)
            n: round(max(0.0, offered[n] - processed[n]) * wall) for n in offered if "cam-" in n
        }
        statuses = [json.loads(line) for line in status.splitlines() if line.strip()]
        return {
            "config": {
                k: str(v) if isinstance(v, Path) else v
                for k, v in vars(self.args).items()
                if k != "json"
            },
            "box_cpus": sorted(self.box_cpus),
            "seconds": round(wall, 1),
            "warm_up_s": round(warm, 1),
            "load_average": os.getloadavg(),
            "load1_during": {
                "mean": round(sum(s["load1"] for s in self.samples) / len(self.samples), 2),
                "max": round(max(s["load1"] for s in self.samples), 2),
            },
            "box_cpus_busy": round((last["box_cpus_busy"] - first["box_cpus_busy"]) / wall, 3),
            "cores": round(sum(cpu.values()), 3),
            "cores_by_tree": {n: round(v, 3) for n, v in cpu.items()},
            "pss_mb": round(pss_series[-1][1], 1),
            "pss_max_mb": round(max(p[1] for p in pss_series), 1),
            "pss_by_tree_mb": {n: round(v, 1) for n, v in last["pss"].items()},
            "pss_by_process_mb": {
                n: role_sums(names[n], by_pid) for n, by_pid in last["pss_by_pid"].items()
            },
            "growth_mb_per_h": slope_per_hour(fit),
            "rates": {
                n: {"offered": round(offered[n], 2), "processed": round(processed[n], 2)}
                for n in offered
            },
            "drops": drops,
            "camera_frames_behind": behind,
            "outbox_depth_end": last["outbox_depth"],
            "records_sent": last["sent"] - first["sent"],
            "samples": {
                "columns": ["t_s", "pss_mb", "daemon_pss_mb", "open_devices", "queue_batches"],
                "rows": [
                    [
                        round(s["t"], 1),
                        round(sum(s["pss"].values()), 1),
                        round(s["daemon_pss"], 1),
                        s["open_devices"],
                        s["queue_batches"],
                    ]
                    for s in self.samples
                ],
            },
            "daemon_growth_mb_per_h": slope_per_hour(
                [(s["t"], s["daemon_pss"]) for s in self.samples if s["t"] >= self.args.settle]
            ),
            "status": statuses[0] if statuses else None,
        } | lag


_PROGRESS_S = 300.0
"""A line on stderr this often (a soak runs for hours)."""


def progress(first: dict[str, Any], now: dict[str, Any], seconds: float) -> None:
    """Elapsed time, memory and each sensor's processed rate so far, on stderr."""
    span = max(now["t"] - first["t"], 1e-9)
    rates = ", ".join(
        f"{name} {(now['frames'].get(name, 0.0) - first['frames'].get(name, 0.0)) / span:.1f}/s"
        for name in sorted(now["frames"])
    )
    pss = sum(now["pss"].values())
    print(
        f"[{now['t'] / 60:5.1f} of {seconds / 60:.0f} min] PSS {pss:.0f} MB (daemon"
        f" {now['daemon_pss']:.0f}), open devices {now['open_devices']:.0f}, outbox"
        f" {now['outbox_depth']:.0f}; processed: {rates}",
        file=sys.stderr,
        flush=True,
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    time_group = p.add_mutually_exclusive_group()
    time_group.add_argument("--minutes", type=float, default=10.0, help="measured time")
    time_group.add_argument("--hours", type=float, help="measured time (a soak)")
    p.add_argument("--cameras", type=int, default=4)
    p.add_argument("--plaza", type=int, default=2, help="cameras on the crowded plaza video")
    p.add_argument("--cores", type=int, default=1, help="CPUs the box is pinned to")
    p.add_argument("--camera-threads", type=int, default=1, help="onnxruntime threads each")
    p.add_argument("--wifi-rate", type=float, default=2000.0, help="probe frames/s, 2 sensors")
    p.add_argument("--ble-rate", type=float, default=300.0, help="adverts/s")
    p.add_argument("--pos", type=int, default=2, help="POS lines")
    p.add_argument("--receipts-per-min", type=float, default=6.0, help="per POS line")
    p.add_argument("--loop-s", type=float, default=600.0, help="length of the radio recordings")
    p.add_argument("--warm-up", type=float, default=180.0, help="at most, before measuring")
    p.add_argument("--steady-s", type=float, default=30.0, help="after the first frames")
    p.add_argument("--sample-s", type=float, default=15.0, help="sampling period")
    p.add_argument(
        "--settle",
        type=float,
        help="seconds left out of the memory fit (default: a third of the run, at most 20 min)",
    )
    p.add_argument("--drain-s", type=float, default=5.0)
    p.add_argument("--keep", type=Path, help="keep the work folder (database, logs) here")
    p.add_argument("--json", action="store_true", help="one JSON object")
    args = p.parse_args(argv)
    args.seconds = 3600 * args.hours if args.hours else 60 * args.minutes
    args.plaza = min(args.plaza, args.cameras)
    if args.settle is None:
        args.settle = min(1200.0, args.seconds / 3)
    return args


def main() -> None:
    args = parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        result = Run(args, args.keep).execute()
        (args.keep / "result.json").write_text(json.dumps(result, indent=1) + "\n")
    else:
        with tempfile.TemporaryDirectory(prefix="whole-box-") as work:
            result = Run(args, Path(work)).execute()
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print_table(result)


if __name__ == "__main__":
    random.seed(14)
    main()
