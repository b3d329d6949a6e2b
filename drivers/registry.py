"""Sensor drivers by configuration ``type``, imported lazily.

A missing optional library (scapy for Wi-Fi, later bleak, OpenCV, pyserial)
disables the sensors that need it with a clear message instead of stopping
the whole daemon, as bleak selects its backends.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["DRIVERS", "DriverUnavailable", "load_driver"]

DRIVERS: dict[str, tuple[str, str, str]] = {
    # type: (module, class, what to install when it is missing)
    "wifi": ("drivers.wifi.source", "LiveWifiSource", "scapy (pip) and libpcap (apt: libpcap0.8)"),
    "ble": ("drivers.ble.scanner", "BleScannerSource", "bleak (pip: mallsense[ble]) and BlueZ"),
    "pos": ("drivers.pos.serial_source", "SerialPosSource", "pyserial (pip: mallsense[pos])"),
    "camera": (
        "drivers.camera.source",
        "CameraSource",
        "opencv-python-headless, onnxruntime, numpy (pip: mallsense[camera])",
    ),
}


class DriverUnavailable(ImportError):
    """A sensor type is unknown or its library is not installed."""


def load_driver(kind: str) -> Any:
    """The source class for sensor type ``kind``."""
    try:
        module_name, class_name, needs = DRIVERS[kind]
    except KeyError:
        raise DriverUnavailable(
            f"no driver for sensor type {kind!r} (known: {', '.join(sorted(DRIVERS))})"
        ) from None
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise DriverUnavailable(
            f"sensor type {kind!r} cannot start: {exc}; it needs {needs}"
        ) from exc
    return getattr(module, class_name)
