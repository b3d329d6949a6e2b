"""POS sensors: a receipt printer's serial line -> receipts -> ``transaction`` records.

The ESC/POS interpreter, the extraction and the line live in ``drivers/pos``; this
package is what the edge box knows of the type (see ``edge.sensors.descriptor``).
"""

from edge.sensors.descriptor import Driver, SensorType
from edge.sensors.pos.config import PosSensorConfig

__all__ = ["SENSOR"]

SENSOR = SensorType(
    type="pos",
    label="POS",
    package=__name__,
    config=PosSensorConfig,
    driver=Driver(
        "drivers.pos.line.serial_source", "SerialPosSource", "pyserial (pip: mallsense[pos])"
    ),
    records=("transaction",),
)
