"""``mallsense camera audit``: a contact sheet of every counted crossing, and its index.

The library part runs on a small synthetic video with a detector that finds the bright
rectangle in it (real pixels, real OpenCV); the command runs on the real one-by-one
footage with the shipped model, where six people leave through the exit line.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from camera_helpers import write_video
from click.testing import CliRunner, Result
from shared_data import shared_data

from drivers.camera.audit import ContactSheets, crossing_tile
from drivers.camera.count import Line
from drivers.camera.detect import Detections
from drivers.camera.pipeline import CameraPipeline, Crossing, PipelineConfig
from edge.cli.camera_video import count_video
from edge.cli.main import cli

ONE_BY_ONE = shared_data() / "video" / "one-by-one-person-detection.mp4"


class BrightBoxes:
    """Finds bright blobs (the test video's sliding rectangle) as people, score 0.9."""

    def detect(self, frame: npt.NDArray[np.uint8]) -> Detections:
        grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        _, mask = cv2.threshold(grey, 120, 255, cv2.THRESH_BINARY)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        boxes = [cv2.boundingRect(c) for c in contours if cv2.contourArea(c) > 50]
        if not boxes:
            return Detections.empty()
        xyxy = np.asarray([(x, y, x + w, y + h) for x, y, w, h in boxes], np.float32)
        return Detections(xyxy, np.full(len(boxes), 0.9, np.float32))


def invoke(*args: object) -> Result:
    return CliRunner().invoke(cli, ["camera", *map(str, args)], catch_exceptions=False)


def audit_synthetic(tmp_path: Path, line: Line) -> ContactSheets:
    video = write_video(tmp_path / "door.mp4", frames=20)
    config = PipelineConfig("door", gate=None, lines=(line,))
    pipeline = CameraPipeline("door", BrightBoxes(), (line,), tracker=config.tracker)
    sheets = ContactSheets(tmp_path, (line,), columns=2, rows=1)

    def collect(p: CameraPipeline, image: npt.NDArray[np.uint8]) -> None:
        sheets.add(image, p.crossings)

    count_video(video, config, pipeline=pipeline, on_frame=collect)
    sheets.close()
    return sheets


def test_every_counted_crossing_gets_a_tile_and_a_row(tmp_path: Path) -> None:
    """The rectangle slides right over x = 60 (its foot passes at frame 10): one ``in``."""
    sheets = audit_synthetic(tmp_path, Line("door", (60, 120), (60, 0), band=10))
    assert [(c.line, c.direction) for c in sheets.crossings] == [("door", "in")]
    crossing = sheets.crossings[0]
    assert 10 <= crossing.frame <= 14 and crossing.t == pytest.approx(crossing.frame / 10)
    assert [p.name for p in sheets.sheets] == ["audit-001.png"]
    image = cv2.imread(str(sheets.sheets[0]))
    assert image is not None and image.shape == (200 + 34, 2 * 200, 3)  # one row, two tiles
    with (tmp_path / "crossings.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert rows == [
        {
            "number": "1",
            "sheet": "audit-001.png",
            "frame": str(crossing.frame),
            "t_s": f"{crossing.t:.2f}",
            "line": "door",
            "track": str(crossing.track),
            "direction": "in",
        }
    ]


def test_a_sheet_is_written_when_full_and_the_rest_at_close(tmp_path: Path) -> None:
    frame = np.full((120, 160, 3), 30, np.uint8)
    line = Line("door", (60, 120), (60, 0))
    sheets = ContactSheets(tmp_path, (line,), columns=2, rows=1)
    crossings = [Crossing(i, i / 10, "door", 1, "out", (50.0, 20.0, 70.0, 80.0)) for i in range(3)]
    sheets.add(frame, crossings[:2])
    assert len(sheets.sheets) == 1  # full: written at once
    sheets.add(frame, crossings[2:])
    sheets.close()
    assert [p.name for p in sheets.sheets] == ["audit-001.png", "audit-002.png"]
    last = cv2.imread(str(sheets.sheets[1]))
    assert last is not None and last.shape[0] == 234


def test_a_tile_near_the_frame_edge_stays_inside_it() -> None:
    frame = np.full((120, 160, 3), 30, np.uint8)
    crossing = Crossing(0, 0.0, "door", 1, "in", (150.0, 100.0, 160.0, 120.0))
    tile = crossing_tile(frame, crossing, (Line("door", (60, 120), (60, 0)),), 1, size=100)
    assert tile.shape == (134, 100, 3)


def test_audit_needs_a_line_or_a_camera(tmp_path: Path) -> None:
    video = write_video(tmp_path / "door.mp4", frames=5)
    neither = invoke("audit", video, "--out", tmp_path / "audit")
    both = invoke("audit", video, "--line", "1,2,3,4", "--camera", "door", "--out", tmp_path)
    for result in (neither, both):
        assert result.exit_code == 2 and "either --line" in result.output


def test_audit_with_nothing_crossing_writes_an_empty_index(tmp_path: Path) -> None:
    """The shipped model sees no person in a sliding rectangle: no tile, an index header."""
    video = write_video(tmp_path / "door.mp4", frames=10)
    out = tmp_path / "audit"
    result = invoke("audit", video, "--line", "60,120,60,0", "--out", out, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert (summary["in"], summary["out"], summary["sheets"], summary["frames"]) == (0, 0, [], 10)
    assert (out / "crossings.csv").read_text().startswith("number,sheet,frame,t_s,line")


def box_config(folder: Path, video: Path) -> Path:
    path = folder / "box.toml"
    path.write_text(
        f"""
mall = "m1"
box = "b1"
[[zones]]
id = "shop"
[[sensors]]
type = "camera"
name = "door"
zone = "shop"
url = "{video}"
[[sensors.lines]]
name = "exit"
start = [580, 250]
end = [580, 432]
band_px = 20
[store]
path = "{folder / "box.db"}"
""",
        encoding="utf-8",
    )
    return path


@pytest.mark.realdata
@pytest.mark.slow
def test_audit_of_the_one_by_one_video(tmp_path: Path) -> None:
    """Six people leave through the configured exit band: six ``out`` tiles, nothing else."""
    if not ONE_BY_ONE.exists():
        pytest.skip(f"{ONE_BY_ONE} is absent")
    out = tmp_path / "audit"
    config = box_config(tmp_path, ONE_BY_ONE)
    result = invoke(
        "audit", ONE_BY_ONE, "--camera", "door", "--config", config, "--out", out, "--json"
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert (summary["in"], summary["out"], summary["crossings"]) == (0, 6, 6)
    assert summary["frames"] == 1394
    assert summary["sheets"] == [str(out / "audit-001.png")]
    with (out / "crossings.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [(r["line"], r["direction"]) for r in rows] == [("exit", "out")] * 6
    assert len({r["track"] for r in rows}) == 6  # six people, six tracks
    frames = [int(r["frame"]) for r in rows]
    # Each person leaves to the right after standing at the table (truth: the visits end
    # at frames 187, 438, 689, 855, 1187 and 1348).
    ends = [187, 438, 689, 855, 1187, 1348]
    assert all(end < frame < end + 60 for end, frame in zip(ends, frames, strict=True)), frames
