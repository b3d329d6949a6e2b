"""BLE sensors: bleak scanning -> adverts -> the aggregator (same devices, zones, records).

The source's own watchdog restarts the scanner after ``silence_timeout_s`` and resets
the adapter after ``reset_after_restarts`` restarts in a row; the daemon's watchdog
(a silence long enough for that whole cycle and one more restart) restarts the source
as the outer ring. `mallsense status` shows the scanner's counters (scan mode,
scanner restarts, adapter resets) next to the BLE stage's (fixed beacons, classes
counted, grouping of rotating addresses).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from drivers.observations import Advert
from drivers.timeline import Timeline
from edge.config.models import BleSensorConfig
from edge.runtime.pipeline import Pipeline
from edge.runtime.radio import radio_handler
from edge.sensors.plugin import Emit, SensorPlugin, Source
from edge.sensors.table import load_driver

__all__ = ["PLUGIN", "outer_silence_s"]


def outer_silence_s(sensor: BleSensorConfig) -> float:
    """The daemon's silence limit: the source's restarts, its adapter reset, one more restart."""
    return sensor.silence_timeout_s * (sensor.reset_after_restarts + 2)


def _make_source(
    sensor: BleSensorConfig, pipeline: Pipeline, clock: Callable[[], float], backend: Any
) -> Source:
    source_class = load_driver("ble")
    kwargs: dict[str, Any] = {"clock": clock}
    if backend is not None:  # a recording played as the adapter: nothing to power-cycle
        kwargs |= {"backend": backend, "reset": lambda: None, "settle_s": 0.0}
    source: Source = source_class(
        pipeline.ble[sensor.name],
        sensor.adapter,
        sensor.passive,
        sensor.silence_timeout_s,
        sensor.reset_after_restarts,
        **kwargs,
    )
    return source


def _make_handler(sensor: BleSensorConfig, pipeline: Pipeline) -> Emit:
    return radio_handler(
        pipeline, Advert, lambda aggregator, adverts: aggregator.observe_adverts(adverts)
    )


def _counters(sensor: BleSensorConfig, pipeline: Pipeline, source: Any) -> dict[str, object]:
    counters = pipeline.ble[sensor.name].stats() | pipeline.aggregator.ble_stats(sensor.name)
    if source is not None and hasattr(source, "stats"):
        counters = counters | source.stats()
    return counters


def _simulate(sensor: BleSensorConfig, path: Path, timeline: Timeline) -> Any:
    """A recording played as the adapter (a bleak backend), looped, on the shared timeline."""
    from drivers.ble.replay import recording_backend

    return recording_backend(path, timeline, loop=True)


PLUGIN = SensorPlugin(
    make_source=_make_source,
    make_handler=_make_handler,
    silence_timeout=outer_silence_s,
    device=lambda sensor: sensor.adapter,
    counters=_counters,
    simulate=_simulate,
)
