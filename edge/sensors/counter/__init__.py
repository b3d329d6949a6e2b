"""People counters: a door counter the mall already has, read over HTTP -> footfall records.

The whole sensor lives in this package (``source.py`` reads the feed, ``records.py``
turns intervals into records): it was the worked example of
docs/architecture.md's "Adding a sensor".
"""

from edge.sensors.counter.config import CounterSensorConfig
from edge.sensors.descriptor import Driver, SensorType

__all__ = ["SENSOR"]

SENSOR = SensorType(
    type="counter",
    label="people counter",
    package=__name__,
    config=CounterSensorConfig,
    driver=Driver("edge.sensors.counter.source", "CounterSource", "nothing beyond Python"),
    records=("footfall",),
    counts_entries=lambda sensor: True,
)
