"""Contact sheets of counted crossings, for a technician to check a camera's counts by eye.

Footfall vendors audit a door counter against a hand count; ``mallsense camera audit``
gives the technician what to count against: one tile per counted crossing, cut from the
frame it was counted on around the person's box, with the line (and its band) drawn and
the crossing's number, frame, time, track and direction written under it. Tiles go on
numbered PNG sheets of ``columns`` x ``rows``, and every crossing is also a row of
``crossings.csv`` next to them, so "crossing 17 is wrong" can be looked up in a second.

Written only on the technician's request, on the box (docs/privacy.md): nothing here is
sent anywhere.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from drivers.camera.count import Line, band_edges
from drivers.camera.pipeline import Crossing

__all__ = ["ContactSheets", "crossing_tile"]

Image = npt.NDArray[np.uint8]

_YELLOW = (0, 220, 255)
_GREEN = (60, 200, 60)
_RED = (40, 40, 230)
_WHITE = (255, 255, 255)
_CAPTION = 34
"""Pixels of caption under each tile."""


def _crop_window(box: Sequence[float], shape: tuple[int, ...]) -> tuple[int, int, int]:
    """Top-left corner and side of a square around ``box``, twice its height, in the frame."""
    x1, y1, x2, y2 = box
    side = int(min(max(2.0 * (y2 - y1), 2.0 * (x2 - x1), 96.0), shape[0], shape[1]))
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    left = int(min(max(cx - side / 2, 0), shape[1] - side))
    top = int(min(max(cy - side / 2, 0), shape[0] - side))
    return left, top, side


def crossing_tile(
    image: Image, crossing: Crossing, lines: Sequence[Line], number: int, size: int = 200
) -> Image:
    """One crossing: the frame around the person, line and box drawn, caption below."""
    drawn = image.copy()
    for line in lines:
        colour = _YELLOW if line.name == crossing.line else _GREEN
        cv2.line(drawn, _pt(line.p1), _pt(line.p2), colour, 2)
        for a, b in band_edges(line):
            cv2.line(drawn, _pt(a), _pt(b), colour, 1)
    x1, y1, x2, y2 = crossing.box
    colour = _GREEN if crossing.direction == "in" else _RED
    cv2.rectangle(drawn, _pt((x1, y1)), _pt((x2, y2)), colour, 2)
    left, top, side = _crop_window(crossing.box, image.shape)
    crop = drawn[top : top + side, left : left + side]
    tile = np.zeros((size + _CAPTION, size, 3), np.uint8)
    tile[:size] = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    head = f"#{number} {crossing.direction.upper()} {crossing.line}"
    foot = f"frame {crossing.frame} t {crossing.t:.1f}s track {crossing.track}"
    cv2.putText(tile, head, (4, size + 14), 0, 0.45, colour, 1, cv2.LINE_AA)
    cv2.putText(tile, foot, (4, size + 29), 0, 0.4, _WHITE, 1, cv2.LINE_AA)
    return tile


def _pt(p: Sequence[float]) -> tuple[int, int]:
    return round(p[0]), round(p[1])


@dataclass
class ContactSheets:
    """Collects crossing tiles and writes them as numbered PNG sheets plus a CSV index."""

    folder: Path
    lines: Sequence[Line]
    columns: int = 5
    rows: int = 4
    tile: int = 200
    crossings: list[Crossing] = field(default_factory=list)
    sheets: list[Path] = field(default_factory=list)
    _pending: list[Image] = field(default_factory=list)

    def add(self, image: Image, crossings: Sequence[Crossing]) -> None:
        """The frame ``crossings`` were counted on; a full sheet is written at once."""
        for crossing in crossings:
            self.crossings.append(crossing)
            number = len(self.crossings)
            self._pending.append(crossing_tile(image, crossing, self.lines, number, self.tile))
            if len(self._pending) == self.columns * self.rows:
                self._write_sheet()

    def close(self) -> None:
        """Write the last, partly filled sheet and the CSV index."""
        if self._pending:
            self._write_sheet()
        with (self.folder / "crossings.csv").open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["number", "sheet", "frame", "t_s", "line", "track", "direction"])
            per_sheet = self.columns * self.rows
            for i, c in enumerate(self.crossings):
                sheet = self.sheets[i // per_sheet].name
                writer.writerow([i + 1, sheet, c.frame, f"{c.t:.2f}", c.line, c.track, c.direction])

    def _write_sheet(self) -> None:
        height, width = self.tile + _CAPTION, self.tile
        sheet = np.full((self.rows * height, self.columns * width, 3), 40, np.uint8)
        for i, tile in enumerate(self._pending):
            r, c = divmod(i, self.columns)
            sheet[r * height : (r + 1) * height, c * width : (c + 1) * width] = tile
        used_rows = (len(self._pending) + self.columns - 1) // self.columns
        path = self.folder / f"audit-{len(self.sheets) + 1:03d}.png"
        if not cv2.imwrite(str(path), sheet[: used_rows * height]):
            raise OSError(f"cannot write the contact sheet {path}; is the folder writable?")
        self.sheets.append(path)
        self._pending = []
