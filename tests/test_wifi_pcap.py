"""CaptureReader and PcapWriter: pcap (us/ns, both byte orders), pcapng, damage, round trips."""

from __future__ import annotations

import contextlib
import random
import shutil
import struct
import subprocess
from collections.abc import Sequence
from pathlib import Path

import dpkt
import pytest
from scapy.layers.dot11 import RadioTap
from scapy.utils import PcapNgWriter, RawPcapNgWriter, RawPcapWriter
from wifi_frames import (
    T0,
    block,
    epb,
    idb,
    make_parser,
    non_probe_frames,
    pcap_bytes,
    probe_body,
    radiotap,
    shb,
    write_pcap,
)

from drivers.wifi.pcap import (
    LINKTYPE_IEEE802_11,
    LINKTYPE_IEEE802_11_RADIOTAP,
    CaptureFormatError,
    CaptureReader,
    open_capture,
)


def sample_frames(n: int = 12) -> list[tuple[float, bytes]]:
    """Varied frames (lengths not multiples of 4) at microsecond times."""
    frames = []
    for i in range(n):
        body = probe_body(seq=i, ssid=b"s" * (i % 5)) if i % 3 else non_probe_frames()[i % 7]
        frames.append((T0 + i * 0.25 + i * 1e-6, radiotap(rssi=-40 - i) + body))
    return frames


def read_all(path: Path) -> tuple[CaptureReader, list[tuple[float, int, bytes]]]:
    reader = open_capture(path)
    return reader, list(reader)


def assert_same_frames(
    got: Sequence[tuple[float, int, bytes]],
    want: Sequence[tuple[float, bytes]],
    linktype: int = LINKTYPE_IEEE802_11_RADIOTAP,
    tolerance: float = 1e-6,
) -> None:
    assert len(got) == len(want)
    for (t, lt, frame), (want_t, want_frame) in zip(got, want, strict=True):
        assert lt == linktype
        assert frame == want_frame
        assert abs(t - want_t) <= tolerance


# --- classic pcap --------------------------------------------------------------------------


@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("nano", [False, True])
def test_pcap_microsecond_and_nanosecond_both_byte_orders(
    tmp_path: Path, endian: str, nano: bool
) -> None:
    frames = [
        (int(T0) + i, 999_999_999 if nano else 999_999, f)
        for i, (_, f) in enumerate(sample_frames())
    ]
    frames[0] = (int(T0), 1, frames[0][2])
    path = tmp_path / "c.pcap"
    path.write_bytes(pcap_bytes(frames, endian=endian, nano=nano))
    reader, got = read_all(path)
    tick = 1e-9 if nano else 1e-6
    want = [(sec + frac * tick, frame) for sec, frac, frame in frames]
    assert_same_frames(got, want, tolerance=1e-7)
    assert got[0][0] - int(T0) == pytest.approx(tick, abs=1e-7)
    assert (reader.frames, reader.truncated, reader.linktypes) == (len(frames), False, {127})


@pytest.mark.parametrize("endianness", ["<", ">"])
@pytest.mark.parametrize("nano", [False, True])
def test_pcap_written_by_scapy(tmp_path: Path, endianness: str, nano: bool) -> None:
    path = tmp_path / "scapy.pcap"
    writer = RawPcapWriter(str(path), linktype=127, endianness=endianness, nano=nano)
    frames = sample_frames()
    writer._write_header(None)
    for i, (_, frame) in enumerate(frames):
        writer.write_packet(frame, sec=int(T0) + i, usec=123_456 + i)
    writer.close()
    tick = 1e-9 if nano else 1e-6
    want = [(int(T0) + i + (123_456 + i) * tick, f) for i, (_, f) in enumerate(frames)]
    assert_same_frames(read_all(path)[1], want, tolerance=1e-7)


def test_pcap_linktype_105_and_fcs_bits_in_the_linktype_field(tmp_path: Path) -> None:
    path = tmp_path / "l.pcap"
    body = probe_body()
    path.write_bytes(pcap_bytes([(1, 0, body)], linktype=LINKTYPE_IEEE802_11 | 0x1 << 28))
    reader, got = read_all(path)
    assert got == [(1.0, LINKTYPE_IEEE802_11, body)]
    assert reader.linktypes == {LINKTYPE_IEEE802_11}


def test_round_trip_pcap_writer(tmp_path: Path) -> None:
    frames = sample_frames(50)
    frames.append((T0 + 100.0000004, b""))  # rounds down to the microsecond
    frames.append((T0 + 100.9999996, b"\x00" * 3000))  # rounds up into the next second
    path = write_pcap(tmp_path / "w.pcap", frames)
    reader, got = read_all(path)
    assert_same_frames(got, frames, tolerance=5e-7 + 1e-9)
    assert got[-1][0] == pytest.approx(T0 + 101.0, abs=1e-6)
    assert reader.truncated is False and reader.frames == len(frames)


def test_round_trip_linktype_105(tmp_path: Path) -> None:
    frames = [(T0 + i, probe_body(seq=i)) for i in range(5)]
    path = write_pcap(tmp_path / "raw.pcap", frames, LINKTYPE_IEEE802_11)
    assert_same_frames(read_all(path)[1], frames, LINKTYPE_IEEE802_11)


def test_pcap_writer_output_is_read_by_dpkt(tmp_path: Path) -> None:
    frames = sample_frames(20)
    path = write_pcap(tmp_path / "d.pcap", frames)
    with path.open("rb") as f:
        theirs = [(t, bytes(buf)) for t, buf in dpkt.pcap.Reader(f)]
        assert dpkt.pcap.Reader(path.open("rb")).datalink() == 127
    assert len(theirs) == len(frames)
    for (t, frame), (want_t, want) in zip(theirs, frames, strict=True):
        assert frame == want and abs(float(t) - want_t) < 1e-6


def test_large_capture_across_read_chunks_matches_dpkt(tmp_path: Path) -> None:
    """Records straddle the reader's 1 MiB chunks, including some of 200 KiB."""
    rng = random.Random(7)
    frames: list[tuple[float, bytes]] = []
    size = 0
    i = 0
    while size < 3_500_000:
        n = rng.choice([0, 1, 15, 16, 17, 200, 1500, 2346, 65_000, 200_000, 262_144])
        frame = rng.randbytes(n)
        frames.append((T0 + i * 0.001, frame))
        size += 16 + n
        i += 1
    path = write_pcap(tmp_path / "big.pcap", frames)
    reader, got = read_all(path)
    with path.open("rb") as f:
        theirs = [bytes(buf) for _, buf in dpkt.pcap.Reader(f)]
    assert [frame for _, _, frame in got] == theirs == [f for _, f in frames]
    assert reader.truncated is False


def test_bytes_read_reaches_the_file_size(tmp_path: Path) -> None:
    path = write_pcap(tmp_path / "p.pcap", sample_frames())
    reader, _ = read_all(path)
    assert reader.bytes_read == path.stat().st_size


def test_pcapng_bytes_read_reaches_the_file_size(tmp_path: Path) -> None:
    path = tmp_path / "p.pcapng"
    path.write_bytes(
        shb() + idb(127) + b"".join(epb(0, i, f) for i, (_, f) in enumerate(sample_frames()))
    )
    reader, _ = read_all(path)
    assert reader.bytes_read == path.stat().st_size


# --- damage ---------------------------------------------------------------------------------


def test_truncated_last_record(tmp_path: Path) -> None:
    frames = sample_frames(8)
    data = write_pcap(tmp_path / "full.pcap", frames).read_bytes()
    last = 16 + len(frames[-1][1])
    for cut in (1, 5, last - 16, last - 17, last - 1):
        path = tmp_path / f"cut{cut}.pcap"
        path.write_bytes(data[:-cut])
        reader, got = read_all(path)
        assert_same_frames(got, frames[:-1])
        assert reader.truncated is True, cut
        assert reader.frames == len(frames) - 1


def test_truncated_pcapng(tmp_path: Path) -> None:
    frames = sample_frames(6)
    data = shb() + idb(127) + b"".join(epb(0, int(t * 1e6), f) for t, f in frames)
    for cut in (1, 4, 7, 8, 20, len(epb(0, 0, frames[-1][1])) - 1):
        path = tmp_path / f"cut{cut}.pcapng"
        path.write_bytes(data[:-cut])
        reader, got = read_all(path)
        assert_same_frames(got, frames[:-1])
        assert reader.truncated is True, cut


def test_header_only_files(tmp_path: Path) -> None:
    pcap = tmp_path / "empty.pcap"
    pcap.write_bytes(pcap_bytes([]))
    reader, got = read_all(pcap)
    assert got == [] and reader.truncated is False and reader.linktypes == {127}
    ng = tmp_path / "empty.pcapng"
    ng.write_bytes(shb())
    reader, got = read_all(ng)
    assert got == [] and reader.truncated is False


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\xd4\xc3",
        b"hello, this is not a capture\n",
        b"\x7fELF\x02\x01\x01" + bytes(100),
        b"\x1f\x8b\x08\x00" + bytes(40),  # a gzipped capture
    ],
)
def test_not_a_capture_names_the_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(content)
    with pytest.raises(CaptureFormatError, match=r"notes\.txt"):
        list(open_capture(path))


def test_cut_pcap_global_header_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "short.pcap"
    path.write_bytes(pcap_bytes([])[:10])
    with pytest.raises(CaptureFormatError, match=r"short\.pcap"):
        list(open_capture(path))


def corrupt_after_one_record(tmp_path: Path) -> Path:
    path = tmp_path / "corrupt.pcap"
    data = pcap_bytes([(1, 0, b"abc")]) + struct.pack("<IIII", 2, 0, 1 << 30, 1 << 30)
    path.write_bytes(data + bytes(64))
    return path


def test_absurd_record_length_is_a_format_error(tmp_path: Path) -> None:
    with pytest.raises(CaptureFormatError, match=r"corrupt\.pcap"):
        list(open_capture(corrupt_after_one_record(tmp_path)))


def test_frames_before_a_corrupt_record_are_delivered(tmp_path: Path) -> None:
    got: list[tuple[float, int, bytes]] = []
    with pytest.raises(CaptureFormatError, match="record 2 "):
        got.extend(open_capture(corrupt_after_one_record(tmp_path)))
    assert got == [(1.0, 127, b"abc")]


def test_bad_pcapng_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "bom.pcapng"
    path.write_bytes(block(0x0A0D0D0A, struct.pack("<IHHq", 0x11223344, 1, 0, -1)))
    with pytest.raises(CaptureFormatError, match=r"bom\.pcapng"):
        list(open_capture(path))


def test_missing_file() -> None:
    with pytest.raises(FileNotFoundError, match=r"nowhere\.pcap"):
        open_capture("/nonexistent/nowhere.pcap")


# --- pcapng -------------------------------------------------------------------------------


def test_pcapng_written_by_scapy(tmp_path: Path) -> None:
    frames = sample_frames()
    path = tmp_path / "scapy.pcapng"
    writer = PcapNgWriter(str(path))
    for t, frame in frames:
        pkt = RadioTap(frame)
        pkt.time = t
        writer.write(pkt)
    writer.close()
    reader, got = read_all(path)
    assert_same_frames(got, frames, tolerance=2e-6)
    assert reader.truncated is False and reader.linktypes == {127}


def test_pcapng_converted_by_editcap_matches_the_pcap(tmp_path: Path) -> None:
    editcap = shutil.which("editcap")
    if editcap is None:
        pytest.skip("editcap (wireshark-common) is not installed")
    frames = sample_frames(30)
    pcap = write_pcap(tmp_path / "a.pcap", frames)
    ours = read_all(pcap)[1]
    for fmt, magic in (("pcapng", b"\x0a\x0d\x0d\x0a"), ("nsecpcap", b"\x4d\x3c\xb2\xa1")):
        converted = tmp_path / f"a.{fmt}"
        subprocess.run(
            [editcap, "-F", fmt, str(pcap), str(converted)], check=True, capture_output=True
        )
        assert converted.read_bytes()[:4] == magic
        reader, got = read_all(converted)
        assert_same_frames(got, frames)
        assert [f for _, _, f in got] == [f for _, _, f in ours]
        assert [t for t, _, _ in got] == pytest.approx([t for t, _, _ in ours], abs=5e-7)
        assert reader.truncated is False


@pytest.mark.parametrize("endian", ["<", ">"])
def test_pcapng_byte_orders_interfaces_and_sections(tmp_path: Path, endian: str) -> None:
    a, b, c = probe_body(seq=1), probe_body(seq=2), radiotap() + probe_body(seq=3)
    data = (
        shb(endian)
        + idb(LINKTYPE_IEEE802_11, endian)
        + idb(LINKTYPE_IEEE802_11_RADIOTAP, endian, tsresol=9)
        + block(0x0BAD, b"custom block, skipped", endian)
        + epb(0, 1_500_000, a, endian)
        + epb(1, 2_250_000_001, radiotap() + b, endian)
        + epb(7, 0, b"no such interface", endian)
        + shb(endian)  # a new section forgets the interfaces
        + idb(LINKTYPE_IEEE802_11_RADIOTAP, endian, tsresol=0x80 | 10)
        + epb(0, 3 * 1024 + 512, c, endian)
    )
    path = tmp_path / "multi.pcapng"
    path.write_bytes(data)
    reader, got = read_all(path)
    assert [(lt, f) for _, lt, f in got] == [(105, a), (127, radiotap() + b), (127, c)]
    assert [t for t, _, _ in got] == pytest.approx([1.5, 2.250000001, 3.5])
    assert reader.linktypes == {105, 127}
    assert reader.truncated is False


def test_simple_packet_block_without_padding(tmp_path: Path) -> None:
    frame = radiotap() + probe_body(seq=5)
    assert len(frame) % 4  # padding is needed
    path = tmp_path / "spb.pcapng"
    writer = RawPcapNgWriter(str(path))
    writer.linktype = LINKTYPE_IEEE802_11_RADIOTAP
    writer._write_header(None)
    writer._write_block_spb(frame)
    writer.close()
    got = list(open_capture(path))
    assert [f for _, _, f in got] == [frame]
    parser = make_parser()
    assert parser.parse(got[0][0], got[0][2]) is not None, dict(parser.rejected)


def test_large_non_packet_block_is_skipped(tmp_path: Path) -> None:
    frame = radiotap() + probe_body()
    data = shb() + idb(127) + epb(0, 1, frame) + block(0x0BAD, bytes(300_000)) + epb(0, 2, frame)
    path = tmp_path / "big-block.pcapng"
    path.write_bytes(data)
    reader, got = read_all(path)
    assert len(got) == 2 and reader.truncated is False


@pytest.mark.parametrize(
    "idb_body",
    [b"", struct.pack("<HHI", 127, 0, 0) + struct.pack("<HH", 9, 1)],
    ids=["empty", "tsresol-without-value"],
)
def test_malformed_interface_block_is_a_format_error(tmp_path: Path, idb_body: bytes) -> None:
    path = tmp_path / "idb.pcapng"
    path.write_bytes(shb() + block(1, idb_body))
    with contextlib.suppress(CaptureFormatError):
        list(open_capture(path))


def test_batches_hold_the_same_frames_as_iteration(tmp_path: Path) -> None:
    if not hasattr(CaptureReader, "batches"):
        pytest.skip("CaptureReader has no batches()")
    frames = sample_frames(30)
    pcap = write_pcap(tmp_path / "b.pcap", frames)
    ng = tmp_path / "b.pcapng"
    ng.write_bytes(shb() + idb(127) + b"".join(epb(0, int(t * 1e6), f) for t, f in frames))
    for path in (pcap, ng):
        batched = CaptureReader(path)
        flat = [frame for batch in batched.batches() for frame in batch]
        assert flat == list(CaptureReader(path))
        assert batched.frames == len(frames) and batched.truncated is False
