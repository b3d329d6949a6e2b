"""The configuration file's shape: pydantic models, the single source of its schema.

Every field has a description (it becomes the JSON Schema a technician reads
with ``mallsense config schema``). Unknown keys are errors. Secrets never live
here: the pseudonymization key and the broker password come from the
environment or a credentials file (see ``edge.config.secrets``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationInfo, field_validator, model_validator

from edge.config.base import Slug, Strict
from edge.config.metrics import MetricsConfig
from edge.config.urls import parse_broker_url
from edge.sensors.ble.config import BleSensorConfig
from edge.sensors.camera.config import CameraSensorConfig
from edge.sensors.pos.config import PosSensorConfig
from edge.sensors.table import SensorConfig
from edge.sensors.wifi.config import WifiSensorConfig

__all__ = [
    "AggregationConfig",
    "BleSensorConfig",
    "CameraSensorConfig",
    "Config",
    "MetricsConfig",
    "MqttConfig",
    "PosSensorConfig",
    "PrivacyConfig",
    "SensorConfig",
    "StoreConfig",
    "WifiSensorConfig",
    "ZoneConfig",
]

DEFAULT_CONFIG_PATH = Path("/etc/mallsense/mallsense.toml")


class ZoneConfig(Strict):
    """An area of the mall whose visitors are counted (a shop, an entrance, a corridor)."""

    id: Slug = Field(description="Zone id used in records, e.g. 'shop-12' or 'entrance-north'.")
    name: str = Field("", description="Human-readable name for reports.")
    visitor_rssi_dbm: int = Field(
        -70,
        ge=-120,
        le=0,
        description="A device heard at or above this signal (dBm) is inside the zone (a visitor);"
        " below it, a passer-by.",
    )


class AggregationConfig(Strict):
    """How observations become dwell, visit and presence records (all in event time)."""

    session_gap_s: float = Field(
        300, gt=0, le=7200, description="A dwell session or visit ends after this long unheard."
    )
    presence_interval_s: int = Field(
        60, ge=10, le=3600, description="Length of a presence record's interval, in seconds."
    )
    fixed_device_after_h: float = Field(
        12,
        gt=0,
        le=168,
        description="A device present longer than this is infrastructure or staff, and is left"
        " out of visitor figures.",
    )
    rssi_hysteresis_db: int = Field(
        5,
        ge=0,
        le=30,
        description="An open session is kept alive by frames down to the zone threshold minus"
        " this, so a visitor at the edge of the zone does not flicker in and out.",
    )
    rssi_smoothing: float = Field(
        0.3, gt=0, le=1, description="Weight of a new sample in the RSSI moving average."
    )
    flush_interval_s: float = Field(
        1.0,
        gt=0,
        le=60,
        description="How often the daemon writes finished records and its checkpoint to disk;"
        " stretched while a checkpoint is costly (a crowd of tens of thousands of phones), so"
        " that flushing keeps to a tenth of the time.",
    )
    grouping: bool = Field(
        True,
        description="Link a phone's random Wi-Fi MACs into one device (IE fingerprint, sequence"
        " numbers, scan timing, SSIDs; docs/grouping.md). Off: every MAC is a device, as MAC"
        " counters do (overcounts modern phones many times).",
    )
    wifi_phone_share: float = Field(
        0.9,
        gt=0,
        le=1,
        description="Share of people whose phone sends Wi-Fi probe requests (about one in ten"
        " has Wi-Fi off or no phone): the rate estimator's people = phones / this"
        " (docs/figures.md).",
    )
    fixed_devices: list[str] = Field(
        default_factory=list,
        max_length=10_000,
        description="MAC addresses of devices known to be fixed (desktop PCs, printers, access"
        " points): left out of every figure from their first frame, besides the"
        " fixed_device_after_h rule. Turned into pseudonyms with the box's key when loaded;"
        " never stored, logged or sent.",
    )

    @field_validator("fixed_devices")
    @classmethod
    def _macs(cls, value: list[str]) -> list[str]:
        for i, mac in enumerate(value):
            parts = mac.replace("-", ":").split(":")
            if len(parts) != 6 or not all(
                len(p) == 2 and all(c in "0123456789abcdefABCDEF" for c in p) for p in parts
            ):
                raise ValueError(f"fixed_devices[{i}] is not a MAC address (aa:bb:cc:dd:ee:ff)")
        return value


class StoreConfig(Strict):
    """Local database (records, outbox, checkpoints) and how much of the disk it may use."""

    path: Path = Field(Path("/var/lib/mallsense/mallsense.db"), description="SQLite database file.")
    max_mb: float = Field(
        1024,
        ge=0.1,
        description="Disk budget of the database in MB. Over it, records already sent go first,"
        " then unsent records of the kinds in drop_order (oldest first), each drop counted.",
    )
    max_age_days: float = Field(
        30,
        gt=0,
        description="Records older than this are deleted; unsent ones are counted as dropped.",
    )
    drop_order: list[str] = Field(
        default_factory=lambda: ["presence", "visit", "dwell"],
        description="Record kinds, lowest priority first, dropped in this order when the budget"
        " is exceeded; kinds not listed (e.g. transactions) go last.",
    )
    retention_interval_s: float = Field(
        60, gt=0, description="How often the edge daemon enforces the budget and the age."
    )


class MqttConfig(Strict):
    """The uplink to the central platform's MQTT broker (MQTT 5)."""

    url: str = Field(
        "mqtt://localhost:1883",
        description="Broker URL, mqtt://HOST:PORT or mqtts://HOST:PORT (TLS).",
    )
    username: str | None = Field(
        None,
        description="User name; the password comes from MALLSENSE_MQTT_PASSWORD or a"
        " credentials file, never from this file.",
    )
    password_file: Path | None = Field(
        None, description="File holding the broker password (e.g. a systemd credential)."
    )
    ca_file: Path | None = Field(None, description="CA bundle to verify the broker (mqtts).")
    cert_file: Path | None = Field(None, description="Client certificate for mutual TLS.")
    key_file: Path | None = Field(None, description="Client certificate's private key.")
    client_id: str | None = Field(
        None, description="MQTT client id; default 'mallsense-<mall>-<box>'."
    )
    keepalive_s: int = Field(30, ge=5, le=600, description="MQTT keepalive.")
    batch_max_records: int = Field(
        500, ge=1, le=10_000, description="Most records in one published batch."
    )
    batch_max_bytes: int = Field(
        256 * 1024,
        ge=1024,
        le=8 * 1024 * 1024,
        description="Largest batch payload in bytes (keep under the broker's limit).",
    )
    inflight_batches: int = Field(
        8, ge=1, le=64, description="Batches published and not yet acknowledged at once."
    )
    will_delay_s: int = Field(
        30,
        ge=0,
        le=3600,
        description="MQTT 5 will delay: 'offline' is published only if the box stays"
        " disconnected this long, so a short drop does not flap.",
    )
    historical_after_s: float = Field(
        60,
        ge=0,
        description="Records that waited longer than this in the outbox are sent with"
        " historical: true.",
    )

    telemetry_interval_s: float = Field(
        60,
        gt=0,
        le=3600,
        description="Seconds between telemetry messages (backlog, drops, sensors, disk, clock).",
    )
    command_rate_per_min: int = Field(
        30,
        ge=1,
        le=6000,
        description="Commands accepted per minute (bursts up to this many); more get a"
        " 'rate limited' error reply.",
    )
    platform_id: str | None = Field(
        None,
        pattern=r"^[^/+#]{1,64}$",
        description="The central platform's host id: the box follows its retained online flag"
        " on mallsense/v1/STATE/<platform_id> (Sparkplug's primary host).",
    )
    require_platform: bool = Field(
        None,  # filled in by _platform_by_default
        validate_default=True,
        description="Hold data batches until the platform says it is online, and stop sending"
        " new ones while it says offline (status, telemetry and replies still flow). Default:"
        " true when platform_id is set, false otherwise.",
    )

    @field_validator("require_platform", mode="before")
    @classmethod
    def _platform_by_default(cls, value: object, info: ValidationInfo) -> object:
        # A named platform is waited for unless the file says otherwise: data sent while
        # its consumer is away reaches nobody.
        if value is None:
            return info.data.get("platform_id") is not None
        return value

    resend_window_s: float = Field(
        7 * 86_400,
        gt=0,
        description="How long the box remembers which records each sent batch carried, so the"
        " platform can ask for them again with the resend command (while they are stored).",
    )
    resend_window_batches: int = Field(
        100_000,
        ge=1,
        le=10_000_000,
        description="Most sent batches remembered for the resend command (the newest are kept).",
    )

    @field_validator("url")
    @classmethod
    def _broker_url(cls, value: str) -> str:
        parse_broker_url(value)  # its ValueError says what is wrong, in words
        return value

    @model_validator(mode="after")
    def _platform_named(self) -> Self:
        if self.require_platform and self.platform_id is None:
            raise ValueError(
                "mqtt.require_platform (got true): expected mqtt.platform_id to name the"
                " platform whose online flag the box waits for"
            )
        return self


class PrivacyConfig(Strict):
    """Pseudonymization. The key itself is a secret: never in this file."""

    key_file: Path | None = Field(
        None,
        description="File holding the mall-wide pseudonymization key (hex); default: the"
        " MALLSENSE_KEY environment variable, then $CREDENTIALS_DIRECTORY/mallsense-key.",
    )
    key_rotation_s: int = Field(
        86_400,
        ge=3600,
        description="Pseudonyms change every this many seconds (UTC-aligned; daily by default).",
    )
    attribution: bool = Field(
        False,
        description="Link each receipt to the pseudonymous device at the store's counter when it"
        " printed (an `attribution` record with its confidence), so the platform can join the"
        " visits and sales of members who consented. Off by default: it ties a purchase to a"
        " device pseudonym.",
    )
    attribution_window_s: float = Field(
        60,
        gt=0,
        le=600,
        description="A device counts as at the counter if its session there was live within"
        " this many seconds of the receipt.",
    )


class Config(Strict):
    """A mallsense box."""

    mall: Slug = Field(description="Mall id, shared by all boxes of one mall.")
    box: Slug = Field(description="This box's id, unique within the mall.")
    timezone: str = Field(
        "UTC",
        description="The mall's IANA time zone, e.g. Asia/Shanghai or Europe/Berlin: the days"
        " and hours of `mallsense report`, and the hour of the day camera calibration is"
        " learned for. Records stay in UTC.",
    )
    zones: list[ZoneConfig] = Field(min_length=1, description="Zones the box covers.")
    sensors: list[SensorConfig] = Field(default_factory=list, description="Sensors to run.")
    aggregation: AggregationConfig = Field(default_factory=AggregationConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"expected an IANA time zone name such as UTC, Asia/Shanghai or Europe/Berlin"
                f" (got {value!r})"
            ) from None
        return value

    @model_validator(mode="after")
    def _references_resolve(self) -> Self:
        zone_ids = [z.id for z in self.zones]
        _unique("zones", zone_ids)
        _unique("sensors", [s.name for s in self.sensors])
        for index, sensor in enumerate(self.sensors):
            if sensor.zone not in zone_ids:
                raise ValueError(
                    f"sensors[{index}].zone (got {sensor.zone!r}): expected the id of a zone"
                    f" defined in [[zones]] (known: {', '.join(zone_ids)})"
                )
            counter = getattr(sensor, "counter_zone", None)
            if counter is not None and counter not in zone_ids:
                raise ValueError(
                    f"sensors[{index}].counter_zone (got {counter!r}): expected the id of a zone"
                    f" defined in [[zones]] (known: {', '.join(zone_ids)})"
                )
        return self

    def wifi_sensors(self) -> list[WifiSensorConfig]:
        """The Wi-Fi sensors, in configuration order."""
        return [s for s in self.sensors if isinstance(s, WifiSensorConfig)]

    def zone(self, zone_id: str) -> ZoneConfig:
        """The zone with this id."""
        return next(z for z in self.zones if z.id == zone_id)


def _unique(what: str, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{what} (got {name!r} twice): expected each id to be unique")
        seen.add(name)
