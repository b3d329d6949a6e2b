"""``mallsense camera snapshot`` and ``camera watch`` on configured cameras (video files).

The camera of each configuration is a video file (a camera URL may name one: it is
played in real time and looped); everything else is what runs on a box.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from camera_helpers import write_video
from cli_helpers import invoke, json_lines, write_text
from shared_data import shared_data

from drivers.camera.detect import DetectorConfig, OnnxDetector

SAMPLE = shared_data() / "video" / "one-by-one-person-detection.mp4"
YELLOW = (0, 220, 255)  # the lines' colour (BGR)


def picture_of(path: Path) -> npt.NDArray[np.uint8]:
    image = cv2.imread(str(path))
    assert image is not None, f"{path} is not a picture"
    return np.asarray(image, np.uint8)


def box_config(folder: Path, url: str | Path, extra: str = "") -> Path:
    return write_text(
        folder / "box.toml",
        f"""
mall = "m1"
box = "b1"
[[zones]]
id = "shop"
[[sensors]]
type = "camera"
name = "door"
zone = "shop"
url = "{url}"
{extra}
[[sensors.lines]]
name = "entry"
start = [80, 10]
end = [80, 110]
[[sensors.areas]]
name = "shelf"
points = [[100, 20], [150, 20], [150, 100], [100, 100]]
[store]
path = "{folder / "box.db"}"
""",
    )


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_video(tmp_path_factory.mktemp("cli-more") / "door.mp4", frames=30)


def test_snapshot_draws_the_lines_and_areas_on_a_picture(tmp_path: Path, video: Path) -> None:
    out = tmp_path / "door.png"
    result = invoke(
        "camera", "snapshot", "door", "--config", box_config(tmp_path, video), "--out", out,
        "--no-blur",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"wrote {out} (160x120)" in result.output
    picture = picture_of(out)
    assert picture.shape == (120, 160, 3)
    assert tuple(picture[60, 80]) == pytest.approx(YELLOW, abs=40)  # on the line
    assert tuple(picture[60, 100])[1] > 150  # the area's green edge


@pytest.mark.realdata
def test_snapshot_blurs_people_unless_asked_not_to(tmp_path: Path) -> None:
    if not SAMPLE.exists():
        pytest.skip(f"{SAMPLE} is absent")
    cap = cv2.VideoCapture(str(SAMPLE))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 150)  # one person walking to the table
    ok, person = cap.read()
    cap.release()
    assert ok
    clip = tmp_path / "person.mp4"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter.fourcc(*"mp4v"), 10, (768, 432))
    for _ in range(8):
        writer.write(person)
    writer.release()
    config = box_config(tmp_path, clip)
    blurred, plain = tmp_path / "blurred.png", tmp_path / "plain.png"
    assert invoke("camera", "snapshot", "door", "--config", config, "--out", blurred).exit_code == 0
    result = invoke("camera", "snapshot", "door", "--config", config, "--out", plain, "--no-blur")
    assert result.exit_code == 0, result.output
    boxes = OnnxDetector(DetectorConfig()).detect(picture_of(plain)).boxes
    x1, y1, x2, y2 = (int(v) for v in boxes[0])
    detail = {
        name: cv2.Laplacian(picture_of(path)[y1:y2, x1:x2], cv2.CV_64F).var()
        for name, path in (("blurred", blurred), ("plain", plain))
    }
    assert detail["blurred"] < detail["plain"] / 20, detail  # nothing of the person is left
    corner = (slice(0, 40), slice(0, 40))  # far from anybody: untouched
    assert np.array_equal(picture_of(blurred)[corner], picture_of(plain)[corner])


def test_snapshot_refuses_what_it_cannot_do(tmp_path: Path, video: Path) -> None:
    config = box_config(tmp_path, video)
    unknown = invoke("camera", "snapshot", "hall", "--config", config, "--out", tmp_path / "a.png")
    assert unknown.exit_code == 2 and "no camera named 'hall' (cameras: door)" in unknown.output
    gif = invoke(
        "camera", "snapshot", "door", "--config", config, "--out", tmp_path / "a.gif", "--no-blur"
    )
    assert gif.exit_code == 2 and "ending in .png or .jpg" in gif.stderr
    assert not (tmp_path / "a.gif").exists()


def test_snapshot_of_a_camera_without_its_password_says_where_to_put_it(tmp_path: Path) -> None:
    config = box_config(tmp_path, "rtsp://127.0.0.1:9/stream1", 'username = "admin"')
    result = invoke("camera", "snapshot", "door", "--config", config, "--out", tmp_path / "a.png")
    assert result.exit_code == 2
    assert "no password for user admin" in result.stderr
    assert "$MALLSENSE_CAMERA_DOOR_PASSWORD" in result.stderr
    assert "camera-door-password" in result.stderr


def test_watch_shows_frames_inference_tracks_and_counts(tmp_path: Path, video: Path) -> None:
    config = box_config(tmp_path, video)
    result = invoke("camera", "watch", "door", "--config", config, "--seconds", "3", "--json")
    assert result.exit_code == 0, result.output
    lines = json_lines(result.stdout)
    assert lines and lines[-1]["camera"] == "door"
    last = lines[-1]
    assert last["frames"] > 0 and last["detector_runs"] > 0 and last["inference_ms"] > 0
    assert last["lines"] == {"entry": {"in": 0, "out": 0}}
    assert last["areas"] == {"shelf": {"now": 0, "visits": 0}}
    assert set(last) >= {"fps", "tracks", "reconnects", "rss_mb", "last_error"}


def test_watch_with_a_missing_model_names_the_file(tmp_path: Path, video: Path) -> None:
    config = box_config(tmp_path, video, f'model = "{tmp_path / "gone.onnx"}"')
    result = invoke("camera", "watch", "door", "--config", config, "--seconds", "5")
    assert result.exit_code == 2
    assert f"camera model {tmp_path / 'gone.onnx'} does not exist" in result.stderr


def test_the_camera_commands_explain_themselves() -> None:
    for command in ("snapshot", "watch"):
        result = invoke("camera", command, "--help")
        assert result.exit_code == 0 and "Examples:" in result.output
        assert f"mallsense camera {command} door" in result.output
