"""AD structures (Core Specification Supplement, Part A): parsing, errors, round trips."""

from __future__ import annotations

import struct
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.ble.decode.ad_structures import (
    AdStructures,
    canonical_uuid,
    encode_ad,
    parse_ad,
    uuid16,
)
from drivers.ble.decode.address import address_kind

FAST = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEAA = "0000feaa-0000-1000-8000-00805f9b34fb"


def ad(ad_type: int, body: bytes) -> bytes:
    """One AD structure, built by hand (independent of ``encode_ad``)."""
    return bytes([len(body) + 1, ad_type]) + body


def test_every_kept_type() -> None:
    u128 = uuid.UUID("6e400001-b5a3-f393-e0a9-e50e24dcca9e")
    data = (
        ad(0x01, b"\x1a")
        + ad(0x02, struct.pack("<HH", 0x180F, 0xFEAA))
        + ad(0x05, struct.pack("<I", 0x12345678))
        + ad(0x07, u128.bytes[::-1])
        + ad(0x08, b"Shop")
        + ad(0x0A, b"\xf4")
        + ad(0x16, b"\xaa\xfe\x10\x00")
        + ad(0x20, struct.pack("<I", 0xABCD0001) + b"\x01")
        + ad(0x21, u128.bytes[::-1] + b"\x02\x03")
        + ad(0x19, struct.pack("<H", 0x0941))
        + ad(0xFF, b"\x4c\x00\x10\x05\x01")
        + ad(0x24, b"\x99")
    )
    parsed = parse_ad(data)
    assert parsed.errors == 0
    assert parsed.flags == 0x1A
    assert parsed.service_uuids == [
        uuid16(0x180F),
        FEAA,
        "12345678-0000-1000-8000-00805f9b34fb",
        str(u128),
    ]
    assert parsed.local_name == "Shop"
    assert parsed.tx_power == -12
    assert parsed.service_data == {
        FEAA: b"\x10\x00",
        "abcd0001-0000-1000-8000-00805f9b34fb": b"\x01",
        str(u128): b"\x02\x03",
    }
    assert parsed.appearance == 0x0941
    assert parsed.manufacturer_data == {0x004C: b"\x10\x05\x01"}
    assert parsed.other == {0x24: [b"\x99"]}
    assert len(parsed.structures) == 12


def test_complete_name_wins_over_shortened() -> None:
    assert parse_ad(ad(0x09, b"Full name") + ad(0x08, b"Full")).local_name == "Full name"
    assert parse_ad(ad(0x08, b"Ful") + ad(0x09, b"Full name")).local_name == "Full name"
    assert parse_ad(ad(0x09, b"\xff\xfe")).local_name == "\ufffd\ufffd"


def test_later_structure_of_the_same_key_wins() -> None:
    data = ad(0xFF, b"\x06\x00\x01") + ad(0xFF, b"\x06\x00\x02")
    assert parse_ad(data).manufacturer_data == {6: b"\x02"}


def test_overrun_stops_the_parse_and_keeps_what_came_before() -> None:
    parsed = parse_ad(ad(0x01, b"\x06") + b"\x1e\xff\x4c\x00")
    assert parsed.flags == 6
    assert parsed.errors == 1
    assert len(parsed.structures) == 1


def test_zero_length_ends_the_data_without_error() -> None:
    parsed = parse_ad(ad(0x01, b"\x06") + b"\x00\x00\x00" + ad(0x09, b"after"))
    assert parsed.errors == 0
    assert parsed.local_name is None


@pytest.mark.parametrize(
    "structure",
    [
        ad(0xFF, b"\x4c"),  # company id cut short
        ad(0x16, b"\xaa"),  # 16-bit service data without its UUID
        ad(0x21, b"\x00" * 15),  # 128-bit service data without its UUID
        ad(0x0A, b""),  # TX power without its octet
        ad(0x0A, b"\x01\x02"),
        ad(0x01, b""),
        ad(0x19, b"\x41"),  # appearance is two octets
    ],
    ids=["mfr", "sd16", "sd128", "tx-empty", "tx-long", "flags-empty", "appearance"],
)
def test_structures_too_short_for_their_type_are_counted_and_skipped(structure: bytes) -> None:
    parsed = parse_ad(structure + ad(0x09, b"next"))
    assert parsed.errors == 1
    assert parsed.local_name == "next"
    assert not parsed.manufacturer_data
    assert not parsed.service_data
    assert parsed.tx_power is None


def test_uuid_list_with_a_partial_entry_keeps_the_whole_ones() -> None:
    parsed = parse_ad(ad(0x03, b"\x0f\x18\xaa"))
    assert parsed.service_uuids == [uuid16(0x180F)]
    assert parsed.errors == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("feaa", FEAA),
        ("0xFEAA", FEAA),
        ("0000FEAA", FEAA),
        (FEAA.upper(), FEAA),
        ("0000feaa00001000800000805f9b34fb", FEAA),
        ("not-a-uuid", "not-a-uuid"),
        ("fe-a", "fe-a"),
        ("", ""),
        (" Feaa ", FEAA),
    ],
)
def test_canonical_uuid(text: str, expected: str) -> None:
    assert canonical_uuid(text) == expected


@pytest.mark.parametrize(
    ("address", "address_type", "kind"),
    [
        ("3C:22:FB:12:34:56", "public", "public"),
        ("C3:22:FB:12:34:56", "random", "static"),
        ("5A:22:FB:12:34:56", "random", "resolvable"),
        ("1A:22:FB:12:34:56", "random", "non_resolvable"),
        ("9A:22:FB:12:34:56", "random", "unknown"),  # 0b10: reserved
        ("5A:22:FB:12:34:56", None, "unknown"),
        ("6F9B2C1E-0000-4000-8000-000000000000", None, "unknown"),  # macOS: a UUID
        ("", "random", "unknown"),
        ("zz:00", "random", "unknown"),
    ],
)
def test_address_kind(address: str, address_type: str | None, kind: str) -> None:
    assert address_kind(address, address_type) == kind


def test_encode_ad_refuses_what_cannot_be_framed() -> None:
    with pytest.raises(ValueError, match="255 octets"):
        encode_ad([(0xFF, bytes(255))])
    with pytest.raises(ValueError, match="type 256"):
        encode_ad([(256, b"")])


@FAST
@given(st.binary(max_size=300))
def test_parse_never_raises_and_never_over_reads(data: bytes) -> None:
    parsed = parse_ad(data)
    assert isinstance(parsed, AdStructures)
    framed = sum(2 + len(body) for _, body in parsed.structures)
    assert framed <= len(data)
    assert encode_ad(parsed.structures) == data[:framed]


structures = st.lists(
    st.tuples(st.integers(0, 255), st.binary(max_size=40)),
    max_size=12,
)


@FAST
@given(structures)
def test_built_structures_round_trip(built: list[tuple[int, bytes]]) -> None:
    data = encode_ad(built)
    parsed = parse_ad(data)
    assert list(parsed.structures) == built
    assert parsed.errors == sum(1 for t, b in built if _too_short(t, b))


def _too_short(ad_type: int, body: bytes) -> bool:
    minimum = {0xFF: 2, 0x16: 2, 0x20: 4, 0x21: 16}
    if ad_type in (0x0A, 0x01):
        return len(body) != 1
    if ad_type == 0x19:
        return len(body) != 2
    if ad_type in (0x02, 0x03, 0x04, 0x05, 0x06, 0x07):
        width = {0x02: 2, 0x03: 2, 0x04: 4, 0x05: 4, 0x06: 16, 0x07: 16}[ad_type]
        return len(body) % width != 0
    return len(body) < minimum.get(ad_type, 0)
