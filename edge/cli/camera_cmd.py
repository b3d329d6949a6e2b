"""``mallsense camera``: the group, and ``camera count``: people in a video file, as a
camera would count them (``edge.cli.camera_video``).

A damaged video is read on past its damaged frames; the command says how many
frames it read of how many the file holds, and fails (exit 2, after printing the
counts) when more than ``MAX_DAMAGED_SHARE`` of them could not be read, because
its counts are then too low to use. A file with no decodable frame is an error.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.markup import escape

from edge.cli.camera_video import (
    BAND_HELP,
    MAX_DAMAGED_SHARE,
    CountResult,
    damage_report,
    detector_options,
    parse_line,
    parse_zone,
    run_count,
)
from edge.cli.common import console, err_console, fails_cleanly, json_option, print_json_line
from edge.errors import CaptureError

if TYPE_CHECKING:
    from drivers.camera.pipeline import CameraPipeline

__all__ = ["register"]

_PROGRESS_EVERY_S = 2.0


@click.group("camera")
def camera_group() -> None:
    """Camera tools for technicians: count and audit a recording, place lines, watch live.

    \b
    Examples:
      mallsense camera count entrance.mp4 --line 580,250,580,432 --json
      mallsense camera audit entrance.mp4 --line 580,250,580,432 --band 30 --out /tmp/audit
      mallsense camera snapshot door --out /tmp/door.png
      mallsense camera watch door --seconds 30
    """


@camera_group.command("count")
@click.argument("video", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--line", "line_text", help="Counting line X1,Y1,X2,Y2 (pixels of the video).")
@click.option("--band", type=float, default=0.0, show_default=True, help=BAND_HELP)
@click.option("--zone", "zone_text", help="Zone polygon X1,Y1,X2,Y2,X3,Y3,... (pixels).")
@click.option(
    "--annotate",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write this MP4 with tracks, line and zone drawn (stays on this box).",
)
@detector_options("the NanoDet-m model shipped in models/")
@json_option()
@fails_cleanly
def count(
    video: Path,
    line_text: str | None,
    band: float,
    zone_text: str | None,
    annotate: Path | None,
    every_frame: bool,
    model: Path | None,
    kind: str,
    threads: int,
    as_json: bool,
) -> None:
    """Count people crossing a line and visiting a zone in a video file.

    ``in`` counts crossings from the line's left to its right, looking from its
    first point to its second (image coordinates). Visits are the people whose
    feet entered the zone; dwell is their time in it, in seconds of the video.

    \b
    Examples:
      mallsense camera count door.mp4 --line 580,250,580,432
      mallsense camera count shop.mp4 --zone 360,320,540,320,540,400,360,400 --json
      mallsense camera count shop.mp4 --line 0,300,768,300 --annotate /tmp/check.mp4
    """
    if not line_text and not zone_text:
        raise click.UsageError("give --line, --zone or both: there is nothing to count without")
    lines = (parse_line(line_text, band),) if line_text else ()
    zones = (parse_zone(zone_text),) if zone_text else ()
    progress = _progress(video) if not as_json and err_console.is_terminal else None
    result = run_count(video, lines, zones, annotate, every_frame, model, kind, threads, progress)
    if result.frames == 0:
        raise CaptureError(
            f"{video}: no frame of it could be decoded; is it a complete video file?"
        )
    summary = result.as_json()
    if as_json:
        print_json_line(summary)
    else:
        console.print(_summary_line(video, summary, bool(lines), bool(zones)))
    _judge_damage(video, result)


def _summary_line(video: Path, summary: dict[str, Any], lines: bool, zones: bool) -> str:
    """What was counted, and only that (no "in 0, out 0" when no line was given)."""
    parts = []
    if lines:
        parts.append(f"in {summary['in']}, out {summary['out']}")
    if zones:
        dwell = ", ".join(str(d) for d in summary["dwell_s"]) or "-"
        parts.append(f"visits {summary['visits']} (dwell s: {dwell})")
    frames = f"{summary['frames']} frames at {summary['fps']} fps"
    return f"{video.name}: {'; '.join(parts)}; {frames}"


def _progress(video: Path) -> Any:
    """Every couple of seconds, how far the count is (on stderr: stdout stays the result)."""
    total = _frame_count(video)
    started = last = time.monotonic()
    seen = 0

    def on_frame(_pipeline: CameraPipeline, _image: Any) -> None:
        nonlocal last, seen
        seen += 1
        now = time.monotonic()
        if now - last >= _PROGRESS_EVERY_S:
            last = now
            share = f" of {total} ({seen / total:.0%})" if total else ""
            rate = seen / max(now - started, 1e-6)
            err_console.print(f"{video.name}: frame {seen}{share}, {rate:.0f} frames/s")

    return on_frame


def _frame_count(video: Path) -> int:
    import cv2

    capture = cv2.VideoCapture(str(video))
    try:
        return max(int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
    finally:
        capture.release()


def _judge_damage(video: Path, result: CountResult) -> None:
    """Warn about skipped frames; fail when so many are missing that the counts are low."""
    report = damage_report(video, result)
    if report is None:
        return
    if result.damaged_share > MAX_DAMAGED_SHARE:
        raise CaptureError(
            f"{report}; more than {MAX_DAMAGED_SHARE:.0%} of the video is missing, so the"
            " counts above are too low: copy the file again or record anew"
        )
    err_console.print(f"[bold yellow]warning:[/] {escape(report)}", soft_wrap=True)


def register(cli: click.Group) -> None:
    from edge.cli import camera_audit, camera_live

    camera_live.add_commands(camera_group)
    camera_audit.add_commands(camera_group)
    cli.add_command(camera_group)
