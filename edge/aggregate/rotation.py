"""Grouping a BLE device's rotating private addresses, within one visit.

Phones, watches and earbuds change their resolvable (or non-resolvable) private
address about every 15 minutes (Core v5.4, Vol 6, Part B, §1.3.2.2; the payload's
rotating identifiers change with it). Counted as they come, one person staying half
an hour would be three devices with three short visits. The payload keeps stable
features, though (``drivers.ble.decode.classify``), and the radio keeps its interval,
power and place, so an old address that goes quiet can be paired with the new one
that appears at that moment (Becker et al., "Tracking Anonymized Bluetooth Devices",
PETS 2019, showed how much survives a rotation; this uses much less).

How: an address unheard for ``RETIRE_S`` is *retired*; if it stays silent until
``CONFIRM_S`` after its last advert, it has rotated or left, and it is grouped with
the one new private address that (all of):

- first appeared from ``OVERLAP_S`` before to ``HANDOVER_S`` after its last advert,
  on a sensor that heard it;
- shares a payload feature hash and the device class;
- had a smoothed RSSI, over its first ``EARLY_S``, within ``RSSI_TOLERANCE_DB`` of
  the old address's at its end;
- advertises at the same interval (the smallest gap between adverts, measured per
  address; lost adverts make it a multiple, so 1, 2 or 3 times fit);
- is not claimed by another retired address that fits it as well.

Two candidates, or a rival, and nothing is grouped (``ambiguous``): a visit split in
two is a smaller error than two people merged into one. A grouped old address that
is heard again counts as a ``false_link``. The state is forgotten ``forget_s`` after
an address's last advert (the session gap), so grouping never links two visits.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Any, Final

from drivers.observations import Advert

__all__ = [
    "CONFIRM_S",
    "EARLY_S",
    "HANDOVER_S",
    "OVERLAP_S",
    "RETIRE_S",
    "AddressState",
    "RotationGrouper",
    "intervals_fit",
]

RETIRE_S: Final = 10.0
CONFIRM_S: Final = 30.0
HANDOVER_S: Final = 20.0
"""At most ``CONFIRM_S``: every candidate has appeared when the decision is taken."""
OVERLAP_S: Final = 2.0
EARLY_S: Final = 10.0
RSSI_TOLERANCE_DB: Final = 10.0
INTERVAL_TOLERANCE: Final = 0.15
"""Relative, per multiple of the interval."""
MIN_GAP_S: Final = 0.02
"""The shortest legal advertising interval; closer adverts are one packet heard twice."""
_MIN_GAPS: Final = 3
_FEATURE_LIMIT: Final = 8
_RSSI_ALPHA: Final = 0.3
_PRIVATE: Final = frozenset({"resolvable", "non_resolvable"})
_INF: Final = float("inf")


@dataclass(slots=True)
class AddressState:
    """One pseudonymous address heard lately."""

    device: str
    """The device it counts as: itself, or the device of the address it succeeded."""
    private: bool
    first: float
    last: float
    rssi: float | None = None
    """Smoothed RSSI (moving average), now."""
    early: float | None = None
    """Smoothed RSSI over the first ``EARLY_S``."""
    gap: float = _INF
    gaps: int = 0
    device_class: str = "unknown"
    role: str = "visitor"
    entry: str | None = None
    sensors: set[str] = field(default_factory=set)
    features: set[str] = field(default_factory=set)
    counted: bool = False
    home: str = ""
    """The sensor that counted it first: its grouping counters are that sensor's."""
    linked: bool = False
    """Grouped with an earlier address, as its successor."""
    successor: str | None = None

    def observe(self, a: Advert) -> None:
        """Timing, signal, features and sensors of one more advert."""
        gap = a.t - self.last
        if gap >= MIN_GAP_S:
            self.gap = min(self.gap, gap)
            self.gaps += 1
        self.last = max(self.last, a.t)
        if a.rssi is not None:
            self.rssi = _ema(self.rssi, a.rssi)
            if a.t - self.first <= EARLY_S:
                self.early = _ema(self.early, a.rssi)
        if a.features and len(self.features) < _FEATURE_LIMIT:
            self.features.add(a.features)
        self.sensors.add(a.sensor)

    def to_json(self) -> list[Any]:
        return [
            self.device, self.private, self.first, self.last, self.rssi, self.early,
            None if self.gap == _INF else self.gap, self.gaps, self.device_class, self.role,
            self.entry, sorted(self.sensors), sorted(self.features), self.counted, self.home,
            self.linked, self.successor,
        ]  # fmt: skip

    @classmethod
    def from_json(cls, data: list[Any]) -> AddressState:
        state = cls(*data[:6])
        state.gap = _INF if data[6] is None else data[6]
        state.gaps, state.device_class, state.role, state.entry = data[7:11]
        state.sensors, state.features = set(data[11]), set(data[12])
        state.counted, state.home, state.linked, state.successor = data[13:17]
        return state


def _ema(old: float | None, value: int) -> float:
    return float(value) if old is None else old + _RSSI_ALPHA * (value - old)


def intervals_fit(a: AddressState, b: AddressState) -> bool:
    """Do two addresses advertise at the same interval, as far as measured?

    Each estimate is the smallest gap seen: the interval, or a multiple of it when
    adverts were lost. They fit when one is 1, 2 or 3 times the other.
    """
    if min(a.gaps, b.gaps) < _MIN_GAPS:
        return True  # too few adverts for an estimate
    low, high = sorted((a.gap, b.gap))
    ratio = high / low
    multiple = round(ratio)
    return 1 <= multiple <= 3 and abs(ratio - multiple) <= INTERVAL_TOLERANCE * multiple


def succeeds(new: AddressState, old: AddressState) -> bool:
    """Could ``new`` be ``old`` after a rotation (the list in the module docstring)?"""
    if new.linked or not new.counted or new.first <= old.first:
        return False
    if not old.last - OVERLAP_S <= new.first <= old.last + HANDOVER_S:
        return False
    if not (new.sensors & old.sensors and new.features & old.features):
        return False
    if new.device_class != old.device_class:
        return False
    early, end = new.early, old.rssi
    if early is not None and end is not None and abs(early - end) > RSSI_TOLERANCE_DB:
        return False
    return intervals_fit(old, new)


class RotationGrouper:
    """The address table of the BLE stage, and the grouping of rotated addresses."""

    def __init__(self, forget_s: float) -> None:
        self._forget_s = max(forget_s, 2 * CONFIRM_S)
        self._live: OrderedDict[str, AddressState] = OrderedDict()
        self._retired: OrderedDict[str, AddressState] = OrderedDict()
        self._newcomers: list[str] = []
        self._pending: dict[str, float] = {}
        """Retired private addresses -> when to decide on them."""
        self.events: dict[str, Counter[str]] = {}
        """Per sensor: ``linked``, ``ambiguous``, ``false_links``."""

    def touch(self, a: Advert) -> AddressState:
        """The state of the advert's address, updated with it."""
        key = a.device
        st = self._live.get(key)
        if st is None:
            st = self._retired.pop(key, None)
            if st is None:
                st = AddressState(key, a.address_kind in _PRIVATE, a.t, a.t)
            else:
                self._back(key, st)
            self._live[key] = st
        else:
            self._live.move_to_end(key)
        st.observe(a)
        return st

    def counted(self, key: str, st: AddressState, sensor: str) -> None:
        """The address counts for a device from now on (its class is published)."""
        st.counted, st.home = True, sensor
        if st.private:
            self._newcomers.append(key)

    def _back(self, key: str, st: AddressState) -> None:
        self._pending.pop(key, None)  # lost adverts, not a rotation
        if st.successor is not None:
            self._event(st.home, "false_links")
            st.successor = None

    def _event(self, sensor: str, name: str) -> None:
        self.events.setdefault(sensor, Counter())[name] += 1

    def _get(self, key: str) -> AddressState | None:
        return self._live.get(key) or self._retired.get(key)

    def tick(self, t: float) -> list[tuple[str, str]]:
        """Retire quiet addresses, group those whose time came; (from, into) merges."""
        live, retired = self._live, self._retired
        while live:
            key, st = next(iter(live.items()))
            if st.last >= t - RETIRE_S:
                break
            del live[key]
            retired[key] = st
            if st.counted and st.private and st.successor is None:
                self._pending[key] = st.last + CONFIRM_S
        merges = self._decide(t) if self._pending else []
        while retired:
            key, st = next(iter(retired.items()))
            if st.last >= t - self._forget_s:
                break
            del retired[key]
        if self._newcomers:
            horizon = t - (CONFIRM_S + HANDOVER_S + OVERLAP_S)
            self._newcomers = [k for k in self._newcomers if self._first(k) >= horizon]
        return merges

    def _first(self, key: str) -> float:
        st = self._get(key)
        return st.first if st is not None else -_INF

    def _decide(self, t: float) -> list[tuple[str, str]]:
        merges = []
        due = sorted((at, key) for key, at in self._pending.items() if at <= t)
        for _, key in due:
            del self._pending[key]
            old = self._retired.get(key)
            if old is None:
                continue
            new_key = self._successor(key, old)
            if new_key is None:
                continue
            new = self._live.get(new_key) or self._retired[new_key]
            new.linked, old.successor = True, new_key
            merges.append((new.device, old.device))
            new.device = old.device
            self._event(new.home, "linked")
        return merges

    def _successor(self, key: str, old: AddressState) -> str | None:
        found = []
        for k in self._newcomers:
            new = self._get(k)
            if k != key and new is not None and succeeds(new, old):
                found.append((k, new))
        if not found:
            return None
        if len(found) == 1 and not self._rivals(key, found[0][1]):
            return found[0][0]
        self._event(old.home, "ambiguous")
        return None

    def _rivals(self, key: str, new: AddressState) -> bool:
        for other in self._pending:
            rival = self._retired.get(other)
            if other != key and rival is not None and succeeds(new, rival):
                return True
        return False

    def snapshot(self) -> dict[str, Any]:
        return {
            "live": {k: s.to_json() for k, s in self._live.items()},
            "retired": {k: s.to_json() for k, s in self._retired.items()},
            "newcomers": list(self._newcomers),
            "pending": dict(self._pending),
        }

    def restore(self, snap: dict[str, Any]) -> None:
        self._live = OrderedDict((k, AddressState.from_json(s)) for k, s in snap["live"].items())
        self._retired = OrderedDict(
            (k, AddressState.from_json(s)) for k, s in snap["retired"].items()
        )
        self._newcomers = list(snap["newcomers"])
        self._pending = dict(snap["pending"])
