"""Per-store extraction templates: named regular expressions given as plain data.

A template is a dict, as it appears in the configuration::

    {
        "name": "mall-b1-bakery",
        "match": "面包工坊",                 # optional: applies when this matches
        "total": r"实付\\s*[:：]\\s*(?P<total>[\\d.,]+)",
        "receipt_no": r"NO[.:]\\s*(?P<receipt_no>\\d+)",
        "printed_at": r"(?P<printed_at>\\d{8} \\d{6})",
        "printed_at_format": "%Y%m%d %H%M%S",     # optional: strptime format of printed_at
        "payment": r"付款[:：]\\s*(?P<payment>\\S+)",
        "items": r"^(?P<name>\\S.*?)\\s+(?P<qty>\\d+)\\s+(?P<amount>\\d+\\.\\d{2})$",
        "item_count": r"件数[:：](?P<item_count>\\d+)",
        "refund": r"退货单",
        "currency": "CNY",                        # a fixed currency code, not a pattern
    }

The value of a field is its named group (the field's name, or ``value``), else
the first group, else the whole match. Patterns run with ``re.MULTILINE`` over
the masked text; ``items`` is applied to every line and must name ``amount``
(``name`` and ``qty`` optional). A template is checked when it is built (a bad
pattern raises ValueError naming the key); applying it never raises.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Final

from drivers.pos.extract.amounts import currency_of, parse_amount, signed_amount
from drivers.pos.extract.dates import find_printed_at
from drivers.pos.extract.fields import Fields, confidence
from drivers.pos.extract.items import units
from drivers.pos.extract.labels import classify_payment
from drivers.pos.result import ItemLine

__all__ = ["PATTERN_KEYS", "Template", "apply_template"]

PATTERN_KEYS: Final = (
    "total",
    "receipt_no",
    "printed_at",
    "payment",
    "items",
    "item_count",
    "refund",
    "currency_pattern",
)
_TEXT_KEYS: Final = ("name", "match", "printed_at_format", "currency")


@dataclass(frozen=True)
class Template:
    """A compiled store template."""

    name: str
    match: re.Pattern[str] | None = None
    patterns: Mapping[str, re.Pattern[str]] = field(default_factory=dict)
    printed_at_format: str | None = None
    currency: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Template:
        """Build from configuration data; ValueError names the offending key."""
        unknown = sorted(set(data) - set(PATTERN_KEYS) - set(_TEXT_KEYS))
        if unknown:
            raise ValueError(
                f"unknown template key(s) {unknown}; known: {PATTERN_KEYS + _TEXT_KEYS}"
            )
        name = data.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError("template key 'name' must be a non-empty string")
        for key in _TEXT_KEYS[2:]:
            if key in data and not isinstance(data[key], str):
                raise ValueError(f"template {name!r} key {key!r} must be a string")
        match = _compile(name, "match", data["match"]) if "match" in data else None
        patterns = {key: _compile(name, key, data[key]) for key in PATTERN_KEYS if key in data}
        if "items" in patterns and "amount" not in patterns["items"].groupindex:
            raise ValueError(f"template {name!r} key 'items' needs a group named 'amount'")
        fmt, currency = data.get("printed_at_format"), data.get("currency")
        return cls(
            name,
            match,
            patterns,
            fmt if isinstance(fmt, str) else None,
            currency.upper() if isinstance(currency, str) else None,
        )

    def applies_to(self, text: str) -> bool:
        return self.match is None or self.match.search(text) is not None


def _compile(name: str, key: str, pattern: object) -> re.Pattern[str]:
    if not isinstance(pattern, str):
        raise ValueError(f"template {name!r} key {key!r} must be a regular expression string")
    try:
        return re.compile(pattern, re.MULTILINE)
    except re.error as exc:
        raise ValueError(f"template {name!r} key {key!r}: bad regular expression: {exc}") from exc


def _value(pattern: re.Pattern[str], key: str, text: str) -> str | None:
    match = pattern.search(text)
    if match is None:
        return None
    groups = match.groupdict()
    for group in (key, "value"):
        if groups.get(group) is not None:
            return str(groups[group])
    if match.lastindex:
        return match.group(1)
    return match.group(0)


def _printed_at(template: Template, value: str, day_first: bool) -> str | None:
    if template.printed_at_format:
        try:
            return datetime.strptime(value.strip(), template.printed_at_format).isoformat()
        except ValueError:
            return None
    return find_printed_at(value, day_first)


def _items(pattern: re.Pattern[str], text: str) -> tuple[ItemLine, ...]:
    lines = []
    for match in pattern.finditer(text):
        groups = match.groupdict()
        amount = signed_amount(groups.get("amount") or "")
        if amount is None:
            continue
        quantity = parse_amount(groups.get("qty") or "")
        lines.append(ItemLine((groups.get("name") or "").strip(), quantity, amount))
    return tuple(lines)


def _template_total(
    template: Template, values: Mapping[str, str | None], defaults: Fields
) -> Decimal | None:
    if "total" not in template.patterns:
        return defaults.total
    value = values.get("total")
    return signed_amount(value) if value else None


def _currency(template: Template, values: Mapping[str, str | None], defaults: Fields) -> str | None:
    printed = values.get("currency_pattern")
    if printed:
        code = printed.strip().upper()
        return currency_of(printed.strip(), template.currency) or (code if len(code) == 3 else None)
    return template.currency or defaults.currency


def _count(
    template: Template,
    values: Mapping[str, str | None],
    items: tuple[ItemLine, ...],
    defaults: Fields,
) -> int | None:
    if "item_count" in template.patterns:
        value = (values.get("item_count") or "").strip()
        return int(value) if value.isdigit() else None
    return units(items) if "items" in template.patterns else defaults.items


def _texts(
    template: Template, values: Mapping[str, str | None], defaults: Fields, day_first: bool
) -> tuple[str | None, str | None, str | None]:
    """printed_at, payment and receipt_no: the template's when it names them."""
    named = template.patterns.keys()
    printed_at, payment, receipt_no = defaults.printed_at, defaults.payment, defaults.receipt_no
    if "printed_at" in named:
        value = values.get("printed_at")
        printed_at = _printed_at(template, value, day_first) if value else None
    if "payment" in named:
        value = values.get("payment")
        payment = (classify_payment(value) or value.strip().lower() or None) if value else None
    if "receipt_no" in named:
        receipt_no = (values.get("receipt_no") or "").strip() or None
    return printed_at, payment, receipt_no


def apply_template(template: Template, text: str, defaults: Fields, day_first: bool) -> Fields:
    """The template's fields, and the default extractor's for the fields it does not name."""
    values = {key: _value(p, key, text) for key, p in template.patterns.items() if key != "items"}
    named = template.patterns.keys()
    total = _template_total(template, values, defaults)
    refund = values.get("refund") is not None if "refund" in named else defaults.refund
    refund = refund or (total is not None and total < 0)
    if refund and total is not None:
        total = -abs(total)
    items = _items(template.patterns["items"], text) if "items" in named else defaults.item_lines
    printed_at, payment, receipt_no = _texts(template, values, defaults, day_first)
    count = _count(template, values, items, defaults)
    found = {
        "total": total is not None,
        "printed_at": printed_at is not None,
        "receipt_no": receipt_no is not None,
        "payment": payment is not None,
        "items": count is not None,
        "currency": template.currency is not None or bool(values.get("currency_pattern")),
    }
    checks = []
    if items and total is not None:
        summed = sum((item.amount for item in items), Decimal(0))
        checks.append(abs(abs(summed) - abs(total)) < Decimal("0.011"))
    return Fields(
        total=total,
        currency=_currency(template, values, defaults),
        items=count,
        item_lines=items,
        receipt_no=receipt_no,
        printed_at=printed_at,
        payment=payment,
        refund=refund,
        extractor=template.name,
        confidence=confidence(found, checks),
    )
