"""The one table of sensor types. Everything else is derived from it: the
configuration's ``[[sensors]]`` union, the daemon's plugins, doctor's checks,
the drivers to load, and the record kinds each type feeds.

A sensor type is added here and in its own package (``edge.sensors.<type>``);
``tests/test_sensor_table.py`` fails when the two disagree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, TypeAlias, Union

from pydantic import Field

from edge.config.base import SensorBase
from edge.sensors import ble, camera, counter, pos, wifi
from edge.sensors.descriptor import SensorType, SensorUnavailable

if TYPE_CHECKING:
    from edge.sensors.plugin import SensorPlugin

__all__ = ["SENSOR_TYPES", "SensorConfig", "load_driver", "plugin_for", "sensor_type"]

SENSOR_TYPES: dict[str, SensorType] = {
    t.SENSOR.type: t.SENSOR for t in (wifi, ble, camera, pos, counter)
}
"""Sensor types by their ``type`` key, in the order the configuration schema lists them."""

if TYPE_CHECKING:
    SensorConfig: TypeAlias = SensorBase
else:  # a discriminated union of every type's model, built from the table
    SensorConfig = Annotated[
        Union[tuple(t.config for t in SENSOR_TYPES.values())],  # noqa: UP007
        Field(discriminator="type"),
    ]


def sensor_type(kind: str) -> SensorType:
    """The descriptor of sensor type ``kind``, or ``SensorUnavailable`` listing the known."""
    try:
        return SENSOR_TYPES[kind]
    except KeyError:
        known = ", ".join(sorted(SENSOR_TYPES))
        raise SensorUnavailable(f"no sensor type {kind!r} (known: {known})") from None


def plugin_for(kind: str) -> SensorPlugin:
    """The runtime plugin of sensor type ``kind``, or ``SensorUnavailable`` saying why."""
    return sensor_type(kind).plugin()


def load_driver(kind: str) -> Any:
    """The live source class of sensor type ``kind`` (``DriverUnavailable`` names what to
    install when its library is missing)."""
    return sensor_type(kind).load_driver()
