"""BLE decoding benchmark: ours against a straightforward decoder, in one run.

    python benchmarks/ble_decode.py [--json] [--seconds 300] [--runs 5]

Simulates what one scanner hears in a mall zone (seeded, generated in memory):
fixed iBeacons and Eddystone beacons (UID, and TLM whose counters change every 10 s),
visitors arriving and leaving with their phones (Apple Nearby Info with occasional
Handoff / Nearby Action, Samsung, Exposure Notification), Windows laptops
(Microsoft CDP), earbuds (AirPods proximity pairing, Fast Pair account data),
AirTags (Find My) and other devices (unknown companies). Each device advertises at
its own rate and changes its payload at its own pace (identifier rotation, state,
counters), so payloads repeat as they do on air. Pinned to one CPU core, it times:

- ``raw``: ``BleDecoder.decode`` of each advertisement's raw AD bytes;
- ``fields``: ``BleDecoder.decode_advertisement`` of bleak ``AdvertisementData``
  (what the live scanner and the JSON-lines replay give);
- ``baseline``: a straightforward decoder on the same ``AdvertisementData``:
  ``struct`` per field, ``uuid.UUID`` for UUIDs, no caching, same outputs;
- ``cold``: our decoding of each distinct payload once, without the cache.

Every advertisement gets fresh ``bytes`` and dict objects, as bleak's callbacks do
(so no hash is precomputed). ``adverts_per_s`` is the slower of ``raw`` and
``fields`` (median of the runs); ``vs_baseline`` is ``fields`` over ``baseline``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import struct
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from drivers.ble.cached_decoder import BleDecoder
from drivers.ble.decode import decode_ad


class _StandIn(NamedTuple):
    local_name: str | None
    manufacturer_data: dict[int, bytes]
    service_data: dict[str, bytes]
    service_uuids: list[str]
    tx_power: int | None
    rssi: int
    platform_data: tuple[Any, ...]


def _advertisement_class() -> Any:
    """bleak's ``AdvertisementData``, or a stand-in with its fields without bleak."""
    try:
        from bleak.backends.scanner import AdvertisementData
    except ImportError:
        return _StandIn
    return AdvertisementData


AdvertisementData: Any = _advertisement_class()
BASE = "-0000-1000-8000-00805f9b34fb"
FEAA, FE2C, FD6F = (f"0000{u}{BASE}" for u in ("feaa", "fe2c", "fd6f"))
Payload = tuple[dict[int, bytes], dict[str, bytes], list[str], int | None]
"""manufacturer data, service data, service UUIDs, TX power level."""


# -- the scenario ------------------------------------------------------------------------


def _rand(rng: random.Random, n: int) -> bytes:
    return bytes(rng.getrandbits(8) for _ in range(n))


def _rng(device: int, epoch: int) -> random.Random:
    return random.Random(device * 1_000_003 + epoch)


def iphone(device: int, epoch: int) -> Payload:
    rng = _rng(device, epoch)
    info = bytes([0x10, 0x06, rng.choice([0x1B, 0x1A, 0x5B, 0x13]), 0x1E]) + _rand(rng, 4)
    extra = b""
    if epoch % 5 == 0:
        extra = bytes([0x0C, 0x0E, 0x00]) + _rand(rng, 13)  # Handoff
    elif epoch % 7 == 0:
        extra = bytes([0x0F, 0x05, 0x90, 0x00]) + _rand(rng, 3)  # Nearby Action
    return {0x004C: extra + info}, {}, [], 12


def samsung(device: int, epoch: int) -> Payload:
    rng = _rng(device, epoch)
    return {0x0075: bytes([0x42, 0x04, 0x01, 0x80]) + _rand(rng, 20)}, {}, [], None


def exposure(device: int, epoch: int) -> Payload:
    rng = _rng(device, epoch)
    return {}, {FD6F: _rand(rng, 20)}, [FD6F], None


def laptop(device: int, epoch: int) -> Payload:
    rng = _rng(device, epoch)
    return {0x0006: bytes([0x01, 0x0F, 0x20, 0x00]) + _rand(rng, 23)}, {}, [], None


def airpods(device: int, epoch: int) -> Payload:
    rng = _rng(device, epoch)
    body = bytes([0x01, 0x0E, 0x20, 0x2B, 0x99, 0x8F, 0x01]) + _rand(rng, 18)
    return {0x004C: bytes([0x07, 0x19]) + body}, {}, [], None


def fast_pair(device: int, epoch: int) -> Payload:
    rng = _rng(device, epoch)
    data = bytes([0x00, 0x60]) + _rand(rng, 6) + bytes([0x21]) + _rand(rng, 2)
    return {}, {FE2C: data}, [FE2C], -10


def airtag(device: int, epoch: int) -> Payload:
    rng = _rng(device, epoch)
    return {0x004C: bytes([0x12, 0x19, 0x10]) + _rand(rng, 24)}, {}, [], None


def ibeacon(device: int, epoch: int) -> Payload:
    rng = _rng(device, epoch)
    body = bytes.fromhex("0215e2c56db5dffb48d2b060d0f5a71096e0") + _rand(rng, 4) + b"\xc5"
    return {0x004C: body}, {}, [], None


def eddystone(device: int, epoch: int) -> Payload:
    if epoch % 10:  # UID frames, a TLM every tenth: its counters change each time
        return {}, {FEAA: b"\x00\xee" + _rand(random.Random(device), 16)}, [FEAA], None
    tlm = b"\x20\x00\x0b\xb8\x16\x80" + struct.pack(">II", epoch * 100, epoch * 10)
    return {}, {FEAA: tlm}, [FEAA], None


def other(device: int, epoch: int) -> Payload:
    rng = _rng(device, epoch)
    company = rng.choice([0x0059, 0x05A7, 0x0969, 0x0499, 0x0157])
    return {company: _rand(rng, rng.randint(4, 20))}, {}, [], None


class Model(NamedTuple):
    make: Callable[[int, int], Payload]
    """(device number, payload epoch) -> payload."""
    devices: int
    rate_hz: float
    change_s: float
    """Mean seconds between payload changes (identifier rotation, state, counters)."""
    fixed: bool = False
    """Present the whole time (the mall's own beacons)."""


MODELS = (
    Model(iphone, 420, 3.0, 30.0),
    Model(samsung, 180, 2.0, 120.0),
    Model(exposure, 30, 4.0, 600.0),
    Model(laptop, 60, 1.0, 300.0),
    Model(airpods, 90, 4.0, 60.0),
    Model(fast_pair, 60, 4.0, 300.0),
    Model(airtag, 30, 0.5, 900.0),
    Model(other, 120, 2.0, 60.0),
    Model(ibeacon, 40, 5.0, 1e9, fixed=True),
    Model(eddystone, 10, 10.0, 1.0, fixed=True),
)


def scenario(seconds: float, seed: int = 5) -> tuple[list[int], list[bytes], list[Payload]]:
    """Events in time order (payload index each), and the distinct payloads (raw, bleak)."""
    rng = random.Random(seed)
    events: list[tuple[float, int]] = []
    index: dict[tuple[int, int], int] = {}
    by_raw: dict[bytes, int] = {}
    raws: list[bytes] = []
    payloads: list[Payload] = []
    device = 0
    for model in MODELS:
        for _ in range(model.devices):
            device += 1
            start, stop = _presence(rng, seconds, model.fixed)
            phase = rng.uniform(0, model.change_s)
            t = start + rng.uniform(0, 1 / model.rate_hz)
            while t < stop:
                epoch = int((t + phase) / model.change_s)
                if (device, epoch) not in index:
                    index[(device, epoch)] = _intern(
                        model.make(device, epoch), by_raw, raws, payloads
                    )
                events.append((t, index[(device, epoch)]))
                t += rng.uniform(0.8, 1.2) / model.rate_hz
    events.sort()
    return [i for _, i in events], raws, payloads


def _intern(
    payload: Payload, by_raw: dict[bytes, int], raws: list[bytes], payloads: list[Payload]
) -> int:
    """The index of an identical payload seen before, else of this new one."""
    raw = encode(payload)
    if raw not in by_raw:
        by_raw[raw] = len(raws)
        raws.append(raw)
        payloads.append(payload)
    return by_raw[raw]


def _presence(rng: random.Random, seconds: float, fixed: bool) -> tuple[float, float]:
    if fixed:
        return 0.0, seconds
    start = rng.uniform(-300, seconds)
    return max(start, 0.0), min(start + rng.uniform(60, 900), seconds)


def encode(payload: Payload) -> bytes:
    """Raw AD bytes of a payload (flags, UUIDs, TX power, manufacturer/service data)."""
    md, sd, uuids, tx = payload
    out = bytearray(b"\x02\x01\x1a")
    if uuids:
        out += bytes([1 + 2 * len(uuids), 0x03]) + b"".join(
            bytes.fromhex(u[6:8] + u[4:6]) for u in uuids
        )
    if tx is not None:
        out += bytes([2, 0x0A]) + struct.pack("b", tx)
    for company, data in md.items():
        out += bytes([3 + len(data), 0xFF]) + struct.pack("<H", company) + data
    for key, data in sd.items():
        out += bytes([3 + len(data), 0x16]) + bytes.fromhex(key[6:8] + key[4:6]) + data
    return bytes(out)


def fresh_raw(raws: list[bytes], events: list[int]) -> list[bytes]:
    return [bytes(memoryview(raws[i])) for i in events]


def fresh_bleak(payloads: list[Payload], events: list[int]) -> list[Any]:
    out = []
    for i in events:
        md, sd, uuids, tx = payloads[i]
        md2 = {k: bytes(memoryview(v)) for k, v in md.items()}
        sd2 = {k: bytes(memoryview(v)) for k, v in sd.items()}
        out.append(AdvertisementData(None, md2, sd2, list(uuids), tx, -70, ()))
    return out


# -- the baseline: straightforward, on bleak's parsed structures --------------------------

APPLE_NAMES = {
    2: "ibeacon",
    5: "airdrop",
    7: "proximity_pairing",
    9: "airplay_target",
    0x0C: "handoff",
    0x0F: "nearby_action",
    0x10: "nearby_info",
    0x12: "find_my",
}


def baseline_decode(adv: Any) -> dict[str, Any]:
    """Decode one AdvertisementData from scratch, the obvious way."""
    md, sd = adv.manufacturer_data, adv.service_data
    out: dict[str, Any] = {"kind": "unknown", "tx_power": adv.tx_power, "device_class": "unknown"}
    apple = md.get(0x004C)
    if apple is not None and len(apple) >= 23 and apple[0] == 0x02 and apple[1] == 0x15:
        major, minor, power = struct.unpack(">HHb", apple[18:23])
        out.update(kind="ibeacon", uuid=str(uuid.UUID(bytes=apple[2:18])), major=major)
        out.update(minor=minor, tx_power=power, device_class="beacon")
    elif FEAA in sd and sd[FEAA][:1] == b"\x20" and len(sd[FEAA]) >= 14:
        battery, temp, count, tenths = struct.unpack(">HhII", sd[FEAA][2:14])
        out.update(kind="eddystone_tlm", battery_mv=battery, temperature_c=temp / 256)
        out.update(adv_count=count, uptime_s=tenths / 10, device_class="beacon")
    elif FEAA in sd and sd[FEAA][:1] == b"\x00" and len(sd[FEAA]) >= 18:
        frame = sd[FEAA]
        out.update(kind="eddystone_uid", tx_power=struct.unpack("b", frame[1:2])[0])
        out.update(namespace=frame[2:12].hex(), instance=frame[12:18].hex(), device_class="beacon")
    elif apple is not None:
        names, pos = [], 0
        while pos + 2 <= len(apple):
            names.append(APPLE_NAMES.get(apple[pos], f"type_0x{apple[pos]:02x}"))
            pos += 2 + (apple[pos + 1] & 0x1F)
        out.update(kind="apple", company_id=0x004C, apple_types=names)
        out["device_class"] = {"proximity_pairing": "earbuds", "find_my": "tag"}.get(
            names[0] if names else "", "phone" if "nearby_info" in names else "unknown"
        )
    elif 0x0006 in md:
        out.update(kind="microsoft", company_id=6, device_class="computer")
    elif FE2C in sd:
        out.update(kind="google", subtype="fast_pair_account", device_class="earbuds")
    elif FD6F in sd:
        data = sd[FD6F]
        out.update(kind="google", identifier=data[:16].hex(), metadata=data[16:20].hex())
        out["device_class"] = "phone"
    elif md:
        company = min(md)
        out.update(company_id=company, payload_len=len(md[company]))
    stable = (out["kind"], sorted(md), sorted(set(adv.service_uuids) | set(sd)), adv.tx_power)
    out["features"] = hashlib.blake2b(repr(stable).encode(), digest_size=8).hexdigest()
    return out


# -- measuring ----------------------------------------------------------------------------


def pin_to_one_core() -> int | None:
    try:
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
    except (AttributeError, OSError):
        return None
    return core


def chunks(events: list[int], size: int = 50_000) -> Iterator[list[int]]:
    for at in range(0, len(events), size):
        yield events[at : at + size]


def timed(
    events: list[int], make: Callable[[list[int]], list[Any]], run: Callable[[Any], Any]
) -> float:
    """Adverts per second of ``run`` over fresh objects (building them is not timed)."""
    elapsed = 0.0
    for chunk in chunks(events):
        objects = make(chunk)
        started = time.perf_counter()
        for obj in objects:
            run(obj)
        elapsed += time.perf_counter() - started
    return len(events) / elapsed


def agreement(raws: list[bytes], payloads: list[Payload]) -> float:
    """Share of distinct payloads where the baseline and ours agree on the kind and class."""
    same = 0
    for raw, adv in zip(raws, fresh_bleak(payloads, list(range(len(payloads)))), strict=True):
        ours, theirs = decode_ad(raw), baseline_decode(adv)
        same += ours is not None and [ours.kind, ours.device_class] == [
            theirs["kind"], theirs["device_class"]
        ]  # fmt: skip
    return same / len(raws)


def measure(seconds: float, runs: int) -> dict[str, Any]:
    events, raws, payloads = scenario(seconds)
    results: dict[str, list[float]] = {"raw": [], "fields": [], "baseline": [], "cold": []}
    distinct = list(range(len(raws)))
    for _ in range(runs):
        results["raw"].append(timed(events, lambda c: fresh_raw(raws, c), BleDecoder().decode))
        decoder = BleDecoder()
        results["fields"].append(
            timed(events, lambda c: fresh_bleak(payloads, c), decoder.decode_advertisement)
        )
        results["baseline"].append(
            timed(events, lambda c: fresh_bleak(payloads, c), baseline_decode)
        )
        results["cold"].append(timed(distinct, lambda c: fresh_raw(raws, c), decode_ad))
    rate = {name: statistics.median(values) for name, values in results.items()}
    return {
        "adverts": len(events),
        "distinct_payloads": len(raws),
        "repeat_share": round(1 - len(raws) / len(events), 4),
        "adverts_per_s": round(min(rate["raw"], rate["fields"])),
        "raw_adverts_per_s": round(rate["raw"]),
        "fields_adverts_per_s": round(rate["fields"]),
        "baseline_adverts_per_s": round(rate["baseline"]),
        "cold_adverts_per_s": round(rate["cold"]),
        "vs_baseline": round(rate["fields"] / rate["baseline"], 1),
        "raw_vs_baseline": round(rate["raw"] / rate["baseline"], 1),
        "cold_vs_baseline": round(rate["cold"] / rate["baseline"], 2),
        "baseline_agrees": round(agreement(raws, payloads), 4),
        "runs": runs,
        "bleak_objects": AdvertisementData is not _StandIn,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="BLE decoding benchmark (module docstring).")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--seconds", type=float, default=300.0, help="simulated seconds")
    parser.add_argument("--runs", type=int, default=5, help="timed runs (median)")
    args = parser.parse_args()
    core = pin_to_one_core()
    result = {"core": core, "target_adverts_per_s": 300_000, **measure(args.seconds, args.runs)}
    result["target_met"] = result["adverts_per_s"] >= result["target_adverts_per_s"]
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:>24}: {value}")


if __name__ == "__main__":
    main()
