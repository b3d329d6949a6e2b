"""How the daemon runs one sensor type: its ``PLUGIN`` (each ``edge.sensors.<type>.runtime``).

A plugin says how to build the sensor's live source, how to fold what the source
emits into the pipeline (on the event loop), how long the sensor may stay silent,
and its counters. The pipeline (``edge.runtime.pipeline.Pipeline``) is typed
``Any`` here: it is built from the configuration, whose sensor union comes from
the table of types, so naming it here would close an import cycle; each
``runtime`` module names it exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pathlib import Path

    from prometheus_client.metrics_core import Metric

    from drivers.timeline import Timeline

__all__ = ["Emit", "SensorPlugin", "Source"]

Emit = Callable[[list[Any]], None]


class Source(Protocol):
    """A live source: runs on its own thread until ``stop`` is set."""

    last_frame_at: float | None

    def run(self, emit: Emit, stop: Any) -> None: ...


@dataclass(frozen=True)
class SensorPlugin:
    """What the daemon needs to know about one sensor type."""

    make_source: Callable[[Any, Any, Callable[[], float], Any], Source]
    """(sensor config, pipeline, clock, radio override or None) -> source."""
    make_handler: Callable[[Any, Any], Emit]
    """(sensor config, pipeline) -> folds one emitted batch in, on the event loop."""
    silence_timeout: Callable[[Any], float | None]
    """Restart the source after this long without data (None: never, e.g. a POS line)."""
    device: Callable[[Any], str]
    """The device to name in messages (interface, adapter, port, camera URL)."""
    counters: Callable[[Any, Any, Any], dict[str, object]]
    """(sensor config, pipeline, source or None) -> counters; 'frames' drives the rate."""
    metrics: Callable[[dict[str, dict[str, object]]], Iterable[Metric]] | None = None
    """(counters by sensor name, of this type's sensors) -> the Prometheus families only
    this type has (a camera's inference time); the common ones come from every sensor."""
    simulate: Callable[[Any, Path, Timeline], Any] | None = None
    """(sensor config, recording, timeline) -> the override ``make_source`` takes instead of
    the device: a recording played in real time (``mallsense run --simulate``)."""
