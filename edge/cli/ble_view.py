"""What ``mallsense ble watch`` and ``ble decode`` show: rolling figures and AD structures."""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, Final

from rich.table import Table

from drivers.ble.decode import ad_structures as ad
from drivers.observations import Advert
from edge.cli.watch import Radio

__all__ = ["AD_NAMES", "AdvertWindow", "ad_rows", "watch_table"]

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
class AdvertWindow:
    """Rolling figures over the last minute of adverts."""

    seen: deque[tuple[float, str, str, bool]] = field(default_factory=deque)
    radio: Radio = field(default_factory=Radio)
    kinds: Counter[str] = field(default_factory=Counter)
    adverts: int = 0

    def add(self, a: Advert) -> None:
        self.adverts += 1
        self.seen.append((a.t, a.device, a.device_class, a.address_kind in _PRIVATE))
        self.radio.heard(a.rssi)
        self.kinds[a.kind] += 1

    def summary(self, now: float, frames: int) -> dict[str, Any]:
        while self.seen and self.seen[0][0] < now - _WINDOW_S:
            self.seen.popleft()
        classes: dict[str, str] = {}
        private: dict[str, bool] = {}
        for _, device, device_class, is_private in self.seen:
            if device_class != "unknown" or device not in classes:
                classes[device] = device_class
            private[device] = is_private
        return {
            "adverts_per_s": self.radio.rate(now, frames),
            "adverts": self.adverts,
            "addresses_last_min": len(classes),
            "by_class": dict(sorted(Counter(classes.values()).items())),
            "private_share": round(sum(private.values()) / len(private), 3) if private else 0,
            "rssi_histogram": self.radio.histogram(),
            "kinds": dict(self.kinds.most_common()),
        }


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
