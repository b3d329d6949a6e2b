"""Turning visitors into radio frames: one pcap per sensor plus the ground truth.

Each visitor with Wi-Fi on is a generator of frames in time order (scans at
intervals that depend on the screen state, bursts per channel, MACs and
sequence numbers per the phone model); ``heapq.merge`` interleaves twenty
thousand of them, so memory stays flat however long the day. Every frame a
sensor hears is written to that sensor's pcap through the project's own
``PcapWriter`` and ``probe_request`` builder, and the visitor's id goes to a
``<sensor>.persons`` array in the same order: the truth per frame.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import random
from array import array
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

from fixtures.probe_frames import probe_request

from drivers.wifi.pcap import PcapWriter

from .mall import SENSITIVITY_DBM, SENSORS, ZONES, Mall, Visitor, make_visitor
from .phones import FAMILIES, MODELS, PhoneModel, pick_model

__all__ = ["DAY_EPOCH", "CrowdParams", "generate", "load_truth"]

DAY_EPOCH: Final = 1_773_446_400.0
"""2026-03-14T00:00:00Z: the simulated day (one pseudonym rotation period)."""
_FADING: Final = 2.5
_SHADOW: Final = 4.0
_COMMON_SSIDS: Final = (b"Mall-Guest", b"eduroam", b"CoffeeShop", b"Telekom", b"FreeWiFi")
_CHANNELS: Final = (1, 6, 11)
_FORMAT: Final = 4
"""Bumped whenever the generated recording would change: invalidates the cache."""


@dataclass(frozen=True)
class CrowdParams:
    """What defines a simulated day (the cache key)."""

    visitors: int = 20_000
    seed: int = 2026
    ios_share: float = 0.40
    """Assumed iOS share of phones (a European mall; configurable)."""
    wifi_off_share: float = 0.10
    """Assumed share of visitors whose phone sends no probe at all."""
    screen_on_median_s: float = 15.0
    screen_off_median_s: float = 60.0
    # What the box cannot see, varied by the scenarios (benchmarks/crowd/scenarios.py). At
    # their defaults they change nothing, and stay out of the cache key.
    shared_fp_share: float = 0.0
    """Share of phones forced onto the iPhone 11/12 model (one shared fingerprint, a new MAC
    per burst); 0: the model mix alone decides (about 16 %)."""
    screen_on_share: float = 0.25
    """Share of phones whose screen is on when they arrive (they scan faster)."""
    sitter_share: float = 0.0
    """Share of visitors who sit still in the food court for about an hour."""
    sensor_shift_m: float = 0.0
    """Every sensor moved this far from its zone's middle, towards a corner."""

    def key(self) -> str:
        fields = asdict(self)
        for name, default in _QUIET_DEFAULTS.items():
            if fields[name] == default:
                del fields[name]
        blob = json.dumps(fields | {"format": _FORMAT}, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


_QUIET_DEFAULTS: Final = {
    "shared_fp_share": 0.0, "screen_on_share": 0.25, "sitter_share": 0.0, "sensor_shift_m": 0.0,
}  # fmt: skip
"""Scenario knobs added after the first recordings: at these values the key is unchanged."""


def _interval(rng: random.Random, screen_on: bool, p: CrowdParams) -> float:
    median = p.screen_on_median_s if screen_on else p.screen_off_median_s
    return min(max(rng.lognormvariate(0.0, 0.6) * median, 3.0), 600.0)


def _random_mac(rng: random.Random) -> bytes:
    return bytes([(rng.randrange(256) & 0xFC) | 0x02]) + rng.randbytes(5)


def _pnl(rng: random.Random, pid: int) -> list[bytes]:
    ssids = [b"home-%d" % pid]
    for _ in range(rng.randrange(0, 4)):
        if rng.random() < 0.5:
            ssids.append(rng.choice(_COMMON_SSIDS))
        else:
            ssids.append(b"net-%d-%d" % (pid, rng.randrange(1000)))
    return list(dict.fromkeys(ssids))


class _Phone:
    """A phone's MAC and sequence counter, per its model's policy."""

    def __init__(self, model: PhoneModel, rng: random.Random) -> None:
        self.model = model
        self.rng = rng
        self.seq = rng.randrange(4096)
        self.mac = _random_mac(rng)
        if model.mac_policy == "global":
            self.mac = bytes((0x00, 0x1A, 0x11)) + rng.randbytes(3)
        self.mac_until = 0.0

    def renew(self, t: float, event: str) -> None:
        """A new scan (``scan``) or burst (``burst``) may change the MAC, per the policy."""
        policy = self.model.mac_policy
        if policy == event or (policy == "timed" and event == "scan" and t >= self.mac_until):
            self.mac = _random_mac(self.rng)
            self.mac_until = t + self.model.mac_lifetime_s * self.rng.uniform(0.5, 1.5)
            if not self.model.seq_continues:
                self.seq = self.rng.randrange(4096)

    def next_seq(self) -> int:
        self.seq = (self.seq + 1) & 0xFFF
        return self.seq


def frames_of(
    v: Visitor, model: PhoneModel, mall: Mall, p: CrowdParams, rng: random.Random
) -> Iterator[tuple[float, int, int, bytes]]:
    """(time, sensor index, visitor id, frame) for everything the sensors hear of ``v``."""
    phone = _Phone(model, rng)
    ies = FAMILIES[model.family]
    pnl = _pnl(rng, v.pid) if rng.random() < model.pnl_share else []
    screen_on = rng.random() < p.screen_on_share
    switch = v.start + rng.expovariate(1 / (90.0 if screen_on else 300.0))
    shadow: dict[tuple[int, int, str], float] = {}
    t = v.start + rng.uniform(0.0, _interval(rng, screen_on, p))
    seg_i = 0
    while t < v.end:
        while v.segments[seg_i].end <= t:
            seg_i += 1
        seg = v.segments[seg_i]
        hop = int((t - seg.start) / seg.hop_s) if seg.hop_s > 0 else 0
        where = seg.where(t)
        means = {}
        for s_i, sensor in enumerate(SENSORS):
            key = (seg_i, hop, sensor)
            if key not in shadow:
                shadow[key] = rng.gauss(0.0, _SHADOW)
            mean = mall.mean_rssi(where, seg.zone, sensor) + shadow[key]
            if mean > SENSITIVITY_DBM - 3 * _FADING:
                means[s_i] = mean
        yield from _scan(t, phone, ies, pnl, means, v.pid, rng)
        while t >= switch:
            screen_on = not screen_on
            switch += rng.expovariate(1 / (90.0 if screen_on else 300.0))
        t += _interval(rng, screen_on, p)


def _scan(
    t: float,
    phone: _Phone,
    ies: bytes,
    pnl: list[bytes],
    means: dict[int, float],
    pid: int,
    rng: random.Random,
) -> Iterator[tuple[float, int, int, bytes]]:
    """One scan: bursts on each 2.4 GHz channel in random order (5 GHz unheard)."""
    phone.renew(t, "scan")
    model = phone.model
    channels = list(_CHANNELS)
    rng.shuffle(channels)
    for channel in channels:
        listeners = [(s, m) for s, m in means.items() if ZONES[SENSORS[s]].channel == channel]
        for _ in range(rng.randint(*model.bursts_per_channel)):
            phone.renew(t, "burst")
            ssids = [b""] * rng.randint(*model.probes_per_burst) + pnl
            for ssid in ssids:
                seq = phone.next_seq()
                for s_i, mean in listeners:
                    rssi = round(rng.gauss(mean, _FADING))
                    if rssi >= SENSITIVITY_DBM:
                        frame = probe_request(phone.mac, seq, max(rssi, -127), channel, ies, ssid)
                        yield t, s_i, pid, frame
                t += rng.uniform(0.012, 0.025)
        t += rng.uniform(0.03, 0.06)
        phone.seq = (phone.seq + rng.randint(0, 3)) & 0xFFF  # probes on unheard 5 GHz channels


def _visitors(p: CrowdParams) -> list[tuple[Visitor, PhoneModel]]:
    rng = random.Random(p.seed)
    out = []
    for pid in range(p.visitors):
        model = pick_model(rng, p.ios_share)
        if p.shared_fp_share and rng.random() < p.shared_fp_share:
            model = MODELS[0]
        wifi_on = rng.random() >= p.wifi_off_share
        out.append((make_visitor(pid, rng, model.name, wifi_on, p.sitter_share), model))
    return out


def generate(p: CrowdParams, cache: Path) -> Path:
    """The day's folder (pcaps, persons arrays, truth.json), generated once per params."""
    out = cache / f"crowd-{p.visitors}-{p.seed}-{p.key()}"
    if (out / "truth.json").is_file():
        return out
    out.mkdir(parents=True, exist_ok=True)
    visitors = _visitors(p)
    mall = Mall(p.sensor_shift_m)
    gens = [
        frames_of(v, m, mall, p, random.Random(p.seed * 1_000_003 + v.pid))
        for v, m in visitors
        if v.wifi_on
    ]
    frames = _write(out, heapq.merge(*gens))
    truth = {
        "params": asdict(p),
        "day_epoch": DAY_EPOCH,
        "sensors": {s: {"channel": ZONES[s].channel, "frames": frames[s]} for s in SENSORS},
        "people": [
            {"pid": v.pid, "model": m.name, "os": m.os, "family": m.family, "wifi_on": v.wifi_on,
             "stays": [[z, round(a, 3), round(b, 3)] for z, a, b in v.stays()]}
            for v, m in visitors
        ],
    }  # fmt: skip
    (out / "truth.json").write_text(json.dumps(truth), encoding="utf-8")
    return out


def _write(out: Path, merged: Iterator[tuple[float, int, int, bytes]]) -> dict[str, int]:
    files = [(out / f"{s}.pcap").open("wb") for s in SENSORS]
    try:
        writers = [PcapWriter(f) for f in files]
        persons = [array("I") for _ in SENSORS]
        for t, s_i, pid, frame in merged:
            writers[s_i].write(DAY_EPOCH + t, frame)
            persons[s_i].append(pid)
    finally:
        for f in files:
            f.close()
    for s_i, sensor in enumerate(SENSORS):
        (out / f"{sensor}.persons").write_bytes(persons[s_i].tobytes())
    return {s: len(persons[i]) for i, s in enumerate(SENSORS)}


def load_truth(folder: Path) -> dict[str, Any]:
    """truth.json of a generated day, with each sensor's visitor-per-frame array."""
    truth: dict[str, Any] = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
    for sensor, info in truth["sensors"].items():
        ids = array("I")
        ids.frombytes((folder / f"{sensor}.persons").read_bytes())
        info["persons"] = ids
        info["pcap"] = folder / f"{sensor}.pcap"
    return truth
