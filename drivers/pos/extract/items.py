"""Item lines: what was sold, as the article lines of a receipt print it.

An item line ends with an amount with cents (or a currency sign), and its text
has letters: ``Example item #1      4.00``, ``商品A x2  ¥12.50``,
``Apples 2 @ 1.25  2.50``, ``可乐   2   3.00   6.00``. Chinese POS software often
prints the name on one line and ``数量 单价 金额`` under it; such pairs are joined.
Lines of totals, tax, payment, change and labels are not items; discount lines
are kept apart so the items can be checked against the total.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Final, NamedTuple

from drivers.pos.extract.amounts import AMOUNT, CURRENCY_TOKEN, parse_amount
from drivers.pos.extract.labels import (
    CHANGE,
    DISCOUNT,
    MEMBER_LABEL,
    PAYMENT_LABEL,
    PAYMENT_METHODS,
    PHONE_LABEL,
    RECEIPT_NO,
    TAX,
    TENDERED,
    TOTAL_LABELS,
)
from drivers.pos.result import ItemLine

__all__ = ["Items", "find_items", "first_total_line", "units"]

_TAIL: Final = re.compile(
    r"(?P<cur>" + CURRENCY_TOKEN + r")?\s*(?P<neg>[-−])?\s*(?P<amt>" + AMOUNT + r")"
    r"\s*(?P<cur2>" + CURRENCY_TOKEN + r")?\s*$"
)
_CENTS: Final = re.compile(r"[.,]\d{2}$")
_LETTER: Final = re.compile(r"[A-Za-z\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]{1}")
_TIMES_QTY: Final = re.compile(r"(?:^|\s)[xX×*]\s*(?P<q>\d+(?:\.\d+)?)\s*$")
_QTY_AT_PRICE: Final = re.compile(
    r"(?:^|\s)(?P<q>\d+(?:\.\d+)?)\s*(?:[xX×*@]|pcs?\s*[x@]?)\s*(?:"
    + CURRENCY_TOKEN
    + r")?\s*(?P<p>"
    + AMOUNT
    + r")\s*$"
)
_QTY_PRICE_COLUMNS: Final = re.compile(
    r"(?:^|\s{2,})(?P<q>\d{1,3}(?:\.\d{1,3})?)\s{2,}(?:"
    + CURRENCY_TOKEN
    + r")?\s*(?P<p>"
    + AMOUNT
    + r")\s*$"
)
_QTY_COLUMN: Final = re.compile(r"\s{2,}(?P<q>\d{1,3})\s*$")
_LEADING_QTY: Final = re.compile(r"^\s*(?P<q>\d{1,3})\s*(?:[xX×*]\s*)?\s(?=\s*\D)")
_NOT_ITEM: Final = (TENDERED, CHANGE, TAX, PAYMENT_LABEL, RECEIPT_NO, MEMBER_LABEL, PHONE_LABEL)


def _any(patterns: tuple[re.Pattern[str], ...]) -> re.Pattern[str]:
    """One pattern for several (one search per line instead of one per pattern)."""
    return re.compile("|".join(f"(?:{p.pattern})" for p in patterns), re.IGNORECASE | re.MULTILINE)


_LABEL: Final = _any(_NOT_ITEM + tuple(pattern for _, pattern in PAYMENT_METHODS))
_TOTALISH: Final = _any((*(pattern for _, pattern in TOTAL_LABELS), TENDERED, CHANGE))


class Items(NamedTuple):
    lines: tuple[ItemLine, ...]
    discounts: tuple[Decimal, ...]
    """Discount lines printed among the items (negative amounts)."""


def first_total_line(lines: list[str]) -> int:
    """Index of the first line with a total, subtotal, tender or change label."""
    for index, line in enumerate(lines):
        if _TOTALISH.search(line) and _TAIL.search(line):
            return index
    return len(lines)


def _is_label_line(body: str) -> bool:
    return _LABEL.search(body) is not None


def _quantity(body: str, amount: Decimal) -> tuple[str, Decimal | None]:
    """The name and the printed quantity of an item line's text before its amount."""
    for pattern in (_TIMES_QTY, _QTY_AT_PRICE, _QTY_PRICE_COLUMNS):
        match = pattern.search(body)
        if match is None:
            continue
        quantity = parse_amount(match.group("q"))
        price = parse_amount(match.group("p")) if "p" in match.groupdict() else None
        if quantity is None or quantity <= 0:
            continue
        columns = pattern is _QTY_PRICE_COLUMNS and price is not None
        if columns and abs(quantity * (price or 0) - abs(amount)) > Decimal("0.011"):
            continue
        return body[: match.start()].strip(), quantity
    match = _QTY_COLUMN.search(body)
    if match is not None and body[: match.start()].strip():
        return body[: match.start()].strip(), Decimal(match.group("q"))
    match = _LEADING_QTY.match(body)
    if match is not None and _LETTER.search(body, match.end()):
        return body[match.end() :].strip(), Decimal(match.group("q"))
    return body.strip(), None


def _tail(line: str) -> tuple[str, Decimal] | None:
    """(text before the amount, signed amount) of a line ending with money."""
    match = _TAIL.search(line)
    if match is None:
        return None
    if not (match.group("cur") or match.group("cur2") or _CENTS.search(match.group("amt"))):
        return None
    amount = parse_amount(match.group("amt"))
    if amount is None:
        return None
    return line[: match.start()].rstrip(), -amount if match.group("neg") else amount


def find_items(lines: list[str], first_total: int | None = None) -> Items:
    """Item lines and discounts above the first total line (``first_total`` when known)."""
    items: list[ItemLine] = []
    discounts: list[Decimal] = []
    pending_name: str | None = None
    end = first_total_line(lines) if first_total is None else first_total
    for line in lines[:end]:
        tail = _tail(line)
        if tail is None:
            text = line.strip()
            usable = _LETTER.search(text) and not _is_label_line(text)
            pending_name = text if usable and len(text) <= 40 else None
            continue
        body, amount = tail
        if DISCOUNT.search(body):
            discounts.append(-abs(amount))
        elif _LETTER.search(body):
            if not _is_label_line(body):
                name, quantity = _quantity(body, amount)
                items.append(ItemLine(name or body.strip(), quantity, amount))
        elif pending_name is not None:
            _, quantity = _quantity(" " + body, amount)
            items.append(ItemLine(pending_name, quantity, amount))
        pending_name = None
    return Items(tuple(items), tuple(discounts))


def units(items: tuple[ItemLine, ...]) -> int | None:
    """Units sold: whole printed quantities summed; weighed or unquantified lines count one."""
    if not items:
        return None
    total = 0
    for item in items:
        quantity = item.quantity
        if quantity is not None and quantity == quantity.to_integral_value():
            total += int(quantity)
        else:
            total += 1
    return total
