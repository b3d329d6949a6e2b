"""What the POS decoder produces: segments of printed text, then receipts.

``Receipt.as_json`` gives the contract of ``mallsense pos parse --json``: one
object per receipt with ``text`` and the fields ``total`` (a number, negative
for a refund), ``currency``, ``items``, ``receipt_no``, ``printed_at``,
``payment``, ``refund``, ``raster_only``, ``extractor`` and ``confidence``; the
money ladder ``gross``, ``discount``, ``tendered``, ``change``, ``payments``
(``total`` is the amount paid, net), ``doubts``, the receipt's ``kind`` and the
``encoding`` it was read with.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

__all__ = [
    "Fields",
    "ItemLine",
    "Payment",
    "Receipt",
    "Segment",
    "SegmentStats",
    "money_json",
    "payments_json",
]


class SegmentStats(NamedTuple):
    """Counters of one segment (one receipt's bytes)."""

    bytes: int
    """All bytes, image and barcode data included."""
    text_bytes: int
    commands: int
    graphics: int
    """Image print commands (raster images, bit-image bands, stored graphics)."""
    codes: int
    """Barcodes and 2D symbols (QR, PDF417...) printed."""
    unknown: int
    """Commands skipped by the safe rule (their length is not known)."""
    malformed: int
    """Commands with impossible parameters (skipped by their header)."""
    truncated: int
    """Commands or image data cut off by the end of the segment."""
    replaced: int
    """Characters that did not decode in the active code page (U+FFFD)."""


class Segment(NamedTuple):
    """One receipt's printed text, before masking and field extraction."""

    text: str
    t_start: float
    """Time of the chunk that carried the segment's first byte."""
    t_end: float
    """Time of the chunk that carried its last byte."""
    boundary: str
    """``cut``, ``idle``, ``size`` or ``end`` (end of input)."""
    stats: SegmentStats

    @property
    def raster_only(self) -> bool:
        """Printed as images only (a POS driver rendering the receipt as a bitmap)."""
        return self.stats.graphics > 0 and not self.text.strip()


class ItemLine(NamedTuple):
    """One sold article as printed: name, quantity when printed, line amount."""

    name: str
    quantity: Decimal | None
    amount: Decimal


class Payment(NamedTuple):
    """One payment printed on a receipt (``微信 50.00``, ``现金 100.00``): method, amount."""

    method: str
    amount: Decimal


def money_json(value: Decimal | None) -> float | None:
    """An amount as JSON carries it: a number (None: not printed)."""
    return None if value is None else float(value)


def payments_json(payments: tuple[Payment, ...]) -> list[dict[str, str | float]]:
    """The payments printed, as JSON carries them: ``{method, amount}`` each."""
    return [{"method": p.method, "amount": float(p.amount)} for p in payments]


@dataclass(frozen=True, slots=True, kw_only=True)
class Fields:
    """What one extractor found in a receipt's text (``drivers.pos.extract``)."""

    total: Decimal | None
    """The amount of the sale; negative for a refund; None when not found."""
    currency: str | None
    """ISO 4217 code (``CNY``, ``USD``...), from the receipt or the configured default."""
    items: int | None
    """Units sold (printed quantities, else the number of item lines)."""
    item_lines: tuple[ItemLine, ...]
    receipt_no: str | None
    printed_at: str | None
    """Printed date and time, ISO 8601 without zone (``2026-03-14T10:05:11``), or a date."""
    payment: str | None
    """``wechat``, ``alipay``, ``unionpay``, ``cash``, ``card``, ``mobile``, ``voucher``,
    ``stored_value``, ``mixed``, or what a store template captured."""
    refund: bool
    extractor: str
    """``default`` or the name of the store template used; ``none`` for raster-only."""
    confidence: float
    """0..1: which fields were found and whether they agree with each other."""
    gross: Decimal | None = None
    """Before discounts and service charge (``合计``, ``小计``, ``SUBTOTAL``), if printed."""
    discount: Decimal | None = None
    """Everything taken off (``优惠``, ``会员折扣``, ``抹零``...), positive, if printed."""
    tendered: Decimal | None = None
    """What the customer handed over (``实收`` with change, ``现金``, ``CASH``), if printed."""
    change: Decimal | None = None
    payments: tuple[Payment, ...] = ()
    doubts: tuple[str, ...] = ()
    """Why ``total`` may be wrong (figures that disagree, amount lines not explained)."""
    kind: str = "sale"
    """``sale``, ``refund``, or not a sale: ``reprint``, ``void``, ``prebill``, ``kitchen``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Receipt(Fields):
    """One decoded receipt: masked text, the fields extracted from it, and where it was
    on the line."""

    text: str
    """The printed text with card, phone and member numbers masked."""
    raster_only: bool
    """Printed as images only: there is no text to extract from."""
    text_sha256: str
    """SHA-256 of the masked text (hex): lets the platform match receipts, not read them."""
    t_start: float
    t_end: float
    boundary: str
    stats: SegmentStats
    masked: int
    """How many card, phone and member numbers were masked."""
    encoding: str | None = None
    """The text encoding the printer was read with (configured or detected)."""

    def as_json(self) -> dict[str, Any]:
        """JSON-ready dict with the ``pos parse --json`` contract names."""
        return {
            "text": self.text,
            "total": money_json(self.total),
            "currency": self.currency,
            "items": self.items,
            "item_lines": [
                {
                    "name": line.name,
                    "quantity": None if line.quantity is None else float(line.quantity),
                    "amount": float(line.amount),
                }
                for line in self.item_lines
            ],
            "receipt_no": self.receipt_no,
            "printed_at": self.printed_at,
            "payment": self.payment,
            "refund": self.refund,
            "raster_only": self.raster_only,
            "extractor": self.extractor,
            "confidence": self.confidence,
            "text_sha256": self.text_sha256,
            "t_start": self.t_start,
            "t_end": self.t_end,
            "boundary": self.boundary,
            "masked": self.masked,
            "gross": money_json(self.gross),
            "discount": money_json(self.discount),
            "tendered": money_json(self.tendered),
            "change": money_json(self.change),
            "payments": payments_json(self.payments),
            "doubts": list(self.doubts),
            "kind": self.kind,
            "encoding": self.encoding,
            "stats": self.stats._asdict(),
        }
