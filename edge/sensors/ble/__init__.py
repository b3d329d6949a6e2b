"""BLE sensors: a Bluetooth adapter's advertisements -> devices in zones.

Decoding of the advertisements lives in ``drivers/ble``; this package is what the
edge box knows of the type (see ``edge.sensors.descriptor`` for the modules' roles).
"""

from edge.sensors.ble.config import BleSensorConfig
from edge.sensors.descriptor import Driver, Front, SensorType

__all__ = ["SENSOR"]

SENSOR = SensorType(
    type="ble",
    label="Bluetooth",
    package=__name__,
    config=BleSensorConfig,
    driver=Driver(
        "drivers.ble.source", "BleScannerSource", "bleak (pip: mallsense[ble]) and BlueZ"
    ),
    records=("dwell", "visit", "presence", "traffic"),
    front=Front("drivers.ble.advert_builder", "AdvertBuilder", "advert"),
)
