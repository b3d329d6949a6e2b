"""Sensor sections of the configuration: a discriminated union on ``type``.

Secrets are not here either: a camera's RTSP password comes from
``$MALLSENSE_CAMERA_<NAME>_PASSWORD`` or the systemd credential
``camera-<name>-password``, never from the URL in this file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from edge.config.base import Slug, Strict

__all__ = [
    "AreaConfig",
    "BleSensorConfig",
    "CameraSensorConfig",
    "LineConfig",
    "PosSensorConfig",
    "PosTemplateConfig",
    "SensorConfig",
    "WifiSensorConfig",
]

DeviceClass = Literal["phone", "wearable", "earbuds", "beacon", "tag", "computer", "unknown"]
Point = tuple[float, float]


class _Sensor(Strict):
    name: Slug = Field(description="Sensor name used in logs, status and telemetry.")
    zone: Slug = Field(description="Id of the zone this sensor covers.")


class WifiSensorConfig(_Sensor):
    """A monitor-mode Wi-Fi interface listening for probe requests."""

    type: Literal["wifi"] = Field(description="Sensor kind.")
    interface: str = Field(
        "wlan0mon",
        pattern=r"^[A-Za-z0-9_.:-]{1,15}$",
        description="Network interface already in monitor mode.",
    )
    channels: list[Annotated[int, Field(ge=1, le=233)]] = Field(
        default_factory=lambda: [1, 6, 11],
        min_length=1,
        description="Channels to listen on; with more than one, the sensor hops between them.",
    )
    hop_dwell_s: float = Field(
        0.25, gt=0, le=60, description="Seconds spent on each channel when hopping."
    )
    silence_timeout_s: float = Field(
        120, gt=0, description="Restart the capture when no frame arrived for this long."
    )


class BleSensorConfig(_Sensor):
    """A Bluetooth adapter scanning for advertisements (bleak, BlueZ)."""

    type: Literal["ble"] = Field(description="Sensor kind.")
    adapter: str = Field("hci0", pattern=r"^hci[0-9]{1,2}$", description="BlueZ adapter.")
    passive: bool = Field(
        True, description="Passive scanning where BlueZ supports it (no scan requests sent)."
    )
    silence_timeout_s: float = Field(
        90,
        gt=0,
        description="Restart the scanner when no advertisement arrived for this long (BlueZ"
        " scans can stop silently after hours).",
    )
    reset_after_restarts: int = Field(
        2, ge=1, description="Reset the adapter when this many scanner restarts in a row failed."
    )
    publish_classes: list[DeviceClass] = Field(
        default_factory=list,
        description="Device classes counted in records; none until configured (phones,"
        " wearables, beacons...), as room-assistant does.",
    )
    fixed_beacons: list[str] = Field(
        default_factory=list,
        description="The mall's own beacons (iBeacon UUID, or UUID:major:minor, or Eddystone"
        " namespace): used for health and calibration, never counted as people.",
    )
    staff_tags: list[str] = Field(
        default_factory=list,
        description="Staff tags (same forms as fixed_beacons): left out of visitor figures.",
    )


class PosTemplateConfig(Strict):
    """Named regexes for a shop whose receipts the default extractor misreads."""

    store: Slug = Field(description="Store id the template applies to.")
    patterns: dict[str, str] = Field(
        description="Field name (total, receipt_no, printed_at, payment, items...) to a regular"
        " expression whose first group (or named group 'value') is the field."
    )


class PosSensorConfig(_Sensor):
    """A serial line between a shop's POS terminal and its receipt printer."""

    type: Literal["pos"] = Field(description="Sensor kind.")
    store: Slug = Field(description="Store id written on this line's transactions.")
    port: str = Field(description="Serial port, e.g. /dev/serial/by-id/usb-FTDI_...-port0.")
    baudrate: int | Literal["auto"] = Field(
        "auto", description="Bits per second, or 'auto' to try 9600..115200."
    )
    bytesize: Literal[5, 6, 7, 8] = Field(8, description="Data bits.")
    parity: Literal["N", "E", "O", "M", "S"] = Field("N", description="Parity.")
    stopbits: Literal["1", "1.5", "2"] = Field("1", description="Stop bits.")
    flow: Literal["none", "rtscts", "xonxoff"] = Field("none", description="Flow control.")
    passthrough_port: str | None = Field(
        None,
        description="Second port, to the real printer: every byte is forwarded at once, before"
        " any parsing.",
    )
    encoding: str = Field(
        "cp437", description="Text encoding of the printer (gb18030 for Chinese printers)."
    )
    currency: str | None = Field(None, description="ISO currency when receipts print '$' or '¥'.")
    idle_gap_s: float = Field(3.0, gt=0, description="Silence that ends an uncut receipt.")
    raw_text_retention_h: float = Field(
        72, ge=0, description="Hours the masked receipt text stays on the box for checks."
    )


class LineConfig(Strict):
    """A counting line across a camera's view (pixel coordinates)."""

    name: Slug = Field(description="Line id used in footfall records (e.g. 'door-north').")
    start: Point = Field(description="First point (x, y).")
    end: Point = Field(description="Second point (x, y).")
    in_side: Literal["left", "right"] = Field(
        "right",
        description="Crossing towards this side, looking from start to end, counts as 'in'.",
    )


class AreaConfig(Strict):
    """A polygon of a camera's view whose occupancy and dwell are measured."""

    name: Slug = Field(description="Area id used in occupancy records (e.g. 'till').")
    points: list[Point] = Field(min_length=3, description="Polygon corners (x, y).")


class CameraSensorConfig(_Sensor):
    """A camera counting people (OpenCV capture, ONNX person detector, tracker)."""

    type: Literal["camera"] = Field(description="Sensor kind.")
    url: str = Field(
        description="rtsp://host/path (no password here), /dev/videoN, or a video file."
    )
    username: str | None = Field(None, description="RTSP user; the password is a credential.")
    fps_cap: float = Field(10, gt=0, le=60, description="Frames per second analysed at most.")
    model: Path = Field(
        Path("models/nanodet_coco80_416_fp32.onnx"), description="Person detector (ONNX)."
    )
    model_format: Literal["nanodet", "yolo"] = Field("nanodet", description="Output decoding.")
    threads: int = Field(2, ge=1, le=16, description="onnxruntime intra-op threads.")
    motion_gating: bool = Field(True, description="Run the detector only when something moves.")
    silence_timeout_s: float = Field(
        20, gt=0, description="Reconnect after this long without a frame."
    )
    interval_s: int = Field(
        60, ge=10, le=3600, description="Length of a footfall record's interval."
    )
    lines: list[LineConfig] = Field(
        default_factory=list, description="Lines whose crossings are counted in and out."
    )
    areas: list[AreaConfig] = Field(
        default_factory=list, description="Areas whose occupancy and dwell are measured."
    )

    @field_validator("url")
    @classmethod
    def _no_password_in_url(cls, value: str) -> str:
        if "://" in value and "@" in urlsplit(value).netloc:
            raise ValueError(
                "the URL holds credentials; give the user as username and the password as the"
                " credential camera-<name>-password (or $MALLSENSE_CAMERA_<NAME>_PASSWORD)"
            )
        return value


SensorConfig = Annotated[
    WifiSensorConfig | BleSensorConfig | PosSensorConfig | CameraSensorConfig,
    Field(discriminator="type"),
]
