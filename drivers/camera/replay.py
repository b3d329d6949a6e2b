"""A video file played as the camera (``mallsense run --simulate CAMERA=VIDEO``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from drivers.timeline import Timeline

__all__ = ["VideoReplay"]


@dataclass(frozen=True)
class VideoReplay:
    """A video file played as the camera (``mallsense run --simulate CAMERA=VIDEO``).

    Event time is the timeline's: the first frame at ``timeline.start``, later
    frames at their time in the file, held back to the timeline's pace. With
    ``loop`` the file starts over (as a Wi-Fi recording loops); without, the
    camera shows nothing more once it ended, and is not restarted.
    """

    path: Path
    timeline: Timeline
    loop: bool = True
