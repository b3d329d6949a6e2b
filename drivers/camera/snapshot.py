"""A calibration picture for a technician placing lines and areas (``mallsense camera snapshot``).

This is the only code that writes a camera's picture anywhere, and only on an
explicit local request: the daemon never calls it. People are blurred unless
the technician asks otherwise, with every box the detector scores at
``BLUR_SCORE`` or more (a low bar: blurring a pillar costs nothing, missing a
face does). The blur shrinks the box to a few pixels and back, so no detail
survives it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from drivers.camera.annotate import draw
from drivers.camera.capture import CameraError, CameraSpec, OpenCVSource
from drivers.camera.count import Line, Zone
from drivers.camera.detect import Detections, Detector

__all__ = ["BLUR_SCORE", "blur_people", "grab_frame", "layout_picture", "write_picture"]

BLUR_SCORE = 0.2
_MARGIN = 0.1
_BLOCK = 6
"""The blurred box keeps at most this many pixels across."""


def grab_frame(spec: CameraSpec, skip: int = 5, timeout_s: float = 15.0) -> npt.NDArray[np.uint8]:
    """One picture from the camera, after ``skip`` frames (a stream's first ones are often
    grey or half decoded until a key frame arrives)."""
    source = OpenCVSource(spec)
    try:
        deadline = time.monotonic() + timeout_s
        image = None
        for _ in range(skip + 1):
            frame = source.read()
            if frame is None or time.monotonic() > deadline:
                break
            image = frame.image
    finally:
        source.close()
    if image is None:
        raise CameraError(f"{spec.where} opened but sent no picture; check the stream in VLC")
    return image


def blur_people(
    image: npt.NDArray[np.uint8], detections: Detections, score: float = BLUR_SCORE
) -> int:
    """Blur, in place, every detected person scored at least ``score``; how many."""
    h, w = image.shape[:2]
    count = 0
    for box, s in zip(detections.boxes, detections.scores, strict=True):
        if s < score:
            continue
        x1, y1, x2, y2 = (float(v) for v in box)
        mx, my = (x2 - x1) * _MARGIN, (y2 - y1) * _MARGIN
        left, top = max(0, int(x1 - mx)), max(0, int(y1 - my))
        right, bottom = min(w, int(x2 + mx) + 1), min(h, int(y2 + my) + 1)
        if right - left < 2 or bottom - top < 2:
            continue
        region = image[top:bottom, left:right]
        scale = _BLOCK / max(region.shape[:2])
        tiny = cv2.resize(
            region,
            (max(1, round(region.shape[1] * scale)), max(1, round(region.shape[0] * scale))),
            interpolation=cv2.INTER_AREA,
        )
        image[top:bottom, left:right] = cv2.resize(
            tiny, (right - left, bottom - top), interpolation=cv2.INTER_LINEAR
        )
        count += 1
    return count


def layout_picture(
    image: npt.NDArray[np.uint8],
    lines: Sequence[Line],
    zones: Sequence[Zone],
    detector: Detector | None,
    caption: str,
) -> tuple[npt.NDArray[np.uint8], int]:
    """``image`` with people blurred (unless ``detector`` is None) and the lines (arrow to
    the in side) and areas drawn; also how many people were blurred."""
    picture = image.copy()
    blurred = blur_people(picture, detector.detect(image)) if detector is not None else 0
    return draw(picture, [], lines, zones, caption), blurred


def write_picture(path: Path, image: npt.NDArray[np.uint8]) -> None:
    """Write ``image`` to ``path`` (PNG or JPEG by its suffix), or OSError saying why not."""
    if path.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise OSError(f"{path}: give a file name ending in .png or .jpg")
    try:
        ok = cv2.imwrite(str(path), image)
    except cv2.error as exc:
        raise OSError(f"cannot write {path}: {exc}") from exc
    if not ok:
        raise OSError(f"cannot write {path}; does its folder exist and is it writable?")
