"""``mallsense camera count``: count people in a video file, as a camera would.

OpenCV and onnxruntime are imported inside the command, so ``mallsense`` keeps
working on a box installed without the camera extra (``pip install mallsense[camera]``).

A damaged video is read on past its damaged frames; the command says how many
frames it read of how many the file holds, and fails (exit 2, after printing the
counts) when more than ``MAX_DAMAGED_SHARE`` of them could not be read, because
its counts are then too low to use. A file with no decodable frame is an error.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.markup import escape

from drivers.camera.count import Line, Point, Zone
from edge.cli.common import console, err_console, fails_cleanly, json_option, print_json_line
from edge.errors import CaptureError, SensorError

if TYPE_CHECKING:
    from drivers.camera.detect import DetectorConfig
    from drivers.camera.pipeline import CameraPipeline, PipelineConfig

__all__ = [
    "MAX_DAMAGED_SHARE",
    "CountResult",
    "count_video",
    "damage_report",
    "parse_line",
    "parse_zone",
    "register",
]

MAX_DAMAGED_SHARE = 0.05
"""Above this share of unreadable frames ``camera count`` fails: its counts are too low."""


def _numbers(text: str, what: str) -> list[float]:
    try:
        return [float(v) for v in text.replace(" ", "").split(",") if v != ""]
    except ValueError:
        raise click.BadParameter(f"{what} {text!r} must be numbers separated by commas") from None


def parse_line(text: str) -> Line:
    """``X1,Y1,X2,Y2`` in the video's pixels: ``in`` is left to right looking from 1 to 2."""
    v = _numbers(text, "--line")
    if len(v) != 4 or (v[0], v[1]) == (v[2], v[3]):
        raise click.BadParameter(f"--line {text!r} needs X1,Y1,X2,Y2 with two distinct points")
    return Line("line", (v[0], v[1]), (v[2], v[3]))


def parse_zone(text: str) -> Zone:
    """``X1,Y1,X2,Y2,X3,Y3,...``: a polygon of at least three points."""
    v = _numbers(text, "--zone")
    if len(v) < 6 or len(v) % 2:
        raise click.BadParameter(f"--zone {text!r} needs at least three X,Y points")
    points: tuple[Point, ...] = tuple((v[i], v[i + 1]) for i in range(0, len(v), 2))
    return Zone("zone", points)


@dataclass
class CountResult:
    """The counts of one video (``as_json`` is the CLI's JSON contract)."""

    entered: int = 0
    exited: int = 0
    dwell_s: dict[int, float] = field(default_factory=dict)
    """Per track that entered the zone: its total time in it."""
    frames: int = 0
    detector_runs: int = 0
    seconds: float = 0.0
    expected: int | None = None
    """Frames the file says it holds (None when it does not say)."""
    damaged: int = 0
    """Frames that could not be decoded and were skipped (at the end of a cut file too)."""
    missing_at_end: int = 0
    """Of ``damaged``: the frames after the last one read (a file cut short)."""

    def as_json(self) -> dict[str, Any]:
        return {
            "in": self.entered,
            "out": self.exited,
            "visits": len(self.dwell_s),
            "dwell_s": [round(d, 1) for _, d in sorted(self.dwell_s.items())],
            "frames": self.frames,
            "fps": round(self.frames / self.seconds, 1) if self.seconds > 0 else 0.0,
            "detector_runs": self.detector_runs,
            "frames_expected": self.expected,
            "damaged_frames": self.damaged,
        }

    @property
    def damaged_share(self) -> float:
        """Share of the file's frames that could not be read."""
        total = self.frames + self.damaged
        return self.damaged / total if total else 0.0


def damage_report(video: Path, result: CountResult) -> str | None:
    """What a technician is told about a damaged video (None when every frame was read)."""
    if not result.damaged:
        return None
    total = result.frames + result.damaged  # at least what the file says it holds
    inside = result.damaged - result.missing_at_end
    what = []
    if inside:
        what.append(f"{inside:,} damaged frame{'' if inside == 1 else 's'} skipped")
    if result.missing_at_end:
        what.append(f"the last {result.missing_at_end:,} missing")
    why = "corrupt" if not result.missing_at_end else "cut short or corrupt"
    lost = " and ".join(what)
    return f"read {result.frames:,} of {total:,} frames; {lost} (file may be {why}: {video})"


def count_video(
    video: Path,
    config: PipelineConfig,
    annotate: Path | None = None,
    pipeline: CameraPipeline | None = None,
) -> CountResult:
    """Run ``video`` through a camera pipeline (in this process) and total its counts."""
    from drivers.camera.annotate import VideoWriter
    from drivers.camera.capture import CameraSpec, ReplaySource
    from drivers.camera.pipeline import build_pipeline

    pipeline = pipeline or build_pipeline(config)
    source = ReplaySource(CameraSpec(video.name, str(video)))
    writer = VideoWriter(annotate, 10.0) if annotate is not None else None
    started = time.perf_counter()
    try:
        while (frame := source.read()) is not None:
            pipeline.process(frame.t, frame.image)
            if writer is not None:
                writer.write(_annotated(pipeline, frame.image))
        pipeline.finish()
    finally:
        source.close()
        if writer is not None:
            writer.close()
    result = _result(pipeline, time.perf_counter() - started)
    result.expected = source.expected
    # Frames the file holds but that never came: skipped ones, and those past a cut.
    missing = (source.expected or 0) - result.frames
    result.damaged = max(source.damaged, missing)
    result.missing_at_end = min(source.missing_at_end, result.damaged)
    return result


def _annotated(pipeline: CameraPipeline, image: Any) -> Any:
    from drivers.camera.annotate import draw

    lines = [c.line for c in pipeline.lines]
    zones = [z.zone for z in pipeline.zones]
    counts = " ".join(f"in {c.entered} out {c.exited}" for c in pipeline.lines)
    visits = " ".join(f"visits {z.entries} now {z.occupancy}" for z in pipeline.zones)
    return draw(image, pipeline.tracks, lines, zones, f"{counts} {visits}".strip())


def _result(pipeline: CameraPipeline, seconds: float) -> CountResult:
    result = CountResult(seconds=seconds)
    result.entered = sum(c.entered for c in pipeline.lines)
    result.exited = sum(c.exited for c in pipeline.lines)
    for stay in pipeline.stays:
        result.dwell_s[stay.track] = result.dwell_s.get(stay.track, 0.0) + stay.dwell_s
    result.frames = pipeline.stats.frames
    result.detector_runs = pipeline.stats.detector_runs
    return result


@click.group("camera")
def camera_group() -> None:
    """Camera tools for technicians: count a recording, place lines and areas, watch live.

    \b
    Examples:
      mallsense camera count entrance.mp4 --line 580,250,580,432 --json
      mallsense camera snapshot door --out /tmp/door.png
      mallsense camera watch door --seconds 30
    """


@camera_group.command("count")
@click.argument("video", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--line", "line_text", help="Counting line X1,Y1,X2,Y2 (pixels of the video).")
@click.option("--zone", "zone_text", help="Zone polygon X1,Y1,X2,Y2,X3,Y3,... (pixels).")
@click.option(
    "--annotate",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write this MP4 with tracks, line and zone drawn (stays on this box).",
)
@click.option("--every-frame", is_flag=True, help="Run the detector on every frame (no gating).")
@click.option(
    "--model",
    type=click.Path(dir_okay=False, path_type=Path),
    help="ONNX person detector (default: the NanoDet-m model shipped in models/).",
)
@click.option(
    "--kind", type=click.Choice(["nanodet", "yolo"]), default="nanodet", show_default=True
)
@click.option("--threads", type=int, default=2, show_default=True, help="Inference threads.")
@json_option()
@fails_cleanly
def count(
    video: Path,
    line_text: str | None,
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
    lines = (parse_line(line_text),) if line_text else ()
    zones = (parse_zone(zone_text),) if zone_text else ()
    result = _count(video, lines, zones, annotate, every_frame, model, kind, threads)
    if result.frames == 0:
        raise CaptureError(
            f"{video}: no frame of it could be decoded; is it a complete video file?"
        )
    summary = result.as_json()
    if as_json:
        print_json_line(summary)
    else:
        dwell = ", ".join(str(d) for d in summary["dwell_s"]) or "-"
        console.print(
            f"{video.name}: in {summary['in']}, out {summary['out']}, visits"
            f" {summary['visits']} (dwell s: {dwell}); {summary['frames']} frames at"
            f" {summary['fps']} fps"
        )
    _judge_damage(video, result)


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


def _count(
    video: Path,
    lines: tuple[Line, ...],
    zones: tuple[Zone, ...],
    annotate: Path | None,
    every_frame: bool,
    model: Path | None,
    kind: str,
    threads: int,
) -> CountResult:
    """Build the pipeline and count; library errors become mallsense errors."""
    try:
        from drivers.camera.capture import CameraError
        from drivers.camera.detect import ModelError
        from drivers.camera.motion import GateConfig
        from drivers.camera.pipeline import PipelineConfig
    except ImportError as exc:
        raise SensorError(
            f"camera counting needs OpenCV and onnxruntime ({exc}); install them with"
            " `pip install 'mallsense[camera]'`"
        ) from exc
    config = PipelineConfig(
        camera=video.name,
        detector=_detector_config(model, kind, threads),
        gate=None if every_frame else GateConfig(),
        lines=lines,
        zones=zones,
    )
    try:
        return count_video(video, config, annotate)
    except ModelError as exc:
        raise SensorError(str(exc)) from exc
    except (CameraError, OSError) as exc:
        raise CaptureError(f"{video}: {exc}") from exc


def _detector_config(model: Path | None, kind: str, threads: int) -> DetectorConfig:
    from drivers.camera.detect import ModelKind, detector_config

    model_kind: ModelKind = "yolo" if kind == "yolo" else "nanodet"
    return detector_config(model, model_kind, threads)


def register(cli: click.Group) -> None:
    from edge.cli import camera_live

    camera_live.add_commands(camera_group)
    cli.add_command(camera_group)
