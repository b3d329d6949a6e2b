"""People counters in the daemon: the feed's intervals -> footfall records in the store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from edge.runtime.pipeline import Pipeline
from edge.sensors.counter.config import CounterSensorConfig
from edge.sensors.counter.intervals import Interval
from edge.sensors.counter.records import footfall_record
from edge.sensors.counter.source import CounterSource
from edge.sensors.plugin import Emit, SensorPlugin, Source

__all__ = ["PLUGIN", "device"]


def device(sensor: CounterSensorConfig) -> str:
    """The counter as messages name it: its address without the path's query."""
    parts = urlsplit(sensor.url)
    return f"counter {parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"


def _make_source(
    sensor: CounterSensorConfig, pipeline: Pipeline, clock: Callable[[], float], _override: Any
) -> Source:
    return CounterSource(sensor, clock)


def _make_handler(sensor: CounterSensorConfig, pipeline: Pipeline) -> Emit:
    mall, box = pipeline.config.mall, pipeline.config.box

    def handle(batch: list[Any]) -> None:
        made = [footfall_record(mall, box, sensor, i) for i in batch if isinstance(i, Interval)]
        if made:
            pipeline.add_records(made)

    return handle


def _counters(sensor: CounterSensorConfig, pipeline: Pipeline, source: Any) -> dict[str, object]:
    return source.stats() if isinstance(source, CounterSource) else {"frames": 0}


PLUGIN = SensorPlugin(
    make_source=_make_source,
    make_handler=_make_handler,
    silence_timeout=lambda sensor: sensor.silence_timeout_s,
    device=device,
    counters=_counters,
)
