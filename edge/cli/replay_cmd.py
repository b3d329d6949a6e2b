"""``mallsense replay``: recordings through the daemon's pipeline, into a database.

Wi-Fi captures (``--wifi``) and BLE recordings (``--ble``) are merged by event time.
Without ``--config``, each recording is a sensor in a zone named after its file; a
BLE recording named like a Wi-Fi one (``shop.pcap``, ``shop.jsonl``) shares its zone,
so that zone gets figures from both radios. BLE sensors then count phones and
wearables (``REPLAY_BLE_CLASSES``): a configured box counts nothing over BLE until its
``publish_classes`` say so, but a replay without a configuration is a look at a
recording, and an empty result would only puzzle.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
import time
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from edge.cli.common import (
    config_option,
    console,
    err_console,
    fails_cleanly,
    json_option,
    print_json_line,
)
from edge.config import Config, load_config, replay_defaults
from edge.config.models import BleSensorConfig
from edge.config.secrets import pseudonymization_key
from edge.errors import CaptureError, ConfigError
from edge.records import utc
from edge.runtime.pipeline import Pipeline
from edge.runtime.replay import ReplayProgress, replay
from edge.store import Store

__all__ = ["REPLAY_BLE_CLASSES", "register", "replay_config", "replayed_marker"]

REPLAY_BLE_CLASSES = ("phone", "wearable")
"""BLE classes counted by a replay without --config (see the module docstring)."""
_KINDS = {"wifi": ("Wi-Fi", ".pcap or .pcapng"), "ble": ("BLE", ".jsonl")}


def _sensor_name(path: Path, default: str = "wifi") -> str:
    name = re.sub(r"[^a-z0-9_-]+", "-", path.stem.lower()).strip("-_") or default
    return name[:64]


def _parse_captures(
    specs: tuple[str, ...], config: Config | None, kind: str = "wifi"
) -> dict[str, Path]:
    """``NAME=FILE`` or ``FILE`` -> {sensor: path}, for the sensors of type ``kind``."""
    option, (label, suffixes) = f"--{kind}", _KINDS[kind]
    captures: dict[str, Path] = {}
    sensors = [s.name for s in config.sensors if s.type == kind] if config else []
    for spec in specs:
        name, sep, file = spec.partition("=")
        if not sep:
            file = spec
            if config is None:
                name = _sensor_name(Path(file), kind)
            elif len(sensors) == 1:
                name = sensors[0]
            else:
                raise ConfigError(
                    f"{option} {spec}: the configuration has {len(sensors)} {label} sensors"
                    f" ({', '.join(sensors)}); say which one: {option} NAME={spec}"
                )
        if name in captures:
            raise ConfigError(f"{option}: two recordings for sensor {name!r}")
        if config is not None and name not in sensors:
            raise ConfigError(
                f"{option} {spec}: the configuration has no {label} sensor {name!r}"
                f" (sensors: {', '.join(sensors) or 'none'}); use {option} NAME=FILE"
            )
        captures[name] = Path(file)
    for path in captures.values():
        if path.is_dir():
            raise CaptureError(f"{path} is a folder; give a recording ({suffixes}) in it")
        if not path.is_file():
            raise CaptureError(f"recording {path} does not exist")
    return captures


def replay_config(captures: dict[str, Path], ble: dict[str, Path], db: Path) -> Config:
    """The built-in configuration for these recordings (``replay_defaults`` plus BLE).

    A BLE recording whose name is a Wi-Fi recording's becomes sensor ``NAME-ble`` in
    zone ``NAME``; BLE sensors count ``REPLAY_BLE_CLASSES``.
    """
    ble_zones = {name: name for name in ble}
    zones = list(dict.fromkeys([*captures, *ble_zones.values()]))
    data = replay_defaults(zones, db).model_dump(mode="json", by_alias=True)
    data["sensors"] = [s for s in data["sensors"] if s["name"] in captures]
    for zone in ble_zones.values():
        name = f"{zone[:60]}-ble" if zone in captures else zone
        sensor = BleSensorConfig(
            type="ble", name=name, zone=zone, publish_classes=list(REPLAY_BLE_CLASSES)
        )
        data["sensors"].append(sensor.model_dump(mode="json"))
    return Config.model_validate(data)


def _ble_sensor_names(ble: dict[str, Path], config: Config) -> dict[str, Path]:
    """Recordings keyed by the BLE sensor ``replay_config`` made of each."""
    zone_of = {s.zone: s.name for s in config.sensors if isinstance(s, BleSensorConfig)}
    return {zone_of[zone]: path for zone, path in ble.items()}


def replayed_marker(captures: dict[str, Path], config: Config) -> str:
    """Identifies one replay of these files with this config (refuses a second one)."""
    digest = hashlib.sha256(config.model_dump_json().encode())
    for sensor, path in sorted(captures.items()):
        digest.update(sensor.encode())
        with path.open("rb") as f:
            digest.update(hashlib.file_digest(f, "sha256").digest())
    return "replayed." + digest.hexdigest()[:32]


@click.command("replay")
@config_option(
    required=False,
    help="Configuration file. Without it: mall 'demo', box 'replay', one zone per"
    " recording named after its file, visitor threshold -70 dBm, a throwaway key.",
    fallback=None,
)
@click.option(
    "--wifi",
    "wifi",
    multiple=True,
    metavar="[SENSOR=]CAPTURE.pcap",
    help="A pcap/pcapng recording of a monitor-mode interface; repeat for several sensors.",
)
@click.option(
    "--ble",
    "ble",
    multiple=True,
    metavar="[SENSOR=]RECORDING.jsonl",
    help="A BLE recording (JSON lines, as `mallsense ble record` writes); repeat for several"
    " sensors. Merged with the Wi-Fi recordings by event time.",
)
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="PATH",
    help="Database to write.",
)
@click.option(
    "--speed", type=float, help="Replay at this multiple of real time (default: flat out)."
)
@click.option("--force", is_flag=True, help="Replay even if these files were replayed into --db.")
@click.option(
    "--no-grouping",
    is_flag=True,
    help="Count every Wi-Fi MAC as a device, as MAC counters do (for comparisons; grouping"
    " a phone's random MACs is the default, and a configuration's aggregation.grouping).",
)
@json_option()
@fails_cleanly
def replay_command(
    config_path: Path | None,
    wifi: tuple[str, ...],
    ble: tuple[str, ...],
    db: Path | None,
    speed: float | None,
    force: bool,
    no_grouping: bool,
    as_json: bool,
) -> None:
    """Process recordings exactly as the daemon would, as fast as possible.

    Records go to the database and its outbox (ship them with `mallsense
    sync --drain`). Replaying the same files into the same database twice is
    refused, so nothing is counted twice. Without --config, BLE recordings count
    phones and wearables; a configuration's publish_classes decide otherwise.

    \b
    Examples:
      mallsense replay --wifi capture.pcap --db /tmp/replay.db
      mallsense replay --config box.toml --wifi entrance=a.pcap --wifi shop=b.pcap
      mallsense replay --wifi shop.pcap --ble shop.jsonl --db /tmp/both.db
      mallsense replay --wifi shop.pcap --db /tmp/raw.db --no-grouping
    """
    if not wifi and not ble:
        raise click.UsageError(
            "give at least one recording: --wifi CAPTURE.pcap or --ble FILE.jsonl"
        )
    config = load_config(config_path) if config_path else None
    captures = _parse_captures(wifi, config)
    recordings = _parse_captures(ble, config, "ble")
    if config is None:
        if db is None:
            raise click.UsageError("--db is required without --config")
        config = replay_config(captures, recordings, db)
        recordings = _ble_sensor_names(recordings, config)
        key = secrets.token_bytes(32)
    else:
        key = pseudonymization_key(config)
    if no_grouping:
        aggregation = config.aggregation.model_copy(update={"grouping": False})
        config = config.model_copy(update={"aggregation": aggregation})
    db_path = db or config.store.path
    with Store(db_path) as store:
        marker = replayed_marker(captures | recordings, config)
        if store.get(marker) and not force:
            raise CaptureError(
                f"these recordings were already replayed into {db_path} (at {store.get(marker)});"
                " nothing was added. Use another --db, or --force to add them again"
            )
        started = time.monotonic()
        pipeline = _run(config, (captures, recordings), key, store, speed, show=not as_json)
        store.put(marker, utc(time.time()).isoformat())
        _summary(pipeline, db_path, time.monotonic() - started, as_json)


def _run(
    config: Config,
    inputs: tuple[dict[str, Path], dict[str, Path]],
    key: bytes,
    store: Store,
    speed: float | None,
    show: bool,
) -> Pipeline:
    columns = (
        TextColumn("[bold]replay[/]"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[frames]:>9,} frames  {task.fields[records]:>7,} records"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err_console, transient=True, disable=not show) as bar:
        task = bar.add_task("replay", total=1, frames=0, records=0)

        def on_progress(p: ReplayProgress) -> None:
            bar.update(
                task,
                total=max(p.bytes_total, 1),
                completed=p.bytes_read,
                frames=p.frames,
                records=p.records,
            )

        captures, recordings = inputs
        pipeline = replay(config, captures, key, store, on_progress, speed, ble=recordings)
        replayed = {"state": "replayed", "last_frame_at": pipeline.aggregator.clock}
        names = [*pipeline.parsers, *pipeline.ble]
        pipeline.write_sensor_stats(dict.fromkeys(names, replayed), time.time())
        return pipeline


def _summary(pipeline: Pipeline, db: Path, elapsed: float, as_json: bool) -> None:
    sensors = pipeline.sensor_stats()
    frames = sum(p.frames for p in pipeline.parsers.values())
    frames += sum(b.frames for b in pipeline.ble.values())
    stats = pipeline.stats
    summary = {
        "db": str(db),
        "frames": frames,
        "frames_per_s": round(frames / elapsed) if elapsed > 0 else None,
        "records": dict(sorted(stats.records_by_kind.items())),
        "records_added": stats.records_added,
        "truncated_recordings": pipeline.truncated,
        "sensors": sensors,
        "elapsed_s": round(elapsed, 3),
    }
    if as_json:
        print_json_line(summary)
        return
    say = functools.partial(console.print, markup=False, soft_wrap=True)
    say(f"replayed {frames:,} frames in {elapsed:.2f} s into {db}")
    for name, s in sensors.items():
        rejected = ", ".join(f"{n} {why}" for why, n in s["rejected"].items()) or "none"  # type: ignore[attr-defined]
        if name in pipeline.ble:
            for line in ble_summary(name, s, rejected):
                say(line)
        else:
            say(f"  sensor {name}: {s['probes']:,} probe requests, {s['ignored']:,} other frames"
                f" ignored, rejected: {rejected}")  # fmt: skip
        for line in time_summary(s):
            say(line)
    kinds = ", ".join(f"{n:,} {k}" for k, n in sorted(stats.records_by_kind.items())) or "none"
    produced = sum(stats.records_by_kind.values())
    new = "all new" if stats.records_added == produced else f"{stats.records_added:,} new"
    say(f"  records: {kinds} ({new}; ids already stored are not added again)")
    for path in pipeline.truncated:
        say(f"  warning: {path} ends in the middle of a frame (the capture was cut short)")
    say(f"  next: mallsense records --db {db} --kind dwell")


def ble_summary(name: str, s: dict[str, Any], rejected: str) -> list[str]:
    """A BLE sensor's replay summary: what was counted, left out and grouped."""
    lines = [f"  sensor {name} (BLE): {s['frames']:,} advertisements, rejected: {rejected}"]
    classes = ", ".join(s.get("publish_classes", [])) or "none"
    left = ", ".join(f"{k} {n:,}" for k, n in sorted(s.get("not_published", {}).items()))
    if classes == "none":
        lines.append("    publish_classes is empty: no BLE records (health counters only)")
    else:
        lines.append(f"    counted {s.get('counted_adverts', 0):,} adverts of {classes};"
                     f" not counted: {left or 'none'}")  # fmt: skip
    lines.append(f"    staff tags: {s.get('staff_adverts', 0):,} adverts left out")
    for entry, b in s.get("fixed_beacons", {}).items():
        lines.append(f"    fixed beacon {entry}: seen {b['seen']:,}, RSSI mean {b['rssi_mean']}")
    private, grouped = s.get("private_addresses", 0), s.get("addresses_grouped", 0)
    lines.append(
        f"    addresses: {s.get('addresses', 0):,} counted, {private:,} private, {grouped:,}"
        f" grouped ({s.get('grouped_share', 0.0):.0%}): {s.get('devices', 0):,} devices"
    )
    return lines


def time_summary(s: dict[str, Any]) -> list[str]:
    """A sensor's frames left out for their time (``drivers.timegate``), with the reasons."""
    rejected: dict[str, int] = s.get("time_rejected") or {}
    lines: dict[str, int] = s.get("rejected") or {}  # BLE: lines the reader skipped
    invalid = rejected.get("time_invalid", 0) + lines.get("line_time", 0)
    jumps = rejected.get("time_jump", 0)
    if not invalid and not jumps and not s.get("time_jumps"):
        return []
    out = [f"    times: {invalid:,} impossible, {jumps:,} far from their neighbours: skipped"]
    if s.get("time_jumps"):
        out[0] += f"; the clock moved {s['time_jumps']:,} times (believed once 8 frames agreed)"
    out += [f"    warning: {problem}" for problem in s.get("time_problems", [])]
    return out


def register(cli: click.Group) -> None:
    cli.add_command(replay_command)
