"""BLE adverts -> the devices the aggregation counts: roles, classes, rotating addresses.

Between the BLE sources and the shared dwell/visit/presence logic of ``engine``,
this stage decides, per advert, which device (if any) it counts for:

- **Fixed beacons** (``fixed_beacons``: the mall's own) are never counted: their
  adverts feed per-beacon health and calibration counters (seen, RSSI).
- **Staff tags** (``staff_tags``) are left out of every visitor figure (counted in
  total only, never per tag: that would track employees).
- **Classes**: a device counts only if its class is in its sensor's ``publish_classes``
  (empty by default: no BLE records at all, said once in the log). An address's class
  is the first one other than ``unknown`` its adverts show, and sticks. A role
  (fixed, staff) found in one advert sticks too, so a beacon's TLM frames, which
  carry no id, are left out with its UID frames.
- **Rotating addresses** are grouped within a visit (``rotation``): the new address
  of a phone counts as the device of its old one.

Counters per sensor (``stats``): what was counted and left out, fixed beacons'
health, and the grouping: ``addresses`` (raw, counted), ``devices`` (after grouping),
``grouped_share`` (addresses grouped / private addresses), ``grouping_ambiguous``,
``grouping_false_links``. Everything here is keyed by pseudonyms; no raw address
ever reaches this module.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from drivers.observations import Advert
from edge.aggregate.rotation import RotationGrouper
from edge.sensors.ble.config import BleSensorConfig

__all__ = ["FIXED", "STAFF", "VISITOR", "BleIdentity", "beacon_matches"]

log = logging.getLogger("mallsense.edge")

VISITOR, FIXED, STAFF = "visitor", "fixed", "staff"
_UNKNOWN: Final = "unknown"


def beacon_matches(identity: str, entry: str) -> bool:
    """A configured entry (``uuid``, ``uuid:major``, ``uuid:major:minor``, ``namespace``,
    ``namespace:instance``) matches a beacon identity (``uuid:major:minor`` ...)."""
    return identity == entry or identity.startswith(entry + ":")


@dataclass(slots=True)
class _Beacon:
    seen: int = 0
    rssi_sum: int = 0
    rssi_count: int = 0
    rssi_last: int | None = None
    last_seen: float | None = None

    def add(self, t: float, rssi: int | None) -> None:
        self.seen += 1
        self.last_seen = t
        if rssi is not None:
            self.rssi_sum += rssi
            self.rssi_count += 1
            self.rssi_last = rssi

    def to_json(self) -> dict[str, object]:
        mean = round(self.rssi_sum / self.rssi_count, 1) if self.rssi_count else None
        return {"seen": self.seen, "rssi_mean": mean, "rssi_last": self.rssi_last,
                "last_seen": self.last_seen}  # fmt: skip


@dataclass(slots=True)
class _Counters:
    publish: frozenset[str]
    counted: int = 0
    not_published: Counter[str] = field(default_factory=Counter)
    staff: int = 0
    fixed: int = 0
    beacons: dict[str, _Beacon] = field(default_factory=dict)
    addresses: int = 0
    private: int = 0

    def to_json(self, events: Counter[str]) -> dict[str, object]:
        linked = events["linked"]
        return {
            "publish_classes": sorted(self.publish),
            "counted_adverts": self.counted,
            "not_published": dict(self.not_published),
            "fixed_beacon_adverts": self.fixed,
            "fixed_beacons": {e: b.to_json() for e, b in sorted(self.beacons.items())},
            "staff_adverts": self.staff,
            "addresses": self.addresses,
            "private_addresses": self.private,
            "addresses_grouped": linked,
            "devices": self.addresses - linked,
            "grouped_share": round(linked / self.private, 4) if self.private else 0.0,
            "grouping_ambiguous": events["ambiguous"],
            "grouping_false_links": events["false_links"],
        }


class BleIdentity:
    """The BLE stage of one aggregator (all BLE sensors share it, as they share pseudonyms)."""

    def __init__(self, sensors: Iterable[BleSensorConfig], forget_s: float) -> None:
        sensors = list(sensors)
        self._fixed = tuple(dict.fromkeys(e for s in sensors for e in s.fixed_beacons))
        self._staff = tuple(dict.fromkeys(e for s in sensors for e in s.staff_tags))
        self._counters = {s.name: _Counters(frozenset(s.publish_classes)) for s in sensors}
        for s in sensors:
            self._counters[s.name].beacons = {entry: _Beacon() for entry in s.fixed_beacons}
            if not s.publish_classes:
                log.info(
                    "sensor %s: publish_classes is empty, so BLE records count nothing (its"
                    " adverts feed health counters only); set publish_classes, e.g."
                    ' ["phone", "wearable"], to count devices', s.name,
                )  # fmt: skip
        self._grouper = RotationGrouper(forget_s)

    def knows(self, sensor: str) -> bool:
        return sensor in self._counters

    def stats(self, sensor: str) -> dict[str, object]:
        counters = self._counters.get(sensor)
        if counters is None:
            return {}
        return counters.to_json(self._grouper.events.get(sensor, Counter()))

    def resolve(self, a: Advert) -> tuple[str, bool] | None:
        """(device, randomized) to count this advert for, or None (left out, counted)."""
        c = self._counters[a.sensor]
        st = self._grouper.touch(a)
        if st.device_class == _UNKNOWN and a.device_class != _UNKNOWN:
            st.device_class = a.device_class
        if a.beacon is not None and st.role == VISITOR:
            st.role, st.entry = self._role(a.beacon)
        if st.role == FIXED:
            c.fixed += 1
            entry = st.entry or ""
            beacon = c.beacons.get(entry)
            if beacon is None:
                beacon = c.beacons[entry] = _Beacon()
            beacon.add(a.t, a.rssi)
            return None
        if st.role == STAFF:
            c.staff += 1
            return None
        if st.device_class not in c.publish:
            c.not_published[st.device_class] += 1
            return None
        c.counted += 1
        if not st.counted:
            self._grouper.counted(a.device, st, a.sensor)
            c.addresses += 1
            c.private += st.private
        return st.device, st.private

    def _role(self, beacon: str) -> tuple[str, str | None]:
        for entry in self._fixed:
            if beacon_matches(beacon, entry):
                return FIXED, entry
        for entry in self._staff:
            if beacon_matches(beacon, entry):
                return STAFF, entry
        return VISITOR, None

    def tick(self, t: float) -> list[tuple[str, str]]:
        """Group rotated addresses whose time came: (from, into) device merges."""
        return self._grouper.tick(t)

    def snapshot(self) -> dict[str, Any]:
        return self._grouper.snapshot()

    def restore(self, snap: dict[str, Any]) -> None:
        self._grouper.restore(snap)
