"""A camera's ``[[sensors]]`` table: its stream, its detector, the lines and areas it counts.

Secrets are not here either: a camera's RTSP password comes from
``$MALLSENSE_CAMERA_<NAME>_PASSWORD`` or the systemd credential
``camera-<name>-password``, never from the URL in this file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic import Strict as Exact

from edge.config.base import SensorBase, Slug, Strict

__all__ = [
    "AreaConfig",
    "CameraSensorConfig",
    "LineConfig",
]

Coordinate = Annotated[float, Exact()]
"""A number as written: '300' in quotes is a mistake to point out, not to guess at."""
Point = tuple[Coordinate, Coordinate]


class LineConfig(Strict):
    """A counting line across a camera's view (pixel coordinates of the camera's picture)."""

    name: Slug = Field(description="Line id used in footfall records (e.g. 'door-north').")
    start: Point = Field(description="First point (x, y), pixels from the top-left corner.")
    end: Point = Field(description="Second point (x, y); `mallsense camera snapshot` shows both.")
    in_side: Literal["left", "right"] = Field(
        "right",
        description="Crossing towards this side, looking from start to end, counts as 'in'"
        " (the snapshot draws an arrow towards it).",
    )
    band_px: float = Field(
        0,
        ge=0,
        le=1000,
        description="Width in pixels of a counting band centred on the line: a person counts"
        " when they pass from one side of the band to the other, so standing or turning on"
        " the line counts nothing and a track may count every crossing it makes. About a"
        " third of a person's height where they cross (30 on the plaza of docs/accuracy.md);"
        " 0: a bare line.",
    )

    @model_validator(mode="after")
    def _two_points(self) -> Self:
        if self.start == self.end:
            raise ValueError(
                f"line {self.name}: start and end are the same point {self.start}; a line"
                " needs two distinct points"
            )
        return self


class AreaConfig(Strict):
    """A polygon of a camera's view whose occupancy and dwell are measured."""

    name: Slug = Field(description="Area id used in occupancy records (e.g. 'till').")
    points: list[Point] = Field(
        min_length=3,
        description="Polygon corners (x, y) in pixels, in order around it; a person is in the"
        " area when the middle of their feet is.",
    )


class CameraSensorConfig(SensorBase):
    """A camera counting people (OpenCV capture, ONNX person detector, tracker).

    Each camera runs in a process of its own. Nothing of the picture is stored or
    sent: only line counts, occupancy and dwell times.
    """

    type: Literal["camera"] = Field(description="Sensor kind.")
    url: str = Field(
        description="rtsp://host/path (no password here), /dev/videoN or usb:N (a USB camera),"
        " or a video file (played in real time and looped: for demonstrations)."
    )
    username: str | None = Field(
        None,
        description="RTSP user; the password is the credential camera-<name>-password or"
        " $MALLSENSE_CAMERA_<NAME>_PASSWORD (NAME upper-case, '-' as '_').",
    )
    fps_cap: float = Field(
        10, gt=0, le=60, description="Frames per second analysed at most (the rest are skipped)."
    )
    model: Path | None = Field(
        None,
        description="Person detector (ONNX file); default: the NanoDet-m model shipped with"
        " mallsense (its models/ folder), found from any working directory.",
    )
    model_sha256: str | None = Field(
        None,
        pattern=r"^[0-9a-f]{64}$",
        description="SHA-256 of `model`, checked at every start (the shipped model is checked"
        " against its model card); without it another model is only checked for its shape.",
    )
    model_format: Literal["nanodet", "yolo", "centernet", "movenet"] = Field(
        "nanodet",
        description="Output decoding: 'nanodet', 'yolo' for ultralytics exports, 'centernet'"
        " or 'movenet' for the models `models/convert_human_models.py` converts"
        " (docs/camera.md, 'Detectors').",
    )
    threads: int = Field(
        2,
        ge=1,
        le=16,
        description="onnxruntime intra-op threads of the camera's detector (the shared one's"
        " when `shared_detector` is on).",
    )
    shared_detector: bool = Field(
        True,
        description="Run the detector in one process for every camera with the same model"
        " (fed through shared memory; a camera keeps its own process for decoding and"
        " counting): each camera then adds a decoder to the box's memory, not a model."
        " Off: this camera's process loads its own model (docs/camera.md).",
    )
    mounting: Literal["angled", "overhead"] = Field(
        "angled",
        description="'angled': the camera sees people from the side or at an angle, and lines"
        " count their feet (the bottom of each box); 'overhead': it looks straight down, and"
        " lines count the middle of each box (a head or a body seen from above). Overhead"
        " needs a model that finds people from above (docs/camera.md, 'Overhead mounting').",
    )
    motion_gating: bool = Field(
        True,
        description="Run the detector only when the picture changed (the tracks are held in"
        " between); several times cheaper, same counts.",
    )
    silence_timeout_s: float = Field(
        20,
        gt=0,
        description="Reconnect the stream (inside the camera's process) after this long without"
        " a frame; the process itself is restarted after three times as long.",
    )
    interval_s: int = Field(
        60,
        ge=10,
        le=3600,
        description="Length of the intervals of footfall and occupancy records (seconds,"
        " aligned to UTC).",
    )
    lines: list[LineConfig] = Field(
        default_factory=list, description="Lines whose crossings are counted in and out."
    )
    areas: list[AreaConfig] = Field(
        default_factory=list, description="Areas whose occupancy and dwell are measured."
    )

    @field_validator("url")
    @classmethod
    def _no_password_in_url(cls, value: str) -> str:
        if "://" in value and "@" in urlsplit(value).netloc:
            raise ValueError(
                "the URL holds credentials; give the user as username and the password as the"
                " credential camera-<name>-password (or $MALLSENSE_CAMERA_<NAME>_PASSWORD)"
            )
        return value

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        for what, names in (
            ("lines", [x.name for x in self.lines]),
            ("areas", [a.name for a in self.areas]),
        ):
            repeated = sorted({n for n in names if names.count(n) > 1})
            if repeated:
                raise ValueError(
                    f"camera {self.name}: {what} named {', '.join(repeated)} more than once;"
                    " each needs its own name (it is the id in the records)"
                )
        return self
