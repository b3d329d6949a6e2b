"""Receipts for the POS tests: python-escpos layouts, a tiny ESC/POS writer, shared samples.

python-escpos is an independent ESC/POS implementation (it writes what real POS
software sends: magic code-page switching, GB18030 for Chinese, images in three
encodings, native and image QR codes, barcodes). Tests that use it skip with a
reason when it is not installed.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from shared_data import shared_data

POS_DATA = shared_data() / "pos"
ESCPOS_MISSING = (
    "python-escpos is not installed (dev extra: python-escpos>=3.1,<4); "
    "the receipts it generates are the independent ESC/POS source"
)

ESC = b"\x1b"
GS = b"\x1d"
FS = b"\x1c"


def pos_file(name: str) -> Path:
    """A file of ../shared/data/pos; skips the test when the folder is absent."""
    path = POS_DATA / name
    if not path.exists():
        pytest.skip(f"{path} is absent (shared sample data not checked out)")
    return path


def escpos_printer() -> Any:
    """A python-escpos Dummy printer (an Epson TM-T88V profile), or skip."""
    printer = pytest.importorskip("escpos.printer", reason=ESCPOS_MISSING, exc_type=ImportError)
    return printer.Dummy(profile="TM-T88V")


def logo(width: int = 256, height: int = 64) -> Any:
    """A black-and-white test logo (a framed bar), made with Pillow."""
    image_module = pytest.importorskip("PIL.Image", reason=ESCPOS_MISSING, exc_type=ImportError)
    draw_module = pytest.importorskip("PIL.ImageDraw", reason=ESCPOS_MISSING, exc_type=ImportError)
    image = image_module.new("1", (width, height), 1)
    draw = draw_module.Draw(image)
    draw.rectangle((2, 2, width - 3, height - 3), outline=0, width=3)
    draw.rectangle((width // 4, height // 3, 3 * width // 4, 2 * height // 3), fill=0)
    return image


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """python-escpos prints notes ("Using hardware barcode renderer") on stdout."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


@dataclass
class Generated:
    """A receipt written by python-escpos and what decoding it must give."""

    data: bytes
    text: str
    total: Decimal | None = None
    currency: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    encoding: str = "cp437"
    cut: bool = True
    graphics: bool = False


def english_supermarket(image_impl: str = "bitImageRaster") -> Generated:
    """Logo, centred bold header, items, totals, barcode, native QR, cut."""
    p = escpos_printer()
    with quiet():
        p.set(align="center")
        p.image(logo(), impl=image_impl)
        p.set(align="center", bold=True, double_height=True, double_width=True)
        p.textln("FRESH MART")
        p.set_with_default()
        p.textln("12 Harbour Road")
        p.textln("Receipt No: 000482")
        p.textln("2026-03-14 10:05:11")
        p.set(align="left")
        for line in (
            "Apples 2 @ 1.25            2.50",
            "Bread                      3.10",
            "Milk 1L                    1.95",
        ):
            p.textln(line)
        p.set(bold=True)
        p.textln("TOTAL                      7.55")
        p.set(bold=False)
        p.textln("VISA                       7.55")
        p.textln("CARD 4111 1111 1111 1111")
        p.barcode("4006381333931", "EAN13")
        p.qr("https://example.com/r/000482", native=True)
        p.cashdraw(2)
        p.cut()
    text = "\n".join(
        [
            "FRESH MART",
            "12 Harbour Road",
            "Receipt No: 000482",
            "2026-03-14 10:05:11",
            "Apples 2 @ 1.25            2.50",
            "Bread                      3.10",
            "Milk 1L                    1.95",
            "TOTAL                      7.55",
            "VISA                       7.55",
            "CARD **** **** **** 1111",
        ]
    )
    fields = {
        "receipt_no": "000482",
        "printed_at": "2026-03-14T10:05:11",
        "payment": "card",
        "items": 4,
        "refund": False,
    }
    return Generated(p.output, text, Decimal("7.55"), None, fields, graphics=True)


def chinese_gb18030(cut: bool = True) -> Generated:
    """A Chinese receipt: python-escpos writes any text with CJK characters as raw GB18030."""
    p = escpos_printer()
    lines = [
        "华联超市 五角场店",
        "单号: XS20260314001",
        "日期: 2026年3月14日 10:05",
        "农夫山泉 x2        ¥4.00",
        "红烧牛肉面 x1      ¥4.50",
        "合计:              ¥8.50",
        "支付方式: 微信支付",
        "会员手机: 13812345678",
        "谢谢惠顾!",
    ]
    with quiet():
        p.set(align="center", bold=True)
        p.textln(lines[0])
        p.set_with_default()
        for line in lines[1:]:
            p.textln(line)
        if cut:
            p.cut()
    text = "\n".join(lines).replace("13812345678", "*******5678")
    fields = {
        "receipt_no": "XS20260314001",
        "printed_at": "2026-03-14T10:05:00",
        "payment": "wechat",
        "items": 3,
        "refund": False,
    }
    return Generated(p.output, text, Decimal("8.50"), "CNY", fields, encoding="gb18030", cut=cut)


def european_cafe() -> Generated:
    """Accented text and a euro sign: python-escpos switches code pages with ESC t."""
    p = escpos_printer()
    lines = [
        "Café Größe",
        "14/03/2026 12:30",
        "2 Espresso        5,00 €",
        "1 Croissant       2,40 €",
        "TOTAL TTC         7,40 €",
        "Espèces           7,40 €",
    ]
    with quiet():
        for line in lines:
            p.textln(line)
        p.cut(mode="PART")
    fields = {"printed_at": "2026-03-14T12:30:00", "items": 3, "payment": "cash"}
    return Generated(p.output, "\n".join(lines), Decimal("7.40"), "EUR", fields)


def refund_slip() -> Generated:
    """A refund: heading, negative item, refund total."""
    p = escpos_printer()
    lines = [
        "ABC STORE",
        "*** REFUND ***",
        "Receipt No: R-000981",
        "14/03/2026 11:22",
        "Blue shirt             -29.99",
        "REFUND TOTAL            29.99",
        "Refunded to MASTERCARD",
        "Returns accepted within 30 days",
    ]
    with quiet():
        for line in lines:
            p.textln(line)
        p.cut()
    fields = {"receipt_no": "R-000981", "refund": True, "payment": "card"}
    return Generated(p.output, "\n".join(lines), Decimal("-29.99"), None, fields)


def raster_only(image_impl: str = "bitImageRaster") -> Generated:
    """A receipt a Windows driver rendered as one picture: nothing to read."""
    p = escpos_printer()
    with quiet():
        p.image(logo(384, 200), impl=image_impl)
        p.cut()
    return Generated(p.output, "", None, None, {"raster_only": True}, graphics=True)


LAYOUTS: dict[str, Callable[[], Generated]] = {
    "english-raster-logo": english_supermarket,
    "english-column-logo": lambda: english_supermarket("bitImageColumn"),
    "english-graphics-logo": lambda: english_supermarket("graphics"),
    "chinese-gb18030-cut": chinese_gb18030,
    "chinese-gb18030-uncut": lambda: chinese_gb18030(cut=False),
    "european-cafe": european_cafe,
    "refund": refund_slip,
    "raster-only": raster_only,
    "raster-only-columns": lambda: raster_only("bitImageColumn"),
}


# -- a minimal ESC/POS writer of our own (no dependency), for the property tests --

INIT = ESC + b"@"
CUT = GS + b"VA\x03"
RASTER_8X2 = GS + b"v0\x00\x01\x00\x02\x00" + b"\xff\x81"
COLUMN_BAND = ESC + b"*\x00\x04\x00" + b"\x0f\xf0\x0f\xf0" + b"\n"
QR = GS + b"(k\x04\x001A2\x00" + GS + b"(k\x07\x001P0ab\x1d\n" + GS + b"(k\x03\x001Q0"
BARCODE_FORM_1 = GS + b"k\x04ABC-1\x00"
BARCODE_FORM_2 = GS + b"kI\x05{B123"
QUIET_COMMANDS = (
    ESC + b"!\x38",
    ESC + b"E\x01",
    ESC + b"E\x00",
    ESC + b"a\x01",
    GS + b"!\x11",
    ESC + b"-\x01",
    ESC + b"p\x00\x19\xfa",
    b"\x10\x04\x01",
    ESC + b"D\x08\x10\x00",
    GS + b"L\x00\x00",
    ESC + b"t\x00",
    RASTER_8X2,
    QR,
    BARCODE_FORM_1,
    BARCODE_FORM_2,
)
"""Commands that print no text (images and codes print pictures, not characters)."""


def chinese_line(text: str) -> bytes:
    """A line in FS & (Chinese mode) GBK, as escpos-php writes Chinese."""
    return FS + b"&" + text.encode("gb18030") + b"\n" + FS + b"."
