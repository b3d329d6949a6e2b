"""The per-sensor front of the pipeline: what turns a radio's frames into observations.

A radio sensor (Wi-Fi, BLE) has a front, built as its type's table line says
(``SensorType.front``): a parser or advert builder with its own pseudonymizer
(one per source thread, so a key rotation never races another's), and a time
gate (``drivers.timegate``). A reload keeps the fronts of the sensors that stay
(their counters, their pseudonym state) and builds those of new ones.
"""

from __future__ import annotations

from typing import Any

from drivers.privacy import Pseudonymizer
from drivers.timegate import TimeGate
from edge.config.models import Config
from edge.sensors.table import SENSOR_TYPES

__all__ = ["SensorFronts"]


class SensorFronts:
    """The fronts of one configuration's radio sensors, by sensor name."""

    def __init__(self, config: Config, key: bytes, running: SensorFronts | None = None) -> None:
        rotation = config.privacy.key_rotation_s
        kept = running.by_sensor if running is not None else {}
        kept_gates = running.gates if running is not None else {}
        self.types: dict[str, str] = {}
        self.by_sensor: dict[str, Any] = {}
        self.gates: dict[str, TimeGate] = {}
        """Per radio sensor, the check of its event times. Set for a live radio (its first
        frame is believed); ``replay`` sets them for files."""
        for sensor in config.sensors:
            front = SENSOR_TYPES[sensor.type].front
            if front is None:
                continue
            same = running is not None and running.types.get(sensor.name) == sensor.type
            self.types[sensor.name] = sensor.type
            self.by_sensor[sensor.name] = (
                kept[sensor.name] if same else front.make(sensor.name, Pseudonymizer(key, rotation))
            )
            self.gates[sensor.name] = (kept_gates[sensor.name] if same else None) or TimeGate(
                sensor.name, unit=front.unit, hold_start=False
            )

    def of_type(self, kind: str) -> dict[str, Any]:
        """The fronts of the sensors of one type."""
        return {name: f for name, f in self.by_sensor.items() if self.types[name] == kind}
