"""The aggregation's mutable state: small slotted classes, serializable for checkpoints.

State is bounded by what is live: a device is forgotten when its visit ends,
a presence window when it is emitted. Nothing grows with the number of frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["DeviceState", "HourState", "SessionState", "WindowState", "ZoneRule"]


@dataclass(slots=True)
class ZoneRule:
    """The thresholds of one zone, precomputed for the hot path."""

    zone: str
    enter_dbm: int
    """A session opens on a frame at or above this."""
    keep_dbm: float
    """An open session is kept alive while the smoothed RSSI stays at or above this."""


@dataclass(slots=True)
class SessionState:
    """One device's dwell session in one zone."""

    start: float
    last: float
    samples: int
    rssi_max: int
    rssi_sum: int
    smoothed: float
    revision: int = 0
    """How many partial records were already emitted for this session."""
    supersedes: str | None = None

    def sample(self, t: float, rssi: int, alpha: float, keep_dbm: float) -> bool:
        """Fold one signal sample in; True if the smoothed RSSI keeps the session alive."""
        self.smoothed += alpha * (rssi - self.smoothed)
        if self.smoothed < keep_dbm:
            return False
        self.samples += 1
        self.rssi_sum += rssi
        self.rssi_max = max(self.rssi_max, rssi)
        self.last = max(self.last, t)
        return True

    def absorb(self, other: SessionState) -> None:
        """Take in the samples of the same device's session under another address."""
        self.samples += other.samples
        self.rssi_sum += other.rssi_sum
        self.rssi_max = max(self.rssi_max, other.rssi_max)
        self.last = max(self.last, other.last)
        self.smoothed = other.smoothed

    def to_json(self) -> list[Any]:
        return [
            self.start, self.last, self.samples, self.rssi_max, self.rssi_sum,
            self.smoothed, self.revision, self.supersedes,
        ]  # fmt: skip

    @classmethod
    def from_json(cls, data: list[Any]) -> SessionState:
        return cls(*data)


@dataclass(slots=True)
class DeviceState:
    """One device currently heard: its open sessions and the path of its visit so far."""

    device: str
    randomized: bool
    first: float
    """Start of its continuous presence (reset when its visit ends)."""
    last: float
    sessions: dict[str, SessionState] = field(default_factory=dict)
    path: list[tuple[str, float, float]] = field(default_factory=list)
    """Closed zone stops of the current visit: (zone, start, end)."""
    fixed: bool = False
    visit_revision: int = 0
    visit_supersedes: str | None = None
    source: str = "wifi"
    """The radio that heard it (``wifi`` or ``ble``; their pseudonyms never collide)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "randomized": self.randomized,
            "first": self.first,
            "last": self.last,
            "sessions": {z: s.to_json() for z, s in self.sessions.items()},
            "path": [list(stop) for stop in self.path],
            "fixed": self.fixed,
            "visit_revision": self.visit_revision,
            "visit_supersedes": self.visit_supersedes,
            "source": self.source,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DeviceState:
        return cls(
            device=data["device"],
            randomized=data["randomized"],
            first=data["first"],
            last=data["last"],
            sessions={z: SessionState.from_json(s) for z, s in data["sessions"].items()},
            path=[(z, a, b) for z, a, b in data["path"]],
            fixed=data["fixed"],
            visit_revision=data["visit_revision"],
            visit_supersedes=data["visit_supersedes"],
            source=data.get("source", "wifi"),
        )


@dataclass(slots=True)
class WindowState:
    """One zone's current presence interval."""

    start: float
    seen: dict[str, bool] = field(default_factory=dict)
    """Device (group id when grouping) -> randomized flag, for every device heard."""
    visitors: set[str] = field(default_factory=set)
    frames: int = 0
    revision: int = 0
    supersedes: str | None = None
    raw: set[str] = field(default_factory=set)
    """Pseudonyms heard, before grouping (empty when devices are not grouped)."""
    confidence: float | None = None
    """Mean confidence of the window's device groups, set when the window closes."""

    def rename(self, old: str, new: str) -> None:
        """Device ``old`` turned out to be ``new`` (a rotated BLE address)."""
        flag = self.seen.pop(old, None)
        if flag is not None:
            self.seen.setdefault(new, flag)
        if old in self.visitors:
            self.visitors.discard(old)
            self.visitors.add(new)

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "seen": dict(self.seen),
            "visitors": sorted(self.visitors),
            "frames": self.frames,
            "revision": self.revision,
            "supersedes": self.supersedes,
            "raw": sorted(self.raw),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WindowState:
        return cls(
            start=data["start"],
            seen=dict(data["seen"]),
            visitors=set(data["visitors"]),
            frames=data["frames"],
            revision=data["revision"],
            supersedes=data["supersedes"],
            raw=set(data.get("raw", ())),
        )


@dataclass(slots=True)
class HourState:
    """One zone's devices over an hour, folded in from its presence windows as they close:
    devices are counted once per hour, however many intervals heard them."""

    start: float
    devices: set[str] = field(default_factory=set)
    raw: set[str] = field(default_factory=set)
    visitors: set[str] = field(default_factory=set)
    confidence_sum: float = 0.0
    confidence_n: int = 0

    def fold(self, w: WindowState, fixed: dict[str, float]) -> None:
        """Add a closed window's devices (fixed ones left out)."""
        for d in w.seen:
            if d not in fixed:
                self.devices.add(d)
                if d in w.visitors:
                    self.visitors.add(d)
        for d in w.raw:
            if d not in fixed:
                self.raw.add(d)
        if w.confidence is not None and w.seen:
            self.confidence_sum += w.confidence * len(w.seen)
            self.confidence_n += len(w.seen)

    def summary(self) -> dict[str, Any]:
        """Counts only: what the hourly traffic figures need."""
        devices = len(self.devices)
        return {
            "start": self.start,
            "devices": devices,
            "devices_raw": len(self.raw) if self.raw else devices,
            "visitors": len(self.visitors),
            "grouping_confidence": (
                round(self.confidence_sum / self.confidence_n, 4) if self.confidence_n else None
            ),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "devices": list(self.devices),
            "raw": list(self.raw),
            "visitors": list(self.visitors),
            "confidence": [self.confidence_sum, self.confidence_n],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HourState:
        conf_sum, conf_n = data["confidence"]
        return cls(
            data["start"], set(data["devices"]), set(data["raw"]), set(data["visitors"]),
            conf_sum, conf_n,
        )  # fmt: skip
