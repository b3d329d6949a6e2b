"""What ``mallsense ble watch`` and ``ble decode`` show: rolling figures and AD structures."""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, Final

from rich.table import Table

from drivers.ble import ad
from drivers.observations import Advert

__all__ = ["AD_NAMES", "WatchWindow", "ad_rows", "watch_table"]

_RSSI_BUCKETS: Final = (-90, -80, -70, -60, -50)
_WINDOW_S: Final = 60.0
_PRIVATE: Final = frozenset({"resolvable", "non_resolvable"})
AD_NAMES: Final = {
    ad.AD_FLAGS: "flags",
    ad.AD_UUID16_INCOMPLETE: "16-bit service UUIDs (incomplete)",
    ad.AD_UUID16_COMPLETE: "16-bit service UUIDs",
    ad.AD_UUID32_INCOMPLETE: "32-bit service UUIDs (incomplete)",
    ad.AD_UUID32_COMPLETE: "32-bit service UUIDs",
    ad.AD_UUID128_INCOMPLETE: "128-bit service UUIDs (incomplete)",
    ad.AD_UUID128_COMPLETE: "128-bit service UUIDs",
    ad.AD_SHORT_NAME: "shortened local name",
    ad.AD_COMPLETE_NAME: "complete local name",
    ad.AD_TX_POWER: "TX power level",
    ad.AD_SERVICE_DATA_16: "service data (16-bit UUID)",
    ad.AD_APPEARANCE: "appearance",
    ad.AD_SERVICE_DATA_32: "service data (32-bit UUID)",
    ad.AD_SERVICE_DATA_128: "service data (128-bit UUID)",
    ad.AD_MANUFACTURER: "manufacturer specific data",
}


def ad_rows(structures: tuple[tuple[int, bytes], ...]) -> list[tuple[int, str, str]]:
    """(AD type, its name, data as hex) for each structure."""
    return [(t, AD_NAMES.get(t, f"type 0x{t:02x}"), body.hex()) for t, body in structures]


@dataclass
class WatchWindow:
    """Rolling figures over the last minute of adverts."""

    seen: deque[tuple[float, str, str, bool]] = field(default_factory=deque)
    per_second: deque[tuple[float, int]] = field(
        default_factory=lambda: deque([(time.time(), 0)])  # so the first second's adverts count
    )
    rssi: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    adverts: int = 0

    def add(self, a: Advert) -> None:
        self.adverts += 1
        self.seen.append((a.t, a.device, a.device_class, a.address_kind in _PRIVATE))
        self.rssi[_bucket(a.rssi)] += 1
        self.kinds[a.kind] += 1

    def summary(self, now: float, frames: int) -> dict[str, Any]:
        while self.seen and self.seen[0][0] < now - _WINDOW_S:
            self.seen.popleft()
        self.per_second.append((now, frames))
        while len(self.per_second) > 2 and self.per_second[0][0] < now - 5:
            self.per_second.popleft()
        (t0, f0), (t1, f1) = self.per_second[0], self.per_second[-1]
        classes: dict[str, str] = {}
        private: dict[str, bool] = {}
        for _, device, device_class, is_private in self.seen:
            if device_class != "unknown" or device not in classes:
                classes[device] = device_class
            private[device] = is_private
        return {
            "adverts_per_s": round((f1 - f0) / (t1 - t0), 1) if t1 > t0 else 0.0,
            "adverts": self.adverts,
            "addresses_last_min": len(classes),
            "by_class": dict(sorted(Counter(classes.values()).items())),
            "private_share": round(sum(private.values()) / len(private), 3) if private else 0,
            "rssi_histogram": dict(sorted(self.rssi.items())),
            "kinds": dict(self.kinds.most_common()),
        }


def _bucket(rssi: int | None) -> str:
    if rssi is None:
        return "unknown"
    for edge in _RSSI_BUCKETS:
        if rssi < edge:
            return f"<{edge}"
    return f">={_RSSI_BUCKETS[-1]}"


def _pairs(values: dict[str, Any]) -> str:
    return "  ".join(f"{k}: {v}" for k, v in values.items()) or "none"


def watch_table(name: str, s: dict[str, Any]) -> Table:
    """The live table of ``ble watch``."""
    table = Table(title=f"BLE sensor {name}", title_justify="left", show_header=False)
    table.add_row("adverts/s", f"{s['adverts_per_s']:.1f}")
    table.add_row("advertisements", f"{s['adverts']:,}")
    table.add_row("addresses (last minute)", str(s["addresses_last_min"]))
    table.add_row("by class", _pairs(s["by_class"]))
    table.add_row("private addresses", f"{s['private_share']:.0%}")
    table.add_row("RSSI dBm", _pairs(s["rssi_histogram"]))
    table.add_row("kinds", _pairs(s["kinds"]))
    table.add_row("scan", f"{s['scan_mode']} on {s['adapter']}")
    return table
