"""Field extraction from a receipt's (masked) text: a default extractor and store templates.

The default extractor reads common Chinese and English receipts line by line:
the total is the amount on a total line, the final amount due or paid
outranking a plain total, which outranks a subtotal, and the last of equal
rank winning (a receipt prints its final figure last); a refund is a refund
heading, a refund total label or a negative total, and its total is negative.

A shop whose layout defeats it gets a template in the configuration: plain data,
a dict of named regular expressions (see ``Template``). Fields the template does
not name come from the default extractor.

The amount paid comes from the money ladder (``money``: gross, discounts,
service charge, due, tendered and change, payments); the plain ranking above
is the fallback when the ladder finds nothing. ``kinds`` says whether the
receipt is a sale at all (a reprint, void, pre-bill or kitchen ticket is not).

Confidence (0..1) weighs the fields found (the total most) and adds or removes
for consistency checks: item lines summing to the gross or total, gross minus
discounts plus service (and tax) making the total, tendered minus change and
the payments making the total; each doubt (a failed relation, two candidates
for the total, an amount line nothing explains) lowers it.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Final, NamedTuple

from drivers.pos.extract.amounts import (
    AMOUNT,
    CURRENCY_TOKEN,
    currency_of,
    find_currency,
    parse_amount,
)
from drivers.pos.extract.dates import find_printed_at
from drivers.pos.extract.fields import Fields, confidence
from drivers.pos.extract.items import find_items, first_total_line, units
from drivers.pos.extract.kinds import receipt_kind
from drivers.pos.extract.labels import (
    ANY_PAYMENT_METHOD,
    CHANGE,
    DISCOUNT,
    ITEM_COUNT,
    NOT_A_TOTAL,
    PAYMENT_LABEL,
    RECEIPT_NO,
    REFUND_HEADING,
    REFUND_WORD,
    TAX,
    TENDERED,
    TOTAL_LABELS,
    classify_payment,
)
from drivers.pos.extract.money import Money, find_money
from drivers.pos.extract.templates import Template, apply_template
from drivers.pos.result import ItemLine

__all__ = ["DEFAULT_EXTRACTOR", "Extractor"]

DEFAULT_EXTRACTOR: Final = "default"
_AMOUNT_AFTER_LABEL: Final = re.compile(
    r"(?P<between>[^\d\n]{0,40}?)(?P<neg>[-−(])?\s*(?P<cur>"
    + CURRENCY_TOKEN
    + r")?\s*(?P<neg2>[-−])?\s*(?P<amt>"
    + AMOUNT
    + r")"
)
_INCLUDED: Final = re.compile(r"incl|含|including|inkl", re.IGNORECASE)
_TOLERANCE: Final = Decimal("0.011")
_CENTS: Final = re.compile(r"\d[.,]\d{2}(?!\d)")
_DIGIT: Final = re.compile(r"\d")


class _Amount(NamedTuple):
    rank: int
    line: int
    value: Decimal
    currency: str | None


def _other_figure(text: str, total: bool) -> bool:
    """Words near a total label that make its amount another figure (a count, tax, change)."""
    if NOT_A_TOTAL.search(text):
        return True
    if not total or _INCLUDED.search(text):
        return False
    return any(p.search(text) for p in (TAX, DISCOUNT, CHANGE, TENDERED))


class _Doc:
    """A receipt's text with its lines: patterns run over the whole text at once."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = text.split("\n")
        self.starts = [0]
        for line in self.lines[:-1]:
            self.starts.append(self.starts[-1] + len(line) + 1)

    def line_of(self, position: int) -> int:
        return bisect.bisect_right(self.starts, position) - 1


def _label_amounts(doc: _Doc, label: re.Pattern[str], rank: int = 0) -> list[_Amount]:
    """Amounts printed after ``label`` (``TOTAL  $ 14.25``, ``合计: ¥15.50``, ``应付 -3.00``).

    ``rank`` > 0 asks for a total: a tax, discount, change or tendered word next
    to the label then means the amount is not the total.
    """
    found = []
    text = doc.text
    for match in label.finditer(text):
        number = doc.line_of(match.start())
        before = text[max(doc.starts[number], match.start() - 8) : match.start()]
        if _other_figure(before, rank > 0):
            continue
        amount = _AMOUNT_AFTER_LABEL.match(text, match.end())
        if amount is None or _other_figure(amount.group("between"), rank > 0):
            continue
        value = parse_amount(amount.group("amt"))
        if value is None:
            continue
        if amount.group("neg") or amount.group("neg2"):
            value = -value
        found.append(_Amount(rank, number, value, amount.group("cur")))
    return found


def _total(doc: _Doc, has_change: bool) -> _Amount | None:
    candidates = []
    for rank, label in TOTAL_LABELS:
        candidates += _label_amounts(doc, label, rank)
    if not has_change:  # tendered equals the sale when no change is given
        candidates += _label_amounts(doc, TENDERED, 15)
    if not candidates:
        return None
    return max(candidates, key=lambda a: (a.rank, a.line))


def _last(amounts: list[_Amount]) -> Decimal | None:
    return amounts[-1].value if amounts else None


def _payment(doc: _Doc, first_total: int) -> str | None:
    """The payment method, from the lines after the items (an item may be a gift card)."""
    labelled, tendered = [], []
    lines = doc.lines
    start = doc.starts[first_total] if first_total < len(lines) else 0
    found = ANY_PAYMENT_METHOD.finditer(doc.text, start)
    for number in sorted({doc.line_of(m.start()) for m in found}):
        line = lines[number]
        method = classify_payment(line)
        if method is None:
            continue
        if PAYMENT_LABEL.search(line):
            labelled.append(method)
        elif _CENTS.search(line) and not CHANGE.search(line):
            tendered.append(method)
    methods = set(labelled or tendered)
    if not methods and any(CHANGE.search(line) and _CENTS.search(line) for line in lines):
        return "cash"  # change is only given in cash
    if len(methods) > 1:
        return "mixed"
    return methods.pop() if methods else None


def _receipt_no(text: str) -> str | None:
    for match in RECEIPT_NO.finditer(text):
        value = match.group("value").rstrip(".-/")
        if len(value) >= 3 and any(char.isdigit() for char in value):
            return value
    return None


def _item_count(text: str) -> int | None:
    match = ITEM_COUNT.search(text)
    if match is None:
        return None
    return int(match.group("n") or match.group("n2") or match.group("n3"))


def _items_check(
    money: Money, total: Decimal | None, items: Sequence[ItemLine], discounts: Sequence[Decimal]
) -> bool | None:
    """Whether the item lines add up to the gross or the total (None: nothing to check)."""
    if total is None or not items:
        return None
    summed = abs(sum((item.amount for item in items), Decimal(0)) + sum(discounts, Decimal(0)))
    targets = [abs(total)] + [t for t in (money.gross, money.due) if t is not None]
    return any(abs(summed - target) < _TOLERANCE for target in targets)


class Extractor:
    """Extracts fields with the first matching store template, else the default rules."""

    def __init__(
        self,
        templates: Sequence[Template | Mapping[str, object]] = (),
        default_currency: str | None = None,
        day_first: bool = True,
    ) -> None:
        self.templates = tuple(
            t if isinstance(t, Template) else Template.from_dict(t) for t in templates
        )
        self.default_currency = default_currency
        self.day_first = day_first

    def extract(self, text: str) -> Fields:
        """The fields of one receipt's text (masked already)."""
        fields = self._default(text)
        for template in self.templates:
            if template.applies_to(text):
                return apply_template(template, text, fields, self.day_first)
        return fields

    def _default(self, text: str) -> Fields:
        doc = _Doc(text)
        lines = doc.lines
        first_total = first_total_line(lines)
        money = find_money(lines, first_total)
        value, total_line, total_currency = self._total(doc, money)
        refund = bool(REFUND_HEADING.search(text)) or (value is not None and value < 0)
        if total_line is not None and REFUND_WORD.search(lines[total_line]):
            refund = True
        if refund and value is not None:
            value = -abs(value)
        printed_currency = (
            currency_of(total_currency, self.default_currency) if total_currency else None
        )
        printed_currency = printed_currency or find_currency(text, self.default_currency)
        items = find_items(lines, first_total)
        count = _item_count(text) or units(items.lines)
        found = {
            "total": value is not None,
            "printed_at": (printed_at := find_printed_at(text, self.day_first)) is not None,
            "receipt_no": (receipt_no := _receipt_no(text)) is not None,
            "payment": (payment := _payment(doc, first_total)) is not None,
            "items": count is not None,
            "currency": printed_currency is not None,
        }
        methods = {p.method for p in money.payments}
        if len(methods) > 1:  # a split payment: 微信 50.00 / 现金 37.00
            payment = "mixed"
        elif payment is None and methods:
            payment = methods.pop()
        items_held = _items_check(money, value, items.lines, items.discounts)
        doubts = money.doubts + (("items_vs_gross",) if items_held is False else ())
        checks = [True] * money.held + ([] if items_held is None else [items_held])
        return Fields(
            total=value,
            currency=printed_currency or self.default_currency,
            items=count,
            item_lines=items.lines,
            receipt_no=receipt_no,
            printed_at=printed_at,
            payment=payment,
            refund=refund,
            extractor=DEFAULT_EXTRACTOR,
            confidence=confidence(found, checks + [False] * len(doubts), len(doubts)),
            gross=money.gross,
            discount=money.discount,
            tendered=money.tendered,
            change=money.change,
            payments=money.payments,
            doubts=doubts,
            kind=receipt_kind(text, refund, value is not None, money.paid),
        )

    def _total(self, doc: _Doc, money: Money) -> tuple[Decimal | None, int | None, str | None]:
        """The amount paid, its line and printed currency: the ladder's, else the ranking's."""
        printed = money.total_printed
        if money.total is not None and printed is not None:
            value = -money.total if printed.value < 0 else money.total
            return value, printed.line, printed.currency
        lines = doc.lines
        has_change = any(
            _DIGIT.search(lines[doc.line_of(m.start())]) for m in CHANGE.finditer(doc.text)
        )
        ranked = _total(doc, has_change)
        if money.total is None:
            if ranked is None:
                return None, None, None
            return ranked.value, ranked.line, ranked.currency
        if ranked is None:
            return money.total, None, None
        return money.total, ranked.line, ranked.currency
