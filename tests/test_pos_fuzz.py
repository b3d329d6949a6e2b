"""hypothesis: the decoder never raises, any split of the bytes gives the same receipts,
and no receipt boundary is lost."""

from __future__ import annotations

import itertools
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pos_receipts import (
    COLUMN_BAND,
    ESC,
    FS,
    GS,
    INIT,
    QUIET_COMMANDS,
    RASTER_8X2,
    chinese_line,
)

from drivers.pos.decoder import PosDecoder, decode_chunks
from drivers.pos.escpos.escpos import EscPosInterpreter
from drivers.pos.escpos.printed import normalize_text
from drivers.pos.escpos.segment import ReceiptSegmenter
from drivers.pos.result import Segment

FAST = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CUTS = (GS + b"VA\x03", GS + b"V\x00", GS + b"V1", GS + b"VB\x00", ESC + b"i", ESC + b"m")
PREFIXES = (ESC, GS, FS, b"\x10", GS + b"v0", GS + b"(k", GS + b"(L", GS + b"k", ESC + b"*")
SWITCHES = (FS + b"&", FS + b".", ESC + b"t\x10", ESC + b"t\x07", ESC + b"R\x03", INIT, b"\n")
"""Character-table switches, and LF (where the decoder may defer a switch)."""
ASCII_TEXT = string.ascii_letters + string.digits + " .,:$#-*"
CHINESE_TEXT = "合计商品单号微信支付宝现金谢谢惠顾¥"

# Bytes that reach the interpreter's branches: command prefixes (often truncated or
# with wild parameters), whole commands, text in several encodings, raw noise.
fragments = st.one_of(
    st.binary(max_size=12),
    st.sampled_from(PREFIXES + CUTS + QUIET_COMMANDS + SWITCHES + (COLUMN_BAND,)),
    st.sampled_from(SWITCHES),
    st.builds(lambda p, b: p + b, st.sampled_from(PREFIXES), st.binary(min_size=1, max_size=8)),
    st.text(alphabet=CHINESE_TEXT, max_size=8).map(lambda s: s.encode("gb18030")),
    st.text(alphabet=CHINESE_TEXT, max_size=8).map(lambda s: s.encode("utf-8")),
)
streams = st.lists(fragments, max_size=40).map(b"".join)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


def segments(pieces: list[bytes], encoding: str, max_bytes: int) -> list[Segment]:
    interpreter = EscPosInterpreter(encoding, max_bytes=max_bytes)
    found = []
    for piece in pieces:
        found += interpreter.feed(piece, 0.0)
    return found + interpreter.close("end")


@FAST
@given(
    streams,
    st.lists(st.integers(min_value=0, max_value=400), max_size=30),
    st.sampled_from(["cp437", "gb18030", "utf-8", "cp1252"]),
    st.sampled_from([7, 64, 65536]),
)
def test_any_split_gives_the_same_segments(
    data: bytes, cuts: list[int], encoding: str, max_bytes: int
) -> None:
    whole = segments([data], encoding, max_bytes)
    assert segments(split(data, cuts), encoding, max_bytes) == whole
    assert segments([data[i : i + 1] for i in range(len(data))], encoding, max_bytes) == whole
    assert sum(s.stats.bytes for s in whole) <= len(data)


@FAST
@given(st.binary(max_size=2000), st.lists(st.integers(min_value=0, max_value=2000), max_size=20))
def test_arbitrary_bytes_never_raise(data: bytes, cuts: list[int]) -> None:
    decoder = PosDecoder("gb18030", max_bytes=512, templates=[{"name": "t", "total": r"(\S+)"}])
    receipts = decode_chunks([(float(i), p) for i, p in enumerate(split(data, cuts))], decoder)
    for receipt in receipts:
        assert receipt.stats.bytes <= len(data)
        assert 0.0 <= receipt.confidence <= 1.0
        receipt.as_json()


# -- well-formed receipts: every boundary is found ---------------------------------

lines = st.one_of(
    st.text(alphabet=ASCII_TEXT, min_size=1, max_size=30).map(lambda s: ("text", s)),
    st.text(alphabet=CHINESE_TEXT, min_size=1, max_size=12).map(lambda s: ("chinese", s)),
    st.sampled_from((*QUIET_COMMANDS, RASTER_8X2, COLUMN_BAND)).map(lambda c: ("command", c)),
)
receipts = st.lists(st.tuples(st.lists(lines, max_size=8), st.sampled_from(CUTS)), max_size=6)


def encode(receipt: list[tuple[str, object]]) -> tuple[bytes, str, bool]:
    """Bytes of one receipt, its expected text, and whether it prints an image."""
    data, text, image = [INIT], [], False
    for kind, value in receipt:
        if kind == "command":
            assert isinstance(value, bytes)
            data.append(value)
            image = image or value in (RASTER_8X2, COLUMN_BAND)
        else:
            assert isinstance(value, str)
            data.append(value.encode() + b"\n" if kind == "text" else chinese_line(value))
            text.append(value)
    return b"".join(data), normalize_text("\n".join(text)), image


@FAST
@given(receipts, st.lists(st.integers(min_value=0, max_value=3000), max_size=25))
def test_no_boundary_is_lost(
    stream: list[tuple[list[tuple[str, object]], bytes]], cuts: list[int]
) -> None:
    encoded = [encode(body) for body, _ in stream]
    data = b"".join(body + cut for (body, _, _), (_, cut) in zip(encoded, stream, strict=True))
    expected = [(text, image and not text) for _, text, image in encoded if text or image]
    found = segments(split(data, cuts), "cp437", 65536)
    assert [(s.text, s.raster_only) for s in found] == expected
    assert all(s.boundary == "cut" for s in found)


@FAST
@given(st.lists(st.text(alphabet=ASCII_TEXT, min_size=1, max_size=20), min_size=1, max_size=6))
def test_idle_gaps_separate_uncut_receipts(texts: list[str]) -> None:
    segmenter = ReceiptSegmenter(idle_gap=3.0)
    found = []
    for index, text in enumerate(texts):
        t = 100.0 * index
        found += segmenter.feed(t, text.encode()[:5]) + segmenter.feed(t + 1.0, text.encode()[5:])
    found += segmenter.flush()
    assert [s.text for s in found] == [normalize_text(t) for t in texts if normalize_text(t)]
