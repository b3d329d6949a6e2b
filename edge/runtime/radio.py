"""The fold the radio sensors (Wi-Fi, BLE) share: observations through the sensor's
time gate into the aggregator, then the watermarks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drivers.observations import Watermark
from edge.aggregate import Aggregator
from edge.runtime.pipeline import Pipeline
from edge.sensors.plugin import Emit

__all__ = ["radio_handler"]


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
