"""``mallsense camera audit``: every counted crossing on contact sheets, to check by eye.

The way footfall vendors audit a door counter: count a recording of the camera
(``mallsense record``, or any video file of it) exactly as the camera counts, and put one
picture of every counted crossing (its frame, track and direction) on numbered contact
sheets with a CSV index. A technician pages through them in minutes: a crossing counted
twice, a person counted in the wrong direction, or a phantom shows at once; people who
crossed without a tile are the misses. The hand count against the counted one is the
camera's accuracy on site. The sheets are written on the box only, on this request.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from edge.cli.camera_video import (
    BAND_HELP,
    detector_options,
    parse_line,
    pipeline_config_for,
    run_pipeline,
)
from edge.cli.common import config_option, console, fails_cleanly, json_option, print_json_line
from edge.config.models import DEFAULT_CONFIG_PATH
from edge.errors import CaptureError, SensorError

if TYPE_CHECKING:
    from drivers.camera.audit import ContactSheets
    from drivers.camera.pipeline import CameraPipeline, PipelineConfig

__all__ = ["add_commands", "audit_summary"]


def audit_summary(video: Path, sheets: ContactSheets, frames: int) -> dict[str, Any]:
    """What ``audit --json`` prints: counts, and where the sheets and index are."""
    crossings = sheets.crossings
    return {
        "video": str(video),
        "frames": frames,
        "in": sum(1 for c in crossings if c.direction == "in"),
        "out": sum(1 for c in crossings if c.direction == "out"),
        "crossings": len(crossings),
        "sheets": [str(p) for p in sheets.sheets],
        "index": str(sheets.folder / "crossings.csv"),
    }


@click.command("audit")
@click.argument("video", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--line", "line_text", help="Counting line X1,Y1,X2,Y2 (pixels).")
@click.option("--camera", "camera_name", help="Audit this configured camera's lines instead.")
@config_option(required=False)
@click.option("--band", type=float, default=0.0, show_default=True, help=BAND_HELP)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for the contact sheets (audit-001.png, ...) and crossings.csv.",
)
@detector_options("the model shipped in models/")
@json_option()
@fails_cleanly
def audit(
    video: Path,
    line_text: str | None,
    camera_name: str | None,
    config_path: Path | None,
    band: float,
    out: Path,
    every_frame: bool,
    model: Path | None,
    kind: str,
    threads: int,
    as_json: bool,
) -> None:
    """Count a recording and write a contact sheet of every counted crossing.

    Each tile shows the person on the frame the crossing was counted on, the line
    (and its band), and under it the crossing's number, direction, frame, time in
    the video and track. crossings.csv lists the same, one row per crossing.

    With --camera NAME the lines, bands, mounting and model of that camera in the
    configuration are used (a recording of that camera is what to audit).

    \b
    Examples:
      mallsense camera audit door.mp4 --line 330,575,330,140 --band 30 --out /tmp/audit
      mallsense camera audit door.mp4 --camera door-north --out /tmp/audit --json
    """
    from drivers.camera.audit import ContactSheets

    if (line_text is None) == (camera_name is None):
        raise click.UsageError("give either --line X1,Y1,X2,Y2 or --camera NAME")
    if camera_name is not None:
        config = _configured(camera_name, config_path or DEFAULT_CONFIG_PATH, every_frame)
    else:
        assert line_text is not None
        line = parse_line(line_text, band)
        config = pipeline_config_for(video, (line,), (), every_frame, model, kind, threads)
    out.mkdir(parents=True, exist_ok=True)
    sheets = ContactSheets(out, config.lines)

    def collect(pipeline: CameraPipeline, image: Any) -> None:
        if pipeline.crossings:
            sheets.add(image, pipeline.crossings)

    result = run_pipeline(video, config, None, collect)
    if result.frames == 0:
        raise CaptureError(f"{video}: no frame of it could be decoded; is it a complete video?")
    sheets.close()
    summary = audit_summary(video, sheets, result.frames)
    if as_json:
        print_json_line(summary)
        return
    console.print(
        f"{video.name}: in {summary['in']}, out {summary['out']} over {result.frames} frames;"
        f" {len(sheets.sheets)} contact sheet(s) in {out} (index: crossings.csv)"
    )


def _configured(name: str, config_path: Path, every_frame: bool) -> PipelineConfig:
    """The pipeline configured camera ``name`` counts with (its lines, bands, model)."""
    from drivers.camera.detect import ModelError
    from edge.cli.camera_live import configured_camera
    from edge.sensors.camera.settings import pipeline_config

    try:
        config = pipeline_config(configured_camera(config_path, name))
    except ModelError as exc:
        raise SensorError(str(exc)) from exc
    if not config.lines:
        raise click.UsageError(f"camera {name} has no lines in {config_path}: nothing to audit")
    return replace(config, gate=None) if every_frame else config


def add_commands(group: click.Group) -> None:
    group.add_command(audit)
