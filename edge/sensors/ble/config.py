"""A BLE sensor's ``[[sensors]]`` table: the adapter, what is counted, the mall's own beacons."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from edge.config.base import SensorBase

__all__ = ["VISITOR_CLASSES", "BleSensorConfig", "DeviceClass"]

DeviceClass = Literal["phone", "wearable", "earbuds", "beacon", "tag", "computer", "unknown"]
VISITOR_CLASSES: tuple[DeviceClass, ...] = ("phone", "wearable")
"""What a visitor carries: the classes a BLE sensor counts unless told otherwise."""


class BleSensorConfig(SensorBase):
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
