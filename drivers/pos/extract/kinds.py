"""What a printed receipt is: a sale, a refund, or a slip that is not a sale at all.

Chinese POS software prints more than sales on the receipt printer:

- ``reprint``: a receipt printed again (``重打``, ``补打``, ``重印``, ``COPY``,
  ``REPRINT``); the sale was counted the first time. The decoder also calls a
  receipt a reprint when its number and amount were printed moments before;
- ``void``: a cancelled order or voided sale (``作废``, ``取消``, ``VOID``);
- ``prebill``: a restaurant's bill before payment (``预结单``, ``结账单`` with no
  payment printed); the paid receipt follows;
- ``kitchen``: a kitchen ticket (``厨打``, ``厨房单``), with no amount.

The words must stand as a heading (a short line), so a footer such as
``如需取消订单请致电`` does not turn a sale into a void.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["COUNTED", "KINDS", "receipt_kind"]

KINDS: Final = ("sale", "refund", "reprint", "void", "prebill", "kitchen")
COUNTED: Final = frozenset({"sale", "refund"})
"""Kinds the figures count (a refund counts against sales)."""

_I: Final = re.IGNORECASE
_DECORATION: Final = re.compile(r"[\s*=#\-_\[\]【】()（）<>《》:：~·.]+")
_HEADING_CHARS: Final = 16
_KITCHEN: Final = re.compile(r"厨打|厨房单|厨房联|后厨|制作单|出品单|\bKITCHEN\b", _I)
_VOID: Final = re.compile(
    r"作废|已作废|取消(?:订单|交易|单)?|已取消|撤单|\bVOID(?:ED)?\b|\bCANCEL(?:L?ED)?\b", _I
)
_REPRINT: Final = re.compile(
    r"重打|补打|重印|补印|重新打印|\bRE-?PRINT(?:ED)?\b|\bDUPLICATE\b|"
    r"(?<!CUSTOMER )(?<!CARDHOLDER )\bCOPY\b|商户存根|商户联",
    _I,
)
_PREBILL: Final = re.compile(
    r"预结单|预结账单|预打单|暂结单|\bPRE-?BILL\b|\bPROFORMA\b|\bNOT\s+PAID\b|未结账", _I
)
_BILL: Final = re.compile(r"结账单|结帐单|结账清单", _I)
_ANY: Final = re.compile(
    "|".join(f"(?:{p.pattern})" for p in (_KITCHEN, _VOID, _REPRINT, _PREBILL, _BILL)), _I
)
"""Any kind word: most receipts have none, and one search over the text says so."""


def _headings(text: str) -> list[str]:
    """Short lines, decoration removed: where a slip says what it is."""
    found = []
    for line in text.split("\n"):
        bare = _DECORATION.sub(" ", line).strip()
        if bare and len(bare) <= _HEADING_CHARS:
            found.append(bare)
    return found


def receipt_kind(text: str, refund: bool, has_amount: bool, paid: bool) -> str:
    """The kind of one receipt's (masked) text.

    ``has_amount``: any money amount was read; ``paid``: an amount paid,
    tendered or a payment was printed (a bill without one is a pre-bill).
    """
    if _ANY.search(text) is None:
        return "refund" if refund else "sale"
    headings = "\n".join(_headings(text))
    if _KITCHEN.search(headings) and not paid:
        return "kitchen"
    if _VOID.search(headings):
        return "void"
    if _REPRINT.search(headings):
        return "reprint"
    if _PREBILL.search(headings) or (_BILL.search(headings) and has_amount and not paid):
        return "prebill"
    if not has_amount and _KITCHEN.search(text):
        return "kitchen"
    return "refund" if refund else "sale"
