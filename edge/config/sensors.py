"""Sensor sections of the configuration: a discriminated union on ``type``.

Secrets are not here either: a camera's RTSP password comes from
``$MALLSENSE_CAMERA_<NAME>_PASSWORD`` or the systemd credential
``camera-<name>-password``, never from the URL in this file.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator, model_validator

from edge.config.base import Slug, Strict

if TYPE_CHECKING:
    from drivers.pos.templates import Template

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
VISITOR_CLASSES: tuple[DeviceClass, ...] = ("phone", "wearable")
"""What a visitor carries: the classes a BLE sensor counts unless told otherwise."""


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
        True,
        description="Passive scanning where BlueZ supports it (no scan requests sent; needs"
        " BlueZ >= 5.56 with --experimental); active scanning otherwise, said once in the log.",
    )
    silence_timeout_s: float = Field(
        90,
        gt=0,
        description="Restart the scanner when no advertisement arrived for this long (BlueZ"
        " scans can stop silently after hours). A fixed beacon in range makes silence mean a"
        " stuck scanner rather than an empty mall.",
    )
    reset_after_restarts: int = Field(
        2,
        ge=1,
        description="Power the adapter off and on (btmgmt) when this many scanner restarts in"
        " a row brought no advertisement back.",
    )
    publish_classes: list[DeviceClass] = Field(
        default_factory=lambda: list(VISITOR_CLASSES),
        description="Device classes counted in dwell, visit and presence records (phone,"
        " wearable, earbuds, beacon, tag, computer, unknown). By default phones and"
        " wearables: what a visitor carries; an empty list counts nothing.",
    )
    fixed_beacons: list[str] = Field(
        default_factory=list,
        description="The mall's own beacons: iBeacon/AltBeacon UUID, UUID:major or"
        " UUID:major:minor, or Eddystone namespace (20 hex digits) or namespace:instance. Used"
        " for health and calibration (seen, RSSI), never counted as people.",
    )
    staff_tags: list[str] = Field(
        default_factory=list,
        description="Staff tags (same forms as fixed_beacons): left out of visitor figures.",
    )

    @field_validator("fixed_beacons", "staff_tags")
    @classmethod
    def _beacon_ids(cls, values: list[str]) -> list[str]:
        return [_beacon_id(value) for value in values]


_HEX_DIGITS = frozenset("0123456789abcdef")


def _beacon_id(value: str) -> str:
    """The canonical form of a beacon entry (lower-case, dashed UUID), or ValueError."""
    head, *rest = value.strip().lower().split(":")
    bare = head.replace("-", "")
    if len(bare) == 32 and _HEX_DIGITS.issuperset(bare) and len(rest) <= 2:
        ids = [_uint16(part, value) for part in rest]
        uuid = f"{bare[:8]}-{bare[8:12]}-{bare[12:16]}-{bare[16:20]}-{bare[20:]}"
        return ":".join([uuid, *ids])
    if len(head) == 20 and _HEX_DIGITS.issuperset(head) and len(rest) <= 1:
        if rest and not (len(rest[0]) == 12 and _HEX_DIGITS.issuperset(rest[0])):
            raise ValueError(f"{value!r}: an Eddystone instance is 12 hex digits")
        return ":".join([head, *rest])
    raise ValueError(
        f"{value!r}: expected an iBeacon UUID (optionally :major or :major:minor) or an"
        " Eddystone namespace of 20 hex digits (optionally :instance of 12)"
    )


def _uint16(part: str, value: str) -> str:
    if not part.isdigit() or int(part) > 0xFFFF:
        raise ValueError(f"{value!r}: major and minor are numbers from 0 to 65535")
    return str(int(part))


class PosTemplateConfig(Strict):
    """Named regexes for a shop whose receipts the default extractor misreads.

    Listed under the store's POS sensor (``[[sensors.templates]]``); fields the
    template does not name still come from the default extractor. Check one
    with ``mallsense pos test-template --store ID CAPTURE``.
    """

    store: Slug | None = Field(
        None,
        description="Store id the template applies to; default: the store of the POS sensor it"
        " is listed under (it must be that store).",
    )
    name: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="Name written as the transactions' extractor; default: template-<store>.",
    )
    match: str | None = Field(
        None,
        description="Regular expression a receipt must contain for the template to apply (the"
        " shop's name, a header line); default: every receipt of the store.",
    )
    patterns: dict[str, str] = Field(
        description="Field name (total, receipt_no, printed_at, payment, items, item_count,"
        " refund, currency_pattern) to a regular expression over the masked text (multi-line"
        " mode). The value is the group named like the field or 'value', else the first group,"
        " else the whole match; 'items' runs over every line and needs a group named 'amount'"
        " ('name' and 'qty' optional); 'refund' marks a refund when it matches."
    )
    printed_at_format: str | None = Field(
        None, description="strptime format of the printed_at value, e.g. '%Y%m%d %H%M%S'."
    )
    currency: str | None = Field(
        None, pattern=r"^[A-Z]{3}$", description="ISO 4217 currency of this store's receipts."
    )

    @model_validator(mode="after")
    def _compiles(self) -> Self:
        from drivers.pos.templates import PATTERN_KEYS

        unknown = sorted(set(self.patterns) - set(PATTERN_KEYS))
        if unknown:
            raise ValueError(
                f"patterns (got {', '.join(unknown)}): expected field names among"
                f" {', '.join(PATTERN_KEYS)}"
            )
        name = self.name or (f"template-{self.store}" if self.store else "template")
        self._compiled(name)  # a bad regular expression names its key
        return self

    def as_template(self, store: str) -> Template:
        """The compiled template (``store``: the sensor's, for the default name)."""
        return self._compiled(self.name or f"template-{self.store or store}")

    def _compiled(self, name: str) -> Template:
        from drivers.pos.templates import Template

        data: dict[str, object] = {"name": name, **self.patterns}
        for key in ("match", "printed_at_format", "currency"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        return Template.from_dict(data)


class PosSensorConfig(_Sensor):
    """A serial line between a shop's POS terminal and its receipt printer."""

    type: Literal["pos"] = Field(description="Sensor kind.")
    store: Slug = Field(description="Store id written on this line's transactions.")
    counter_zone: Slug | None = Field(
        None,
        description="Zone at the till, where the customer stands while the receipt prints"
        " (privacy.attribution); default: this sensor's zone.",
    )
    port: str = Field(
        min_length=1,
        description="Serial port on the POS side, preferably its stable name, e.g."
        " /dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A10K3ABC-if00-port0 (found again when the"
        " adapter is plugged back in).",
    )
    baudrate: int | Literal["auto"] = Field(
        "auto",
        description="Bits per second, or 'auto': asks the printer (passthrough) or listens to"
        " the POS at 9600, 19200, 38400, 57600 and 115200 and keeps the rate whose bytes decode"
        " as ESC/POS (it needs a receipt printed; the choice is logged).",
    )
    bytesize: Literal[5, 6, 7, 8] = Field(8, description="Data bits.")
    parity: Literal["N", "E", "O", "M", "S"] = Field(
        "N", description="Parity: N none, E even, O odd, M mark, S space."
    )
    stopbits: Literal["1", "1.5", "2"] = Field("1", description="Stop bits (1, 1.5 or 2).")
    flow: Literal["none", "rtscts", "xonxoff", "dsrdtr"] = Field(
        "none", description="Flow control, as the printer is set (its DIP switches)."
    )
    passthrough_port: str | None = Field(
        None,
        min_length=1,
        description="Second port, to the real printer: the box sits between POS and printer and"
        " forwards every byte at once, before any parsing, and the printer's replies back."
        " Printing then depends on the box running; a tap cable (read only) does not.",
    )
    encoding: str = Field(
        "cp437",
        description="Text encoding of the printer at power-on: cp437 (most), cp858, cp1252,"
        " gb18030 (Chinese printers printing raw GB18030), utf-8...",
    )
    double_byte_encoding: str = Field(
        "gb18030",
        description="Encoding of text in Chinese mode (FS &): gb18030 (mainland China), big5"
        " (Taiwan, Hong Kong).",
    )
    currency: str | None = Field(
        None,
        pattern=r"^[A-Z]{3}$",
        description="ISO 4217 currency of the shop (CNY...), used when a receipt prints none or"
        " only '$' or '¥'.",
    )
    day_first: bool = Field(True, description="Read 03/04/2026 as 3 April (False: March 4).")
    idle_gap_s: float = Field(
        3.0, gt=0, le=600, description="Silence on the line that ends a receipt without a cut."
    )
    max_receipt_bytes: int = Field(
        65_536,
        ge=1024,
        le=16 * 1024 * 1024,
        description="A receipt ends at this size (image data not counted), so noise on a"
        " misconfigured line cannot grow one endless receipt.",
    )
    raw_text_retention_h: float = Field(
        72,
        ge=0,
        le=720,
        description="Hours the masked receipt text stays on the box for a technician to check"
        " templates (`mallsense pos receipts`); 0 keeps none. It never leaves the box.",
    )
    templates: list[PosTemplateConfig] = Field(
        default_factory=list,
        description="Extraction templates for this store, tried in order; the first whose"
        " 'match' fits a receipt is used, else the default extractor.",
    )

    @field_validator("baudrate", mode="before")
    @classmethod
    def _rate_or_auto(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() == "auto":
            return "auto"
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool) and 50 <= value <= 4_000_000:
            return value
        raise ValueError("expected bits per second (9600, 19200, 38400, 57600, 115200) or 'auto'")

    @field_validator("stopbits", mode="before")
    @classmethod
    def _stopbits_as_text(cls, value: object) -> object:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return f"{value:g}"
        return value

    @field_validator("encoding", "double_byte_encoding")
    @classmethod
    def _known_encoding(cls, value: str, info: ValidationInfo) -> str:
        from drivers.pos.codepages import codec_name, is_multibyte

        try:
            codec_name(value)
        except LookupError:
            raise ValueError(
                f"expected a text encoding printers use: cp437, cp858, cp1252, gb18030, big5,"
                f" utf-8... ({value!r} is unknown)"
            ) from None
        if info.field_name == "double_byte_encoding" and not is_multibyte(value):
            raise ValueError(f"expected a double-byte encoding (gb18030, big5), not {value!r}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.passthrough_port is not None and self.passthrough_port == self.port:
            raise ValueError(
                f"passthrough_port (got {self.passthrough_port!r}): expected the printer's port,"
                " not the POS side's port"
            )
        for index, template in enumerate(self.templates):
            if template.store is not None and template.store != self.store:
                raise ValueError(
                    f"templates[{index}].store (got {template.store!r}): expected this sensor's"
                    f" store {self.store!r} (a template reads the receipts of its store's line)"
                )
        return self

    def compiled_templates(self) -> list[Template]:
        """The templates as the decoder takes them."""
        return [t.as_template(self.store) for t in self.templates]


class LineConfig(Strict):
    """A counting line across a camera's view (pixel coordinates of the camera's picture)."""

    name: Slug = Field(description="Line id used in footfall records (e.g. 'door-north').")
    start: Point = Field(description="First point (x, y), pixels from the top-left corner.")
    end: Point = Field(description="Second point (x, y); `mallsense camera snapshot` shows both.")
    in_side: Literal["left", "right"] = Field(
        "right",
        description="Crossing towards this side, looking from start to end, counts as 'in'"
        " (the snapshot draws an arrow towards it).",
    )

    @model_validator(mode="after")
    def _two_points(self) -> Self:
        if self.start == self.end:
            raise ValueError(
                f"line {self.name}: start and end are the same point {self.start}; a line"
                " needs two distinct points"
            )
        return self


class AreaConfig(Strict):
    """A polygon of a camera's view whose occupancy and dwell are measured."""

    name: Slug = Field(description="Area id used in occupancy records (e.g. 'till').")
    points: list[Point] = Field(
        min_length=3,
        description="Polygon corners (x, y) in pixels, in order around it; a person is in the"
        " area when the middle of their feet is.",
    )


class CameraSensorConfig(_Sensor):
    """A camera counting people (OpenCV capture, ONNX person detector, tracker).

    Each camera runs in a process of its own. Nothing of the picture is stored or
    sent: only line counts, occupancy and dwell times.
    """

    type: Literal["camera"] = Field(description="Sensor kind.")
    url: str = Field(
        description="rtsp://host/path (no password here), /dev/videoN or usb:N (a USB camera),"
        " or a video file (played in real time and looped: for demonstrations)."
    )
    username: str | None = Field(
        None,
        description="RTSP user; the password is the credential camera-<name>-password or"
        " $MALLSENSE_CAMERA_<NAME>_PASSWORD (NAME upper-case, '-' as '_').",
    )
    fps_cap: float = Field(
        10, gt=0, le=60, description="Frames per second analysed at most (the rest are skipped)."
    )
    model: Path | None = Field(
        None,
        description="Person detector (ONNX file); default: the NanoDet-m model shipped with"
        " mallsense (its models/ folder), found from any working directory.",
    )
    model_sha256: str | None = Field(
        None,
        pattern=r"^[0-9a-f]{64}$",
        description="SHA-256 of `model`, checked at every start (the shipped model is checked"
        " against its model card); without it another model is only checked for its shape.",
    )
    model_format: Literal["nanodet", "yolo"] = Field(
        "nanodet", description="Output decoding: 'nanodet', or 'yolo' for ultralytics exports."
    )
    threads: int = Field(
        2, ge=1, le=16, description="onnxruntime intra-op threads of this camera's process."
    )
    motion_gating: bool = Field(
        True,
        description="Run the detector only when the picture changed (the tracks are held in"
        " between); several times cheaper, same counts.",
    )
    silence_timeout_s: float = Field(
        20,
        gt=0,
        description="Reconnect the stream (inside the camera's process) after this long without"
        " a frame; the process itself is restarted after three times as long.",
    )
    interval_s: int = Field(
        60,
        ge=10,
        le=3600,
        description="Length of the intervals of footfall and occupancy records (seconds,"
        " aligned to UTC).",
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

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        for what, names in (
            ("lines", [x.name for x in self.lines]),
            ("areas", [a.name for a in self.areas]),
        ):
            repeated = sorted({n for n in names if names.count(n) > 1})
            if repeated:
                raise ValueError(
                    f"camera {self.name}: {what} named {', '.join(repeated)} more than once;"
                    " each needs its own name (it is the id in the records)"
                )
        return self


SensorConfig = Annotated[
    WifiSensorConfig | BleSensorConfig | PosSensorConfig | CameraSensorConfig,
    Field(discriminator="type"),
]
