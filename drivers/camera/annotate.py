"""Drawing tracks, lines and zones on frames, for a technician to check counts by eye.

Only used on local request (``mallsense camera count --annotate``); the
annotated video is written on the box and never sent anywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from drivers.camera.count import Line, Zone, band_edges, side_of
from drivers.camera.track import Track

__all__ = ["VideoWriter", "draw"]

_GREEN = (60, 200, 60)
_YELLOW = (0, 220, 255)
_RED = (40, 40, 230)
_WHITE = (255, 255, 255)


def _pt(p: Sequence[float]) -> tuple[int, int]:
    return round(p[0]), round(p[1])


def _draw_line(image: npt.NDArray[np.uint8], line: Line) -> None:
    cv2.line(image, _pt(line.p1), _pt(line.p2), _YELLOW, 2)
    for a, b in band_edges(line):  # the counting band's edges, thin
        cv2.line(image, _pt(a), _pt(b), _YELLOW, 1)
    mx, my = (line.p1[0] + line.p2[0]) / 2, (line.p1[1] + line.p2[1]) / 2
    dx, dy = line.p2[0] - line.p1[0], line.p2[1] - line.p1[1]
    norm = max((dx * dx + dy * dy) ** 0.5, 1e-6)
    nx, ny = -dy / norm * 25, dx / norm * 25  # a normal; flip it to the "in" side
    inward = side_of(line.p1, line.p2, (mx + nx, my + ny))
    if (inward > 0) != (line.in_side == "right"):
        nx, ny = -nx, -ny
    cv2.arrowedLine(image, _pt((mx, my)), _pt((mx + nx, my + ny)), _YELLOW, 2, tipLength=0.4)
    cv2.putText(image, f"{line.name} in", _pt((mx + nx, my + ny)), 0, 0.5, _YELLOW, 1)


def draw(
    image: npt.NDArray[np.uint8],
    tracks: Sequence[Track],
    lines: Sequence[Line],
    zones: Sequence[Zone],
    caption: str,
) -> npt.NDArray[np.uint8]:
    """A copy of ``image`` with zones, lines, tracks (box, id, foot point) and a caption."""
    out = image.copy()
    for zone in zones:
        pts = np.asarray([_pt(p) for p in zone.points], np.int32).reshape(-1, 1, 2)
        cv2.polylines(out, [pts], True, _GREEN, 2)
        cv2.putText(out, zone.name, _pt(zone.points[0]), 0, 0.5, _GREEN, 1)
    for line in lines:
        _draw_line(out, line)
    for track in tracks:
        x1, y1, x2, y2 = (round(float(v)) for v in track.box)
        colour = _RED if track.misses else _WHITE
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, 2)
        cv2.circle(out, _pt(track.foot), 4, colour, -1)
        cv2.putText(out, f"#{track.id} {track.score:.2f}", (x1, max(12, y1 - 4)), 0, 0.5, colour, 1)
    cv2.putText(out, caption, (8, 20), 0, 0.6, _WHITE, 2)
    return out


class VideoWriter:
    """An MP4 (``mp4v``) writer that opens on the first frame."""

    def __init__(self, path: Path, fps: float) -> None:
        self.path = path
        self.fps = fps
        self._writer: cv2.VideoWriter | None = None

    def write(self, image: npt.NDArray[np.uint8]) -> None:
        if self._writer is None:
            h, w = image.shape[:2]
            fourcc = cv2.VideoWriter.fourcc(*"mp4v")
            self._writer = cv2.VideoWriter(str(self.path), fourcc, self.fps, (w, h))
            if not self._writer.isOpened():
                raise OSError(
                    f"cannot write the annotated video {self.path}; is the folder writable?"
                )
        self._writer.write(image)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
