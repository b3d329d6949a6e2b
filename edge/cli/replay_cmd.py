"""``mallsense replay``: recordings through the daemon's pipeline, into a database."""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
import time
from pathlib import Path

import click
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from edge.cli.common import console, err_console, fails_cleanly, json_option, print_json_line
from edge.config import Config, load_config, replay_defaults
from edge.config.secrets import pseudonymization_key
from edge.errors import CaptureError, ConfigError
from edge.records import utc
from edge.runtime.pipeline import Pipeline
from edge.runtime.replay import ReplayProgress, replay
from edge.store import Store

__all__ = ["register", "replayed_marker"]


def _sensor_name(path: Path) -> str:
    name = re.sub(r"[^a-z0-9_-]+", "-", path.stem.lower()).strip("-_") or "wifi"
    return name[:64]


def _parse_captures(specs: tuple[str, ...], config: Config | None) -> dict[str, Path]:
    """``NAME=FILE`` or ``FILE`` -> {sensor: path}."""
    captures: dict[str, Path] = {}
    wifi_sensors = [s.name for s in config.wifi_sensors()] if config else []
    for spec in specs:
        name, sep, file = spec.partition("=")
        if not sep:
            file = spec
            if config is None:
                name = _sensor_name(Path(file))
            elif len(wifi_sensors) == 1:
                name = wifi_sensors[0]
            else:
                raise ConfigError(
                    f"--wifi {spec}: the configuration has {len(wifi_sensors)} Wi-Fi sensors"
                    f" ({', '.join(wifi_sensors)}); say which one: --wifi NAME={spec}"
                )
        if name in captures:
            raise ConfigError(f"--wifi: two recordings for sensor {name!r}")
        if config is not None and name not in wifi_sensors:
            raise ConfigError(
                f"--wifi {spec}: the configuration has no sensor {name!r}"
                f" (sensors: {', '.join(wifi_sensors) or 'none'}); use --wifi NAME=FILE"
            )
        captures[name] = Path(file)
    for path in captures.values():
        if path.is_dir():
            raise CaptureError(f"{path} is a folder; give a recording (.pcap or .pcapng) in it")
        if not path.is_file():
            raise CaptureError(f"recording {path} does not exist")
    return captures


def replayed_marker(captures: dict[str, Path], config: Config) -> str:
    """Identifies one replay of these files with this config (refuses a second one)."""
    digest = hashlib.sha256(config.model_dump_json().encode())
    for sensor, path in sorted(captures.items()):
        digest.update(sensor.encode())
        with path.open("rb") as f:
            digest.update(hashlib.file_digest(f, "sha256").digest())
    return "replayed." + digest.hexdigest()[:32]


@click.command("replay")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Configuration file. Without it: mall 'demo', box 'replay', one zone per"
    " recording named after its file, visitor threshold -70 dBm, a throwaway key.",
)
@click.option(
    "--wifi",
    "wifi",
    multiple=True,
    required=True,
    metavar="[SENSOR=]CAPTURE.pcap",
    help="A pcap/pcapng recording of a monitor-mode interface; repeat for several sensors.",
)
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), help="Database to write.")
@click.option(
    "--speed", type=float, help="Replay at this multiple of real time (default: flat out)."
)
@click.option("--force", is_flag=True, help="Replay even if these files were replayed into --db.")
@json_option()
@fails_cleanly
def replay_command(
    config_path: Path | None,
    wifi: tuple[str, ...],
    db: Path | None,
    speed: float | None,
    force: bool,
    as_json: bool,
) -> None:
    """Process recordings exactly as the daemon would, as fast as possible.

    Records go to the database and its outbox (ship them with `mallsense
    sync --drain`). Replaying the same files into the same database twice is
    refused, so nothing is counted twice.

    \b
    Examples:
      mallsense replay --wifi capture.pcap --db /tmp/replay.db
      mallsense replay --config box.toml --wifi entrance=a.pcap --wifi shop=b.pcap
    """
    config = load_config(config_path) if config_path else None
    captures = _parse_captures(wifi, config)
    if config is None:
        if db is None:
            raise click.UsageError("--db is required without --config")
        config = replay_defaults(list(captures), db)
        key = secrets.token_bytes(32)
    else:
        key = pseudonymization_key(config)
    db_path = db or config.store.path
    with Store(db_path) as store:
        marker = replayed_marker(captures, config)
        if store.get(marker) and not force:
            raise CaptureError(
                f"these recordings were already replayed into {db_path} (at {store.get(marker)});"
                " nothing was added. Use another --db, or --force to add them again"
            )
        started = time.monotonic()
        pipeline = _run(config, captures, key, store, speed, show=not as_json)
        store.put(marker, utc(time.time()).isoformat())
        _summary(pipeline, db_path, time.monotonic() - started, as_json)


def _run(
    config: Config,
    captures: dict[str, Path],
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

        pipeline = replay(config, captures, key, store, on_progress, speed)
        replayed = {"state": "replayed", "last_frame_at": pipeline.aggregator.clock}
        pipeline.write_sensor_stats(dict.fromkeys(pipeline.parsers, replayed), time.time())
        return pipeline


def _summary(pipeline: Pipeline, db: Path, elapsed: float, as_json: bool) -> None:
    sensors = pipeline.sensor_stats()
    frames = sum(p.frames for p in pipeline.parsers.values())
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
        say(f"  sensor {name}: {s['probes']:,} probe requests, {s['ignored']:,} other frames"
            f" ignored, rejected: {rejected}")  # fmt: skip
    kinds = ", ".join(f"{n:,} {k}" for k, n in sorted(stats.records_by_kind.items())) or "none"
    produced = sum(stats.records_by_kind.values())
    new = "all new" if stats.records_added == produced else f"{stats.records_added:,} new"
    say(f"  records: {kinds} ({new}; ids already stored are not added again)")
    for path in pipeline.truncated:
        say(f"  warning: {path} ends in the middle of a frame (the capture was cut short)")
    say(f"  next: mallsense records --db {db} --kind dwell")


def register(cli: click.Group) -> None:
    cli.add_command(replay_command)
