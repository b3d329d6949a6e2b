"""Money on receipts: amounts as printed (``1,234.50``, ``1.234,50``, ``12.5``) and currencies.

Amounts are ``Decimal``: a receipt total is exact, and the sum of its item
lines must compare equal to it without binary rounding.
"""

from __future__ import annotations

import re
from collections import Counter
from decimal import Decimal
from typing import Final

__all__ = [
    "AMOUNT",
    "CURRENCY_TOKEN",
    "currency_of",
    "find_currency",
    "parse_amount",
    "signed_amount",
]

AMOUNT: Final = r"(?<![\d.,])\d(?:[\d.,']*\d)?(?![\d])"
"""An amount token: digits with thousands and decimal separators (validated by parse_amount)."""

_THOUSANDS_GROUPS: Final = re.compile(r"[1-9]\d{0,2}(?:([.,])\d{3})(?:\1\d{3})*")
"""Digit groups of three with one separator kind: ``1,234`` or ``1.234.567`` (never ``0.500``)."""
_SIGN_AND_AMOUNT: Final = re.compile(r"(?P<neg>[-−(])?\s*" + AMOUNT)


def parse_amount(token: str) -> Decimal | None:
    """``1,234.50`` / ``1.234,50`` / ``1'234.50`` / ``12,5`` / ``1,234`` -> Decimal, else None.

    Grouping alone (``1,234``, ``1.234.567``) is thousands. Otherwise the last
    separator is the decimal point, followed by one to three digits (three for
    weights such as ``0.500``), and any separators before it group thousands.
    """
    token = token.replace("'", "")
    if not token or not token[0].isdigit() or not token[-1].isdigit():
        return None
    if token.isdigit():
        return Decimal(token)
    if _THOUSANDS_GROUPS.fullmatch(token):
        return Decimal(token.replace(",", "").replace(".", ""))
    last = max(token.rfind("."), token.rfind(","))
    integer, fraction = token[:last], token[last + 1 :]
    if not (1 <= len(fraction) <= 3 and fraction.isdigit()):
        return None
    if not integer.isdigit():
        grouped = _THOUSANDS_GROUPS.fullmatch(integer)
        if grouped is None or grouped.group(1) == token[last]:
            return None
        integer = integer.replace(grouped.group(1), "")
    return Decimal(f"{integer}.{fraction}")


def signed_amount(text: str) -> Decimal | None:
    """The first amount in ``text`` with its sign (``-12.50``, ``(12.50)``)."""
    match = _SIGN_AND_AMOUNT.search(text)
    if match is None:
        return None
    value = parse_amount(match.group(0).lstrip("-−( \t"))
    if value is None:
        return None
    return -value if match.group("neg") else value


# Symbol or code -> the currencies it can mean, the most common first. The
# configured currency wins when it is among them (a "$" in Hong Kong is HKD).
_CURRENCIES: Final[dict[str, tuple[str, ...]]] = {
    "¥": ("CNY", "JPY"),
    "￥": ("CNY", "JPY"),
    "元": ("CNY", "TWD", "HKD"),
    "RMB": ("CNY",),
    "円": ("JPY",),
    "$": ("USD", "HKD", "SGD", "TWD", "AUD", "CAD", "NZD", "MOP", "MXN"),
    "US$": ("USD",),
    "HK$": ("HKD",),
    "S$": ("SGD",),
    "NT$": ("TWD",),
    "A$": ("AUD",),
    "C$": ("CAD",),
    "MOP$": ("MOP",),
    "R$": ("BRL",),
    "€": ("EUR",),
    "£": ("GBP",),
    "₩": ("KRW",),
    "₹": ("INR",),
    "฿": ("THB",),
    "₫": ("VND",),
    "₱": ("PHP",),
    "RM": ("MYR",),
    "Rp": ("IDR",),
}
_ISO_CODES: Final = frozenset(
    [
        "CNY",
        "USD",
        "EUR",
        "GBP",
        "JPY",
        "HKD",
        "SGD",
        "TWD",
        "AUD",
        "CAD",
        "NZD",
        "MOP",
        "KRW",
        "INR",
        "THB",
        "VND",
        "PHP",
        "MYR",
        "IDR",
        "CHF",
        "BRL",
        "MXN",
        "AED",
        "SAR",
    ]
)
CURRENCY_TOKEN: Final = (
    r"(?:MOP\$|HK\$|US\$|NT\$|S\$|A\$|C\$|R\$|[¥￥$€£₩₹฿₫₱元円]|"
    r"\b(?:RMB|RM|Rp|" + "|".join(sorted(_ISO_CODES)) + r")\b)"
)
_CURRENCY: Final = re.compile(CURRENCY_TOKEN)


def currency_of(token: str, default: str | None = None) -> str | None:
    """ISO 4217 code of a printed symbol or code; ambiguous symbols follow ``default``."""
    if token in _ISO_CODES:
        return token
    candidates = _CURRENCIES.get(token)
    if not candidates:
        return None
    return default if default in candidates else candidates[0]


def find_currency(text: str, default: str | None = None) -> str | None:
    """The currency printed most often in ``text`` (None when none is printed)."""
    counts = Counter(
        code
        for code in (currency_of(m.group(0), default) for m in _CURRENCY.finditer(text))
        if code
    )
    return counts.most_common(1)[0][0] if counts else None
