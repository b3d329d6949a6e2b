"""The capture (replay) format: written, read back, truncated, damaged, or a raw dump."""

from __future__ import annotations

import io
import struct
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.pos.decoder import PosDecoder, decode_chunks
from drivers.pos.line.capture_format import (
    FROM_PRINTER,
    MAGIC,
    TO_PRINTER,
    CaptureHeader,
    CaptureWriter,
    Chunk,
    encode_chunk,
    encode_header,
    read_capture,
    read_capture_file,
)

HEADER = CaptureHeader(
    port="/dev/serial/by-id/usb-FTDI_FT232R-if00-port0",
    baudrate=19200,
    parity="E",
    flow="rtscts",
    started_at=1773482400.5,
    encoding="gb18030",
    extra={"store": "B1-07"},
)
CHUNKS = [
    Chunk(1773482401.0, "合计: 12.50\n".encode("gb18030")),
    Chunk(1773482401.01, b"\x10\x04\x01"),
    Chunk(1773482401.02, b"\x12", FROM_PRINTER),
    Chunk(1773482401.2, b"\x1dVA\x03"),
]


def written(tmp_path: Path) -> Path:
    path = tmp_path / "shop.poscap"
    with path.open("wb") as stream:
        writer = CaptureWriter(stream, HEADER)
        for chunk in CHUNKS:
            writer.write(chunk.t, chunk.data, chunk.direction)
    assert (writer.chunks, writer.bytes) == (4, sum(len(c.data) for c in CHUNKS))
    return path


def test_round_trip(tmp_path: Path) -> None:
    capture = read_capture_file(written(tmp_path))
    assert capture.header == HEADER
    assert capture.chunks == CHUNKS
    assert (capture.leftover, capture.error) == (0, None)
    assert capture.to_printer() == [(c.t, c.data) for c in CHUNKS if c.direction == TO_PRINTER]


def test_replay_decodes_like_the_live_line(tmp_path: Path) -> None:
    capture = read_capture_file(written(tmp_path))
    assert capture.header is not None and capture.header.encoding == "gb18030"
    (receipt,) = decode_chunks(capture.to_printer(), PosDecoder(capture.header.encoding))
    assert (receipt.text, receipt.t_start, receipt.t_end) == (
        "合计: 12.50",
        1773482401.0,
        1773482401.2,
    )


def test_a_truncated_file_gives_every_whole_chunk(tmp_path: Path) -> None:
    data = written(tmp_path).read_bytes()
    last = len(encode_chunk(0.0, CHUNKS[-1].data))
    for cut in range(1, last):
        capture = read_capture(data[: len(data) - cut])
        assert capture.chunks == CHUNKS[:-1]
        assert capture.leftover == last - cut
        assert capture.error in ("truncated chunk", "truncated chunk header")


def test_a_damaged_length_stops_the_reader() -> None:
    data = encode_header(HEADER) + encode_chunk(1.0, b"ok\n")
    data += struct.pack("<dBI", 2.0, TO_PRINTER, 0xFFFFFFF0) + b"rest"
    capture = read_capture(data)
    assert capture.chunks == [Chunk(1.0, b"ok\n")]
    assert capture.error is not None and "damaged chunk" in capture.error


def test_a_raw_dump_is_one_chunk() -> None:
    capture = read_capture(b"\x1b@hello\n")
    assert capture.header is None
    assert capture.chunks == [Chunk(0.0, b"\x1b@hello\n")]
    assert read_capture(b"").chunks == []


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (MAGIC + b"\x01", "truncated header"),
        (MAGIC + b"\x02" + struct.pack("<I", 2) + b"{}", "unsupported capture version 2"),
        (MAGIC + b"\x01" + struct.pack("<I", 9) + b"{}", "truncated or damaged header"),
        (MAGIC + b"\x01" + struct.pack("<I", 3) + b"{x}", "header is not JSON"),
        (MAGIC + b"\x01" + struct.pack("<I", 2) + b"[]", "header is not a JSON object"),
    ],
)
def test_bad_headers(data: bytes, error: str) -> None:
    capture = read_capture(data)
    assert (capture.header, capture.chunks, capture.error) == (None, [], error)


def test_header_keeps_unknown_keys_and_ignores_wrong_types() -> None:
    body = b'{"format":"mallsense-pos-capture","version":1,"baudrate":"fast","new_key":[1]}'
    capture = read_capture(MAGIC + b"\x01" + struct.pack("<I", len(body)) + body)
    assert capture.header == CaptureHeader(extra={"baudrate": "fast", "new_key": [1]})


def test_writer_refuses_impossible_chunks() -> None:
    writer = CaptureWriter(io.BytesIO(), CaptureHeader())
    with pytest.raises(ValueError, match="bad chunk"):
        writer.write(float("nan"), b"x")
    with pytest.raises(ValueError, match="bad chunk"):
        writer.write(1.0, b"x", direction=7)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.booleans())
def test_reader_never_raises(tail: bytes, with_magic: bool) -> None:
    data = (encode_header(HEADER) if with_magic else b"") + tail
    capture = read_capture(data)
    assert capture.leftover >= 0
    assert sum(len(c.data) for c in capture.chunks) <= len(data)


FIXTURE = Path(__file__).parent / "data" / "pos" / "two-receipts.poscap"


def test_committed_capture_still_reads() -> None:
    """tests/data/pos/two-receipts.poscap: format version 1 as written by the first writer.

    A Chinese receipt split inside a GB18030 character and cut, a status
    request and its reply, then after 10 s an English receipt without a cut.
    """
    capture = read_capture_file(FIXTURE)
    assert capture.header is not None
    assert (capture.header.port, capture.header.baudrate) == ("/dev/ttyUSB0", 9600)
    assert [c.direction for c in capture.chunks] == [0, 0, 0, 1, 0, 0]
    decoder = PosDecoder(capture.header.encoding or "cp437")
    first, second = decode_chunks(capture.to_printer(), decoder)
    assert (first.total, first.receipt_no, first.payment, first.boundary) == (
        Decimal("12.50"),
        "XS0001",
        "wechat",
        "cut",
    )
    assert first.text.startswith("示例商场 收银小票\n")
    assert (second.text.split("\n")[0], second.total, second.payment) == (
        "SHOP",
        Decimal("5.50"),
        "cash",
    )
    assert (second.boundary, second.t_start) == ("end", 1773482410.0)
