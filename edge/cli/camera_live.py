"""``mallsense camera snapshot`` and ``camera watch``: a configured camera, seen by a technician.

``snapshot`` is the only place mallsense writes a camera's picture, on the
technician's explicit request, to a local file: people blurred unless
``--no-blur``, the configured lines (arrow to their in side) and areas drawn.
``watch`` runs the camera exactly as the daemon does (its own process, the same
model and counting) and shows what it is doing; nothing is stored.

Both open their own connection to the camera: most RTSP cameras allow several,
a USB camera the daemon holds cannot be opened twice (stop the daemon first).
OpenCV and onnxruntime are imported inside the commands.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.live import Live
from rich.table import Table

from edge.cli.common import config_option, console, fails_cleanly, json_option, print_json_line
from edge.config import load_config
from edge.errors import SensorError
from edge.sensors.camera.config import CameraSensorConfig

if TYPE_CHECKING:
    from drivers.camera.source import CameraSource

__all__ = ["add_commands", "configured_camera"]


def configured_camera(config_path: Path, name: str) -> CameraSensorConfig:
    cameras = [s for s in load_config(config_path).sensors if isinstance(s, CameraSensorConfig)]
    for sensor in cameras:
        if sensor.name == name:
            return sensor
    known = ", ".join(s.name for s in cameras) or "none"
    raise click.UsageError(f"{config_path} has no camera named {name!r} (cameras: {known})")


def _needs_camera_libraries() -> None:
    try:
        import cv2  # noqa: F401
        import onnxruntime  # type: ignore[import-untyped] # noqa: F401
    except ImportError as exc:
        raise SensorError(
            f"camera tools need OpenCV and onnxruntime ({exc}); install them with"
            " `pip install 'mallsense[camera]'`"
        ) from exc


@click.command("snapshot")
@click.argument("name")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Picture to write (.png or .jpg), on this box.",
)
@config_option()
@click.option("--no-blur", is_flag=True, help="Do not blur people (only with their consent).")
@fails_cleanly
def snapshot(name: str, out: Path, config_path: Path, no_blur: bool) -> None:
    """Save one picture of camera NAME with its lines and areas drawn, to place them.

    People are blurred (every box the detector finds) unless --no-blur. Lines
    carry an arrow towards their 'in' side; coordinates are the picture's pixels.
    The picture stays on this box: nothing else in mallsense stores or sends one.

    \b
    Examples:
      mallsense camera snapshot door --out /tmp/door.png
      mallsense camera snapshot door --config box.toml --out door.png --no-blur
    """
    sensor = configured_camera(config_path, name)
    _needs_camera_libraries()
    from drivers.camera.capture import CameraError
    from drivers.camera.detect import ModelError
    from drivers.camera.detectors import open_detector
    from drivers.camera.snapshot import grab_frame, layout_picture, write_picture
    from edge.sensors.camera.settings import camera_spec, camera_url, pipeline_config

    try:
        config = pipeline_config(sensor)
        detector = None if no_blur else open_detector(config.detector)
        image = grab_frame(replace(camera_spec(sensor), url=camera_url(sensor)))
        h, w = image.shape[:2]
        caption = f"{name} {w}x{h}" + ("" if no_blur else " (people blurred)")
        picture, blurred = layout_picture(image, config.lines, config.zones, detector, caption)
        write_picture(out, picture)
    except ModelError as exc:
        raise SensorError(f"{exc}; or take the picture with --no-blur") from exc
    except (CameraError, OSError) as exc:
        raise SensorError(str(exc)) from exc
    people = "" if no_blur else f", {blurred} people blurred"
    console.print(f"wrote {out} ({w}x{h}{people}); lines and areas are drawn in their pixels")


@click.command("watch")
@click.argument("name")
@config_option()
@click.option("--seconds", type=float, help="Stop after this long (default: until Ctrl-C).")
@json_option()
@fails_cleanly
def watch(name: str, config_path: Path, seconds: float | None, as_json: bool) -> None:
    """Show camera NAME's live frame rate, inference time, tracks and counts.

    The camera runs as in the daemon (its own process, the configured model,
    lines and areas); counts start at zero and nothing is stored.

    \b
    Examples:
      mallsense camera watch door
      mallsense camera watch door --config box.toml --seconds 30 --json
    """
    sensor = configured_camera(config_path, name)
    _needs_camera_libraries()
    from drivers.camera.detect import ModelError
    from edge.sensors.camera.settings import camera_spec, camera_url, pipeline_config

    try:
        config = pipeline_config(sensor)
    except ModelError as exc:
        raise SensorError(str(exc)) from exc
    from drivers.camera.source import CameraSource

    source = CameraSource(camera_spec(sensor), config, resolve_url=lambda: camera_url(sensor))
    stop = threading.Event()
    errors: list[BaseException] = []
    thread = threading.Thread(target=_run, args=(source, stop, errors), daemon=True)
    thread.start()
    try:
        _display(name, source, seconds, as_json, thread)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        thread.join(timeout=15)
    if errors:
        raise SensorError(str(errors[0])) from errors[0]


def _run(source: CameraSource, stop: threading.Event, errors: list[BaseException]) -> None:
    try:
        source.run(lambda _batch: None, stop)  # counts come with the health reports
    except OSError as exc:
        errors.append(exc)


def _summary(name: str, source: CameraSource) -> dict[str, Any]:
    stats = source.stats
    return {
        "camera": name,
        "frames": stats.frames,
        "fps": stats.fps,
        "detector_runs": stats.detector_runs,
        "inference_ms": stats.inference_ms,
        "tracks": stats.tracks,
        "lines": stats.lines,
        "areas": stats.areas,
        "reconnects": stats.reconnects,
        "damaged_frames": stats.damaged,
        "rss_mb": None if stats.rss_mb is None else round(stats.rss_mb, 1),
        "last_error": stats.last_error,
    }


def _table(s: dict[str, Any]) -> Table:
    table = Table(title=f"camera {s['camera']}", title_justify="left", show_header=False)
    table.add_row("frames/s", f"{s['fps']:.1f}  ({s['frames']:,} frames)")
    table.add_row("inference", f"{s['inference_ms']:.1f} ms  ({s['detector_runs']:,} runs)")
    table.add_row("people tracked", str(s["tracks"]))
    for line, c in s["lines"].items():
        table.add_row(f"line {line}", f"in {c['in']}  out {c['out']}")
    for area, c in s["areas"].items():
        table.add_row(f"area {area}", f"now {c['now']}  visits {c['visits']}")
    table.add_row("reconnects", str(s["reconnects"]))
    table.add_row("damaged frames", f"{s['damaged_frames']:,} skipped")
    table.add_row("memory", "-" if s["rss_mb"] is None else f"{s['rss_mb']:.0f} MB")
    table.add_row("last problem", s["last_error"] or "none")
    return table


def _display(
    name: str, source: CameraSource, seconds: float | None, as_json: bool, thread: threading.Thread
) -> None:
    end = time.monotonic() + seconds if seconds is not None else float("inf")
    live = None if as_json else Live(console=console, auto_refresh=False)
    with live or contextlib.nullcontext():
        while time.monotonic() < end and thread.is_alive():
            thread.join(min(1.0, max(end - time.monotonic(), 0)))  # returns early on failure
            if not thread.is_alive():
                break  # the camera failed: its error is reported, not an empty line
            summary = _summary(name, source)
            if live is None:
                print_json_line(summary)
            else:
                live.update(_table(summary), refresh=True)
    if live is not None and not console.is_terminal:
        console.print()


def add_commands(group: click.Group) -> None:
    """Attach ``snapshot`` and ``watch`` to the ``camera`` group."""
    group.add_command(snapshot)
    group.add_command(watch)
