"""Sensor types the edge daemon runs: one module per ``type``, imported lazily.

Each module exposes ``PLUGIN``, a ``SensorPlugin`` saying how to build the
sensor's live source, how to fold what the source emits into the pipeline
(on the event loop), how long the sensor may stay silent, and its counters.
A sensor type whose library is missing is left out with one clear log line;
the other sensors run (as bleak selects its backends).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from drivers.observations import Watermark

if TYPE_CHECKING:
    from pathlib import Path

    from drivers.timeline import Timeline
    from edge.aggregate import Aggregator
    from edge.runtime.pipeline import Pipeline

__all__ = [
    "PLUGINS",
    "Emit",
    "SensorPlugin",
    "SensorUnavailable",
    "Source",
    "plugin_for",
    "radio_handler",
]

PLUGINS: dict[str, str] = {
    "wifi": "edge.runtime.sensors.wifi",
    "ble": "edge.runtime.sensors.ble",
    "pos": "edge.runtime.sensors.pos",
    "camera": "edge.runtime.sensors.camera",
}

Emit = Callable[[list[Any]], None]


class Source(Protocol):
    """A live source: runs on its own thread until ``stop`` is set."""

    last_frame_at: float | None

    def run(self, emit: Emit, stop: Any) -> None: ...


class SensorUnavailable(RuntimeError):
    """The sensor type is unknown to this version, or its library is not installed."""


@dataclass(frozen=True)
class SensorPlugin:
    """What the daemon needs to know about one sensor type."""

    make_source: Callable[[Any, Pipeline, Callable[[], float], Any], Source]
    """(sensor config, pipeline, clock, radio override or None) -> source."""
    make_handler: Callable[[Any, Pipeline], Emit]
    """(sensor config, pipeline) -> folds one emitted batch in, on the event loop."""
    silence_timeout: Callable[[Any], float | None]
    """Restart the source after this long without data (None: never, e.g. a POS line)."""
    device: Callable[[Any], str]
    """The device to name in messages (interface, adapter, port, camera URL)."""
    counters: Callable[[Any, Pipeline, Any], dict[str, object]]
    """(sensor config, pipeline, source or None) -> counters; 'frames' drives the rate."""
    simulate: Callable[[Any, Path, Timeline], Any] | None = None
    """(sensor config, recording, timeline) -> the override ``make_source`` takes instead of
    the device: a recording played in real time (``mallsense run --simulate``)."""


def radio_handler(
    pipeline: Pipeline, kind: type, fold: Callable[[Aggregator, list[Any]], None]
) -> Emit:
    """The handler of a radio source (Wi-Fi, BLE): the batch's observations of ``kind``
    folded in with ``fold``, then its watermarks. The aggregator is looked up per batch:
    a reload (SIGHUP) may have replaced it."""

    def handle(batch: list[Any]) -> None:
        aggregator = pipeline.aggregator
        observations: list[Any] = [item for item in batch if type(item) is kind]
        if observations:  # one source per sensor: its time gate (drivers.timegate)
            observations = pipeline.admit(observations[0].sensor, observations)
        if observations:
            fold(aggregator, observations)
        for item in batch:
            if type(item) is Watermark:
                aggregator.advance(item.t)

    return handle


def plugin_for(kind: str) -> SensorPlugin:
    """The plugin of sensor type ``kind``, or ``SensorUnavailable`` saying why."""
    module_name = PLUGINS.get(kind)
    if module_name is None:
        raise SensorUnavailable(f"no sensor type {kind!r} (known: {', '.join(sorted(PLUGINS))})")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SensorUnavailable(
            f"sensor type {kind!r} is not available in this installation: {exc}"
        ) from exc
    plugin: SensorPlugin = module.PLUGIN
    return plugin
