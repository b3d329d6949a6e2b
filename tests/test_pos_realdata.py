"""Real ESC/POS streams from ../shared/data/pos: escpos-php outputs, two synthetic Chinese receipts.

The texts are compared line by line, exactly (after the decoder's normalization:
trailing blanks and blank first/last lines dropped, which the expected files
also end with).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from pos_receipts import POS_DATA, pos_file

from drivers.pos.decoder import PosDecoder, decode_bytes, decode_chunks
from drivers.pos.result import Receipt

pytestmark = pytest.mark.realdata


def expected_lines(path: Path) -> list[str]:
    lines = [line.rstrip() for line in path.read_text(encoding="utf-8").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def only(receipts: list[Receipt]) -> Receipt:
    assert len(receipts) == 1, [r.text[:40] for r in receipts]
    return receipts[0]


def test_receipt_with_logo() -> None:
    receipt = only(decode_bytes(pos_file("receipt-with-logo.bin").read_bytes()))
    assert receipt.text.split("\n") == expected_lines(pos_file("receipt-with-logo.expected.txt"))
    assert receipt.total == Decimal("14.25")
    assert receipt.currency == "USD"  # "$" with no configured currency
    assert receipt.items == 4
    assert [line.amount for line in receipt.item_lines] == [
        Decimal("4.00"),
        Decimal("3.50"),
        Decimal("1.00"),
        Decimal("4.45"),
    ]
    assert receipt.printed_at == "2015-04-06T14:56:25"
    assert receipt.stats.graphics == 1  # the GS ( L logo, stored then printed
    assert not receipt.raster_only and not receipt.refund
    assert receipt.boundary == "cut"
    assert receipt.confidence >= 0.85  # items sum to the subtotal, subtotal + tax = total


def test_dollar_follows_the_configured_currency() -> None:
    data = pos_file("receipt-with-logo.bin").read_bytes()
    receipt = only(decode_chunks([(0.0, data)], PosDecoder(currency="HKD")))
    assert receipt.currency == "HKD"


def test_character_encodings_switch_code_pages() -> None:
    receipt = only(decode_bytes(pos_file("character-encodings.bin").read_bytes()))
    expected = expected_lines(pos_file("character-encodings.expected-implemented.txt"))
    # The expected file holds a literal "\n" line that the byte stream does not print
    # (an escaping slip in the test that produced it).
    expected = [line for line in expected if line != "\\n"]
    got = receipt.text.split("\n")
    assert got[: len(expected)] == expected
    # What follows is the "works in progress" part (Thai, Hiragana, Arabic, Hebrew).
    assert got[len(expected) : len(expected) + 2] == ["", "Works in progress"]
    assert receipt.stats.unknown == 0 and receipt.stats.malformed == 0


@pytest.mark.parametrize(
    ("name", "encoding"),
    [
        ("synthetic_gb18030_python-escpos", "gb18030"),
        ("synthetic_gbk_fs-kanji_escpos-php-style", "cp437"),
    ],
)
def test_synthetic_chinese_receipts(name: str, encoding: str) -> None:
    receipt = only(decode_bytes(pos_file(f"{name}.bin").read_bytes(), encoding))
    assert receipt.text.split("\n") == expected_lines(pos_file(f"{name}.expected.txt"))
    assert receipt.stats.replaced == 0


def test_gb18030_receipt_fields() -> None:
    data = pos_file("synthetic_gb18030_python-escpos.bin").read_bytes()
    receipt = only(decode_bytes(data, "gb18030"))
    assert (receipt.total, receipt.currency, receipt.items) == (Decimal("15.50"), "CNY", 3)
    assert [(line.name, line.quantity) for line in receipt.item_lines] == [
        ("商品A", Decimal(2)),
        ("可乐", Decimal(1)),
    ]


def test_demo_stream_cuts_and_raster_only_receipts() -> None:
    receipts = decode_bytes(pos_file("demo.bin").read_bytes())
    assert len(receipts) == 13
    assert all(r.boundary == "cut" for r in receipts)
    raster = [r for r in receipts if r.raster_only]
    assert len(raster) == 2
    assert all(r.text == "" and r.extractor == "none" and r.total is None for r in raster)
    assert receipts[0].text == "Hello world"
    assert receipts[1].text == "ABC\nDEF\nGHI"


@pytest.mark.parametrize("name", ["barcode.bin", "qr-code.bin", "margins-and-spacing.bin",
                                  "text-size.bin"])  # fmt: skip
def test_other_samples_decode_cleanly(name: str) -> None:
    receipt = only(decode_bytes(pos_file(name).read_bytes()))
    assert receipt.stats.unknown == receipt.stats.malformed == receipt.stats.truncated == 0
    assert receipt.stats.replaced == 0
    assert receipt.text.isprintable() or "\n" in receipt.text


def test_barcodes_and_qr_codes_are_counted() -> None:
    assert only(decode_bytes(pos_file("barcode.bin").read_bytes())).stats.codes == 40
    assert only(decode_bytes(pos_file("qr-code.bin").read_bytes())).stats.codes == 19


def test_every_sample_byte_by_byte() -> None:
    """One byte per read (a slow serial line) gives the same receipts as one read."""
    files = sorted(POS_DATA.glob("*.bin")) if POS_DATA.exists() else []
    if not files:
        pytest.skip(f"{POS_DATA} is absent (shared sample data not checked out)")
    for path in files:
        data = path.read_bytes()[:12000]
        whole = decode_chunks([(0.0, data)], PosDecoder())
        split = decode_chunks([(0.0, data[i : i + 1]) for i in range(len(data))], PosDecoder())
        assert split == whole, path.name
