"""Wi-Fi sensors: monitor-mode capture -> probe requests -> the aggregator."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from drivers.observations import Probe
from drivers.timeline import Timeline
from drivers.wifi.replay import RadioReplay
from edge.config.models import WifiSensorConfig
from edge.runtime.pipeline import Pipeline
from edge.runtime.radio import radio_handler
from edge.sensors.plugin import Emit, SensorPlugin, Source
from edge.sensors.table import load_driver

__all__ = ["PLUGIN"]


def _make_source(
    sensor: WifiSensorConfig, pipeline: Pipeline, clock: Callable[[], float], radio: Any
) -> Source:
    source_class = load_driver("wifi")
    kwargs: dict[str, Any] = {"clock": clock}
    if radio is not None:
        kwargs |= {"radio_factory": radio, "hop": False}
    source: Source = source_class(
        pipeline.parsers[sensor.name],
        sensor.interface,
        list(sensor.channels),
        sensor.hop_dwell_s,
        **kwargs,
    )
    return source


def _make_handler(sensor: WifiSensorConfig, pipeline: Pipeline) -> Emit:
    return radio_handler(
        pipeline, Probe, lambda aggregator, probes: aggregator.observe_batch(probes)
    )


def _counters(sensor: WifiSensorConfig, pipeline: Pipeline, source: Any) -> dict[str, object]:
    return pipeline.parsers[sensor.name].stats()


def _simulate(sensor: WifiSensorConfig, path: Path, timeline: Timeline) -> Callable[[str], Any]:
    """A pcap played as the sensor's radio, looped, on the shared timeline."""

    def radio(_interface: str) -> RadioReplay:
        return RadioReplay(path, timeline, loop=True)

    return radio


PLUGIN = SensorPlugin(
    make_source=_make_source,
    make_handler=_make_handler,
    silence_timeout=lambda sensor: sensor.silence_timeout_s,
    device=lambda sensor: sensor.interface,
    counters=_counters,
    simulate=_simulate,
)
