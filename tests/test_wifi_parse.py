"""WifiParser on frames built by scapy (an independent implementation) and by hand."""

from __future__ import annotations

import functools
import struct
from typing import Any

import pytest
from wifi_frames import (
    DAY,
    DEFAULT_RATES,
    KEY,
    SENSOR,
    T0,
    RtWord,
    VendorWord,
    build_radiotap,
    channel_field,
    expected_pseudonym,
    intel_radiotap,
    mac_bytes,
    make_parser,
    non_probe_frames,
    probe_body,
    radiotap,
    signal_field,
    xchannel_field,
)

from drivers.observations import Probe
from drivers.privacy import Pseudonymizer
from drivers.wifi.parse import WifiParser, channel_of, summarize_ies
from drivers.wifi.pcap import LINKTYPE_IEEE802_11

RANDOM_MAC = "da:a1:19:4c:77:10"
GLOBAL_MAC = "3c:22:fb:12:34:56"


def parse_one(frame: bytes, linktype: int = 127, t: float = T0) -> Probe | None:
    return make_parser().parse(t, frame, linktype)


def must_parse(frame: bytes, linktype: int = 127, t: float = T0) -> Probe:
    probe = parse_one(frame, linktype, t)
    assert probe is not None
    return probe


def with_htc(body: bytes, htc: bytes = b"\x00\x00\x00\x00") -> bytes:
    """The same probe with the +HTC/Order flag and an HT control field after the header."""
    header = bytearray(body[:24])
    header[1] |= 0x80
    return bytes(header) + htc + body[24:]


# --- every Probe field -------------------------------------------------------------------


def test_wildcard_probe_fields() -> None:
    frame = radiotap(rssi=-57, freq=2437, flags=0) + probe_body(RANDOM_MAC, seq=1234, ssid=b"")
    probe = must_parse(frame)
    assert probe == Probe(
        t=T0,
        sensor=SENSOR,
        device=expected_pseudonym(mac_bytes(RANDOM_MAC), T0),
        randomized=True,
        rssi=-57,
        channel=6,
        directed=False,
        ssid_tag=None,
        fingerprint=probe.fingerprint,
        seq=1234,
    )
    assert len(probe.fingerprint) == 16
    int(probe.fingerprint, 16)


def test_directed_probe_has_a_keyed_ssid_tag() -> None:
    parser = make_parser()
    mall = parser.parse(T0, radiotap() + probe_body(ssid=b"MallGuest"))
    mall_again = parser.parse(T0 + 5, radiotap() + probe_body(GLOBAL_MAC, ssid=b"MallGuest"))
    home = parser.parse(T0, radiotap() + probe_body(ssid=b"HomeNet-5G"))
    assert mall is not None and mall_again is not None and home is not None
    assert mall.directed and home.directed
    assert mall.ssid_tag is not None and home.ssid_tag is not None
    assert len(mall.ssid_tag) == 8
    int(mall.ssid_tag, 16)
    assert mall.ssid_tag == mall_again.ssid_tag
    assert mall.ssid_tag != home.ssid_tag
    assert b"MallGuest".hex() not in mall.ssid_tag
    assert mall.ssid_tag == Pseudonymizer(KEY).tag(b"MallGuest", T0)


@pytest.mark.parametrize(
    ("mac", "randomized"),
    [
        (RANDOM_MAC, True),
        ("02:00:00:00:00:01", True),
        ("fe:ff:ff:ff:ff:ff", True),
        (GLOBAL_MAC, False),
        ("00:00:00:00:00:00", False),
        ("01:00:5e:00:00:01", False),  # group bit set: kept, not randomized
    ],
)
def test_randomized_flag_is_the_locally_administered_bit(mac: str, randomized: bool) -> None:
    probe = must_parse(radiotap() + probe_body(mac))
    assert probe.randomized is randomized
    assert probe.device == expected_pseudonym(mac_bytes(mac), T0)


@pytest.mark.parametrize(
    ("freq", "channel"),
    [
        (2412, 1),
        (2437, 6),
        (2462, 11),
        (2472, 13),
        (2484, 14),
        (5180, 36),
        (5500, 100),
        (5825, 165),
        (5885, 177),
        (5955, 1),
        (6415, 93),
        (7115, 233),
    ],
)
def test_channel_from_radiotap_frequency(freq: int, channel: int) -> None:
    probe = must_parse(radiotap(freq=freq) + probe_body())
    assert probe.channel == channel
    assert channel_of(freq) == channel


@pytest.mark.parametrize("freq", [0, 900, 2300, 2400, 2411, 2500, 4000, 7200, 65535])
def test_frequency_outside_wifi_bands_gives_no_channel(freq: int) -> None:
    probe = must_parse(radiotap(freq=freq) + probe_body())
    assert probe.channel is None
    assert probe.rssi == -60


def test_6ghz_channel_2() -> None:
    assert must_parse(radiotap(freq=5935) + probe_body()).channel == 2


@pytest.mark.parametrize("rssi", [-128, -100, -60, -1, 0, 15, 127])
def test_rssi_is_signed(rssi: int) -> None:
    assert must_parse(radiotap(rssi=rssi) + probe_body()).rssi == rssi


@pytest.mark.parametrize("seq", [0, 1, 7, 2047, 2048, 4095])
def test_sequence_number(seq: int) -> None:
    assert must_parse(radiotap() + probe_body(seq=seq)).seq == seq


def test_fragment_number_is_not_part_of_seq() -> None:
    body = bytearray(probe_body(seq=300))
    body[22] |= 0x0F  # fragment number 15
    assert must_parse(radiotap() + bytes(body)).seq == 300


def test_no_radiotap_fields_gives_none_values() -> None:
    probe = must_parse(radiotap(rssi=None, freq=None) + probe_body(seq=5))
    assert (probe.rssi, probe.channel, probe.seq) == (None, None, 5)


# --- fingerprint ---------------------------------------------------------------------------


def fingerprint(body: bytes) -> str:
    return must_parse(radiotap() + body).fingerprint


def test_fingerprint_stable_across_mac_ssid_channel_and_seq() -> None:
    reference = fingerprint(probe_body(RANDOM_MAC, seq=1, ssid=b"", ds_channel=1))
    variants = [
        probe_body(GLOBAL_MAC, seq=1, ssid=b"", ds_channel=1),
        probe_body("06:55:44:33:22:11", seq=1, ssid=b"", ds_channel=1),
        probe_body(RANDOM_MAC, seq=1, ssid=b"MallGuest", ds_channel=1),
        probe_body(RANDOM_MAC, seq=1, ssid=b"x" * 32, ds_channel=1),
        probe_body(RANDOM_MAC, seq=1, ssid=b"", ds_channel=11),
        probe_body(RANDOM_MAC, seq=4000, ssid=b"", ds_channel=1),
        probe_body("12:34:56:78:9a:bc", seq=17, ssid=b"eduroam", ds_channel=6),
    ]
    for body in variants:
        assert fingerprint(body) == reference
    # radiotap contents do not matter either
    assert must_parse(radiotap(rssi=-90, freq=5180) + variants[0]).fingerprint == reference


@pytest.mark.parametrize(
    "changes",
    [
        {"rates": (0x82, 0x84, 0x8B, 0x96)},
        {"rates": None},
        {"rates": (*DEFAULT_RATES[:-1], 0x30)},
        {"ht_cap": bytes(26)},
        {"ht_cap": None},
        {"ht_cap": bytes.fromhex("2d0117ffff000000000000000000000000000000000000000000")},
        {"ext_cap": bytes.fromhex("0400080000000000")},
        {"ext_cap": None},
        {"vendor": ((0x0050F2, b"\x08\x00\x10\x00"),)},
        {"vendor": ((0x0017F2, b"\x0a\x00\x01\x04"), (0x001018, b"\x02\x00\x00\x1c\x00\x00"))},
        {"vendor": ((0x0050F2, b"\x04\x10\x4a"), (0x001018, b"\x02\x00\x00\x1c\x00\x00"))},
    ],
)
def test_fingerprint_changes_with_stable_elements(changes: dict[str, Any]) -> None:
    reference = fingerprint(probe_body())
    assert fingerprint(probe_body(**changes)) != reference


def test_fingerprint_ignores_vendor_payload_after_oui_and_type() -> None:
    # The WPS/vendor payload varies per probe on some phones; only OUI and type count.
    a = probe_body(vendor=((0x0050F2, b"\x08\x00\x10\x00"),))
    b = probe_body(vendor=((0x0050F2, b"\x08\xff\xff\xff\xff"),))
    assert fingerprint(a) == fingerprint(b)


def test_fingerprint_depends_on_element_order() -> None:
    base = probe_body(ext_cap=None, vendor=())
    swapped = base[:24] + _swap_last_two_elements(base[24:])
    assert fingerprint(base) != fingerprint(swapped)


def _swap_last_two_elements(ies: bytes) -> bytes:
    elements: list[bytes] = []
    pos = 0
    while pos < len(ies):
        end = pos + 2 + ies[pos + 1]
        elements.append(ies[pos:end])
        pos = end
    elements[-1], elements[-2] = elements[-2], elements[-1]
    return b"".join(elements)


def test_summarize_ies_matches_parser() -> None:
    body = probe_body(ssid=b"abc")
    summary = summarize_ies(body[24:])
    assert summary is not None
    assert summary.ssid == b"abc"
    assert summary.fingerprint == fingerprint(body)
    assert summarize_ies(body[24:-1]) is None


# --- radiotap variants ---------------------------------------------------------------------


def test_tsft_is_8_byte_aligned() -> None:
    header = radiotap(tsft=0x1122334455667788, flags=0, freq=5180, rssi=-44)
    assert header[2] == len(header) and header[8:16] == struct.pack("<Q", 0x1122334455667788)
    probe = must_parse(header + probe_body(seq=42))
    assert (probe.rssi, probe.channel, probe.seq) == (-44, 36, 42)


def test_tsft_after_an_extended_bitmap_is_aligned_to_16() -> None:
    header = build_radiotap(
        [
            RtWord({0: b"\xaa" * 8, 3: channel_field(2462), 5: signal_field(-66)}),
            RtWord({5: signal_field(-70)}),
        ]
    )
    assert header[12:16] == bytes(4) and header[16:24] == b"\xaa" * 8  # padded from 12 to 16
    probe = must_parse(header + probe_body())
    assert (probe.rssi, probe.channel) == (-66, 11)


def test_fcs_at_end_does_not_disturb_the_elements() -> None:
    plain = must_parse(radiotap(flags=0, rssi=-50) + probe_body(seq=3))
    body = probe_body(seq=3, fcs=True)
    assert len(body) == len(probe_body(seq=3)) + 4
    with_fcs = must_parse(radiotap(flags=0x10, rssi=-50) + body)
    assert with_fcs == plain
    # A directed probe whose only element is the SSID: the FCS must not extend it.
    only_ssid = functools.partial(
        probe_body, ssid=b"Shop", rates=None, ds_channel=None, ht_cap=None, ext_cap=None, vendor=()
    )
    a = must_parse(radiotap(flags=0) + only_ssid())
    b = must_parse(radiotap(flags=0x10) + only_ssid(fcs=True))
    assert a.ssid_tag is not None and a == b


def test_fcs_flag_shorter_than_fcs() -> None:
    parser = make_parser()
    assert parser.parse(T0, radiotap(flags=0x10) + b"\x40\x00") is None
    assert parser.rejected == {"truncated_80211": 1}


@pytest.mark.parametrize("flags", [0x40, 0x50, 0xFF])
def test_bad_fcs_is_rejected(flags: int) -> None:
    parser = make_parser()
    assert parser.parse(T0, radiotap(flags=flags) + probe_body(fcs=True)) is None
    assert parser.rejected == {"bad_fcs": 1}
    assert parser.probes == 0 and parser.ignored == 0


@pytest.mark.parametrize(("freq", "channel"), [(2412, 1), (5745, 149), (6135, 37)])
def test_xchannel_only(freq: int, channel: int) -> None:
    header = build_radiotap(
        [RtWord({1: b"\0", 5: signal_field(-71), 18: xchannel_field(freq, channel)})]
    )
    assert len(header) == 20  # 8 + flags + signal + 2 pad + 8
    probe = must_parse(header + probe_body())
    assert (probe.rssi, probe.channel) == (-71, channel)


def test_channel_comes_before_xchannel() -> None:
    header = build_radiotap(
        [RtWord({3: channel_field(2412), 5: signal_field(-50), 18: xchannel_field(5180, 36)})]
    )
    assert must_parse(header + probe_body()).channel == 1


@pytest.mark.parametrize("antennas", [[-45], [-43, -47], [-40, -52, -61, -70]])
def test_intel_multi_antenna_uses_the_combined_signal(antennas: list[int]) -> None:
    header = intel_radiotap(-41, antennas, 5180)
    assert struct.unpack_from("<I", header, 4)[0] == 0xA000402F
    words = struct.unpack_from(f"<{len(antennas)}I", header, 8)
    assert words[-1] == 0x00000820 and all(w == 0xA0000820 for w in words[:-1])
    probe = must_parse(header + probe_body(seq=99))
    assert (probe.rssi, probe.channel, probe.seq) == (-41, 36, 99)


def test_signal_in_a_later_radiotap_namespace() -> None:
    # First namespace: only flags; the dBm signal is in the second namespace.
    header = build_radiotap(
        [RtWord({1: b"\0"}), RtWord({3: channel_field(5200), 5: signal_field(-77)})]
    )
    probe = must_parse(header + probe_body())
    assert (probe.rssi, probe.channel) == (-77, 40)


@pytest.mark.parametrize("vendor_len", [0, 1, 2, 5, 8, 13])
def test_vendor_namespace_followed_by_radiotap_fields(vendor_len: int) -> None:
    header = build_radiotap(
        [
            RtWord({1: b"\0", 3: channel_field(2412)}),
            VendorWord(data=b"\xee" * vendor_len, bits=0x7),
            RtWord({0: b"\x01" * 8, 5: signal_field(-62)}),
        ]
    )
    probe = must_parse(header + probe_body())
    assert (probe.rssi, probe.channel) == (-62, 1)


def test_vendor_namespace_first_then_radiotap() -> None:
    header = build_radiotap(
        [RtWord(), VendorWord(data=bytes(range(7))), RtWord({1: b"\x10", 5: signal_field(-48)})]
    )
    probe = must_parse(header + probe_body(fcs=True))
    assert probe.rssi == -48
    assert probe.fingerprint == fingerprint(probe_body())


def test_layout_cache_accounts_for_vendor_skip_length() -> None:
    def header(skip: int) -> bytes:
        return build_radiotap(
            [
                RtWord(),
                VendorWord(data=b"\xb0" * skip),
                RtWord({5: signal_field(-60), 22: bytes(12)}),
            ]
        )

    first, second = header(0), header(1)
    assert len(first) == len(second) and first[:16] == second[:16]  # same cache key
    parser = make_parser()
    assert parser.parse(T0, first + probe_body()) is not None
    probe = parser.parse(T0, second + probe_body())
    assert probe is not None
    assert probe.rssi == -60  # actual: -80, the vendor data byte 0xb0


def test_fhss_is_2_aligned_like_linux_and_wireshark() -> None:
    # flags at 8, pad at 9, FHSS at 10-11, signal at 12 (what tshark decodes)
    header = struct.pack("<BBHI", 0, 0, 13, 0b110010) + bytes([0, 0xAA, 3, 7, 0xC4])
    assert must_parse(header + probe_body()).rssi == -60


def test_linktype_105_has_no_radio_information() -> None:
    body = probe_body(RANDOM_MAC, seq=321, ssid=b"Cafe")
    raw = must_parse(body, LINKTYPE_IEEE802_11)
    with_radiotap = must_parse(radiotap(rssi=-33, freq=2412) + body)
    assert (raw.rssi, raw.channel) == (None, None)
    assert raw._replace(rssi=-33, channel=1) == with_radiotap


def test_unsupported_linktype_is_rejected() -> None:
    parser = make_parser()
    assert parser.parse(T0, radiotap() + probe_body(), 1) is None
    assert parser.rejected == {"unsupported_linktype": 1}


# --- +HTC ----------------------------------------------------------------------------------


def test_order_flag_skips_the_ht_control_field() -> None:
    body = probe_body(seq=12, ssid=b"Shop")
    assert must_parse(radiotap() + with_htc(body, b"\xdd\x05\x00\x00")) == must_parse(
        radiotap() + body
    )


@pytest.mark.parametrize("extra", [b"", b"\x01", b"\x01\x02\x03"])
def test_order_flag_without_room_for_ht_control_is_truncated(extra: bytes) -> None:
    header = with_htc(probe_body())[:24]
    parser = make_parser()
    assert parser.parse(T0, radiotap() + header + extra) is None
    assert parser.rejected == {"truncated_80211": 1}


# --- what is not kept, and why -------------------------------------------------------------


def test_non_probe_frames_are_ignored_not_rejected() -> None:
    parser = make_parser()
    frames = non_probe_frames()
    for body in frames:
        assert parser.parse(T0, radiotap() + body) is None
        assert parser.parse(T0, body, LINKTYPE_IEEE802_11) is None
    assert parser.ignored == 2 * len(frames)
    assert parser.rejected == {}
    assert parser.stats() == {
        "frames": 2 * len(frames),
        "probes": 0,
        "ignored": 2 * len(frames),
        "rejected": {},
    }


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"", "bad_radiotap_header"),
        (b"\x00\x00\x08\x00", "bad_radiotap_header"),
        (b"\x01\x00\x08\x00\x00\x00\x00\x00" + probe_body(), "bad_radiotap_header"),
        (b"\x00\x00\x07\x00\x00\x00\x00\x00" + probe_body(), "bad_radiotap_header"),
        (b"\x00\x00\xff\x00\x00\x00\x00\x00" + probe_body()[:20], "bad_radiotap_header"),
        # signal claimed but the header is only the bitmap long
        (b"\x00\x00\x08\x00\x20\x00\x00\x00" + probe_body(), "bad_radiotap_fields"),
        # extension bit set with no room for a second word
        (b"\x00\x00\x08\x00\x00\x00\x00\x80" + probe_body(), "bad_radiotap_fields"),
        (b"\x00\x00\x08\x00\x00\x00\x00\x00" + probe_body()[:23], "truncated_80211"),
        (b"\x00\x00\x08\x00\x00\x00\x00\x00" + probe_body()[:-1], "malformed_ies"),
        (b"\x00\x00\x08\x00\x00\x00\x00\x00" + probe_body() + b"\x00", "malformed_ies"),
        (b"\x00\x00\x08\x00\x00\x00\x00\x00" + probe_body() + b"\xdd\x09abc", "malformed_ies"),
    ],
)
def test_broken_frames_are_rejected_with_a_reason(frame: bytes, reason: str) -> None:
    parser = make_parser()
    assert parser.parse(T0, frame) is None
    assert parser.rejected == {reason: 1}
    assert parser.stats() == {"frames": 1, "probes": 0, "ignored": 0, "rejected": {reason: 1}}


def test_an_empty_element_block_is_a_valid_probe() -> None:
    probe = must_parse(radiotap() + probe_body()[:24])
    assert (probe.directed, probe.ssid_tag) == (False, None)


def test_counters_add_up() -> None:
    parser = make_parser()
    frames = [
        radiotap() + probe_body(seq=1),
        radiotap() + non_probe_frames()[0],
        radiotap(flags=0x40) + probe_body(),
        b"\x00",
        radiotap() + probe_body(seq=2, ssid=b"x"),
    ]
    results = [parser.parse(T0 + i, f) for i, f in enumerate(frames)]
    assert [r is not None for r in results] == [True, False, False, False, True]
    stats = parser.stats()
    assert stats == {
        "frames": 5,
        "probes": 2,
        "ignored": 1,
        "rejected": {"bad_fcs": 1, "bad_radiotap_header": 1},
    }


# --- pseudonyms through the parser -----------------------------------------------------------


def test_device_rotates_with_the_period_and_comes_back() -> None:
    parser = make_parser()
    body = radiotap() + probe_body(GLOBAL_MAC)
    mac = mac_bytes(GLOBAL_MAC)
    times = [T0, T0 + 60, T0 + DAY, T0 + 61, T0 - DAY, T0 + 2 * DAY, T0]
    devices = []
    for t in times:
        probe = parser.parse(t, body)
        assert probe is not None
        assert probe.device == expected_pseudonym(mac, t)
        devices.append(probe.device)
    assert devices[0] == devices[1] == devices[3] == devices[6]
    assert len({devices[0], devices[2], devices[4], devices[5]}) == 4


def test_rotation_boundary_is_utc_aligned() -> None:
    parser = WifiParser(SENSOR, Pseudonymizer(KEY, rotation_s=3600))
    body = radiotap() + probe_body(GLOBAL_MAC)
    boundary = 19_675 * DAY + 7200.0
    before = parser.parse(boundary - 0.001, body)
    after = parser.parse(boundary, body)
    assert before is not None and after is not None
    assert before.device != after.device
    assert after.device == expected_pseudonym(mac_bytes(GLOBAL_MAC), boundary, rotation_s=3600)


def test_two_sensors_with_the_same_key_agree() -> None:
    a = WifiParser("box-a", Pseudonymizer(KEY))
    b = WifiParser("box-b", Pseudonymizer(KEY))
    other_mall = WifiParser("box-c", Pseudonymizer(b"another-mall-key-0123456789"))
    frame = radiotap() + probe_body(RANDOM_MAC, ssid=b"Shop")
    pa, pb, pc = (p.parse(T0, frame) for p in (a, b, other_mall))
    assert pa is not None and pb is not None and pc is not None
    assert (pa.device, pa.ssid_tag) == (pb.device, pb.ssid_tag)
    assert pa.sensor == "box-a" and pb.sensor == "box-b"
    assert pc.device != pa.device and pc.ssid_tag != pa.ssid_tag


def test_parse_batch_equals_parse_frame_by_frame() -> None:
    if not hasattr(WifiParser, "parse_batch"):
        pytest.skip("WifiParser has no parse_batch")
    macs = [RANDOM_MAC, GLOBAL_MAC, "06:55:44:33:22:11"]
    bodies = [probe_body(mac, seq=i, ssid=[b"", b"Shop"][i % 2]) for i, mac in enumerate(macs)]
    kinds = [  # header, FCS appended
        (radiotap(), b""),
        (intel_radiotap(-41, [-43, -47], 5180), b""),
        (radiotap(flags=0x40), b"\x12\x34\x56\x78"),
        (b"\x00\x00", b""),
        (radiotap(flags=0x10), b"\x12\x34\x56\x78"),
    ]
    frames = []
    for i in range(60):
        header, fcs = kinds[i % len(kinds)]
        body = (bodies[i % 3] if i % 7 else non_probe_frames()[i % 5]) + fcs
        # times cross several 60 s rotation boundaries, once backwards
        t = T0 + 17.0 * i - (200.0 if i == 40 else 0.0)
        frames.append((t, 127 if i % 11 else 105, header + body if i % 11 else body))
    one_by_one = WifiParser(SENSOR, Pseudonymizer(KEY, 60))
    expected = [p for t, lt, f in frames if (p := one_by_one.parse(t, f, lt)) is not None]
    batch = WifiParser(SENSOR, Pseudonymizer(KEY, 60))
    assert batch.parse_batch(frames) == expected
    assert batch.stats() == one_by_one.stats()
    for probe in expected:
        assert probe.device in {
            expected_pseudonym(mac_bytes(mac), probe.t, rotation_s=60) for mac in macs
        }
