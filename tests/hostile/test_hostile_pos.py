"""POS receipts as an attacker (or a badly written POS program) prints them.

Issue 17, case 5: card numbers in every spelling a printer produces are masked on every
field (the receipt number too), and a capture file is private from its creation. Case 12:
an image header that lies about its size is rejected with a one-line warning, and the
receipts after it are still read. Everything runs on real bytes: ESC/POS as POS programs
send it, real capture files, a real pseudo-terminal for ``pos capture``.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import stat
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from cli_helpers import invoke, json_lines
from hostile_settings import FUZZ
from hypothesis import given
from hypothesis import strategies as st
from pos_pty import pty_pairs

from drivers.pos.decoder import PosDecoder, decode_bytes, decode_chunks, mask_fields
from drivers.pos.escpos.payloads import MAX_IMAGE_BYTES
from drivers.pos.extract.mask import mask_text
from drivers.pos.extract.pan import fold, luhn_valid
from drivers.pos.line.capture_format import (
    CaptureHeader,
    CaptureWriter,
    create_private,
    read_capture_file,
)
from drivers.pos.line.replay import LineReplay
from drivers.pos.result import ItemLine, Receipt
from drivers.timeline import Timeline
from edge.sensors.pos.config import PosSensorConfig
from edge.sensors.pos.records import mask_record, transaction_record

ESC, GS, FS = b"\x1b", b"\x1d", b"\x1c"
CUT = GS + b"VA\x03"
VISA = "4111111111111111"
MASTERCARD = "5500005555555559"
DIGIT_RUN = re.compile(r"[0-9]{13,19}")
CARD_START = re.compile(r"4|5[0-8]|2[2-7]|3[0-9]|6[0-7]|8[12]")

# -- helpers -----------------------------------------------------------------------------------


def leaked(text: str) -> list[str]:
    """Luhn-valid 13-19 digit runs in ``text`` once separators are ignored (what a reader
    of the text could copy as a card number); only for texts whose other digits are few."""
    digits = re.sub(r"[ \t./\-\n\r]", "", fold(text))
    found = []
    for run in re.findall(r"[0-9]+", digits):
        for size in range(13, 20):
            for start in range(len(run) - size + 1):
                piece = run[start : start + size]
                if luhn_valid(piece) and CARD_START.match(piece):
                    found.append(piece)
    return found


OURS = {"id", "text_sha256", "t_start", "t_end", "start", "end", "stats"}
"""Keys made by the box (ids, hashes, times, counters), not read from the receipt: a hex
hash may hold a Luhn-valid digit run by chance."""


def fields_leaked(fields: dict[str, object]) -> list[str]:
    """``leaked`` over every field read from the receipt."""
    return leaked(str({key: value for key, value in fields.items() if key not in OURS}))


def receipt(*lines: str, encoding: str = "cp437") -> bytes:
    """One receipt as a POS program sends it: reset, text lines, feed, cut."""
    body = "".join(line + "\n" for line in lines).encode(encoding)
    return ESC + b"@" + body + ESC + b"d\x03" + CUT


def sensor() -> PosSensorConfig:
    return PosSensorConfig.model_validate(
        {"type": "pos", "name": "till", "zone": "shop", "store": "b1-07", "port": "/dev/ttyS0"}
    )


# -- case 5: every spelling of a card number --------------------------------------------------

SPELLINGS = [
    "4111.1111.1111.1111",
    "4111 1111-1111 1111",
    "4111  1111  1111  1111",
    "4111 11111111 1111",
    "4111-1111-1111-1111",
    "4111/1111/1111/1111",
    "VISA4111111111111111",
    "CARD 4111111111111111EXP",
    "Txn 5500005555555559",
    "RECEIPT NO 5500005555555559",
    "单号: 5500005555555559",
    "４１１１１１１１１１１１１１１１",
    "卡号：４１１１　１１１１　１１１１　１１１１",
    "卡号：４１１１－１１１１－１１１１－１１１１",
    "٤١١١١١١١١١١١١١١١",  # Arabic-Indic digits
    "*4111111111111111*",  # Code 39 human-readable text
    "4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1",  # letter-spaced "double width"
    "CARD 41111111\n11111111 EXP",  # wrapped at the paper's width
    "卡号:4111111111\n  111111",  # wrapped, the continuation indented
    "VISA 4111 1111 11\n11 1111",
    "AMEX 3782 822463 10005",
    "银联卡 6222 0212 3456 7890 003",
]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_every_card_spelling_is_masked(spelling: str) -> None:
    masked = mask_text(spelling)
    assert masked.masked >= 1
    assert leaked(masked.text) == []
    assert mask_text(masked.text).text == masked.text  # masking twice changes nothing


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("4111 11111111 1111", "**** ******** 1111"),
        ("Txn 5500005555555559", "Txn ************5559"),
        ("CARD 41111111\n11111111 EXP", "CARD ********\n****1111 EXP"),
        ("VISA4111111111111111", "VISA************1111"),
    ],
)
def test_the_layout_and_the_last_four_digits_stay(line: str, expected: str) -> None:
    assert mask_text(line).text == expected


@pytest.mark.parametrize(
    "line",
    [
        "流水号: 20260314100511003",  # Luhn-valid, but a date: no card starts with 20
        "单号: 4000000000000003",  # a receipt number failing Luhn
        "6901234567892  可乐  2  3.00  6.00",  # EAN-13 article code, quantities, amounts
        "微信支付单号 4200001234202603141234567890",  # 28 digits: no card is that long
        "合计: 21.50\n4111 1111",  # cents never join the next line's digits
        "2026-03-14 10:05:11  TOTAL 1,234.56",
        "1773480311500",  # a timestamp in milliseconds
    ],
)
def test_receipt_numbers_codes_and_amounts_survive(line: str) -> None:
    assert mask_text(line) == (line, 0)


def test_a_card_number_as_receipt_number_never_reaches_a_record() -> None:
    data = receipt("SHOP", f"Txn {MASTERCARD}", "TOTAL 12.50", f"VISA {VISA[:8]}", VISA[8:])
    (found,) = decode_bytes(data)
    assert found.receipt_no != MASTERCARD
    assert fields_leaked(found.as_json()) == []
    record = transaction_record("m1", "b1", sensor(), found)
    assert fields_leaked(record) == []


def test_chinese_receipt_in_gb18030() -> None:
    lines = ["华联超市", "小票号: 00123", f"卡号：{VISA[:4]} {VISA[4:8]} {VISA[8:12]}", VISA[12:]]
    lines += ["交易号 " + MASTERCARD, "实付: 12.50"]
    (found,) = decode_bytes(receipt(*lines, encoding="gb18030"), "gb18030")
    assert leaked(found.text) == [] and fields_leaked(found.as_json()) == []
    assert "华联超市" in found.text and found.masked >= 2


def test_every_field_is_masked_as_the_last_step() -> None:
    """A field taken from somewhere other than the masked text is masked all the same."""
    (found,) = decode_bytes(receipt("SHOP", "TOTAL 1.00"))
    tainted = replace(
        found,
        receipt_no=VISA,
        payment=f"VISA{VISA}",
        item_lines=(ItemLine(f"gift card {MASTERCARD}", None, found.total or 0),),  # type: ignore[arg-type]
    )
    clean = mask_fields(tainted)
    assert fields_leaked(clean.as_json()) == [] and clean.masked == found.masked + 3
    record = mask_record({"id": "x", "receipt_no": VISA, "anything_new": f"CARD {MASTERCARD}"})
    assert record["id"] == "x" and fields_leaked(record) == []


@FUZZ
@given(
    body=st.integers(min_value=10**11, max_value=10**18 - 1),
    prefix=st.sampled_from(["4", "51", "55", "34", "37", "62", "6011", "35", "2221"]),
    size=st.integers(min_value=13, max_value=19),
    data=st.data(),
)
def test_fuzz_any_spelling_of_a_card_number_is_masked(
    body: int, prefix: str, size: int, data: st.DataObject
) -> None:
    pan = _luhn_complete((prefix + str(body))[: size - 1])
    spelled = data.draw(_spellings(pan))
    before = data.draw(st.text(alphabet="ABCXYZ卡号：:# *\n交易", max_size=12))
    after = data.draw(st.text(alphabet="ABCXYZ卡号：:# *\nEXP", max_size=12))
    text = before + spelled + after
    masked = mask_text(text)
    out = re.sub(r"[^0-9]", "", fold(masked.text))
    assert pan[:-4] not in out, (text, masked.text)
    assert leaked(masked.text) == [], (text, masked.text)
    assert mask_text(masked.text).text == masked.text


def _luhn_complete(digits: str) -> str:
    return next(digits + d for d in "0123456789" if luhn_valid(digits + d))


@st.composite
def _spellings(draw: st.DrawFn, pan: str) -> str:
    """The card number printed in any grouping, separators, digits and line wrap."""
    if draw(st.booleans()):
        groups, rest = [], pan
        while rest:
            size = draw(st.integers(min_value=3, max_value=8))
            if len(rest) - size < 3:
                size = len(rest)
            groups.append(rest[:size])
            rest = rest[size:]
        separators = st.sampled_from([" ", "  ", "-", ".", "/", " - ", "\u3000", "\uff0d"])
        text = groups[0] + "".join(draw(separators) + g for g in groups[1:])
    else:
        text = pan if draw(st.booleans()) else " ".join(pan)
    if draw(st.booleans()):  # a wrap at any digit
        positions = [i for i, c in enumerate(text) if c.isdigit()][1:]
        cut = draw(st.sampled_from(positions))
        text = text[:cut] + "\n" + " " * draw(st.integers(0, 2)) + text[cut:]
    if draw(st.booleans()):  # full-width digits
        text = "".join(chr(0xFF10 + int(c)) if c.isdigit() else c for c in text)
    return text


@FUZZ
@given(
    field=st.sampled_from(["Txn ", "RECEIPT NO ", "单号: ", "卡号:", "VISA", "CARD ", "会员号: "]),
    pan=st.sampled_from([VISA, MASTERCARD, "378282246310005", "6222021234567890003"]),
    encoding=st.sampled_from(["gb18030", "utf-8"]),
)
def test_fuzz_no_field_of_a_decoded_receipt_carries_a_card_number(
    field: str, pan: str, encoding: str
) -> None:
    data = receipt("华联超市", field + pan, "合计: 12.50", encoding=encoding)
    for found in decode_bytes(data, encoding):
        assert fields_leaked(found.as_json()) == []
        record = transaction_record("m1", "b1", sensor(), found)
        assert fields_leaked(record) == []


# -- case 5: capture files are private, CLI output is masked -----------------------------------


def test_capture_file_is_created_0600_even_over_a_readable_one(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        with pty_pairs(1) as (pos,):
            out = tmp_path / "shop.poscap"
            out.write_bytes(b"old")
            out.chmod(0o644)

            def play() -> None:
                time.sleep(0.4)
                pos.write(receipt("SHOP", f"VISA {VISA}", "TOTAL 1.00"))

            player = threading.Thread(target=play, daemon=True)
            player.start()
            result = invoke("pos", "capture", pos.path, "--out", out, "--baud", "19200",
                            "--seconds", "1.5", "--force")  # fmt: skip
            player.join()
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert VISA.encode() in b"".join(d for _, d in read_capture_file(out).to_printer())
    parsed = invoke("pos", "parse", out, "--json", "--text")
    assert parsed.exit_code == 0 and VISA not in parsed.output and VISA[:12] not in parsed.stderr
    assert [fields_leaked(r) for r in json_lines(parsed.stdout)] == [[]]


def test_create_private_never_follows_a_link_nor_keeps_an_old_mode(tmp_path: Path) -> None:
    secret = tmp_path / "elsewhere"
    secret.write_bytes(b"keep")
    link = tmp_path / "x.poscap"
    link.symlink_to(secret)
    with pytest.raises(FileExistsError):
        create_private(link)
    with create_private(link, replace=True) as stream:
        stream.write(b"new")
    assert secret.read_bytes() == b"keep" and not link.is_symlink()
    assert stat.S_IMODE(link.stat().st_mode) == 0o600


def test_pos_parse_prints_no_card_number_in_any_mode(tmp_path: Path) -> None:
    path = tmp_path / "dump.bin"
    path.write_bytes(receipt("SHOP", f"Txn {MASTERCARD}", "４１１１ １１１１ １１１１ １１１１",
                             "TOTAL 3.00", encoding="utf-8"))  # fmt: skip
    for args in (["--text"], ["--json"]):
        result = invoke("pos", "parse", path, "--encoding", "utf-8", *args)
        assert result.exit_code == 0, result.output
        assert leaked(result.output) == [] and leaked(result.stderr) == []


# -- case 12: an image header that lies about its size ----------------------------------------

SIX = [receipt("SHOP", f"RECEIPT {n}", f"TOTAL {n}.00") for n in range(1, 7)]
LIARS = {
    "GS v 0, 16 MB": GS + b"v0\x00" + (1024).to_bytes(2, "little") + (16384).to_bytes(2, "little"),
    "GS 8 L, 16 MB": GS + b"8L" + (16 * 1024 * 1024).to_bytes(4, "little") + b"0p0",
    "GS v 0, plausible": GS + b"v0\x00" + (72).to_bytes(2, "little") + (2000).to_bytes(2, "little"),
    "GS ( L, 64 KB": GS + b"(L\xff\xff0p0",
    "ESC *, 12 KB": ESC + b"*\x21" + (4096).to_bytes(2, "little"),
    "FS q, 2 MB": FS + b"q\x01" + (1023).to_bytes(2, "little") + (288).to_bytes(2, "little"),
}


def _texts(receipts: list[Receipt]) -> list[str]:
    return [line for r in receipts for line in r.text.split("\n") if "RECEIPT" in line]


@pytest.mark.parametrize("liar", list(LIARS))
def test_a_lying_image_header_hides_no_receipt(liar: str, caplog: pytest.LogCaptureFixture) -> None:
    data = SIX[0] + LIARS[liar] + b"".join(SIX[1:])
    decoder = PosDecoder()
    with caplog.at_level(logging.WARNING, logger="mallsense.pos"):
        receipts = decode_chunks([(0.0, data)], decoder)
    assert _texts(receipts) == [f"RECEIPT {n}" for n in range(1, 7)]
    assert decoder.stats()["rejected_images"] == 1
    warnings = [r.getMessage() for r in caplog.records if "image header" in r.getMessage()]
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert f"bytes at offset {len(SIX[0])}; skipped, decoding resumed" in warnings[0]


def test_the_16_mb_header_of_the_issue_is_named_in_one_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="mallsense.pos"):
        decode_bytes(SIX[0] + LIARS["GS v 0, 16 MB"] + b"".join(SIX[1:]))
    assert (
        f"ESC/POS image header claims 16,777,216 bytes at offset {len(SIX[0])};"
        " skipped, decoding resumed" in caplog.text
    )


def test_a_lying_header_in_a_long_dump_runs_over_a_cut_and_is_caught() -> None:
    """More data follows than the header claims: the cut and reset inside give it away."""
    filler = [receipt("SHOP", f"RECEIPT {n}", "TOTAL 1.00") for n in range(7, 5007)]
    data = SIX[0] + LIARS["GS v 0, plausible"] + b"".join(SIX[1:] + filler)
    assert len(data) > 72 * 2000
    receipts = decode_bytes(data)
    assert len(receipts) == 5006 and _texts(receipts)[:6] == [f"RECEIPT {n}" for n in range(1, 7)]


@pytest.mark.parametrize("liar", list(LIARS))
def test_a_lying_header_in_a_capture_split_in_serial_reads(liar: str, tmp_path: Path) -> None:
    """The shared recording, a lying header between its receipts, in 7-byte serial reads."""
    source = read_capture_file(Path(__file__).parent.parent / "data/pos/two-receipts.poscap")
    chunks = source.to_printer()
    data = b"".join(d for _, d in chunks[:3]) + LIARS[liar] + b"".join(d for _, d in chunks[3:])
    path = tmp_path / "liar.poscap"
    with path.open("wb") as stream:
        writer = CaptureWriter(stream, source.header or CaptureHeader(encoding="gb18030"))
        for start in range(0, len(data), 7):
            writer.write(1773482400.0 + start / 1000, data[start : start + 7])
    result = invoke("pos", "parse", path, "--json")
    assert result.exit_code == 0, result.output
    totals = [r["total"] for r in json_lines(result.stdout)]
    assert totals == [12.5, 5.5]


def test_a_real_image_is_still_an_image() -> None:
    logo = GS + b"v0\x00" + (4).to_bytes(2, "little") + (8).to_bytes(2, "little") + b"\xff" * 32
    receipts = decode_bytes(SIX[0] + ESC + b"@" + logo + b"after\n" + CUT)
    assert receipts[1].stats.graphics == 1 and "after" in receipts[1].text


@FUZZ
@given(st.binary(max_size=4096), st.lists(st.integers(1, 4096), max_size=8))
def test_fuzz_any_bytes_decode_in_bounded_time(data: bytes, cuts: list[int]) -> None:
    decoder = PosDecoder()
    points = sorted({0, len(data), *(c for c in cuts if c < len(data))})
    started = time.monotonic()
    chunks = [(i * 0.001, data[a:b]) for i, (a, b) in enumerate(itertools.pairwise(points))]
    receipts = decode_chunks(chunks, decoder)
    assert time.monotonic() - started < 5
    stats = decoder.stats()
    assert stats["receipts"] == len(receipts) and int(str(stats["rejected_images"])) >= 0


@FUZZ
@given(
    liar=st.sampled_from(list(LIARS)),
    where=st.integers(0, 5),
    size=st.one_of(st.integers(MAX_IMAGE_BYTES + 1, 2**32 - 1), st.integers(2000, 70000)),
    step=st.integers(1, 300),
)
def test_fuzz_lying_headers_hide_no_receipt(liar: str, where: int, size: int, step: int) -> None:
    header = LIARS[liar]
    if liar.startswith("GS 8 L"):
        header = GS + b"8L" + size.to_bytes(4, "little") + b"0p0"
    data = b"".join(SIX[: where + 1]) + header + b"".join(SIX[where + 1 :])
    chunks = [(i * 0.0001, data[s : s + step]) for i, s in enumerate(range(0, len(data), step))]
    receipts = decode_chunks(chunks, PosDecoder())
    assert _texts(receipts) == [f"RECEIPT {n}" for n in range(1, 7)]


# -- absurd chunk times in a capture played as the line (`run --simulate`) ------------------


def test_a_chunk_dated_2106_does_not_stall_the_line_played_from_a_capture(tmp_path: Path) -> None:
    """A capture chunk whose time says 2106 made `run --simulate` wait decades for it and
    for every chunk after it; it is now played at once, and the recorded gaps around it
    (a few seconds) are kept."""
    t0 = 1_773_482_400.0
    times = [t0, t0 + 2.0, 4_300_000_000.0, t0 + 4.0, -5.0, t0 + 6.0]
    path = tmp_path / "line.poscap"
    with path.open("wb") as stream:
        writer = CaptureWriter(stream, CaptureHeader(port="/dev/ttyUSB0"))
        for i, t in enumerate(times):
            writer.write(t, f"chunk {i}\n".encode())
    line = LineReplay(path, Timeline(speed=1000.0))
    got, deadline = [], time.monotonic() + 5
    while not line.exhausted and time.monotonic() < deadline:
        if data := line.read(0.05):
            got.append(data)
    assert got == [f"chunk {i}\n".encode() for i in range(len(times))]
    assert line.skipped_gaps == 4  # to 2106 and back, to a negative time and back
