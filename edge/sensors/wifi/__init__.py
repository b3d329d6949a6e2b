"""Wi-Fi sensors: a monitor-mode interface's probe requests -> devices in zones.

Parsing of the frames lives in ``drivers/wifi``; this package is what the edge
box knows of the type (see ``edge.sensors.descriptor`` for the modules' roles).
"""

from edge.sensors.descriptor import Driver, Front, SensorType
from edge.sensors.wifi.config import WifiSensorConfig

__all__ = ["SENSOR"]

SENSOR = SensorType(
    type="wifi",
    label="Wi-Fi",
    package=__name__,
    config=WifiSensorConfig,
    driver=Driver(
        "drivers.wifi.source", "LiveWifiSource", "scapy (pip) and libpcap (apt: libpcap0.8)"
    ),
    records=("dwell", "visit", "presence", "traffic"),
    front=Front("drivers.wifi.parse", "WifiParser", "probe"),
)
