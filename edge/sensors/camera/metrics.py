"""The Prometheus figures only a camera has: its process's inference time, fps, restarts
(of its process and of the shared detector it uses)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from edge.runtime.metrics import metric_value

__all__ = ["camera_metrics"]


def camera_metrics(cameras: dict[str, dict[str, object]]) -> Iterator[Metric]:
    """The families, from each camera's counters (those its process has reported yet)."""
    inference = GaugeMetricFamily(
        "mallsense_camera_inference_seconds",
        "Detector time per analysed frame, as the camera's process last reported it.",
        labels=["sensor"],
    )
    fps = GaugeMetricFamily(
        "mallsense_camera_fps", "Frames per second the camera's process analyses.",
        labels=["sensor"],
    )  # fmt: skip
    child = CounterMetricFamily(
        "mallsense_camera_process_restarts",
        "Restarts of the camera's inference process.",
        labels=["sensor"],
    )
    detector = CounterMetricFamily(
        "mallsense_camera_detector_restarts",
        "Restarts of the shared detector the camera uses (0 with a model of its own).",
        labels=["sensor"],
    )
    for name, counters in cameras.items():
        if "inference_ms" in counters:
            inference.add_metric([name], metric_value(counters["inference_ms"]) / 1000)
            fps.add_metric([name], metric_value(counters.get("fps")))
            child.add_metric([name], metric_value(counters.get("child_restarts")))
            detector.add_metric([name], metric_value(counters.get("detector_restarts")))
    yield from (inference, fps, child, detector)
