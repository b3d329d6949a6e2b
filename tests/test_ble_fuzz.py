"""hypothesis: decoding never raises, raw and bleak forms agree, the cache changes nothing."""

from __future__ import annotations

import json
import struct
import uuid
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from drivers.ble.cached_decoder import BleDecoder
from drivers.ble.decode import (
    DEVICE_CLASSES,
    KINDS,
    Decoded,
    decode_ad,
    decode_fields,
    parse_ad,
    to_json,
)

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BASE = "-0000-1000-8000-00805f9b34fb"

# Payloads that reach the decoders' deeper branches (from tests/data/ble_vectors.json).
MANUFACTURER_SEEDS = [
    (0x004C, "0215426c7565436861726d426561636f6e730efe1355c5"),  # iBeacon
    (0x004C, "0f08d00a7f6e7400080c10022304"),  # Nearby Action + Nearby Info
    (0x004C, "121910404142434445464748494a4b4c4d4e4f505152535455017a"),  # Find My
    (0x004C, "0719010e202b998f01808182838485868788898a8b8c8d8e8f9091"),  # AirPods
    (0x004C, "063100cd6e49a191b2060037000402cbd72c22"),  # HomeKit
    (0x0118, "beac2f234454cf6d4a0fadf2f4911ba9ffa600010002c500"),  # AltBeacon
    (0x0006, "010f2000a1b2c3d4303132333435363738393a3b3c3d3e3f404142"),  # MS CDP
    (0x00E0, "0102"),
]
SERVICE_SEEDS = [
    (0xFEAA, "00e3123456789012346789010000000000010000"),
    (0xFEAA, "10f8036769746875620063697472757a"),
    (0xFEAA, "20000b1813000000146700002ac4"),
    (0xFEAA, "2001414141414141414141414141"),
    (0xFEAA, "30e34549445f74657374"),
    (0xFEAA, "400102030405060708090a0b0c0d0e0f10111213145a"),
    (0xFE2C, "0a1b2c"),
    (0xFE2C, "006011223344556621abcd"),
    (0xFD6F, "0d3b4f65584c582160571dd19010d41c2660ee34"),
]


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    """A seed payload cut short, with flipped octets, or with junk appended."""
    data = bytearray(seed[: draw(st.integers(0, len(seed)))] if draw(st.booleans()) else seed)
    for _ in range(draw(st.integers(0, 3))):
        if data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data) + draw(st.binary(max_size=4))


def manufacturer_entries() -> st.SearchStrategy[tuple[int, bytes]]:
    seeded = st.sampled_from(MANUFACTURER_SEEDS).flatmap(
        lambda s: st.tuples(st.just(s[0]), mutated(bytes.fromhex(s[1])))
    )
    return st.one_of(seeded, st.tuples(st.integers(0, 0xFFFF), st.binary(max_size=27)))


def service_entries() -> st.SearchStrategy[tuple[int, bytes]]:
    seeded = st.sampled_from(SERVICE_SEEDS).flatmap(
        lambda s: st.tuples(st.just(s[0]), mutated(bytes.fromhex(s[1])))
    )
    return st.one_of(seeded, st.tuples(st.integers(0, 0xFFFF), st.binary(max_size=24)))


def check(decoded: Decoded) -> None:
    assert decoded.kind in KINDS
    assert decoded.device_class in DEVICE_CLASSES
    assert len(decoded.features) == 16
    json.dumps(to_json(decoded))


# -- totality ------------------------------------------------------------------------------


@FAST
@given(st.binary(max_size=64))
@example(b"")
@example(b"\x00" * 31)
@example(bytes.fromhex("0201061aff4c000215"))  # an iBeacon cut short
def test_raw_decoding_never_raises(data: bytes) -> None:
    decoded = decode_ad(data)
    if decoded is not None:
        check(decoded)
    assert BleDecoder().decode(data) == decoded


@FAST
@given(
    st.dictionaries(st.integers(-5, 0x10005), st.binary(max_size=30), max_size=4),
    st.dictionaries(st.text(max_size=40), st.binary(max_size=30), max_size=4),
    st.lists(st.text(max_size=40), max_size=4),
    st.none() | st.text(max_size=10),
    st.none() | st.integers(),
)
def test_fields_decoding_never_raises(
    md: dict[int, bytes],
    sd: dict[str, bytes],
    uuids: list[str],
    name: str | None,
    tx: int | None,
) -> None:
    check(decode_fields(md, sd, uuids, name, tx))
    check(BleDecoder().decode_fields(md, sd, uuids, name, tx))


def test_fields_of_the_wrong_types_are_dropped_not_raised() -> None:
    manufacturer: Any = {"x": b"1", 5: "not bytes", 7: bytearray(b"\x01\x02"), True: b""}
    service: Any = {1: b"", "fe2c": memoryview(b"\x0a\x1b\x2c")}
    uuids: Any = [None, "180d"]
    power: Any = "7"
    decoded = decode_fields(manufacturer, service, uuids, None, power)
    assert (decoded.subtype, decoded.model_id, decoded.tx_power) == ("fast_pair", "0a1b2c", None)
    assert decode_fields(manufacturer, {}, uuids).company_id == 7  # True is not a company


# -- raw == bleak form, through an encoder written here ---------------------------------------


def ad(ad_type: int, body: bytes) -> bytes:
    return bytes([len(body) + 1, ad_type]) + body


@st.composite
def advertisements(draw: st.DrawFn) -> tuple[bytes, dict[str, Any]]:
    """Raw AD bytes and the bleak fields they stand for, built independently."""
    md = dict(draw(st.lists(manufacturer_entries(), max_size=2)))
    sd16 = dict(draw(st.lists(service_entries(), max_size=2)))
    sd128 = {
        uuid.UUID(bytes=k): v
        for k, v in draw(
            st.dictionaries(st.binary(min_size=16, max_size=16), st.binary(max_size=8), max_size=1)
        ).items()
    }
    list16 = draw(st.lists(st.integers(0, 0xFFFF), max_size=3))
    list128 = [
        uuid.UUID(bytes=b) for b in draw(st.lists(st.binary(min_size=16, max_size=16), max_size=1))
    ]
    name = draw(st.none() | st.text(st.characters(codec="utf-8"), max_size=8))
    tx = draw(st.none() | st.integers(-128, 127))
    raw = ad(0x01, b"\x06")
    if list16:
        raw += ad(0x03, b"".join(struct.pack("<H", u) for u in list16))
    for u128 in list128:
        raw += ad(0x07, u128.bytes[::-1])
    for company, payload in md.items():
        raw += ad(0xFF, struct.pack("<H", company) + payload)
    for short, data in sd16.items():
        raw += ad(0x16, struct.pack("<H", short) + data)
    for long, data in sd128.items():
        raw += ad(0x21, long.bytes[::-1] + data)
    if name is not None:
        raw += ad(0x09, name.encode())
    if tx is not None:
        raw += ad(0x0A, struct.pack("b", tx))
    service_data = {f"{k:08x}{BASE}": v for k, v in sd16.items()}
    service_data.update({str(k): v for k, v in sd128.items()})
    fields = {
        "manufacturer_data": md,
        "service_data": service_data,
        "service_uuids": [f"{u:08x}{BASE}" for u in list16] + [str(u) for u in list128],
        "local_name": name,
        "tx_power": tx,
    }
    return raw, fields


@FAST
@given(advertisements())
def test_raw_and_bleak_forms_decode_alike(case: tuple[bytes, dict[str, Any]]) -> None:
    raw, fields = case
    parsed = parse_ad(raw)
    assert parsed.errors == 0
    assert parsed.manufacturer_data == fields["manufacturer_data"]
    assert parsed.service_data == fields["service_data"]
    assert parsed.service_uuids == fields["service_uuids"]
    assert parsed.tx_power == fields["tx_power"]
    assert parsed.local_name == fields["local_name"]
    decoded = decode_ad(raw)
    assert decoded is not None
    assert decoded == decode_fields(**fields)
    assert decoded == BleDecoder().decode_fields(**fields)


# -- the cached decoder ----------------------------------------------------------------------


@FAST
@given(
    st.lists(
        st.sampled_from([b"", b"\x05\xff", b"\x02\x01\x06"]) | st.binary(max_size=20), max_size=30
    )
)
def test_cache_changes_nothing_and_counts_every_advert(stream: list[bytes]) -> None:
    decoder = BleDecoder(cache_limit=3)  # tiny: the caches are cleared often
    twice = stream + stream
    assert decoder.decode_batch(twice) == [decode_ad(d) for d in twice]
    stats = decoder.stats()
    assert stats["adverts"] == len(twice)
    rejected = sum(decoder.rejected.values())
    assert rejected == sum(1 for d in twice if decode_ad(d) is None)
    damaged = sum(1 for d in twice if decode_ad(d) is not None and parse_ad(d).errors)
    assert decoder.damaged == damaged


def test_rejection_reasons_and_byte_like_inputs() -> None:
    decoder = BleDecoder()
    assert decoder.decode(b"") is None
    assert decoder.decode(b"\x00\x00") is None
    assert decoder.decode(b"\x1e\xff") is None
    assert decoder.decode(b"\x1e\xff") is None
    raw = bytes.fromhex("02011a020a0611ff4c000f08d00a7f6e7400080c10022304")
    assert decoder.decode(bytearray(raw)) == decode_ad(raw)  # type: ignore[arg-type]
    assert decoder.decode_batch([memoryview(raw), raw]) == [decode_ad(raw)] * 2  # type: ignore[list-item]
    assert decoder.decode(None) is None  # type: ignore[arg-type]
    assert dict(decoder.rejected) == {"empty": 2, "malformed": 2, "not_bytes": 1}
    assert decoder.stats()["adverts"] == 8


def test_fields_cache_with_unhashable_values() -> None:
    decoder = BleDecoder()
    md: Any = {0x004C: bytearray.fromhex("10061a1ea1b2c3d4")}
    first = decoder.decode_fields(md, {}, iter(["180f"]))
    assert first == decode_fields({0x004C: bytes(md[0x004C])}, {}, ["180f"])
    assert decoder.decode_fields(md, {}, ["180f"]) == first
