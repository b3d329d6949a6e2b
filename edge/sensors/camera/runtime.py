"""Camera sensors in the daemon: a process per camera -> line counts, occupancy, dwell
-> records (``edge.sensors.camera.records``); with ``shared_detector`` (the default) the
cameras' models run in one detector process of the daemon (``_shared_detectors``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drivers.timeline import Timeline
from edge.runtime.pipeline import Pipeline
from edge.sensors.camera.config import CameraSensorConfig
from edge.sensors.camera.metrics import camera_metrics
from edge.sensors.camera.records import CameraRecords
from edge.sensors.camera.settings import camera_spec, camera_url, device, pipeline_config
from edge.sensors.plugin import Emit, SensorPlugin, Source
from edge.sensors.table import load_driver

if TYPE_CHECKING:
    from drivers.camera.replay import VideoReplay
    from drivers.camera.shared_detector import DetectorHub

__all__ = ["PLUGIN", "SOURCE", "WATCHDOG_FACTOR"]

SOURCE = load_driver("camera")
"""The camera source class, loaded with this module: without OpenCV or onnxruntime the
daemon leaves cameras out with the registry's message (what to install) and runs the rest.
The camera modules imported inside the functions below are then cheap to import."""

WATCHDOG_FACTOR = 3
"""The daemon restarts a camera's process after this many ``silence_timeout_s`` without a
frame; the process reconnects the stream itself after one."""


_hub: list[DetectorHub] = []
"""The daemon's shared detectors (made with its first camera): one per process, so that
every camera of the daemon meets the same service."""


def _shared_detectors() -> DetectorHub:
    from drivers.camera.shared_detector import DetectorHub

    if not _hub:
        _hub.append(DetectorHub())
    return _hub[0]


class _Unusable:
    """A camera that cannot start (its model is missing): the daemon logs why and retries,
    the other sensors run."""

    last_frame_at: float | None = None

    def __init__(self, error: OSError) -> None:
        self.error = error

    def run(self, emit: Emit, stop: Any) -> None:
        raise self.error


def _make_source(
    sensor: CameraSensorConfig, pipeline: Pipeline, clock: Callable[[], float], override: Any
) -> Source:
    from drivers.camera.detect import ModelError
    from drivers.camera.replay import VideoReplay

    playback = override if isinstance(override, VideoReplay) else None
    try:
        config = pipeline_config(sensor)
    except ModelError as exc:
        return _Unusable(exc)
    source: Source = SOURCE(
        camera_spec(sensor, playback),
        config,
        clock=clock,
        resolve_url=None if playback is not None else lambda: camera_url(sensor),
        detectors=_shared_detectors() if sensor.shared_detector else None,
    )
    return source


def _make_handler(sensor: CameraSensorConfig, pipeline: Pipeline) -> Emit:
    records = CameraRecords(pipeline.config.mall, pipeline.config.box, sensor.zone)

    def handle(batch: list[Any]) -> None:
        made = records.fold(batch)
        if made:
            pipeline.add_records(made)

    return handle


def _counters(sensor: CameraSensorConfig, pipeline: Pipeline, source: Any) -> dict[str, object]:
    if isinstance(source, SOURCE):
        counters: dict[str, object] = source.stats.as_counters()
        return counters
    return {"frames": 0}


def _simulate(sensor: CameraSensorConfig, path: Path, timeline: Timeline) -> VideoReplay:
    """A video file played as the camera, looped, on the shared timeline."""
    from drivers.camera.replay import VideoReplay

    return VideoReplay(path, timeline, loop=True)


PLUGIN = SensorPlugin(
    make_source=_make_source,
    make_handler=_make_handler,
    silence_timeout=lambda sensor: WATCHDOG_FACTOR * sensor.silence_timeout_s,
    device=device,
    counters=_counters,
    metrics=camera_metrics,
    simulate=_simulate,
)
