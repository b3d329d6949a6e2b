"""Small synthetic videos for the camera tests (written with OpenCV, never shipped)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

__all__ = ["write_video"]


def write_video(
    path: Path, frames: int = 20, size: tuple[int, int] = (160, 120), fps: float = 10
) -> Path:
    """An MP4 of a grey rectangle sliding right over a dark background."""
    w, h = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (w, h))
    assert writer.isOpened(), f"OpenCV cannot write {path}"
    for i in range(frames):
        image = np.full((h, w, 3), 30, np.uint8)
        x = (i * 5) % (w - 20)
        cv2.rectangle(image, (x, h // 3), (x + 20, h // 3 + 40), (200, 200, 200), -1)
        writer.write(image)
    writer.release()
    return path
