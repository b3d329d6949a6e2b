"""The ESC/POS interpreter and the receipt boundaries, command by command."""

from __future__ import annotations

import pytest
from pos_receipts import BARCODE_FORM_1, BARCODE_FORM_2, COLUMN_BAND, CUT, ESC, FS, GS, QR

from drivers.pos.escpos.codepages import PAGE_CODECS, single_byte_table, text_decoder
from drivers.pos.escpos.escpos import EscPosInterpreter
from drivers.pos.escpos.segment import ReceiptSegmenter
from drivers.pos.result import Segment


def segments(data: bytes, encoding: str = "cp437", max_bytes: int = 65536) -> list[Segment]:
    interpreter = EscPosInterpreter(encoding, max_bytes=max_bytes)
    return interpreter.feed(data, 0.0) + interpreter.close("end")


def text(data: bytes, encoding: str = "cp437") -> str:
    found = segments(data, encoding)
    assert len(found) == 1, found
    return found[0].text


def test_text_lines_and_line_endings() -> None:
    assert text(b"Hello\r\nworld  \r\n\n\nbye\n") == "Hello\nworld\n\n\nbye"
    assert text(b"\n\n  \nonly\n\n") == "only"
    assert text(b"a\tb\rc") == "a\tb\nc"  # lone CR: a line end on auto-LF printers


def test_feeds_end_the_line_without_blank_lines() -> None:
    # ESC d n / ESC J n / ESC e n print the buffer and feed: a line break, not n blank
    # lines; a LF after a feed prints an empty line, as on paper.
    data = b"ABC" + ESC + b"d\x07DEF" + ESC + b"e\x03GHI" + ESC + b"J\x10" + ESC + b"d\x02X"
    assert text(data) == "ABC\nDEF\nGHI\nX"
    assert text(b"A\n" + ESC + b"d\x03" + b"\nB") == "A\n\nB"


def test_formatting_commands_print_nothing() -> None:
    data = (
        ESC + b"@" + ESC + b"!\x38" + b"Big" + ESC + b"!\x00\n" + ESC + b"E\x01Bold" + ESC
        + b"E\x00\n" + GS + b"!\x11Wide\n" + ESC + b"-\x02U" + ESC + b"a\x01\n" + ESC
        + b"p\x00\x19\xfa" + b"\x10\x04\x01" + b"\x10\x05\x02" + ESC + b"D\x08\x10\x00T\n"
    )  # fmt: skip
    assert text(data) == "Big\nBold\nWide\nU\nT"


def test_cuts_are_boundaries() -> None:
    data = b"one\n" + CUT + b"two\n" + GS + b"V\x00" + b"three\n" + ESC + b"i" + b"four\n"
    found = segments(data)
    assert [s.text for s in found] == ["one", "two", "three", "four"]
    assert [s.boundary for s in found] == ["cut", "cut", "cut", "end"]
    assert sum(s.stats.bytes for s in found) == len(data)


def test_drawer_kick_after_the_cut_makes_no_receipt() -> None:
    interpreter = EscPosInterpreter()
    found = interpreter.feed(b"sale\n" + CUT + ESC + b"p0<x", 0.0) + interpreter.close("idle")
    assert [s.text for s in found] == ["sale"]
    assert interpreter.empty_segments == 1


def test_raster_images_are_skipped_by_their_size_and_counted() -> None:
    image = GS + b"v0\x00" + b"\x02\x00\x03\x00" + b"\x0a\x1b\x1d\x0c\xff\x00"  # 2x3 bytes
    found = segments(image + b"after\n" + CUT + image + CUT)
    assert found[0].text == "after"
    assert found[0].stats.graphics == 1
    assert not found[0].raster_only
    assert found[1].raster_only and found[1].text == ""


def test_stored_graphics_count_when_printed() -> None:
    store = GS + b"(L" + b"\x0b\x00" + b"0p0\x01\x011" + b"\x08\x00\x01\x00" + b"\xff"
    printed = GS + b"(L\x02\x0002"
    found = segments(store + printed + b"Shop\n" + CUT)
    assert found[0].text == "Shop"
    assert found[0].stats.graphics == 1


def test_column_image_bands_swallow_their_line_feed() -> None:
    data = b"Top\n" + COLUMN_BAND * 3 + ESC + b"2" + b"Bottom\n"
    assert text(data) == "Top\nBottom"


def test_barcodes_and_qr_codes_print_no_text() -> None:
    found = segments(b"A\n" + BARCODE_FORM_1 + b"\nB\n" + BARCODE_FORM_2 + QR + b"C\n")
    assert found[0].text == "A\n\nB\nC"
    assert found[0].stats.codes == 3


def test_chinese_mode_gbk_and_code_page_outside_it() -> None:
    data = FS + b"&" + "合计 ￥".encode("gbk") + b"\n" + FS + b"." + b"caf\x82\n"
    assert text(data) == "合计 ￥\ncafé"


def test_gb18030_printer_without_fs_ampersand() -> None:
    data = ESC + b"@" + ESC + b"t\x00" + "¥12.50 商品\n".encode("gb18030")
    assert text(data, encoding="gb18030") == "¥12.50 商品"
    # FS . leaves Chinese mode on such a printer: the ESC t page applies.
    assert text(FS + b"." + b"\x9c5\n", encoding="gb18030") == "£5"


def test_utf8_printer() -> None:
    assert text("Crème brûlée €4\n".encode(), encoding="utf-8") == "Crème brûlée €4"


@pytest.mark.parametrize(
    ("page", "raw", "expected"),
    [
        (2, b"\x9b", "ø"),  # PC850
        (16, b"\x80", "€"),  # WPC1252
        (17, b"\x8f\xa0", "Па"),  # PC866
        (19, b"\xd5", "€"),  # PC858
        (1, b"\xb1\xba", "ｱｺ"),  # Katakana (JIS X 0201)
        (30, b"Vi\xd6t", "Việt"),  # TCVN-3
    ],
)
def test_code_pages(page: int, raw: bytes, expected: str) -> None:
    assert text(ESC + b"t" + bytes((page,)) + raw + b"\n") == expected


def test_unknown_code_page_replaces_and_counts() -> None:
    interpreter = EscPosInterpreter()
    found = interpreter.feed(ESC + b"t\x07" + b"ok \xe9\n", 0.0) + interpreter.close("end")
    assert found[0].text == "ok \ufffd"
    assert found[0].stats.replaced == 1
    assert interpreter.unknown_pages[7] >= 1


def test_every_mapped_page_is_a_single_byte_table() -> None:
    for codec in PAGE_CODECS.values():
        assert len(single_byte_table(codec)) == 256
        assert text_decoder(codec)(b"ASCII 123") == "ASCII 123"


def test_international_character_sets() -> None:
    assert text(ESC + b"R\x03" + b"#5\n") == "£5"  # United Kingdom
    assert text(ESC + b"R\x08" + b"\\500\n") == "¥500"  # Japan
    assert text(ESC + b"R\x03" + b"a" + ESC + b"@" + b"#1\n") == "a\n#1"  # ESC @ resets


def test_unknown_and_malformed_commands_are_skipped_and_counted() -> None:
    interpreter = EscPosInterpreter()
    data = (
        ESC + b"\x7fA\n"  # unknown ESC command: two bytes skipped
        + ESC + ESC + b"E\x01B\n"  # a lone ESC before a command: only the ESC dropped
        + GS + b"v0\x00\xff\xff\xff\xff" + b"C\n"  # impossible raster size: header skipped
        + GS + b"V\x07" + b"D\n"  # cut with an undefined mode: not a cut
    )  # fmt: skip
    found = interpreter.feed(data, 0.0) + interpreter.close("end")
    assert [s.text for s in found] == ["A\nB\nC\nD"]
    assert found[0].stats.unknown == 1
    assert found[0].stats.malformed == 3
    assert interpreter.unknown_commands == {"ESC 0x7f": 1}
    assert set(interpreter.malformed_commands) == {"ESC", "GS v", "GS V"}


def test_truncated_command_at_the_end_is_counted() -> None:
    interpreter = EscPosInterpreter()
    found = interpreter.feed(b"text\n" + GS + b"v0\x00\x10\x00", 0.0) + interpreter.close("end")
    assert found[0].text == "text"
    assert found[0].stats.truncated == 1


def test_size_bound_cuts_at_the_exact_byte() -> None:
    data = b"0123456789\n" * 10
    found = segments(data, max_bytes=25)
    assert [s.stats.bytes for s in found] == [25, 25, 25, 25, 10]
    assert [s.boundary for s in found] == ["size"] * 4 + ["end"]
    assert "".join(s.text + ("\n" if s.text.endswith("9") else "") for s in found).count("0") == 10


def test_image_data_does_not_count_against_the_size_bound() -> None:
    image = GS + b"v0\x00" + b"\x48\x00\x40\x00" + bytes(72 * 64)  # 4.6 KB logo
    found = segments(image + b"receipt text\n" + CUT, max_bytes=1024)
    assert [s.boundary for s in found] == ["cut"]


def test_idle_gap_is_a_boundary() -> None:
    segmenter = ReceiptSegmenter(idle_gap=3.0)
    assert segmenter.feed(100.0, b"first\n") == []
    assert segmenter.feed(101.0, b"still first\n") == []
    found = segmenter.feed(105.0, b"second\n")
    assert [(s.text, s.t_start, s.t_end, s.boundary) for s in found] == [
        ("first\nstill first", 100.0, 101.0, "idle")
    ]
    assert segmenter.advance(107.0) == []
    closed = segmenter.advance(108.5)
    assert [(s.text, s.t_start, s.boundary) for s in closed] == [("second", 105.0, "idle")]
    assert segmenter.flush() == []


def test_clock_stepping_back_closes_nothing() -> None:
    segmenter = ReceiptSegmenter(idle_gap=3.0)
    segmenter.feed(100.0, b"a\n")
    assert segmenter.feed(50.0, b"b\n") == []
    assert [s.text for s in segmenter.flush()] == ["a\nb"]


def test_idle_gap_drops_a_half_received_command() -> None:
    segmenter = ReceiptSegmenter(idle_gap=1.0)
    segmenter.feed(0.0, b"sale\n" + GS + b"v0\x00\x10\x00\x10\x00" + b"\x00" * 10)
    found = segmenter.feed(5.0, b"next\n") + segmenter.flush()
    assert [s.text for s in found] == ["sale", "next"]
    assert found[0].stats.truncated == 1


def test_configuration_errors_raise() -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        EscPosInterpreter(max_bytes=0)
    with pytest.raises(ValueError, match="multi-byte"):
        EscPosInterpreter(double_byte="cp437")
    with pytest.raises(LookupError):
        EscPosInterpreter(encoding="no-such-codec")
    with pytest.raises(ValueError, match="idle_gap"):
        ReceiptSegmenter(idle_gap=0)


def test_chinese_mode_switches_never_join_characters() -> None:
    # A lead byte left alone by FS . must not pair with the ASCII after it ("\x81@" is a
    # GBK character); whole lines switch cheaply, half characters are replaced.
    lines = FS + b"&" + "合计".encode("gbk") + b"\n" + FS + b"." + b" 5.00\n"
    assert text(lines) == "合计\n 5.00"
    assert text(FS + b"&" + b"\x81" + FS + b"." + b"@x\n") == "\ufffd@x"
    assert text(FS + b"&" + b"ab" + FS + b"." + b"\x82\n") == "abé"
