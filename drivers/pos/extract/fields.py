"""How sure an extractor is of the fields it found in a receipt's text (``Fields``, kept
with the ``Receipt`` that extends it in ``drivers.pos.result``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from drivers.pos.result import Fields

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
_PER_DOUBT: Final = 0.15
_DOUBTED_AT_MOST: Final = 0.85
"""A receipt with a doubt is never near-certain, whatever else was found."""


def confidence(found: Mapping[str, bool], checks: Sequence[bool], doubts: int = 0) -> float:
    """Weighted share of fields found, raised when a check holds, lowered when all fail.

    ``found["currency"]`` means printed on the receipt (a configured default
    proves nothing); ``checks`` are the consistency checks that could be made;
    each of ``doubts`` (figures that disagree, amount lines left unexplained)
    lowers it, and any caps it below certainty.
    """
    score = sum(weight for name, weight in WEIGHTS.items() if found.get(name))
    if any(checks):
        score += _CHECK_HELD
    elif checks:
        score -= _CHECKS_FAILED
    if doubts:
        score = min(score - _PER_DOUBT * min(doubts, 3), _DOUBTED_AT_MOST)
    return round(min(1.0, max(0.0, score)), 2)
