"""The detector: letterbox, decoding (NanoDet GFL, YOLO), NMS, model checks, the real model."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from shared_data import shared_data

from drivers.camera.detect import (
    DEFAULT_MODEL,
    DEFAULT_MODEL_CARD,
    DetectorConfig,
    ModelError,
    OnnxDetector,
    check_model_file,
    decode_nanodet,
    decode_yolo,
    letterbox,
    nms,
    sha256_from_card,
)

PICTURE = shared_data() / "images" / "darknet_person.jpg"


def nanodet_outputs(size: int = 416) -> list[np.ndarray]:
    """Six all-quiet outputs (scores 0, flat bins), in the model's own order."""
    out = []
    for stride in (32, 16, 8):
        n = (size // stride) ** 2
        out += [np.zeros((1, n, 80), np.float32), np.zeros((1, n, 44), np.float32)]
    return out


def test_letterbox_keeps_the_aspect_and_pads_bottom() -> None:
    frame = np.full((432, 768, 3), 200, np.uint8)
    boxed = letterbox(frame, 416, (1, 2, 3))
    assert boxed.image.shape == (416, 416, 3)
    assert boxed.scale == pytest.approx(416 / 768)
    assert boxed.image[0, 0].tolist() == [200, 200, 200]
    assert boxed.image[300, 10].tolist() == [1, 2, 3]  # below the picture: padding


def test_nanodet_decoding_of_one_cell() -> None:
    outputs = nanodet_outputs()
    scores, reg = outputs[4], outputs[5]  # stride 8: 52 x 52 cells
    cell = 10 * 52 + 20  # grid x 20, y 10: centre (164, 84), the middle of the cell
    scores[0, cell, 0] = 0.9  # person
    scores[0, cell + 1, 16] = 0.9  # a dog next to it: not a person, ignored
    bins = np.full((4, 11), -20.0, np.float32)
    for side, distance in enumerate((2, 3, 4, 5)):  # a peaked distribution per side
        bins[side, distance] = 20.0
    reg[0, cell] = bins.reshape(-1)
    boxes, found = decode_nanodet(outputs, 416, 0.5)
    assert found.tolist() == pytest.approx([0.9])
    np.testing.assert_allclose(boxes[0], [164 - 16, 84 - 24, 164 + 32, 84 + 40], atol=1e-3)
    none, nothing = decode_nanodet(nanodet_outputs(), 416, 0.5)
    assert none.shape == (0, 4) and nothing.shape == (0,)


@pytest.mark.parametrize("anchors_first", [False, True])
def test_yolo_decoding_both_layouts(anchors_first: bool) -> None:
    pred = np.zeros((1, 84, 100), np.float32)
    pred[0, :4, 7] = [100, 200, 40, 80]  # centre x, centre y, w, h
    pred[0, 4, 7] = 0.8  # person
    pred[0, 5, 8] = 0.9  # bicycle: ignored
    if anchors_first:
        pred = pred.transpose(0, 2, 1).copy()
    boxes, scores = decode_yolo(pred, 0.25)
    assert scores.tolist() == pytest.approx([0.8])
    np.testing.assert_allclose(boxes[0], [80, 160, 120, 240])


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.5, 0.9, 0.4], np.float32)
    assert nms(boxes, scores, 0.5).tolist() == [1, 2]


def test_the_model_card_gives_the_hash_of_the_shipped_model() -> None:
    assert sha256_from_card(DEFAULT_MODEL_CARD) == (
        "8b16b7927bb687d2cf5619154d8f880dbe445c0e5be22f8a3b8f4ddae460a558"
    )
    check_model_file(DetectorConfig())  # the committed file matches its card


def test_a_missing_model_is_an_error_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.onnx"
    with pytest.raises(ModelError, match=r"camera model .*nope\.onnx does not exist"):
        OnnxDetector(DetectorConfig(model=missing))


def test_a_replaced_model_is_an_error_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "nanodet.onnx"
    bad.write_bytes(DEFAULT_MODEL.read_bytes()[:1000])
    with pytest.raises(ModelError, match=r"nanodet\.onnx is not the expected file"):
        OnnxDetector(DetectorConfig(model=bad))
    with pytest.raises(ModelError, match=r"nanodet\.onnx cannot be loaded by onnxruntime"):
        OnnxDetector(DetectorConfig(model=bad, card=None))  # no hash to check: onnxruntime


def test_the_wrong_model_kind_is_an_error_naming_the_file(tmp_path: Path) -> None:
    copy = tmp_path / "model.onnx"
    shutil.copy(DEFAULT_MODEL, copy)
    with pytest.raises(ModelError, match=r"model\.onnx has 6 outputs but a yolo model has 1"):
        OnnxDetector(DetectorConfig(model=copy, kind="yolo", card=None))


@pytest.fixture(scope="module")
def detector() -> OnnxDetector:
    return OnnxDetector(DetectorConfig())


def test_the_real_model_on_an_empty_frame(detector: OnnxDetector) -> None:
    assert detector.size == 416
    found = detector.detect(np.full((240, 320, 3), 128, np.uint8))
    assert not (found.scores >= 0.4).any()


@pytest.mark.realdata
def test_the_real_model_finds_the_person_not_the_dog_or_horse(detector: OnnxDetector) -> None:
    if not PICTURE.exists():
        pytest.skip(f"{PICTURE} is absent")
    image = np.asarray(cv2.imread(str(PICTURE)), np.uint8)
    found = detector.detect(image)
    people = found.boxes[found.scores >= 0.3]
    assert len(people) == 1
    x1, y1, x2, y2 = people[0]  # the man stands at x 190..275, y 95..375 of 640 x 424
    assert 150 < x1 < 210 and 240 < x2 < 300
    assert 60 < y1 < 130 and 330 < y2 < 400
