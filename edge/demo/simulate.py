"""Simulated recordings: the demo's small shop and the benchmark's busy corridor.

People walk through places; each place has a mean signal per sensor; each
person's phone sends scan bursts whose probe requests the sensors hear with
log-normal noise. Phones follow simple models of real behaviour: randomized
MACs that change every few minutes (iOS, Android) or a fixed vendor MAC
(older phones, a staff scanner). The result is written as ordinary radiotap
pcaps plus a ``truth.json`` with what really happened.

Deterministic for a seed: ``python -m edge.demo.simulate --out DIR`` re-creates
the committed samples byte for byte.
"""

from __future__ import annotations

import argparse
import json
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from drivers.wifi.pcap import PcapWriter
from edge.demo.frames import PHONE_MODELS, PhoneModel, probe_request

__all__ = ["Person", "Scenario", "corridor_scenario", "render", "shop_scenario", "write"]

SENSITIVITY_DBM = -92
NOISE_DB = 4.0
SHOP_START = 1_773_482_400.0  # 2026-03-14T10:00:00Z, a Saturday morning
_MODEL_MIX = (("ios", 0.55), ("android", 0.35), ("legacy", 0.10))


@dataclass
class Person:
    """Someone whose phone the sensors may hear."""

    role: str  # visitor | passerby | staff
    model: PhoneModel
    itinerary: list[tuple[str, float, float]] = field(default_factory=list)
    """(place, from, to) in event time."""

    @property
    def start(self) -> float:
        return self.itinerary[0][1]

    @property
    def end(self) -> float:
        return self.itinerary[-1][2]

    def place_at(self, t: float) -> str | None:
        for place, a, b in self.itinerary:
            if a <= t < b:
                return place
        return None

    def time_in(self, places: set[str]) -> float:
        return sum(b - a for p, a, b in self.itinerary if p in places)


@dataclass
class Scenario:
    """Who was where, and how each sensor hears each place."""

    name: str
    start: float
    end: float
    places: dict[str, dict[str, float]]
    """place -> sensor -> mean RSSI (dBm)."""
    sensor_channels: dict[str, int]
    people: list[Person]


def _pick_model(rng: random.Random) -> PhoneModel:
    r = rng.random()
    for name, share in _MODEL_MIX:
        if r < share:
            return PHONE_MODELS[name]
        r -= share
    return PHONE_MODELS[_MODEL_MIX[-1][0]]


def _walk(start: float, legs: list[tuple[str, float]]) -> list[tuple[str, float, float]]:
    out = []
    t = start
    for place, seconds in legs:
        out.append((place, t, t + seconds))
        t += seconds
    return out


def _visitor(rng: random.Random, arrive: float) -> Person:
    browse = min(max(rng.lognormvariate(6.2, 0.6), 120.0), 2400.0)  # median ~8 min
    legs = [("corridor", rng.uniform(5, 15)), ("door", rng.uniform(10, 30))]
    if rng.random() < 0.4:  # buys something: a few minutes at the counter mid-visit
        legs += [("floor", browse / 2), ("counter", rng.uniform(60, 240)), ("floor", browse / 2)]
    else:
        legs.append(("floor", browse))
    legs += [("door", rng.uniform(10, 20)), ("corridor", rng.uniform(5, 15))]
    return Person("visitor", _pick_model(rng), _walk(arrive, legs))


def _passerby(rng: random.Random, arrive: float) -> Person:
    legs = [("corridor", rng.uniform(15, 45))]
    if rng.random() < 0.15:  # glances in at the door
        legs += [("door", rng.uniform(3, 8)), ("corridor", rng.uniform(5, 15))]
    return Person("passerby", _pick_model(rng), _walk(arrive, legs))


def shop_scenario(seed: int = 7, hours: float = 2.0, visitors_per_h: float = 40.0) -> Scenario:
    """A small shop off a mall corridor: an entrance sensor and one on the sales floor."""
    rng = random.Random(seed)
    start, end = SHOP_START, SHOP_START + hours * 3600
    people = [Person("staff", PHONE_MODELS["staff-scanner"], [("counter", start - 600, end + 600)])]
    for role, rate, make in (
        ("visitor", visitors_per_h, _visitor),
        ("passerby", visitors_per_h * 3.5, _passerby),
    ):
        t = start + rng.expovariate(rate / 3600)
        while t < end - (1200 if role == "visitor" else 60):
            people.append(make(rng, t))
            t += rng.expovariate(rate / 3600)
    places = {
        "corridor": {"entrance": -79.0, "shop": -94.0},
        "door": {"entrance": -52.0, "shop": -77.0},
        "floor": {"entrance": -76.0, "shop": -61.0},
        "counter": {"entrance": -85.0, "shop": -49.0},
    }
    return Scenario("shop", start, end, places, {"entrance": 1, "shop": 6}, people)


def corridor_scenario(
    seed: int = 11, people: int = 4000, hours: float = 4.0, linger_median_s: float = 400.0
) -> Scenario:
    """A busy mall corridor heard by one sensor: for the ingest benchmark."""
    rng = random.Random(seed)
    start, end = SHOP_START, SHOP_START + hours * 3600
    crowd = []
    for _ in range(people):
        arrive = rng.uniform(start, end - 1800)
        linger = min(max(rng.lognormvariate(math.log(linger_median_s), 0.9), 30.0), 3600.0)
        legs = [("far", rng.uniform(10, 60)), ("near", linger), ("far", rng.uniform(10, 60))]
        crowd.append(Person("visitor", _pick_model(rng), _walk(arrive, legs)))
    places = {"far": {"corridor": -80.0}, "near": {"corridor": -62.0}}
    return Scenario("corridor", start, end, places, {"corridor": 6}, crowd)


@dataclass
class _Radio:
    """One phone's MAC and sequence counter."""

    model: PhoneModel
    rng: random.Random
    mac: bytes = b""
    mac_until: float = -1.0
    seq: int = 0

    def mac_at(self, t: float) -> bytes:
        if t >= self.mac_until:
            if self.model.randomizes:
                first = (self.rng.randrange(256) & 0xFC) | 0x02  # unicast, locally administered
                self.mac = bytes([first]) + self.rng.randbytes(5)
                self.seq = self.rng.randrange(4096)
                self.mac_until = t + self.model.mac_lifetime_s * self.rng.uniform(0.8, 1.2)
            else:
                self.mac = self.model.oui + self.rng.randbytes(3)
                self.mac_until = float("inf")
        return self.mac


def _bursts(person: Person, rng: random.Random) -> Iterator[float]:
    low, high = person.model.burst_every_s
    t = person.start + rng.uniform(0, high)
    while t < person.end:
        yield t
        t += rng.uniform(low, high)


def render(scenario: Scenario, seed: int = 1) -> dict[str, list[tuple[float, bytes]]]:
    """Every frame each sensor hears, in time order."""
    rng = random.Random(seed)
    heard: dict[str, list[tuple[float, bytes]]] = {s: [] for s in scenario.sensor_channels}
    for person in scenario.people:
        radio = _Radio(person.model, random.Random(rng.random()))
        for t in _bursts(person, rng):
            place = person.place_at(t)
            if place is None or not scenario.start <= t < scenario.end:
                continue
            mac = radio.mac_at(t)
            ssids = (b"", *person.model.directed_ssids)
            for offset, ssid in enumerate(ssids):
                radio.seq += 1
                for sensor, channel in scenario.sensor_channels.items():
                    mean = scenario.places[place].get(sensor)
                    if mean is None:
                        continue
                    rssi = round(rng.gauss(mean, NOISE_DB))
                    if rssi < SENSITIVITY_DBM:
                        continue
                    at = t + 0.012 * offset + rng.uniform(0, 0.004)
                    frame = probe_request(
                        mac, radio.seq, min(rssi, -20), channel, person.model.stable_ies, ssid
                    )
                    heard[sensor].append((at, frame))
    for frames in heard.values():
        frames.sort(key=lambda item: item[0])
    return heard


def truth(scenario: Scenario) -> dict[str, object]:
    """What really happened, for tests and the demo summary."""
    roles: dict[str, int] = {}
    for p in scenario.people:
        roles[p.role] = roles.get(p.role, 0) + 1
    visitors = [p for p in scenario.people if p.role == "visitor"]
    return {
        "scenario": scenario.name,
        "start": scenario.start,
        "end": scenario.end,
        "people": roles,
        "visitor_dwell_s": sorted(round(p.time_in({"floor", "counter"}), 1) for p in visitors),
        "randomized_visitors": sum(1 for p in visitors if p.model.randomizes),
    }


def write(scenario: Scenario, out: Path, seed: int = 1) -> dict[str, Path]:
    """Write one pcap per sensor and ``truth.json`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for sensor, frames in render(scenario, seed).items():
        path = out / f"{sensor}.pcap"
        with path.open("wb") as f:
            writer = PcapWriter(f)
            for t, frame in frames:
                writer.write(t, frame)
        paths[sensor] = path
    info = truth(scenario) | {"frames": {s: len(f) for s, f in render(scenario, seed).items()}}
    (out / "truth.json").write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--scenario", choices=["shop", "corridor"], default="shop")
    parser.add_argument("--people", type=int, default=4000, help="corridor: number of people")
    args = parser.parse_args()
    scenario = shop_scenario() if args.scenario == "shop" else corridor_scenario(people=args.people)
    for sensor, path in write(scenario, args.out).items():
        print(f"{sensor}: {path} ({path.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
