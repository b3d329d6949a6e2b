"""Pseudonymizer: keyed, rotating, shared by the boxes of one mall, checked against hmac."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.privacy import MIN_KEY_BYTES, Pseudonymizer

KEY = b"mall-0042-pseudonym-key-32-bytes"
DAY = 86_400
T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
MAC = bytes.fromhex("da a1 19 4c 77 10")
OTHER_MAC = bytes.fromhex("3c 22 fb 12 34 56")
HEX = set("0123456789abcdef")


def reference(key: bytes, address: bytes, t: float, rotation_s: int = DAY) -> str:
    """The pseudonym as specified, computed with the standard library's hmac."""
    period = int(t // rotation_s)
    period_key = hmac.new(key, b"mallsense-period:%d" % period, hashlib.sha256).digest()
    return hmac.new(period_key, address, hashlib.sha256).digest()[:8].hex()


def test_pseudonym_is_16_hex_chars() -> None:
    value = Pseudonymizer(KEY).pseudonym(MAC, T0)
    assert len(value) == 16 and set(value) <= HEX
    assert MAC.hex() not in value


def test_equals_an_independent_hmac_sha256() -> None:
    p = Pseudonymizer(KEY)
    assert p.pseudonym(MAC, T0) == reference(KEY, MAC, T0)
    assert p.pseudonym(OTHER_MAC, T0) == reference(KEY, OTHER_MAC, T0)
    assert p.pseudonym(MAC, T0 + 3 * DAY) == reference(KEY, MAC, T0 + 3 * DAY)


def test_stable_within_a_rotation_period() -> None:
    p = Pseudonymizer(KEY)
    start = (T0 // DAY) * DAY
    values = {p.pseudonym(MAC, t) for t in (start, start + 1, T0, start + DAY - 0.001)}
    assert len(values) == 1


def test_different_across_periods() -> None:
    p = Pseudonymizer(KEY)
    start = (T0 // DAY) * DAY
    days = [p.pseudonym(MAC, start + k * DAY) for k in range(-2, 5)]
    assert len(set(days)) == len(days)
    assert p.pseudonym(MAC, start - 0.000001) != p.pseudonym(MAC, start)
    assert p.period_of(start) == p.period_of(start + DAY - 0.001) == p.period_of(start - 1) + 1


def test_going_back_to_an_earlier_period_gives_the_earlier_value() -> None:
    p = Pseudonymizer(KEY)
    first = p.pseudonym(MAC, T0)
    p.pseudonym(MAC, T0 + DAY)
    p.pseudonym(OTHER_MAC, T0 - DAY)
    assert p.pseudonym(MAC, T0) == first


@pytest.mark.parametrize("rotation_s", [1, 60, 3600, DAY, 7 * DAY])
def test_rotation_period_is_configurable(rotation_s: int) -> None:
    p = Pseudonymizer(KEY, rotation_s=rotation_s)
    start = (T0 // rotation_s) * rotation_s
    assert p.pseudonym(MAC, start) == p.pseudonym(MAC, start + rotation_s - 0.001)
    assert p.pseudonym(MAC, start) != p.pseudonym(MAC, start + rotation_s)
    assert p.pseudonym(MAC, start) == reference(KEY, MAC, start, rotation_s)


def test_different_keys_give_different_pseudonyms() -> None:
    other = Pseudonymizer(b"mall-0043-pseudonym-key-32-bytes")
    assert other.pseudonym(MAC, T0) != Pseudonymizer(KEY).pseudonym(MAC, T0)


def test_boxes_of_one_mall_agree() -> None:
    box_a, box_b = Pseudonymizer(KEY), Pseudonymizer(bytes(KEY))
    box_a.pseudonym(OTHER_MAC, T0 - DAY)  # different cache histories
    for t in (T0, T0 + 10, T0 + DAY):
        assert box_a.pseudonym(MAC, t) == box_b.pseudonym(MAC, t)
        assert box_a.tag(b"MallGuest", t) == box_b.tag(b"MallGuest", t)


def test_different_addresses_differ() -> None:
    p = Pseudonymizer(KEY)
    values = {p.pseudonym(bytes([0x02, 0, 0, 0, 0, i]), T0) for i in range(256)}
    assert len(values) == 256


def test_tag_is_short_keyed_and_rotates() -> None:
    p = Pseudonymizer(KEY)
    tag = p.tag(b"MallGuest", T0)
    assert len(tag) == 8 and set(tag) <= HEX
    assert tag == p.tag(b"MallGuest", T0 + 1)
    assert tag != p.tag(b"MallGuest", T0 + DAY)
    assert tag != p.tag(b"MallGuest2", T0)
    assert tag != Pseudonymizer(b"another-key-of-sixteen+").tag(b"MallGuest", T0)


@pytest.mark.parametrize("size", [0, 1, 8, MIN_KEY_BYTES - 1])
def test_short_keys_are_rejected(size: int) -> None:
    with pytest.raises(ValueError, match=str(MIN_KEY_BYTES)):
        Pseudonymizer(b"k" * size)


def test_minimum_and_long_keys_are_accepted() -> None:
    assert MIN_KEY_BYTES >= 16
    for key in (b"k" * MIN_KEY_BYTES, b"k" * 64, b"k" * 200):
        assert Pseudonymizer(key).pseudonym(MAC, T0) == reference(key, MAC, T0)


@pytest.mark.parametrize("rotation_s", [0, -1, -DAY])
def test_non_positive_rotation_is_rejected(rotation_s: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        Pseudonymizer(KEY, rotation_s=rotation_s)


@settings(max_examples=200, deadline=None)
@given(
    st.binary(min_size=16, max_size=80),
    st.lists(
        st.tuples(st.binary(min_size=0, max_size=16), st.floats(0, 1e10, allow_nan=False)),
        min_size=1,
        max_size=10,
    ),
    st.sampled_from([1, 60, 3600, DAY]),
)
def test_matches_hmac_for_any_key_address_and_time(
    key: bytes, lookups: list[tuple[bytes, float]], rotation_s: int
) -> None:
    p = Pseudonymizer(key, rotation_s)
    for address, t in lookups:
        assert p.pseudonym(address, t) == reference(key, address, t, rotation_s)


def test_first_lookup_in_period_minus_one_is_keyed() -> None:
    t = -1.0
    assert Pseudonymizer(KEY).pseudonym(MAC, t) == reference(KEY, MAC, t)


def test_the_cache_stays_bounded_and_right_across_its_generations() -> None:
    """A busy sensor hears hundreds of new MACs a second: the cache keeps two generations
    of addresses, never more, and an address evicted and heard again gets the same value."""
    from drivers import privacy

    p = Pseudonymizer(KEY)
    addresses = [i.to_bytes(6, "big") for i in range(3 * privacy._CACHE_GENERATION + 7)]
    first = [p.pseudonym(a, T0) for a in addresses]
    assert len(p._cache) + len(p._older) <= 2 * privacy._CACHE_GENERATION
    assert [p.pseudonym(a, T0) for a in addresses] == first
    assert first[0] == reference(KEY, addresses[0], T0)
    assert p.pseudonym_uncached(addresses[-1], T0) == first[-1]


def test_the_wifi_parser_cache_stays_bounded_and_right() -> None:
    from drivers.wifi import parse

    parser = parse.WifiParser("wifi-a", Pseudonymizer(KEY))
    macs = [
        (0x020000000000 + i).to_bytes(6, "big") for i in range(2 * parse._DEVICE_GENERATION + 3)
    ]
    first = [parser._pseudonym(m, T0) for m in macs]
    assert len(parser._devices) + len(parser._older_devices) <= 2 * parse._DEVICE_GENERATION
    assert (
        [parser._pseudonym(m, T0) for m in macs] == first == [reference(KEY, m, T0) for m in macs]
    )
