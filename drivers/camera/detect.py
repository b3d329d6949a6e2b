"""Person detection with onnxruntime on the CPU: NanoDet (default) or YOLO (ultralytics) ONNX.

The frame is letterboxed once to the model's square input (aspect ratio kept,
padded at the bottom/right): NanoDet-m scores people seen from close behind at
about 0.8 this way and about 0.2 when the frame is stretched to 416x416
(docs/accuracy.md). Decoding follows ``../shared/models/README.md``: per stride
8/16/32 the class scores are already sigmoid, box sides are GFL distributions
(4 x 11 bins: distance = sum(softmax(bins) * arange(11)) * stride) around the
cell centre ((grid_x + 0.5) * stride, (grid_y + 0.5) * stride): NanoDet-m's GFL head
(RangiLyu/nanodet ``get_single_level_center_point``), not the cell corner that
NanoDet-Plus and the shared model README use. YOLO exports of ultralytics
(v8/v11) give one tensor [1, 4 + classes, anchors] of centre-x, centre-y, w, h
and class scores. Only class 0 (COCO person) is kept, then non-maximum
suppression.
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple, Protocol

import cv2
import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    # Imported where a session is opened: a camera process fed by the shared detector
    # never loads onnxruntime (about 20 MB of memory per process).
    import onnxruntime as ort  # type: ignore[import-untyped]

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_MODEL_CARD",
    "Detections",
    "Detector",
    "DetectorConfig",
    "Letterbox",
    "ModelError",
    "ModelInput",
    "ModelKind",
    "OnnxDetector",
    "bundled_model",
    "check_model_file",
    "decode_nanodet",
    "decode_yolo",
    "detections_from_outputs",
    "detector_config",
    "input_size",
    "letterbox",
    "load_checked_session",
    "nms",
    "open_session",
    "sha256_from_card",
]

FloatArray = npt.NDArray[np.float32]
ModelKind = Literal["nanodet", "yolo", "centernet", "movenet"]
"""Output decoding; ``centernet`` and ``movenet`` are in ``drivers.camera.detectors``."""

_MODELS = Path(__file__).resolve().parents[2] / "models"
"""``models/`` next to the ``drivers`` package: the repository, or an editable install."""
_MODEL_FILE = "nanodet_coco80_416_fp32.onnx"
_CARD_FILE = "nanodet-m-coco-416.md"
DEFAULT_MODEL = _MODELS / _MODEL_FILE
DEFAULT_MODEL_CARD = _MODELS / _CARD_FILE

_NANODET_MEAN = (103.53, 116.28, 123.675)  # BGR, from the model README
_NANODET_STD = (57.375, 57.12, 58.395)
_REG_BINS = 11  # GFL reg_max 10
_STRIDES = (8, 16, 32)


class ModelError(OSError):
    """The model file is missing, altered or not the shape the configuration says."""


class Detections(NamedTuple):
    """People found in one frame, in the frame's pixel coordinates."""

    boxes: FloatArray
    """[N, 4] x1, y1, x2, y2."""
    scores: FloatArray
    """[N] person confidence in 0..1."""

    @staticmethod
    def empty() -> Detections:
        return Detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32))


class Detector(Protocol):
    """Anything that finds people in a BGR frame (a test can hand in a fake)."""

    def detect(self, frame: npt.NDArray[np.uint8]) -> Detections: ...


@dataclass(frozen=True)
class DetectorConfig:
    """How to load and run the detector (the camera section of the configuration)."""

    model: Path = DEFAULT_MODEL
    kind: ModelKind = "nanodet"
    sha256: str | None = None
    """Expected hash; None reads it from ``card`` (and skips the check when there is none)."""
    card: Path | None = DEFAULT_MODEL_CARD
    threads: int = 2
    """onnxruntime intra-op threads (the box has 2 cores)."""
    score_threshold: float = 0.1
    """Lowest score kept; the tracker splits high and low scores (ByteTrack)."""
    nms_iou: float = 0.5


class Letterbox(NamedTuple):
    """A frame resized into the model input, and how to map boxes back."""

    image: npt.NDArray[np.uint8]
    scale: float
    """Model pixels per frame pixel."""


def letterbox(frame: npt.NDArray[np.uint8], size: int, pad: int | Sequence[int]) -> Letterbox:
    """Resize ``frame`` to fit ``size`` x ``size`` keeping its aspect, padding bottom/right."""
    h, w = frame.shape[:2]
    scale = size / max(h, w)
    nw, nh = round(w * scale), round(h * scale)
    canvas = np.empty((size, size, 3), np.uint8)
    canvas[:] = pad
    canvas[:nh, :nw] = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return Letterbox(canvas, scale)


def nms(boxes: FloatArray, scores: FloatArray, iou: float) -> npt.NDArray[np.intp]:
    """Indices kept by greedy non-maximum suppression, best score first."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        xx1 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx2 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        overlap = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-6)
        order = rest[overlap <= iou]
    return np.asarray(keep, np.intp)


def decode_nanodet(
    outputs: Sequence[FloatArray], size: int, threshold: float
) -> tuple[FloatArray, FloatArray]:
    """Person boxes (model pixels) and scores from NanoDet's six outputs (any order).

    Outputs are told apart by shape: [1, N, 80] scores and [1, N, 44] regressions
    with N = (size / stride)^2 for strides 8, 16, 32.
    """
    by_shape = {(o.shape[1], o.shape[2]): o[0] for o in outputs}
    all_boxes, all_scores = [], []
    for stride in _STRIDES:
        cells = size // stride
        n = cells * cells
        scores = by_shape[(n, 80)][:, 0]
        keep = np.flatnonzero(scores >= threshold)
        if keep.size == 0:
            continue
        bins = by_shape[(n, 4 * _REG_BINS)][keep].reshape(-1, 4, _REG_BINS)
        bins = np.exp(bins - bins.max(axis=2, keepdims=True))
        bins /= bins.sum(axis=2, keepdims=True)
        dist = (bins @ np.arange(_REG_BINS, dtype=np.float32)) * stride
        # NanoDet-m's GFL head measures from the middle of the cell; NanoDet-Plus from its
        # corner. The wrong one puts every box half a cell (4-16 px) up and to the left.
        cx = ((keep % cells).astype(np.float32) + 0.5) * stride
        cy = ((keep // cells).astype(np.float32) + 0.5) * stride
        all_boxes.append(
            np.stack([cx - dist[:, 0], cy - dist[:, 1], cx + dist[:, 2], cy + dist[:, 3]], 1)
        )
        all_scores.append(scores[keep])
    if not all_boxes:
        return Detections.empty()
    return np.concatenate(all_boxes).astype(np.float32), np.concatenate(all_scores)


def decode_yolo(output: FloatArray, threshold: float) -> tuple[FloatArray, FloatArray]:
    """Person boxes (model pixels) and scores from an ultralytics v8/v11 export.

    ``output`` is [1, 4 + classes, anchors] (as exported) or [1, anchors, 4 + classes];
    rows are centre x, centre y, width, height, then one score per class.
    """
    pred = output[0]
    if pred.shape[0] > pred.shape[1]:  # anchors first: transpose to [4 + classes, anchors]
        pred = pred.T
    scores = pred[4]
    keep = np.flatnonzero(scores >= threshold)
    cx, cy, w, h = pred[0, keep], pred[1, keep], pred[2, keep], pred[3, keep]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)
    return boxes.astype(np.float32), scores[keep].astype(np.float32)


def sha256_from_card(card: Path) -> str | None:
    """The ``sha256: <hex>`` line of a model card, if the card exists and has one."""
    try:
        text = card.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    match = re.search(r"sha256[^0-9a-f]*([0-9a-f]{64})", text, re.IGNORECASE)
    return match.group(1).lower() if match else None


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def bundled_model() -> tuple[Path, Path]:
    """The model shipped with mallsense and its card, wherever this installation put them.

    Looked for next to the installed packages (a checkout or an editable install) and
    in ``<prefix>/share/mallsense/models`` (a packaged install), so that the daemon
    finds it from any working directory.
    """
    places = [_MODELS, Path(sys.prefix) / "share" / "mallsense" / "models"]
    for folder in places:
        if (folder / _MODEL_FILE).is_file():
            return folder / _MODEL_FILE, folder / _CARD_FILE
    raise ModelError(
        f"the camera model shipped with mallsense ({_MODEL_FILE}) is missing: looked in"
        f" {' and '.join(str(p) for p in places)}; reinstall mallsense with its models/"
        " folder, or set the camera's model to an ONNX file"
    )


def detector_config(
    model: Path | None = None,
    kind: ModelKind = "nanodet",
    threads: int = 2,
    sha256: str | None = None,
) -> DetectorConfig:
    """The detector for a camera: ``model`` None is the bundled one, checked by its card.

    Another model is checked against ``sha256`` when given (else only its shape is).
    """
    if model is None or model == DEFAULT_MODEL:
        path, card = bundled_model()
        return DetectorConfig(model=path, kind=kind, threads=threads, sha256=sha256, card=card)
    return DetectorConfig(model=model, kind=kind, threads=threads, sha256=sha256, card=None)


def check_model_file(config: DetectorConfig) -> None:
    """Raise ModelError unless the model file exists and has the expected hash."""
    path = config.model
    if not path.is_file():
        raise ModelError(
            f"camera model {path} does not exist; reinstall mallsense or set the camera's"
            " model path to an ONNX file"
        )
    expected = config.sha256 or (sha256_from_card(config.card) if config.card else None)
    if expected is not None and _file_sha256(path) != expected.lower():
        raise ModelError(
            f"camera model {path} is not the expected file (sha256 differs from"
            f" {expected[:16]}...); it is damaged or was replaced: restore it, or give its"
            " hash in the configuration if the change is intended"
        )


class ModelInput:
    """How a frame becomes the model's input tensor: letterboxed once, then normalized.

    The in-process detector and a camera feeding the shared detector
    (``drivers.camera.shared_detector``) both use it, so they give the model the same
    numbers; ``prepare`` can write straight into a caller's buffer (a shared-memory slot).
    """

    def __init__(self, kind: ModelKind, size: int) -> None:
        self.kind = kind
        self.size = size
        if kind == "nanodet":
            self.pad: tuple[int, ...] = tuple(round(m) for m in _NANODET_MEAN)
            self._mean = np.asarray(_NANODET_MEAN, np.float32).reshape(1, 3, 1, 1)
            self._inv_std = (1 / np.asarray(_NANODET_STD, np.float32)).reshape(1, 3, 1, 1)
        else:
            self.pad = (114, 114, 114)  # ultralytics' letterbox grey

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """NCHW of one frame's tensor."""
        return (1, 3, self.size, self.size)

    def prepare(
        self, frame: npt.NDArray[np.uint8], out: FloatArray | None = None
    ) -> tuple[FloatArray, float]:
        """The tensor of ``frame`` (in ``out`` when given) and the letterbox's scale."""
        boxed = letterbox(frame, self.size, self.pad)
        if out is None:
            out = np.empty(self.shape, np.float32)
        if self.kind == "nanodet":  # BGR, (x - mean) / std, NCHW
            np.subtract(cv2.dnn.blobFromImage(boxed.image), self._mean, out=out)
            np.multiply(out, self._inv_std, out=out)
        else:  # RGB 0..1, NCHW
            out[...] = cv2.dnn.blobFromImage(boxed.image, 1 / 255.0, swapRB=True)
        return out, boxed.scale


def detections_from_outputs(
    outputs: Sequence[FloatArray],
    config: DetectorConfig,
    size: int,
    scale: float,
    frame_size: tuple[int, int],
) -> Detections:
    """People in a frame of ``frame_size`` (width, height) from a NanoDet or YOLO model's
    outputs for its letterboxed tensor (``scale``: model pixels per frame pixel)."""
    threshold = config.score_threshold
    if config.kind == "nanodet":
        boxes, scores = decode_nanodet(outputs, size, threshold)
    else:
        boxes, scores = decode_yolo(outputs[0], threshold)
    if scores.size == 0:
        return Detections.empty()
    boxes /= scale
    w, h = frame_size
    np.clip(boxes, 0, [w, h, w, h], out=boxes)
    keep = nms(boxes, scores, config.nms_iou)
    return Detections(boxes[keep], scores[keep])


class OnnxDetector:
    """An ONNX person detector run by onnxruntime's CPU provider, checked when loaded."""

    def __init__(self, config: DetectorConfig) -> None:
        self.config = config
        self._session = load_checked_session(config)
        self.size = input_size(self._session, config.model)
        self._input = self._session.get_inputs()[0].name
        self.model_input = ModelInput(config.kind, self.size)

    @property
    def session(self) -> ort.InferenceSession:
        return self._session

    def detect(self, frame: npt.NDArray[np.uint8]) -> Detections:
        """People in one BGR frame (boxes in the frame's pixels, clipped to it)."""
        tensor, scale = self.model_input.prepare(frame)
        outputs = self._session.run(None, {self._input: tensor})
        h, w = frame.shape[:2]
        return detections_from_outputs(outputs, self.config, self.size, scale, (w, h))


def load_checked_session(config: DetectorConfig) -> ort.InferenceSession:
    """The model of ``config`` checked (hash, outputs) and opened by onnxruntime."""
    check_model_file(config)
    session = open_session(config)
    _check_outputs(session, config)
    return session


def open_session(config: DetectorConfig) -> ort.InferenceSession:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = config.threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # No busy-waiting between frames: the other sensors and cameras share the two cores.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(config.model), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped exception classes
        raise ModelError(
            f"camera model {config.model} cannot be loaded by onnxruntime ({exc}); check it"
            " is an ONNX file (opset 13 or later) and not truncated"
        ) from exc


def input_size(session: ort.InferenceSession, path: Path) -> int:
    shape = list(session.get_inputs()[0].shape)
    ok = len(shape) == 4 and shape[1] == 3 and isinstance(shape[2], int) and shape[2] == shape[3]
    if not ok:
        raise ModelError(
            f"camera model {path} takes input of shape {shape}, expected [1, 3, S, S]"
            " (one BGR/RGB square image with a fixed size); export it with a fixed input size"
        )
    return int(shape[2])


def _check_outputs(session: ort.InferenceSession, config: DetectorConfig) -> None:
    count = len(session.get_outputs())
    expected = 6 if config.kind == "nanodet" else 1
    if count != expected:
        raise ModelError(
            f"camera model {config.model} has {count} outputs but a {config.kind} model has"
            f" {expected}; set the camera's model kind to the right one"
            " (nanodet: six score/box outputs; yolo: an ultralytics export)"
        )
