"""Motion gating: decide per frame whether the person detector has to run.

The frame is shrunk to a small grey image (bilinear ``cv2.resize``, ten times
cheaper than INTER_AREA at non-integer factors, then a blur against sensor noise
and aliasing) and compared with the small image of the last frame the detector
saw (``cv2.absdiff`` and a threshold; no per-pixel Python). The detector runs
when enough of the picture changed since then, and at least every
``refresh_frames`` while tracks exist so that departures are noticed, and on
every frame while the pipeline is unsure: a track missed by a recent detection (so
that it ends as quickly as it would without gating), a track not yet confirmed, or
someone walking (held still on a skipped frame, a walker falls behind: in a crowd that
lost crossings, docs/accuracy.md). On the frames in between the
tracker holds its tracks (``ByteTracker.update(None)``), as Frigate skips
detection on motionless frames to serve several cameras.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

__all__ = ["GateConfig", "MotionGate", "changed_fraction", "small_grey"]


@dataclass(frozen=True)
class GateConfig:
    """Motion gate settings (defaults tuned on the sample video, docs/accuracy.md)."""

    width: int = 160
    """Width of the grey image motion is measured on (height keeps the aspect)."""
    pixel_delta: int = 20
    """Grey-level change (0..255) that makes a pixel count as changed."""
    min_changed: float = 0.03
    """Changed share of the picture that triggers the detector."""
    refresh_frames: int = 20
    """Run the detector at least this often while tracks exist."""
    idle_refresh_frames: int = 100
    """Run it at least this often with no tracks (catches a slow entrance)."""


def small_grey(frame: npt.NDArray[np.uint8], width: int) -> npt.NDArray[np.uint8]:
    """The frame as a blurred grey image ``width`` pixels wide."""
    h, w = frame.shape[:2]
    height = max(1, round(h * width / w))
    small = cv2.resize(frame, (width, height), interpolation=cv2.INTER_LINEAR)
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
    return np.asarray(cv2.GaussianBlur(grey, (5, 5), 0), np.uint8)


def changed_fraction(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8], pixel_delta: int) -> float:
    """Share of pixels whose grey level differs by more than ``pixel_delta``."""
    diff = cv2.absdiff(a, b)
    return float(np.count_nonzero(diff > pixel_delta)) / diff.size


class MotionGate:
    """Says whether a frame needs the detector; counts how often it said yes."""

    def __init__(self, config: GateConfig | None = None) -> None:
        self.config = config or GateConfig()
        self._reference: npt.NDArray[np.uint8] | None = None
        self._since = 0
        self.frames = 0
        self.detected = 0
        self.last_changed = 0.0

    def should_detect(
        self, frame: npt.NDArray[np.uint8], has_tracks: bool, unsure: bool = False
    ) -> bool:
        """True when the detector must run on ``frame`` (it then becomes the reference).

        ``unsure``: the pipeline needs this frame detected (someone arriving, walking,
        leaving or hidden; ``CameraPipeline._unsure``).
        """
        cfg = self.config
        self.frames += 1
        self._since += 1
        grey = small_grey(frame, cfg.width)
        if unsure or self._reference is None or self._reference.shape != grey.shape:
            run = True
        else:
            self.last_changed = changed_fraction(grey, self._reference, cfg.pixel_delta)
            limit = cfg.refresh_frames if has_tracks else cfg.idle_refresh_frames
            run = self.last_changed >= cfg.min_changed or self._since >= limit
        if run:
            self._reference = grey
            self._since = 0
            self.detected += 1
        return run
