"""How ``mallsense pos`` shows receipts: a few readable lines each, or JSON.

The JSON of a receipt is ``Receipt.as_json`` (the ``pos parse --json``
contract: ``text``, ``total``, ``currency``, ``items``, ``receipt_no``,
``printed_at``, ``payment``, ``refund``, ``raster_only``, ``extractor``,
``confidence``, the money ladder ``gross``, ``discount``, ``tendered``,
``change``, ``payments``, ``doubts``, ``kind``, ``encoding``...) plus
``quality``: how much its bytes looked like ESC/POS.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from rich.markup import escape
from rich.table import Table

from drivers.pos.line.quality import ACCEPT, CAUSES, score_receipt
from drivers.pos.result import Receipt
from edge.aggregate.ids import iso
from edge.cli.common import console

__all__ = [
    "COMPARED_FIELDS",
    "comparison_table",
    "print_receipt",
    "print_totals",
    "receipt_json",
]

COMPARED_FIELDS = (
    "total",
    "currency",
    "items",
    "receipt_no",
    "printed_at",
    "payment",
    "refund",
    "confidence",
)


def receipt_json(receipt: Receipt, number: int | None = None) -> dict[str, Any]:
    """The contract object of one receipt, with its line-quality score."""
    body = receipt.as_json() | {"quality": score_receipt(receipt).as_json()}
    return body if number is None else {"receipt": number} | body


def _amount(receipt: Receipt) -> str:
    if receipt.total is None:
        return "total not found"
    currency = f" {receipt.currency}" if receipt.currency else ""
    return f"total {receipt.total}{currency}"


def _ladder(receipt: Receipt) -> str:
    """``gross 92.00 · discount 5.00 · wechat 87.00``: how the total was made up."""
    parts = [
        f"{name} {value}"
        for name, value in (
            ("gross", receipt.gross),
            ("discount", receipt.discount),
            ("tendered", receipt.tendered),
            ("change", receipt.change),
        )
        if value is not None
    ]
    parts += [f"{p.method} {p.amount}" for p in receipt.payments]
    return " · ".join(parts)


def _fields(receipt: Receipt) -> str:
    parts = [_amount(receipt)]
    if receipt.items is not None:
        parts.append(f"{receipt.items} item{'s' if receipt.items != 1 else ''}")
    parts += [receipt.payment or "payment not found"]
    if receipt.receipt_no:
        parts.append(f"receipt no. {receipt.receipt_no}")
    if receipt.printed_at:
        parts.append(f"printed {receipt.printed_at}")
    return " · ".join(parts)


def print_receipt(number: int, receipt: Receipt, show_text: bool) -> None:
    """A readable summary of one receipt (and its masked text when asked)."""
    read_at = f", read at {iso(receipt.t_start)}" if receipt.t_start > 0 else ""
    refund = " [bold]REFUND[/]" if receipt.refund else ""
    if receipt.kind not in ("sale", "refund"):
        refund = f" [bold]{receipt.kind.upper()}[/] (not a sale)"
    encoding = f", read as {receipt.encoding}" if receipt.encoding else ""
    console.print(
        f"[bold]receipt {number}[/]{refund}: ended by {receipt.boundary},"
        f" {receipt.stats.bytes:,} bytes{read_at}{encoding}"
    )
    score = score_receipt(receipt)
    if receipt.raster_only:
        console.print("  printed as an image only: no text to read (a sale of unknown amount)")
    else:
        console.print(f"  {escape(_fields(receipt))}")
        if ladder := _ladder(receipt):
            console.print(f"  {escape(ladder)}")
        for doubt in receipt.doubts:
            console.print(f"  [yellow]doubt[/]: {escape(doubt)}")
    masked = f"; {receipt.masked} number(s) masked" if receipt.masked else ""
    console.print(
        f"  extractor {escape(receipt.extractor)}, confidence {receipt.confidence:.2f}{masked}"
    )
    if score.score < ACCEPT and score.cause is not None:
        console.print(
            f"  [yellow]does not look like a receipt[/] (score {score.score:.2f}): likely"
            f" {escape(CAUSES[score.cause])}"
        )
    if show_text and receipt.text:
        for line in receipt.text.split("\n"):
            console.print(f"  | {escape(line)}", soft_wrap=True)


def print_totals(receipts: Sequence[Receipt]) -> None:
    """One closing line: how many receipts, refunds, images, and the sum per currency."""
    if not receipts:
        console.print("no receipt found (nothing printable in the bytes)")
        return
    sums: Counter[str] = Counter()
    for receipt in receipts:
        if receipt.total is not None and receipt.kind in ("sale", "refund"):
            sums[receipt.currency or "?"] += receipt.total  # type: ignore[assignment]
    refunds = sum(r.refund for r in receipts)
    images = sum(r.raster_only for r in receipts)
    money = ", ".join(f"{Decimal(v)} {c}" for c, v in sorted(sums.items())) or "no totals read"
    others = Counter(r.kind for r in receipts if r.kind not in ("sale", "refund"))
    not_sales = "".join(f", {n} {kind}" for kind, n in sorted(others.items()))
    encodings = sorted({r.encoding for r in receipts if r.encoding})
    read_as = f"; read as {', '.join(encodings)}" if encodings else ""
    console.print(
        f"{len(receipts)} receipt(s): {refunds} refund(s), {images} printed as images"
        f"{not_sales}; sum {money}{read_as}"
    )


def _value(receipt: Receipt, field: str) -> str:
    value = getattr(receipt, field)
    if field == "confidence":
        return f"{value:.2f}"
    return "-" if value is None else str(value)


def comparison_table(number: int, template: Receipt, default: Receipt) -> Table:
    """Field by field: what the store's template read, and what the default extractor read."""
    applied = template.extractor != default.extractor
    title = f"receipt {number}: template {template.extractor}"
    if not applied:
        title = f"receipt {number}: no template applies (its 'match' is not in the receipt)"
    table = Table("field", "template", "default", title=title, title_justify="left")
    for field in COMPARED_FIELDS:
        ours, theirs = _value(template, field), _value(default, field)
        mark = "" if ours == theirs else "[bold]"
        table.add_row(field, f"{mark}{escape(ours)}", escape(theirs))
    return table
