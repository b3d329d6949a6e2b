"""The fields an extractor finds in a receipt's text, and how sure it is of them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Final, NamedTuple

from drivers.pos.result import ItemLine

__all__ = ["WEIGHTS", "Fields", "confidence"]

WEIGHTS: Final = {
    "total": 0.45,
    "printed_at": 0.15,
    "receipt_no": 0.1,
    "payment": 0.1,
    "items": 0.1,
    "currency": 0.05,
}
"""Share of the confidence each field found brings; the total is what the platform needs."""
_CHECK_HELD: Final = 0.15
_CHECKS_FAILED: Final = 0.2


class Fields(NamedTuple):
    """What one extractor found in a receipt's text."""

    total: Decimal | None
    currency: str | None
    items: int | None
    item_lines: tuple[ItemLine, ...]
    receipt_no: str | None
    printed_at: str | None
    payment: str | None
    refund: bool
    extractor: str
    confidence: float


def confidence(found: Mapping[str, bool], checks: Sequence[bool]) -> float:
    """Weighted share of fields found, raised when a check holds, lowered when all fail.

    ``found["currency"]`` means printed on the receipt (a configured default
    proves nothing); ``checks`` are the consistency checks that could be made.
    """
    score = sum(weight for name, weight in WEIGHTS.items() if found.get(name))
    if any(checks):
        score += _CHECK_HELD
    elif checks:
        score -= _CHECKS_FAILED
    return round(min(1.0, max(0.0, score)), 2)
