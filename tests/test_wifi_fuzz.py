"""hypothesis and exhaustive damage: the parser and the reader never raise, hang or over-read."""

from __future__ import annotations

import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from wifi_frames import (
    KEY,
    T0,
    RtWord,
    VendorWord,
    block,
    build_radiotap,
    channel_field,
    epb,
    expected_pseudonym,
    idb,
    intel_radiotap,
    mac_bytes,
    make_parser,
    non_probe_frames,
    pcap_bytes,
    probe_body,
    radiotap,
    shb,
    signal_field,
    xchannel_field,
)

from drivers.observations import Probe
from drivers.privacy import Pseudonymizer
from drivers.wifi.parse import WifiParser
from drivers.wifi.pcap import CaptureFormatError, CaptureReader

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HEX = set("0123456789abcdef")


def _valid_frames() -> list[bytes]:
    body = probe_body(seq=1000, ssid=b"MallGuest")
    wildcard = probe_body("3c:22:fb:12:34:56", seq=5)
    header24 = bytearray(body[:24])
    header24[1] |= 0x80
    return [
        radiotap(rssi=-55, freq=2412) + body,
        radiotap(rssi=-70, freq=5180, flags=0, tsft=2**63 + 5) + wildcard,
        radiotap(rssi=-42, freq=2437, flags=0x10) + probe_body(seq=7, fcs=True),
        radiotap(rssi=None, freq=6135) + body,
        radiotap(rssi=-80, freq=None) + probe_body(ssid=b"x", rates=None, ht_cap=None),
        intel_radiotap(-41, [-43, -47, -52], 5745) + body,
        build_radiotap([RtWord({5: signal_field(-66), 18: xchannel_field(2462, 11)})]) + body,
        build_radiotap(
            [
                RtWord({1: b"\0", 3: channel_field(2412)}),
                VendorWord(data=b"\xee" * 5),
                RtWord({0: bytes(8), 5: signal_field(-62)}),
            ]
        )
        + wildcard,
        radiotap(rssi=-50, freq=2484) + bytes(header24) + b"\0\0\0\0" + body[24:],
        radiotap(rssi=-51, freq=2412) + non_probe_frames()[0],
        radiotap(rssi=-52, freq=2412, flags=0x40) + probe_body(fcs=True),
    ]


def has_vendor_namespace(frame: bytes) -> bool:
    pos = 4
    while pos + 4 <= len(frame):
        word = struct.unpack_from("<I", frame, pos)[0]
        if word & 1 << 30:
            return True
        if not word & 1 << 31:
            return False
        pos += 4
    return False


VALID = _valid_frames()


def check(parser: WifiParser, result: Probe | None) -> None:
    """The result is None or a well-typed Probe, and the counters add up."""
    stats = parser.stats()
    rejected = stats["rejected"]
    assert isinstance(rejected, dict)
    assert parser.frames == parser.probes + parser.ignored + sum(rejected.values())
    if result is None:
        return
    assert isinstance(result, Probe)
    assert result.rssi is None or -128 <= result.rssi <= 127
    assert result.channel is None or 1 <= result.channel <= 233
    assert 0 <= result.seq <= 4095
    assert len(result.device) == 16 and set(result.device) <= HEX
    assert len(result.fingerprint) == 16 and set(result.fingerprint) <= HEX
    assert result.directed == (result.ssid_tag is not None)


def not_radio(probe: Probe) -> Probe:
    return probe._replace(rssi=None, channel=None)


# --- arbitrary bytes ---------------------------------------------------------------------------


@FAST
@given(st.binary(max_size=400), st.sampled_from([127, 127, 105, 1, 0, 163, 2**31]))
def test_arbitrary_bytes_never_raise(data: bytes, linktype: int) -> None:
    parser = make_parser()
    check(parser, parser.parse(T0, data, linktype))


MEANINGFUL_BITS = st.sets(
    st.sampled_from([0, 1, 2, 3, 4, 5, 6, 14, 18, 19, 21, 22, 28, 29, 30, 31])
)


@st.composite
def radiotap_headers(draw: st.DrawFn) -> bytes:
    """Random present words (extension bits natural or random), contents and lengths."""
    words = draw(
        st.lists(
            st.one_of(
                st.integers(0, 2**32 - 1), MEANINGFUL_BITS.map(lambda s: sum(1 << b for b in s))
            ),
            min_size=1,
            max_size=6,
        )
    )
    if draw(st.booleans()):
        words = [w | 1 << 31 for w in words[:-1]] + [words[-1] & ~(1 << 31)]
    payload = draw(st.binary(max_size=80))
    natural = 4 + 4 * len(words) + len(payload)
    length = draw(st.one_of(st.just(natural), st.integers(0, natural + 8), st.integers(0, 0xFFFF)))
    version = draw(st.sampled_from([0, 0, 0, 1, 255]))
    head = struct.pack("<BBH", version, draw(st.integers(0, 255)), length)
    return head + b"".join(struct.pack("<I", w) for w in words) + payload


BODIES = {fcs: probe_body(seq=77, ssid=b"Shop", fcs=fcs) for fcs in (False, True)}


@FAST
@given(radiotap_headers(), st.sampled_from([False, True]))
def test_arbitrary_radiotap_headers(header: bytes, fcs: bool) -> None:
    body = BODIES[fcs]
    parser = make_parser()
    probe = parser.parse(T0, header + body)
    check(parser, probe)
    if probe is None:
        return
    length = header[2] | header[3] << 8
    # The 802.11 part is untouched by whatever the header says (except for an FCS flag).
    candidates = [make_parser().parse(T0, b, 105) for b in (body, body[:-4])]
    assert not_radio(probe) in [c and not_radio(c) for c in candidates]
    # Radio values come from inside the declared header.
    inside = (header + body)[8:length]
    if probe.rssi is not None:
        assert probe.rssi & 0xFF in inside
    if probe.channel is not None:
        assert any(
            struct.unpack_from("<H", inside, i)[0] in range(2400, 7200)
            for i in range(len(inside) - 1)
        )


# --- damage to valid frames --------------------------------------------------------------------


@pytest.mark.parametrize("index", range(len(VALID)))
def test_every_truncation_of_a_valid_frame(index: int) -> None:
    frame = VALID[index]
    full = make_parser().parse(T0, frame)
    header_len = frame[2] | frame[3] << 8
    parser = make_parser()
    for cut in range(len(frame)):
        probe = parser.parse(T0, frame[:cut])
        check(parser, probe)
        if cut < header_len:
            assert probe is None, cut
        elif probe is not None:
            assert full is not None
            assert (probe.rssi, probe.channel, probe.device) == (
                full.rssi,
                full.channel,
                full.device,
            ), cut
    assert parser.frames == len(frame)


@FAST
@given(
    st.sampled_from(range(len(VALID))),
    st.lists(st.integers(0, 8 * 400 - 1), min_size=1, max_size=8),
)
def test_random_bit_flips(index: int, bits: list[int]) -> None:
    data = bytearray(VALID[index])
    for bit in bits:
        if bit // 8 < len(data):
            data[bit // 8] ^= 1 << (bit % 8)
    parser = make_parser()
    check(parser, parser.parse(T0, bytes(data)))


WARM = make_parser()
for _frame in VALID:
    WARM.parse(T0, _frame)


@FAST
@given(
    st.sampled_from(range(len(VALID))),
    st.lists(st.integers(0, 8 * 400 - 1), min_size=1, max_size=4),
)
def test_bit_flips_warm_caches_agree_with_a_fresh_parser(index: int, bits: list[int]) -> None:
    data = bytearray(VALID[index])
    for bit in bits:
        if bit // 8 < len(data):
            data[bit // 8] ^= 1 << (bit % 8)
    assert WARM.parse(T0, bytes(data)) == make_parser().parse(T0, bytes(data))


BIG = bytearray()
BOUNDS: list[tuple[int, int]] = []
for _i, _frame in enumerate(VALID):
    BIG += bytes([_i * 37 % 256]) * (_i % 5) + b"\xff" * 3
    BOUNDS.append((len(BIG), len(BIG) + len(_frame)))
    BIG += _frame
BIG += b"\x00\x00\xff\xff" * 8


def test_frames_sliced_from_a_larger_buffer() -> None:
    parser = make_parser()
    for (a, b), frame in zip(BOUNDS, VALID, strict=True):
        assert bytes(BIG)[a:b] == frame
        assert parser.parse(T0, bytes(BIG)[a:b]) == make_parser().parse(T0, bytes(frame))
        # the bytes after the frame are never taken as part of it
        longer = parser.parse(T0, bytes(BIG)[a : b + 3])
        same = make_parser().parse(T0, frame + bytes(BIG)[b : b + 3])
        assert longer == same


@FAST
@given(st.integers(0, len(BIG)), st.integers(0, 300))
def test_random_slices_of_a_larger_buffer(start: int, size: int) -> None:
    piece = bytes(BIG)[start : start + size]
    parser = make_parser()
    result = parser.parse(T0, piece)
    check(parser, result)
    assert result == make_parser().parse(T0, bytes(bytearray(piece)))
    if result is not None and result.rssi is not None:
        assert result.rssi & 0xFF in piece[8 : piece[2] | piece[3] << 8]


# --- pseudonyms through the parser's caches ------------------------------------------------------


MACS = ["02:00:00:00:00:01", "3c:22:fb:00:00:02", "da:a1:19:4c:77:10"]
SSIDS = [b"", b"MallGuest", b"eduroam"]
PROBES = {
    (m, s): radiotap() + probe_body(MACS[m], ssid=SSIDS[s]) for m in range(3) for s in range(3)
}


@FAST
@given(
    st.lists(
        st.tuples(
            st.integers(0, 2),
            st.integers(0, 2),
            st.integers(-3, 3),
            st.one_of(st.just(0.0), st.just(59.999999), st.floats(0, 59.999, allow_nan=False)),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_devices_and_ssid_tags_follow_the_rotation(
    events: list[tuple[int, int, int, float]],
) -> None:
    parser = WifiParser("s", Pseudonymizer(KEY, rotation_s=60))
    for mac_i, ssid_i, period, offset in events:
        t = T0 - T0 % 60 + period * 60 + offset
        probe = parser.parse(t, PROBES[mac_i, ssid_i])
        assert probe is not None
        assert probe.device == expected_pseudonym(mac_bytes(MACS[mac_i]), t, rotation_s=60)
        want_tag = Pseudonymizer(KEY, 60).tag(SSIDS[ssid_i], t) if SSIDS[ssid_i] else None
        assert probe.ssid_tag == want_tag


# --- the capture reader ------------------------------------------------------------------------


def read_with_timeout(path: Path, limit: int) -> None:
    """Iterate a capture in a thread; it must end (or raise CaptureFormatError) quickly."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            reader = CaptureReader(path)
            for count, (_t, _lt, frame) in enumerate(reader, start=1):
                assert count <= limit and isinstance(frame, bytes)
        except CaptureFormatError as exc:
            assert str(path) in str(exc)
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), f"reading {path} hangs"
    if failure:
        raise failure[0]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


PREFIXES = [
    b"",
    b"\xd4\xc3\xb2\xa1",
    b"\xa1\xb2\xc3\xd4",
    b"\x4d\x3c\xb2\xa1",
    b"\xa1\xb2\x3c\x4d",
    b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00" + bytes(8) + b"\xff\xff\x00\x00\x7f\x00\x00\x00",
    b"\x0a\x0d\x0d\x0a\x1c\x00\x00\x00\x4d\x3c\x2b\x1a",
    b"\x0a\x0d\x0d\x0a\x00\x00\x00\x1c\x1a\x2b\x3c\x4d",
    b"\x0a\x0d\x0d\x0a\x1c\x00\x00\x00\x4d\x3c\x2b\x1a\x01\x00\x00\x00" + bytes(12),
]


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.sampled_from(PREFIXES), st.binary(max_size=600))
def test_reader_on_random_files(scratch: Path, prefix: bytes, data: bytes) -> None:
    path = scratch / "random.cap"
    path.write_bytes(prefix + data)
    read_with_timeout(path, len(prefix + data))


def _valid_files() -> Iterator[tuple[bytes, list[int], int]]:
    """Valid captures of VALID, the offsets where a record ends, and the header size."""
    records = [struct.pack("<IIII", 1, i, len(f), len(f)) + f for i, f in enumerate(VALID)]
    yield pcap_bytes([]) + b"".join(records), [24] + [len(r) for r in records], 24
    for endian in "<>":
        blocks = [shb(endian), idb(127, endian, tsresol=9)]
        blocks += [epb(0, i, f, endian) for i, f in enumerate(VALID)]
        yield b"".join(blocks), [len(b) for b in blocks], 12


def test_reader_on_every_truncation(scratch: Path) -> None:
    for n, (data, sizes, header) in enumerate(_valid_files()):
        ends = {sum(sizes[: i + 1]) for i in range(len(sizes))}
        full = scratch / f"full{n}"
        full.write_bytes(data)
        frames = list(CaptureReader(full))
        assert len(frames) == len(VALID)
        path = scratch / f"cut{n}"
        for cut in range(len(data) + 1):
            path.write_bytes(data[:cut])
            reader = CaptureReader(path)
            try:
                got = list(reader)
            except CaptureFormatError:
                assert cut < header, (n, cut)  # only a cut file header is a format error
                continue
            assert got == frames[: len(got)], (n, cut)
            assert reader.truncated == (cut not in ends), (n, cut)
            assert len(got) == len(frames) or cut < len(data)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=40))
@example(b"")
def test_reader_on_random_interface_blocks(scratch: Path, idb_body: bytes) -> None:
    path = scratch / "idb.pcapng"
    path.write_bytes(shb() + block(1, idb_body) + epb(0, 1, VALID[0]))
    read_with_timeout(path, 10)
