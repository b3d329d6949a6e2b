"""The camera plugin without processes: observations -> records, configuration, secrets, model.

Fast checks of the mapping the daemon test (tests/test_camera_daemon.py) runs end to end:
records validate against the contract, cut intervals are partial and continued
ones supersede them, ids are stable; the password comes from the environment or a
systemd credential and never shows; the shipped model is found from any directory.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from camera_helpers import write_video

from drivers.camera import detect
from drivers.camera.capture import CameraError, CameraSpec, RateCap, ReplaySource, restarted
from drivers.camera.observations import LineCount, ZoneDwell, ZoneOccupancy
from drivers.camera.replay import VideoReplay
from drivers.timeline import Timeline
from edge.config import parse_config
from edge.config.secrets import camera_password
from edge.contract import schema_errors
from edge.errors import ConfigError
from edge.records import RECORD_MODELS
from edge.sensors.camera.config import CameraSensorConfig
from edge.sensors.camera.records import CameraRecords
from edge.sensors.camera.settings import camera_spec, camera_url, device, pipeline_config
from edge.sensors.table import plugin_for

T0 = 1_800_000_000.0


def records() -> CameraRecords:
    return CameraRecords("m1", "b1", "shop")


def valid(record: dict[str, Any]) -> dict[str, Any]:
    RECORD_MODELS[record["kind"]].model_validate(record)
    assert schema_errors(record["kind"], record) == [], record
    return record


def camera(**fields: Any) -> CameraSensorConfig:
    base: dict[str, Any] = {"type": "camera", "name": "door-1", "zone": "shop", "url": "usb:0"}
    return CameraSensorConfig.model_validate(base | fields)


# -- observations -> records ------------------------------------------------------------


def test_a_line_count_becomes_one_footfall_record() -> None:
    (record,) = records().fold([LineCount("door-1", "entry", T0, T0 + 60, 3, 1)])
    assert valid(record) | {"id": ""} == {
        "id": "",
        "kind": "footfall",
        "schema": "footfall/1",
        "mall": "m1",
        "box": "b1",
        "supersedes": None,
        "camera": "door-1",
        "line": "entry",
        "zone": "shop",
        "start": "2027-01-15T08:00:00.000Z",
        "end": "2027-01-15T08:01:00.000Z",
        "in": 3,
        "out": 1,
        "partial": False,
    }


def test_occupancy_carries_the_dwell_of_the_people_who_left_since_the_last_one() -> None:
    folder = records()
    first = folder.fold(
        [
            ZoneDwell("door-1", "till", 4, T0 + 5, T0 + 17.04),
            ZoneDwell("door-1", "shelf", 5, T0 + 6, T0 + 9),  # another area: not this record
            ZoneOccupancy("door-1", "till", T0, T0 + 60, 2, 2, 0.61234, 600),
        ]
    )
    assert len(first) == 1
    till = valid(first[0])
    assert (till["area"], till["visits"], till["occupancy_max"]) == ("till", 2, 2)
    assert till["occupancy_mean"] == 0.612 and till["dwell_s"] == [12.0]
    (later,) = folder.fold([ZoneOccupancy("door-1", "till", T0 + 60, T0 + 120, 0, 1, 0.2, 600)])
    assert later["dwell_s"] == []  # each stay is reported once


def test_a_cut_interval_is_partial_and_its_continuation_supersedes_it() -> None:
    folder = records()
    cut = folder.fold(
        [
            LineCount("door-1", "entry", T0, T0 + 60, 3, 1, cut=T0 + 20),
            ZoneDwell("door-1", "till", 1, T0 + 2, T0 + 8),
            ZoneOccupancy("door-1", "till", T0, T0 + 60, 1, 1, 1.0, 10, cut=T0 + 20),
        ]
    )
    assert [(r["partial"], r["end"]) for r in cut] == [(True, "2027-01-15T08:00:20.000Z")] * 2
    # the camera's process was restarted and counted the rest of the same minute
    rest = folder.fold(
        [
            LineCount("door-1", "entry", T0, T0 + 60, 2, 0),
            ZoneDwell("door-1", "till", 1, T0 + 25, T0 + 30),
            ZoneOccupancy("door-1", "till", T0, T0 + 60, 1, 2, 0.0, 30),
        ]
    )
    footfall, occupancy = (valid(r) for r in rest)
    assert footfall["supersedes"] == cut[0]["id"] and not footfall["partial"]
    assert (footfall["in"], footfall["out"], footfall["end"][11:19]) == (5, 1, "08:01:00")
    assert occupancy["supersedes"] == cut[1]["id"]
    assert (occupancy["visits"], occupancy["occupancy_max"]) == (2, 2)
    assert occupancy["occupancy_mean"] == 0.25  # weighted by frames: 10 at 1.0, 30 at 0.0
    assert occupancy["dwell_s"] == [6.0, 5.0]
    assert len({footfall["id"], cut[0]["id"], occupancy["id"], cut[1]["id"]}) == 4


def test_a_cut_that_is_not_continued_is_left_as_it_is() -> None:
    folder = records()
    folder.fold([LineCount("door-1", "entry", T0, T0 + 60, 3, 1, cut=T0 + 20)])
    (nxt,) = folder.fold([LineCount("door-1", "entry", T0 + 60, T0 + 120, 1, 0)])
    assert nxt["supersedes"] is None and nxt["in"] == 1


def test_ids_come_from_the_observations_alone() -> None:
    line = LineCount("door-1", "entry", T0, T0 + 60, 3, 1)
    counts: list[Any] = [line, ZoneOccupancy("door-1", "till", T0, T0 + 60, 1, 1, 0.5, 600)]
    assert records().fold(counts) == records().fold(counts)
    other_box = CameraRecords("m1", "b2", "shop").fold(counts)
    assert {r["id"] for r in other_box}.isdisjoint(r["id"] for r in records().fold(counts))
    cut_early = records().fold([line._replace(cut=T0 + 10)])
    cut_later = records().fold([line._replace(cut=T0 + 30)])
    assert cut_early[0]["id"] != cut_later[0]["id"]  # two daemon runs cut the same minute


# -- configuration, secrets, model ------------------------------------------------------


def test_the_password_comes_from_the_environment_or_a_credential(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MALLSENSE_CAMERA_DOOR_1_PASSWORD", raising=False)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    assert camera_password("door-1") is None
    (tmp_path / "camera-door-1-password").write_text("from systemd\n")
    assert camera_password("door-1") == "from systemd"
    monkeypatch.setenv("MALLSENSE_CAMERA_DOOR_1_PASSWORD", "p@ss:w/rd")
    assert camera_password("door-1") == "p@ss:w/rd"
    sensor = camera(url="rtsp://10.0.0.7:554/stream1", username="admin")
    assert camera_url(sensor) == "rtsp://admin:p%40ss%3Aw%2Frd@10.0.0.7:554/stream1"
    assert device(sensor) == "rtsp://admin:***@10.0.0.7:554/stream1"
    assert camera_spec(sensor).url == "rtsp://admin@10.0.0.7:554/stream1"  # no password kept


def test_a_user_without_a_password_is_a_plain_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLSENSE_CAMERA_DOOR_1_PASSWORD", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    sensor = camera(url="rtsp://10.0.0.7/stream1", username="admin")
    with pytest.raises(CameraError) as caught:
        camera_url(sensor)
    message = str(caught.value)
    assert "camera door-1 (rtsp://admin:***@10.0.0.7/stream1): no password for user admin" in (
        message
    )
    assert "$MALLSENSE_CAMERA_DOOR_1_PASSWORD" in message and "camera-door-1-password" in message


def test_configuration_errors_name_the_line_or_area() -> None:
    def load(extra: str) -> None:
        parse_config(
            'mall = "m"\nbox = "b"\n[[zones]]\nid = "shop"\n[[sensors]]\ntype = "camera"\n'
            f'name = "cam"\nzone = "shop"\nurl = "usb:0"\n{extra}'
        )

    with pytest.raises(ConfigError, match="start and end are the same point"):
        load('[[sensors.lines]]\nname = "a"\nstart = [1, 2]\nend = [1, 2]\n')
    line = '[[sensors.lines]]\nname = "door"\nstart = [0, 0]\nend = [9, 9]\n'
    with pytest.raises(ConfigError, match="lines named door more than once"):
        load(line + line)
    with pytest.raises(ValueError, match="the URL holds credentials"):
        camera(url="rtsp://u:secret@host/s")


def test_the_shipped_model_is_found_from_any_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    detector = pipeline_config(camera()).detector
    assert detector.model.is_absolute() and detector.model.is_file()
    assert detector.card is not None and detector.card.is_file()  # its hash is checked
    custom = pipeline_config(camera(model=str(tmp_path / "mine.onnx"), model_sha256="a" * 64))
    assert custom.detector.sha256 == "a" * 64 and custom.detector.card is None


def test_a_missing_shipped_model_names_where_it_was_looked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(detect, "_MODELS", tmp_path / "models")
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "prefix"))
    with pytest.raises(detect.ModelError) as caught:
        detect.bundled_model()
    assert str(tmp_path / "models") in str(caught.value)
    assert "nanodet_coco80_416_fp32.onnx" in str(caught.value)
    # in the daemon: the camera fails with that message (logged, retried); nothing crashes
    plugin = plugin_for("camera")
    source = plugin.make_source(camera(), None, lambda: 0.0, None)
    with pytest.raises(OSError, match="is missing: looked in"):
        source.run(lambda batch: None, threading.Event())


# -- the plugin and playing video files -----------------------------------------------------


def test_the_plugin_watchdog_simulation_and_video_files(tmp_path: Path) -> None:
    plugin = plugin_for("camera")
    sensor = camera(silence_timeout_s=20)
    assert plugin.silence_timeout(sensor) == 60  # the camera's process reconnects at 20 s
    timeline = Timeline(10)
    assert plugin.simulate is not None
    playback = plugin.simulate(sensor, tmp_path / "v.mp4", timeline)
    assert playback == VideoReplay(tmp_path / "v.mp4", timeline, loop=True)
    spec = camera_spec(sensor, playback)
    assert (spec.replay_start, spec.pace, spec.loop, spec.stall_s) == (
        timeline.start, timeline, True, 20,
    )  # fmt: skip
    video = write_video(tmp_path / "demo.mp4", frames=5)
    played = camera_spec(camera(url=str(video)))  # a file configured as a camera
    assert played.pace is not None and played.loop and played.url == str(video)
    later = restarted(played)
    assert later.replay_start is not None and played.replay_start is not None
    assert later.replay_start >= played.replay_start  # a restart plays from now, not the past


def test_a_looped_video_continues_its_times_and_no_frame_is_lost_to_rounding(
    tmp_path: Path,
) -> None:
    video = write_video(tmp_path / "loop.mp4", frames=20, fps=10)
    source = ReplaySource(CameraSpec("v", str(video), replay_start=0.0, loop=True), 0.0)
    times: list[float] = []
    for _ in range(45):
        frame = source.read()
        assert frame is not None
        times.append(frame.t)
    source.close()
    assert times[19] == pytest.approx(1.9) and times[20] == pytest.approx(2.0)
    assert all(b > a for a, b in itertools.pairwise(times))
    cap = RateCap(10)  # a 10 fps file capped at 10 fps keeps every frame
    assert all(cap.admit(i * 0.1) for i in range(100))
    assert all(cap.admit(t) for t in [i / 10 + 1e-9 for i in range(100, 200)])


def test_without_onnxruntime_the_camera_driver_names_what_to_install() -> None:
    """The daemon looks for onnxruntime without importing it (the model runs in another
    process); a box without it still leaves its cameras out with the registry's words."""
    check = (
        "import sys; sys.modules['onnxruntime'] = None\n"
        "from edge.sensors.table import load_driver\n"
        "try:\n    load_driver('camera')\nexcept ImportError as exc:\n    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True)
    assert "sensor type 'camera' cannot start" in done.stdout, done.stdout + done.stderr
    assert "onnxruntime" in done.stdout
    probe = "import sys, drivers.camera.source; print('onnxruntime' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False", done.stderr
