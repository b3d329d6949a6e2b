"""``mallsense demo``: the whole box on a laptop, from the recordings of the checkout.

A real Mosquitto on loopback, the sync agent as its own process (as the
``mallsense-sync`` service would run), the edge pipeline replaying the
simulated shop at a chosen speed, and a consumer playing the central
platform. A live view shows the shop's morning go by; the summary shows what
the platform received, checked against the simulation's ground truth.
"""

from __future__ import annotations

import json
import secrets
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from edge.config import Config, load_config
from edge.demo.broker import LocalBroker
from edge.demo.privacy_check import addresses_in_ble_recording, macs_in_captures, scan_for_macs
from edge.errors import MallsenseError
from edge.records import iso
from edge.runtime.replay import ReplayProgress, replay
from edge.store import Store

__all__ = ["DEMO_MARKER", "DemoResult", "may_empty", "run_demo"]

DEMO_MARKER = ".mallsense-demo"
"""Written into the output folder, so a later run knows it may empty the folder."""
_SENSORS = ("entrance", "shop")
_DRAIN_TIMEOUT_S = 60.0


@dataclass
class DemoResult:
    """What the demo proved; the exit status is 0 only if everything arrived."""

    written: dict[str, int]
    delivered: dict[str, int]
    duplicates: int
    gaps: list[tuple[str, int, int]]
    macs_found: int
    ok: bool
    figures: dict[str, Any] = field(default_factory=dict)


def demo_files() -> tuple[Path, dict[str, Path], Path]:
    """(config, {sensor: recording}, truth.json), from the source checkout.

    The recordings (732 KB of simulated captures) are not in the wheel: a box has no
    use for them. An installed ``mallsense`` says where the demo runs instead.
    """
    base = Path(str(resources.files("edge.demo")))
    samples = base / "samples"
    captures = {s: samples / f"{s}.pcap" for s in _SENSORS}
    missing = [p for p in (*captures.values(), samples / "ble.jsonl") if not p.is_file()]
    if missing:
        raise MallsenseError(
            f"the demo's recordings are not installed ({missing[0]} is missing): they live"
            " in the source repository, not in the package. Run the demo from a checkout of"
            " the repository: `make demo` in its top folder (where the Makefile is)"
        )
    return base / "demo.toml", captures, samples / "truth.json"


def run_demo(
    out: Path, speed: float, console: Console, broker_url: str | None = None
) -> DemoResult:
    """Run everything; ``out`` receives the database and the broker's files (a local
    Mosquitto's, unless ``broker_url`` names one already running)."""
    from sync.consumer import Consumer  # the platform side; only the demo needs it here

    config_path, captures, truth_path = demo_files()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / DEMO_MARKER).write_text(
        "made by `mallsense demo`, which empties this folder when it runs again\n",
        encoding="utf-8",
    )
    config = load_config(config_path)
    config = config.model_copy(
        update={"store": config.store.model_copy(update={"path": out / "mallsense.db"})}
    )
    with _broker(out, broker_url) as url:
        console.print(f"broker: {'mosquitto on ' if broker_url is None else ''}{url}")
        consumer = Consumer(url, config.mall)
        consumer.wait_subscribed()
        sync = _start_sync(config_path, config.store.path, url, out)
        try:
            pipeline = _replay_with_view(config, captures, speed, consumer, console)
            delivered_ok = _wait_delivered(config.store.path, consumer, console)
        finally:
            sync.terminate()
            sync.wait(timeout=10)
            consumer.close()
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    return _result(config, pipeline.stats.records_by_kind, consumer, captures, truth, delivered_ok)


@contextmanager
def _broker(out: Path, url: str | None) -> Iterator[str]:
    """The given broker's URL, or a local Mosquitto's for as long as the demo runs."""
    if url is not None:
        yield url
        return
    with LocalBroker(out / "broker") as broker:
        yield broker.url


def may_empty(out: Path) -> bool:
    """Whether the demo may empty ``out``: absent, empty, or made by an earlier demo."""
    if not out.exists():
        return True
    if not out.is_dir() or out.is_symlink():
        return False
    return (out / DEMO_MARKER).is_file() or not any(out.iterdir())


def _start_sync(config_path: Path, db: Path, url: str, out: Path) -> subprocess.Popen[bytes]:
    """The uplink as its own process, exactly as the systemd unit runs it."""
    log = (out / "sync.log").open("wb")
    argv = [sys.executable, "-m", "edge.cli", "sync", "--config", str(config_path)]
    argv += ["--db", str(db), "--broker", url]
    return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)


@dataclass
class _ViewState:
    progress: ReplayProgress | None = None
    by_kind: dict[str, int] = field(default_factory=dict)


def _replay_with_view(
    config: Config, captures: dict[str, Path], speed: float, consumer: Any, console: Console
) -> Any:
    state = _ViewState()
    done = threading.Event()
    result: list[Any] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with Store(config.store.path) as store:
                key = secrets.token_bytes(32)  # a throwaway mall key: pseudonyms die with the demo
                ble = {"shop-ble": captures_dir(captures) / "ble.jsonl"}
                pipeline = replay(config, captures, key, store, _progress(state), speed, ble=ble)
                result.append(pipeline)
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=work, name="edge-replay", daemon=True)
    thread.start()
    with Store(config.store.path) as reader, Live(console=console, refresh_per_second=8) as live:
        while not done.wait(0.125):
            live.update(_view(state, reader, consumer))
        live.update(_view(state, reader, consumer))
    if not console.is_terminal:
        console.print()  # rich leaves the cursor after the table when output is piped
    if errors:
        raise errors[0]
    return result[0]


def captures_dir(captures: dict[str, Path]) -> Path:
    """The samples folder (every recording of the demo lives there)."""
    return next(iter(captures.values())).parent


def _progress(state: _ViewState) -> Any:
    def update(p: ReplayProgress) -> None:
        state.progress = p

    return update


def _view(state: _ViewState, store: Store, consumer: Any) -> Group:
    p = state.progress
    depth, _oldest = store.outbox_depth()
    received, _duplicates, envelopes = consumer.snapshot()
    table = Table(show_header=False, title="mallsense demo: shop 12, Saturday morning",
                  title_justify="left")  # fmt: skip
    shop_time = iso(p.event_time)[11:19] if p and p.event_time > 0 else "--:--:--"
    table.add_row("shop clock (UTC)", shop_time)
    table.add_row("Wi-Fi frames parsed", f"{p.frames:,}" if p else "0")
    table.add_row("phones heard now", f"{p.open_devices:,}" if p else "0")
    table.add_row("records written (edge)", f"{p.records:,}" if p else "0")
    table.add_row("outbox waiting (sync)", f"{depth:,}")
    table.add_row("records received (platform)", f"{received:,} in {envelopes:,} batches")
    return Group(table)


def _wait_delivered(db: Path, consumer: Any, console: Console) -> bool:
    deadline = time.monotonic() + _DRAIN_TIMEOUT_S
    with Store(db) as store, console.status("waiting for the outbox to drain..."):
        while time.monotonic() < deadline:
            depth, _ = store.outbox_depth()
            received, _, _ = consumer.snapshot()
            if depth == 0 and received >= sum(store.counts().values()):
                return True
            time.sleep(0.1)
    return False


def _result(
    config: Config,
    written: Any,
    consumer: Any,
    captures: dict[str, Path],
    truth: dict[str, Any],
    delivered_ok: bool,
) -> DemoResult:
    stats = consumer.stats
    delivered = dict(stats.by_kind())
    payloads = [json.dumps(r) for r in stats.records.values()]
    macs = macs_in_captures(captures.values())
    macs |= addresses_in_ble_recording(captures_dir(captures) / "ble.jsonl")
    found = scan_for_macs(macs, [config.store.path.read_bytes(), *(p.encode() for p in payloads)])
    ok = delivered_ok and delivered == dict(written) and not stats.gaps and not found
    return DemoResult(
        written=dict(written),
        delivered=delivered,
        duplicates=stats.duplicates,
        gaps=list(stats.gaps),
        macs_found=len(found),
        ok=ok,
        figures=_figures(list(stats.records.values()), truth, len(macs)),
    )


def _figures(records: list[dict[str, Any]], truth: dict[str, Any], macs: int) -> dict[str, Any]:
    wifi = [r for r in records if r.get("source") == "wifi"]
    ble = [r for r in records if r.get("source") == "ble"]
    shop = [r for r in wifi if r["kind"] == "dwell" and r["zone"] == "shop" and not r["partial"]]
    presence = [r for r in wifi if r["kind"] == "presence"]
    visits = [r for r in wifi if r["kind"] == "visit"]
    entered = [v for v in visits if [s["zone"] for s in v["path"]][:2] == ["entrance", "shop"]]
    randomized = [r["randomized_share"] for r in presence if r["devices"]]
    hours = [r for r in wifi if r["kind"] == "traffic"]
    confidence = [r["grouping_confidence"] for r in hours if r["grouping_confidence"] is not None]
    return {
        "visits": len(visits),
        "visits_through_entrance": len(entered),
        "shop_dwells": len(shop),
        "median_shop_dwell_s": round(statistics.median(r["duration_s"] for r in shop))
        if shop
        else 0,
        "peak_visitors_per_minute": max(
            (r["visitors"] for r in presence if r["zone"] == "shop"), default=0
        ),
        "randomized_share": round(statistics.mean(randomized), 2) if randomized else 0.0,
        "device_hours_raw": sum(r["devices_raw"] for r in hours),
        "device_hours": sum(r["devices"] for r in hours),
        "grouping_confidence": round(statistics.mean(confidence), 2) if confidence else None,
        "staff_excluded": max((r["fixed"] for r in presence), default=0),
        "truth_visitors": truth["people"].get("visitor", 0),
        "truth_passersby": truth["people"].get("passerby", 0),
        "truth_median_dwell_s": round(statistics.median(truth["visitor_dwell_s"])),
        "macs_checked": macs,
        **_estimates([r for r in hours if r["zone"] == "shop"], truth.get("visitor_hours", [])),
        "ble_visits": sum(1 for r in ble if r["kind"] == "visit"),
        "ble_devices_peak": max((r["devices"] for r in ble if r["kind"] == "presence"), default=0),
    }


def _estimates(
    shop_hours: list[dict[str, Any]], truth_hours: list[dict[str, Any]]
) -> dict[str, Any]:
    """The sales floor's hourly people estimates (no MAC linking) and dwell medians, each
    beside the simulation's truth for the same hour, and summed over the recording."""
    people = [r for r in shop_hours if r.get("people_estimate") is not None]
    truth_by_start = {h["start"]: h for h in truth_hours}
    table = []
    for r in sorted(people, key=lambda r: r["start"]):
        truth = truth_by_start.get(datetime.fromisoformat(r["start"]).timestamp(), {})
        table.append(
            {
                "start": r["start"],
                "people": r["people_estimate"],
                "people_low": r["people_low"],
                "people_high": r["people_high"],
                "present": r.get("people_present"),
                "dwell_median_s": r.get("dwell_median_s"),
                "dwell_median_low_s": r.get("dwell_median_low_s"),
                "dwell_median_high_s": r.get("dwell_median_high_s"),
                "dwell_method": r.get("dwell_method"),
                "dwell_sure_sessions": r.get("dwell_sure_sessions"),
                "truth_people": truth.get("visitors"),
                "truth_present": truth.get("present"),
                "truth_dwell_median_s": truth.get("dwell_median_s"),
            }
        )
    return {
        "shop_people": round(sum(r["people_estimate"] for r in people)),
        "shop_people_low": round(sum(r["people_low"] for r in people)),
        "shop_people_high": round(sum(r["people_high"] for r in people)),
        "shop_hours": len(people),
        "shop_hour_figures": table,
        "truth_people_hours": sum(h["visitors"] for h in truth_hours),
    }
