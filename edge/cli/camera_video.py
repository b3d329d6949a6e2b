"""Counting people in a video file as a camera would: what ``camera count`` and ``camera
audit`` share (lines and zones from the command line, the detector options, the run).

OpenCV and onnxruntime are imported inside the functions, so ``mallsense`` keeps
working on a box installed without the camera extra (``pip install mallsense[camera]``).

A damaged video is read on past its damaged frames; the result says how many frames
were read of how many the file holds (``damage_report``), and the commands fail when
more than ``MAX_DAMAGED_SHARE`` of them could not be read.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import click

from drivers.camera.count import Line, Point, Zone
from edge.errors import CaptureError, SensorError

if TYPE_CHECKING:
    from drivers.camera.detect import DetectorConfig
    from drivers.camera.pipeline import CameraPipeline, PipelineConfig

__all__ = [
    "BAND_HELP",
    "MAX_DAMAGED_SHARE",
    "MODEL_KINDS",
    "CountResult",
    "count_video",
    "damage_report",
    "detector_options",
    "parse_line",
    "parse_zone",
    "pipeline_config_for",
    "run_count",
    "run_pipeline",
]

P = ParamSpec("P")
R = TypeVar("R")

BAND_HELP = (
    "Width in pixels of a counting band centred on the line: a person counts when they"
    " pass from one side of the band to the other (0: a bare line)."
)
MODEL_KINDS = ("nanodet", "yolo", "centernet", "movenet")
"""Output decodings ``--kind`` accepts (docs/camera.md, "Detectors")."""
MAX_DAMAGED_SHARE = 0.05
"""Above this share of unreadable frames ``camera count`` fails: its counts are too low."""


def _numbers(text: str, what: str) -> list[float]:
    try:
        return [float(v) for v in text.replace(" ", "").split(",") if v != ""]
    except ValueError:
        raise click.BadParameter(f"{what} {text!r} must be numbers separated by commas") from None


def parse_line(text: str, band: float = 0.0) -> Line:
    """``X1,Y1,X2,Y2`` in the video's pixels: ``in`` is left to right looking from 1 to 2."""
    v = _numbers(text, "--line")
    if len(v) != 4 or (v[0], v[1]) == (v[2], v[3]):
        raise click.BadParameter(f"--line {text!r} needs X1,Y1,X2,Y2 with two distinct points")
    if band < 0:
        raise click.BadParameter(f"--band {band} must be 0 (a bare line) or a width in pixels")
    return Line("line", (v[0], v[1]), (v[2], v[3]), band=band)


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
    on_frame: Callable[[CameraPipeline, Any], None] | None = None,
) -> CountResult:
    """Run ``video`` through a camera pipeline (in this process) and total its counts.

    ``on_frame`` sees the pipeline and the picture after each frame (the audit's hook).
    """
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
            if on_frame is not None:
                on_frame(pipeline, frame.image)
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


def detector_options(default_model: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """``--every-frame``, ``--model``, ``--model-format`` and ``--threads``."""

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        for option in reversed(
            (
                click.option(
                    "--every-frame",
                    is_flag=True,
                    help="Run the detector on every frame (no motion gating).",
                ),
                click.option(
                    "--model",
                    type=click.Path(dir_okay=False, path_type=Path),
                    help=f"ONNX person detector (default: {default_model}).",
                ),
                click.option(
                    "--model-format",
                    "kind",
                    type=click.Choice(MODEL_KINDS),
                    default="nanodet",
                    show_default=True,
                    help="The detector's output layout (as model_format in the configuration).",
                ),
                click.option(
                    "--threads", type=int, default=2, show_default=True, help="Inference threads."
                ),
            )
        ):
            func = option(func)
        return func

    return decorate


def run_count(
    video: Path,
    lines: tuple[Line, ...],
    zones: tuple[Zone, ...],
    annotate: Path | None,
    every_frame: bool,
    model: Path | None,
    kind: str,
    threads: int,
    on_frame: Callable[[CameraPipeline, Any], None] | None = None,
) -> CountResult:
    """Build the pipeline and count; library errors become mallsense errors."""
    config = pipeline_config_for(video, lines, zones, every_frame, model, kind, threads)
    return run_pipeline(video, config, annotate, on_frame)


def pipeline_config_for(
    video: Path,
    lines: tuple[Line, ...],
    zones: tuple[Zone, ...],
    every_frame: bool,
    model: Path | None,
    kind: str,
    threads: int,
) -> PipelineConfig:
    """What the command line asks to count ``video`` with."""
    try:
        from drivers.camera.motion import GateConfig
        from drivers.camera.pipeline import PipelineConfig
    except ImportError as exc:
        raise SensorError(
            f"camera counting needs OpenCV and onnxruntime ({exc}); install them with"
            " `pip install 'mallsense[camera]'`"
        ) from exc
    return PipelineConfig(
        camera=video.name,
        detector=_detector_config(model, kind, threads),
        gate=None if every_frame else GateConfig(),
        lines=lines,
        zones=zones,
    )


def run_pipeline(
    video: Path,
    config: PipelineConfig,
    annotate: Path | None = None,
    on_frame: Callable[[CameraPipeline, Any], None] | None = None,
) -> CountResult:
    """``count_video`` with library errors turned into mallsense errors."""
    from drivers.camera.capture import CameraError
    from drivers.camera.detect import ModelError

    try:
        return count_video(video, config, annotate, on_frame=on_frame)
    except ModelError as exc:
        raise SensorError(str(exc)) from exc
    except (CameraError, OSError) as exc:
        raise CaptureError(f"{video}: {exc}") from exc


def _detector_config(model: Path | None, kind: str, threads: int) -> DetectorConfig:
    from drivers.camera.detect import ModelKind, detector_config

    kinds: dict[str, ModelKind] = {"yolo": "yolo", "centernet": "centernet", "movenet": "movenet"}
    model_kind = kinds.get(kind, "nanodet")
    return detector_config(model, model_kind, threads)
