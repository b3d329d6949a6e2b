"""One detector for all cameras: the shared service against the in-process detector.

Real parts throughout: the bundled NanoDet-m run by onnxruntime in a spawned service
process, the sample video decoded by OpenCV in spawned camera processes, shared memory
and Unix sockets. What a kill -9 does is in ``test_shared_detector_recovery.py``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from fixtures.video import clip
from shared_data import shared_data
from shared_detector_helpers import VIDEO, Fleet, spec

from drivers.camera.count import Line
from drivers.camera.detect import DetectorConfig, ModelError, OnnxDetector, detector_config
from drivers.camera.pipeline import PipelineConfig
from drivers.camera.shared_detector import DetectorService, SharedDetectorClient

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def service() -> Iterator[DetectorService]:
    if not VIDEO.exists():
        pytest.skip(f"{VIDEO} is absent")
    running = DetectorService(detector_config())
    running.start()
    yield running
    running.stop()


def frames_with_people(count: int) -> list[npt.NDArray[np.uint8]]:
    """Every 10th frame from 100 on: the first people of the sample video."""
    cap = cv2.VideoCapture(str(VIDEO))
    out: list[npt.NDArray[np.uint8]] = []
    index = 0
    while len(out) < count:
        ok, image = cap.read()
        assert ok, "the sample video ended early"
        if index >= 100 and index % 10 == 0:
            out.append(np.asarray(image, np.uint8))
        index += 1
    cap.release()
    return out


def test_the_same_detections_as_the_in_process_detector(service: DetectorService) -> None:
    client = SharedDetectorClient(service.address, detector_config(), "same")
    own = OnnxDetector(detector_config())
    try:
        found = 0
        for image in frames_with_people(12):
            shared, local = client.detect(image), own.detect(image)
            np.testing.assert_array_equal(shared.boxes, local.boxes)
            np.testing.assert_array_equal(shared.scores, local.scores)
            found += int((local.scores >= 0.4).sum())
        assert found >= 6  # the frames do show people: the comparison is not of empty sets
        assert client.waits == 0
    finally:
        client.close()
    assert not list(Path("/dev/shm").glob("mallsense-detector-same-*"))  # the slot is freed


def test_two_cameras_through_one_service_count_as_a_camera_with_its_own_model(
    service: DetectorService, tmp_path: Path
) -> None:
    video = clip(VIDEO, tmp_path / "clip.mp4", start=100, frames=160)
    config = PipelineConfig(
        camera="",
        detector=detector_config(),
        lines=(Line("exit", (600, 255), (600, 475)),),
    )
    with Fleet() as fleet:
        fleet.add(spec("own", video), config)
        for name in ("a", "b"):
            fleet.add(spec(name, video), config, service.address)
        fleet.run_until_done(timeout=240)
    own, a, b = (fleet.cameras[name] for name in ("own", "a", "b"))
    counted = [[o._replace(camera="") for o in c.observations] for c in (own, a, b)]
    assert counted[1] == counted[2] == counted[0]
    assert any(o.exited for o in counted[0])  # the person leaving was counted
    assert a.health is not None and own.health is not None
    assert a.health.detector_runs == own.health.detector_runs > 0
    assert not a.maps_onnxruntime and own.maps_onnxruntime  # the model stayed in the service
    assert service.restarts == 0
    # forked from one server that imported the camera's modules once (they share that memory)
    assert own.parent == a.parent == b.parent and a.parent not in (None, os.getpid())
    assert (a.comm, b.comm) == ("cam a", "cam b")  # what top and ps show
    assert Path(f"/proc/{service.pid}/comm").read_text().strip() == "detector"


def test_a_model_that_cannot_be_shared_is_left_to_the_camera() -> None:
    from drivers.camera.shared_detector import shareable

    assert shareable(detector_config())
    assert not shareable(detector_config(kind="movenet"))


def test_the_sample_video_is_where_the_tests_expect_it() -> None:
    assert VIDEO.parent == shared_data() / "video"


def test_a_model_onnxruntime_refuses_is_an_error_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "truncated.onnx"
    bad.write_bytes(b"not a model")
    service = DetectorService(DetectorConfig(model=bad, card=None))
    with pytest.raises(ModelError, match=r"truncated\.onnx"):
        service.start()
    assert not service.alive
