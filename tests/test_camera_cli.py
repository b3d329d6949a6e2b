"""``mallsense camera count``: the JSON contract, the annotated video, plain errors.

The group is registered by ``edge/cli/main.py`` separately; here it hangs off its own
click group, exactly as ``register(cli)`` attaches it there.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest
from camera_helpers import write_video
from click.testing import CliRunner, Result

from edge.cli.camera_video import parse_line, parse_zone
from edge.cli.main import cli


def invoke(*args: object) -> Result:
    return CliRunner().invoke(cli, ["camera", *map(str, args)], catch_exceptions=False)


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_video(tmp_path_factory.mktemp("cli") / "door.mp4", frames=15)


def test_count_json_contract(video: Path) -> None:
    result = invoke("count", video, "--line", "80,0,80,120", "--zone", "0,0,50,0,50,50", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert set(payload) >= {"in", "out", "visits", "dwell_s", "frames", "fps"}
    assert (payload["in"], payload["out"], payload["visits"], payload["dwell_s"]) == (0, 0, 0, [])
    assert payload["frames"] == 15 and payload["fps"] > 0


def test_every_frame_and_annotated_video(video: Path, tmp_path: Path) -> None:
    out = tmp_path / "check.mp4"
    result = invoke("count", video, "--every-frame", "--annotate", out, "--line", "1,2,3,4")
    assert result.exit_code == 0, result.output
    assert "door.mp4: in 0, out 0; 15 frames" in result.output, "no visits without a zone"
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 15
    cap.release()


def test_bad_geometry_is_a_usage_error(video: Path) -> None:
    result = invoke("count", video, "--line", "1,2,3")
    assert result.exit_code == 2
    assert "--line '1,2,3' needs X1,Y1,X2,Y2" in result.output
    result = invoke("count", video, "--zone", "1,2,x,4,5,6")
    assert result.exit_code == 2 and "must be numbers" in result.output


def test_a_missing_model_is_one_plain_error(video: Path, tmp_path: Path) -> None:
    result = invoke("count", video, "--model", tmp_path / "m.onnx", "--line", "1,2,3,4")
    assert result.exit_code == 2
    assert "camera model" in result.output and "m.onnx does not exist" in result.output
    assert "Traceback" not in result.output


def test_nothing_to_count_is_a_usage_error(video: Path) -> None:
    result = invoke("count", video)
    assert result.exit_code == 2 and "give --line, --zone or both" in result.output


def test_parse_geometry() -> None:
    line = parse_line("0, 10, 100,10")
    assert (line.p1, line.p2) == ((0.0, 10.0), (100.0, 10.0))
    assert parse_zone("0,0,10,0,10,10").points == ((0, 0), (10, 0), (10, 10))
