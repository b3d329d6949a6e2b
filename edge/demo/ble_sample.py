"""The demo's BLE recording: twenty minutes of a small shop, as bleak would report it.

``python -m edge.demo.ble_sample --out edge/demo/samples`` writes ``ble.jsonl`` (the
format of ``mallsense ble record``) and ``ble_truth.json`` (what really happened),
byte for byte the same for a seed. Who is there:

- visitors carrying iPhones (Apple Nearby Info) or Android phones (Exposure
  Notification), whose private addresses rotate about every 15 minutes with a
  random phase, as real ones do; one visitor also wears an Apple Watch and one has
  AirPods (earbuds are not counted by default);
- passers-by outside the door (weak signal, a minute or less);
- the mall's iBeacon on the wall (a fixed beacon: health only) and an employee's
  staff tag (an iBeacon of the staff UUID) at the till all along.

Each device advertises at its own interval (with the 0-10 ms random delay of the
Core specification, Vol 6, Part B, §4.4.2.2.1); the adapter hears each advert with
some probability and a noisy RSSI. Payloads come from the decoder's test vectors
(``tests/data/ble_vectors.json``). Addresses are simulated, never real ones.
"""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, NamedTuple

from drivers.ble.recording import BleRecord, RecordingWriter

__all__ = [
    "FIXED_BEACON",
    "STAFF_TAG",
    "START",
    "Device",
    "render",
    "shop",
    "write",
]

START: Final = 1_773_482_400.0  # 2026-03-14T10:00:00Z
DURATION_S: Final = 1200.0
ROTATION_S: Final = 900.0
FIXED_BEACON: Final = "6d616c6c-7365-6e73-652d-626561636f6e:1:1"
STAFF_TAG: Final = "5354a1ff-0000-4000-8000-000000000007:7:42"
_NOISE_DB: Final = 4.0
_APPLE: Final = 76
_EN_SERVICE: Final = "0000fd6f-0000-1000-8000-00805f9b34fb"


@dataclass
class Device:
    """One advertiser: who carries it, how it advertises, where it is."""

    name: str
    role: str  # visitor | passerby | fixed | staff
    device_class: str
    interval_s: float
    reception: float
    rssi_dbm: float
    start: float
    end: float
    private: str | None  # "resolvable" / "non_resolvable" rotate; None: a static address
    addresses: list[tuple[float, str]] = field(default_factory=list)
    """(from, address): the address used from that time on."""


def _address(rng: random.Random, kind: str | None) -> str:
    top = {"resolvable": 0x40, "non_resolvable": 0x00, None: 0xC0}[kind]
    octets = [top | rng.randrange(0x40)] + [rng.randrange(256) for _ in range(5)]
    return ":".join(f"{o:02X}" for o in octets)


def _addresses(rng: random.Random, d: Device) -> None:
    d.addresses = [(d.start, _address(rng, d.private))]
    if d.private is None:
        return
    rotate = d.start + rng.uniform(0, ROTATION_S)
    while rotate < d.end:
        d.addresses.append((rotate, _address(rng, d.private)))
        rotate += ROTATION_S + rng.uniform(-30, 30)


def shop(seed: int = 5) -> list[Device]:
    """The scenario (see the module docstring)."""
    rng = random.Random(seed)
    devices = [
        Device("mall-beacon", "fixed", "beacon", 3.0, 0.5, -72, START, START + DURATION_S, None),
        Device("staff-tag", "staff", "beacon", 3.0, 0.5, -60, START, START + DURATION_S, None),
    ]
    for i in range(6):
        arrive = START + rng.uniform(0, DURATION_S * 0.4)
        stay = rng.uniform(480, 900)
        kind = "iphone" if i < 4 else "android"
        private = "resolvable" if kind == "iphone" else "non_resolvable"
        rssi = rng.uniform(-66, -56)
        interval = rng.uniform(2.0, 3.2)
        devices.append(Device(f"{kind}-{i}", "visitor", "phone", interval, 0.55, rssi, arrive,
                              min(arrive + stay, START + DURATION_S), private))  # fmt: skip
    owner = devices[2]
    devices.append(Device("watch", "visitor", "wearable", 2.5, 0.55, owner.rssi_dbm - 3,
                          owner.start, owner.end, "resolvable"))  # fmt: skip
    buds = devices[3]
    devices.append(Device("airpods", "visitor", "earbuds", 2.0, 0.55, buds.rssi_dbm - 4,
                          buds.start, buds.end, "resolvable"))  # fmt: skip
    for i in range(3):
        passing = START + rng.uniform(60, DURATION_S - 120)
        devices.append(Device(f"passerby-{i}", "passerby", "phone", 2.0, 0.5, -84, passing,
                              passing + rng.uniform(20, 60), "resolvable"))  # fmt: skip
    for d in devices:
        _addresses(rng, d)
    return devices


class _Fields(NamedTuple):
    manufacturer_data: dict[int, bytes]
    service_data: dict[str, bytes] | None = None
    service_uuids: tuple[str, ...] = ()
    tx_power: int | None = None


def _payload(rng: random.Random, d: Device) -> _Fields:
    """bleak's fields of one advert of ``d``."""
    if d.role == "fixed":
        return _Fields({_APPLE: _ibeacon(FIXED_BEACON, -59)})
    if d.role == "staff":
        return _Fields({_APPLE: _ibeacon(STAFF_TAG, -62)})
    if d.device_class == "earbuds":
        return _Fields({_APPLE: bytes.fromhex("0719010e20") + rng.randbytes(23)})
    if d.device_class == "wearable":
        return _Fields({_APPLE: bytes.fromhex("100501184d") + rng.randbytes(3)})
    if d.name.startswith("android"):
        data = rng.randbytes(16) + bytes.fromhex("40080000")
        return _Fields({}, {_EN_SERVICE: data}, (_EN_SERVICE,))
    nearby = bytes.fromhex("10061a1e") + rng.randbytes(4)
    if rng.random() < 0.2:  # Handoff now and then: a transient message
        nearby = bytes.fromhex("0c0e00") + rng.randbytes(13) + nearby
    return _Fields({_APPLE: nearby}, tx_power=12)


def _ibeacon(identity: str, power: int) -> bytes:
    uuid, major, minor = identity.split(":")
    raw = bytes.fromhex(uuid.replace("-", ""))
    return (
        b"\x02\x15"
        + raw
        + int(major).to_bytes(2, "big")
        + int(minor).to_bytes(2, "big")
        + (power & 0xFF).to_bytes(1, "big")
    )


def render(devices: list[Device], seed: int = 5) -> list[BleRecord]:
    """Every advert the adapter hears, in time order."""
    rng = random.Random(seed + 1)
    records: list[BleRecord] = []
    for d in devices:
        t = d.start + rng.uniform(0, d.interval_s)
        while t < d.end:
            if rng.random() < d.reception:
                address = next(a for since, a in reversed(d.addresses) if since <= t)
                f = _payload(rng, d)
                rssi = round(d.rssi_dbm + rng.gauss(0, _NOISE_DB))
                records.append(BleRecord(round(t, 3), address, "random", rssi, None,
                                         f.manufacturer_data, dict(f.service_data or {}),
                                         list(f.service_uuids), f.tx_power))  # fmt: skip
            t += d.interval_s + rng.uniform(0, 0.01)
    records.sort(key=lambda r: r.t)
    return records


def truth(devices: list[Device]) -> dict[str, object]:
    """What happened, for the tests: who was there, and how many address changes."""
    visitors = [d for d in devices if d.role == "visitor"]
    return {
        "scenario": "ble-shop",
        "start": START,
        "end": START + DURATION_S,
        "fixed_beacon": FIXED_BEACON,
        "staff_tag": STAFF_TAG,
        "visitors": dict(Counter(d.device_class for d in visitors)),
        "passersby": sum(1 for d in devices if d.role == "passerby"),
        "rotations": {d.name: len(d.addresses) - 1 for d in visitors},
        "addresses": sorted(a for d in devices for _, a in d.addresses),
    }


def write(out: Path, seed: int = 5) -> tuple[Path, Path]:
    """Write ``ble.jsonl`` and ``ble_truth.json`` into ``out``."""
    devices = shop(seed)
    recording, facts = out / "ble.jsonl", out / "ble_truth.json"
    with RecordingWriter(recording, adapter="simulated") as writer:
        for record in render(devices, seed):
            writer.write(record)
    facts.write_text(json.dumps(truth(devices), indent=1) + "\n", encoding="utf-8")
    return recording, facts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("edge/demo/samples"))
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    for path in write(args.out, args.seed):
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
