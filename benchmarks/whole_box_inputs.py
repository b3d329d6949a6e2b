"""What ``benchmarks/whole_box.py`` feeds the box: Wi-Fi and BLE recordings, receipts, footage.

- **Wi-Fi**: one simulated crowd heard by two sensors (``fixtures.wifi_simulation``: real
  phone models, randomized MACs, scan bursts every 20-90 s), with as many phones as it
  takes to reach the offered rate (about 40,000 in range for 1,000 frames/s per sensor);
  people arrive and leave all the time, so the recording loops without a jump in the
  crowd. One pcap per sensor, cached in ``benchmarks/.cache/whole_box/``.
- **BLE**: a crowd of phones (iPhone Nearby Info, Android Exposure Notification) each
  advertising about once a second and heard half the time, plus the mall's beacon and a
  staff tag (``fixtures.ble_simulation.render``), in the format of ``mallsense ble record``.
- **POS**: receipts written the way a POS sends them to an Epson printer (``ESC @``,
  text, a raster logo ``GS v 0``, a cut ``GS V``), each with its own number, time and total.
- **Footage**: the one-by-one video (``../shared/data/video``) and the crowded plaza
  (``vtest.avi``, ``make footage``).
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the simulators are test fixtures

from fixtures.ble_simulation import Device, render  # noqa: E402
from fixtures.probe_frames import PHONE_MODELS  # noqa: E402
from fixtures.wifi_simulation import Person, Scenario  # noqa: E402
from fixtures.wifi_simulation import render as render_wifi  # noqa: E402

from drivers.ble.recording import RecordingWriter  # noqa: E402
from drivers.wifi.pcap import PcapWriter  # noqa: E402

__all__ = [
    "CACHE",
    "ONE_BY_ONE",
    "PLAZA",
    "Recording",
    "ble_recording",
    "receipt",
    "wifi_recordings",
]

CACHE = ROOT / "benchmarks" / ".cache" / "whole_box"
ONE_BY_ONE = ROOT.parent / "shared" / "data" / "video" / "one-by-one-person-detection.mp4"
PLAZA = ROOT / "benchmarks" / ".cache" / "footage" / "vtest.avi"
START = 1_773_482_400.0  # the recordings' own time; the daemon plays them from "now"
WIFI_SENSORS = ("wifi-a", "wifi-b")
_MIX = (("ios", 0.55), ("android", 0.35), ("legacy", 0.10))
_PHONE_FRAMES_PER_S = 0.0244
"""Probe frames per second one phone of the mix sends (bursts and directed SSIDs)."""


@dataclass(frozen=True)
class Recording:
    """A generated recording and the rate it offers when played looped in real time."""

    path: Path
    items: int
    span_s: float
    loop_pause_s: float

    @property
    def rate(self) -> float:
        return self.items / (self.span_s + self.loop_pause_s)


def _crowd_scenario(phones: int, seconds: float, seed: int) -> Scenario:
    """``phones`` in range on average; stays median 10 min, arrivals before and during."""
    rng = random.Random(seed)
    linger_median = 600.0
    places = {
        "a": {"wifi-a": -60.0, "wifi-b": -84.0},
        "b": {"wifi-a": -84.0, "wifi-b": -60.0},
        "mid": {"wifi-a": -72.0, "wifi-b": -72.0},
    }
    mean_stay = linger_median * math.exp(0.8**2 / 2)
    arrivals = int(phones * (seconds + 3600) / mean_stay)
    crowd = []
    names = [n for n, _ in _MIX]
    weights = [w for _, w in _MIX]
    for _ in range(arrivals):
        arrive = rng.uniform(START - 3600, START + seconds)
        stay = min(max(rng.lognormvariate(math.log(linger_median), 0.8), 60.0), 3600.0)
        place = rng.choice(("a", "b", "mid"))
        model = PHONE_MODELS[rng.choices(names, weights)[0]]
        crowd.append(Person("visitor", model, [(place, arrive, arrive + stay)]))
    return Scenario("crowd", START, START + seconds, places, {"wifi-a": 1, "wifi-b": 6}, crowd)


def wifi_recordings(total_rate: float, seconds: float) -> dict[str, Recording]:
    """Two pcaps (``wifi-a``, ``wifi-b``) offering ``total_rate`` frames/s between them."""
    CACHE.mkdir(parents=True, exist_ok=True)
    tag = f"{total_rate:g}-{seconds:g}"
    meta_path = CACHE / f"wifi-{tag}.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        return {
            name: Recording(Path(m["path"]), m["items"], m["span_s"], 1.0)
            for name, m in meta.items()
        }
    phones = max(10, round(total_rate / len(WIFI_SENSORS) / _PHONE_FRAMES_PER_S))
    print(f"generating the Wi-Fi recordings ({phones:,} phones in range, once)...", file=sys.stderr)
    heard = render_wifi(_crowd_scenario(phones, seconds, seed=14), seed=14)
    out: dict[str, Recording] = {}
    for name, frames in heard.items():
        path = CACHE / f"{name}-{tag}.pcap"
        with path.open("wb") as f:
            writer = PcapWriter(f)
            for t, frame in frames:
                writer.write(t, frame)
        out[name] = Recording(path, len(frames), frames[-1][0] - frames[0][0], 1.0)
    meta = {n: {"path": str(r.path), "items": r.items, "span_s": r.span_s} for n, r in out.items()}
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    return out


def _ble_address(rng: random.Random, private: str | None) -> str:
    top = {"resolvable": 0x40, "non_resolvable": 0x00, None: 0xC0}[private]
    octets = [top | rng.randrange(0x40)] + [rng.randrange(256) for _ in range(5)]
    return ":".join(f"{o:02X}" for o in octets)


def _ble_devices(rate: float, seconds: float, seed: int) -> list[Device]:
    rng = random.Random(seed)
    interval, reception = 1.0, 0.55
    present = max(1, round(1.06 * rate * interval / reception))
    stay_median = 600.0
    arrivals = int(present * (seconds + 3600) / (stay_median * math.exp(0.8**2 / 2)))
    end = START + seconds
    devices = [
        Device("mall-beacon", "fixed", "beacon", 3.0, 0.5, -72, START, end, None),
        Device("staff-tag", "staff", "beacon", 3.0, 0.5, -60, START, end, None),
    ]
    for i in range(arrivals):
        arrive = rng.uniform(START - 3600, end)
        leave = arrive + min(max(rng.lognormvariate(math.log(stay_median), 0.8), 60.0), 3600.0)
        if leave <= START:
            continue
        iphone = rng.random() < 0.6
        kind, private = ("iphone", "resolvable") if iphone else ("android", "non_resolvable")
        device = Device(
            f"{kind}-{i}",
            "visitor",
            "phone",
            interval * rng.uniform(0.8, 1.2),
            reception,
            rng.uniform(-85, -55),
            max(arrive, START),
            min(leave, end),
            private,
        )
        device.addresses = [(device.start, _ble_address(rng, private))]
        devices.append(device)
    for d in devices[:2]:
        d.addresses = [(d.start, _ble_address(rng, None))]
    return devices


def ble_recording(rate: float, seconds: float) -> Recording:
    """A JSON lines recording offering about ``rate`` adverts/s, looped."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"ble-{rate:g}-{seconds:g}.jsonl"
    meta_path = path.with_suffix(".json")
    if not meta_path.exists():
        print("generating the BLE recording (once)...", file=sys.stderr)
        records = render(_ble_devices(rate, seconds, seed=14), seed=14)
        with RecordingWriter(path, adapter="simulated") as writer:
            for record in records:
                writer.write(record)
        meta = {"items": len(records), "span_s": records[-1].t - records[0].t}
        meta_path.write_text(json.dumps(meta) + "\n")
    meta = json.loads(meta_path.read_text())
    return Recording(path, meta["items"], meta["span_s"], 1.0)


def _raster_logo(width: int = 256, height: int = 48) -> bytes:
    """``GS v 0``: a framed bar, as POS software prints a shop's logo."""
    row = width // 8
    image = bytearray()
    for y in range(height):
        for x in range(row):
            edge = y < 3 or y >= height - 3 or x == 0 or x == row - 1
            bar = height // 3 <= y < 2 * height // 3 and row // 4 <= x < 3 * row // 4
            image.append(0xFF if edge or bar else 0x00)
    header = b"\x1dv0\x00" + row.to_bytes(2, "little") + height.to_bytes(2, "little")
    return header + bytes(image)


def receipt(number: int, rng: random.Random, at: float | None = None) -> bytes:
    """One receipt as a POS sends it: reset, logo, centred header, items, total, cut."""
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() if at is None else at))
    items = [
        (f"Item {rng.randrange(1000):03d}", rng.randrange(50, 5000) / 100)
        for _ in range(rng.randrange(1, 8))
    ]
    total = sum(price for _, price in items)
    lines = [f"{name:<24}{price:>8.2f}" for name, price in items]
    card = "CARD 4111 1111 1111 1111" if number % 2 else "CASH"
    text = "\n".join(
        [
            "12 Harbour Road",
            f"Receipt No: {number:06d}",
            when,
            *lines,
            f"{'TOTAL':<24}{total:>8.2f}",
            f"{'VISA' if number % 2 else 'CASH':<24}{total:>8.2f}",
            card,
            "Thank you for shopping with us",
        ]
    )
    return (
        b"\x1b@\x1ba\x01"
        + _raster_logo()
        + b"\x1bE\x01FRESH MART\n\x1bE\x00\x1ba\x00"
        + text.encode("ascii")
        + b"\n\n\n\x1dV\x42\x00"
    )
