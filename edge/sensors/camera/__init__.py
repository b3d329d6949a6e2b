"""Camera sensors: a process per camera -> line crossings, area occupancy and dwell.

Capture, detection, tracking and counting live in ``drivers/camera``; this package
is what the edge box knows of the type (see ``edge.sensors.descriptor``).
"""

from edge.sensors.camera.config import CameraSensorConfig
from edge.sensors.descriptor import Driver, SensorType

__all__ = ["SENSOR"]

SENSOR = SensorType(
    type="camera",
    label="camera",
    package=__name__,
    config=CameraSensorConfig,
    driver=Driver(
        "drivers.camera.source",
        "CameraSource",
        "opencv-python-headless, onnxruntime, numpy (pip: mallsense[camera])",
    ),
    records=("footfall", "occupancy"),
    counts_entries=lambda sensor: bool(sensor.lines),
)
