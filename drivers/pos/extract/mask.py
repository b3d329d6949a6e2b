"""Masking of card, phone and member numbers in receipt text, before anything keeps it.

- Card numbers (PANs): 13-19 digits with a valid Luhn check digit, in any
  spelling a printer or POS program produces (separators, repeated spaces, any
  grouping, full-width and other Unicode digits, glued to words, wrapped over
  two lines), on any line, a receipt-number line included; see ``pan`` for
  the rules and for what is left alone (runs failing Luhn, and Luhn-valid ones
  without an issuer prefix: receipt numbers, EAN-13 codes). The last four
  digits stay, as card slips print them.
- Phone numbers: Chinese mobiles (``1[3-9]x xxxx xxxx``, with or without +86),
  international numbers written with ``+``, and any number after a phone label
  (a shop's own number too: masking it costs nothing). The last four digits stay.
- Member and loyalty numbers (and names) after a member label (``会员号``,
  ``会员卡``, ``MEMBER NO``...): all but the last four characters, or a name's
  first character.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from typing import Any, Final, NamedTuple

from drivers.pos.extract.labels import CARD_LABEL, MEMBER_LABEL, PHONE_LABEL, RECEIPT_NO
from drivers.pos.extract.pan import luhn_valid, mask_cards

__all__ = ["Masked", "luhn_valid", "mask_text", "mask_value"]

_EDGE_BEFORE: Final = r"(?<![0-9A-Za-z*+])"
_EDGE_AFTER: Final = r"(?![0-9A-Za-z*])"
_CN_MOBILE: Final = re.compile(
    _EDGE_BEFORE + r"(?:(?:\+|00)86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}" + _EDGE_AFTER
)
_INTERNATIONAL: Final = re.compile(r"(?<![0-9A-Za-z*])\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,6}\d*")
_LABELLED_PHONE: Final = re.compile(r"[+(]?\d[\d ().-]{5,}\d")
_MEMBER_VALUE: Final = re.compile(r"[0-9A-Za-z\u3400-\u9fff-]*[0-9A-Za-z\u3400-\u9fff]")
_CANDIDATE: Final = re.compile(
    r"1[3-9]\d|\+\d|" + MEMBER_LABEL.pattern + "|" + PHONE_LABEL.pattern,
    re.IGNORECASE,
)
"""What any rule below needs to see on a line before it can mask something."""
_KEEP: Final = 4
_Replacer = Callable[
    [
        re.Match[str],
    ],
    str,
]
_DIGIT: Final = re.compile(r"\d")


class Masked(NamedTuple):
    text: str
    masked: int
    """How many numbers were masked."""


def _mask_digits(token: str, keep: int = _KEEP) -> str:
    """Every digit but the last ``keep`` becomes ``*``; separators stay."""
    hidden = sum(char.isdigit() for char in token) - keep
    out = []
    for char in token:
        if char.isdigit() and hidden > 0:
            out.append("*")
            hidden -= 1
        else:
            out.append(char)
    return "".join(out)


def _mask_member(line: str) -> tuple[str, int]:
    count = 0
    pos = 0
    while (label := MEMBER_LABEL.search(line, pos)) is not None:
        value = _MEMBER_VALUE.match(line, label.end())
        pos = label.end() + 1
        if value is None or value.end() == value.start():
            continue
        token = value.group(0)
        if any(char.isdigit() for char in token):
            keep = _KEEP if len(token) > 6 else 0
            masked = "*" * (len(token) - keep) + token[len(token) - keep :]
        else:
            masked = token[0] + "*" * (len(token) - 1)
        line = line[: value.start()] + masked + line[value.end() :]
        pos = value.start() + len(masked)
        count += 1
    return line, count


def _mask_line(line: str) -> tuple[str, int]:
    line, count = _mask_member(line)
    phone_line = PHONE_LABEL.search(line) is not None
    receipt_line = RECEIPT_NO.search(line) is not None
    masked = 0

    def phone(match: re.Match[str]) -> str:
        nonlocal masked
        if receipt_line and not phone_line:
            return match.group(0)
        if len(_DIGIT.findall(match.group(0))) < 7:
            return match.group(0)
        masked += 1
        return _mask_digits(match.group(0))

    line = _CN_MOBILE.sub(phone, line)
    line = _INTERNATIONAL.sub(phone, line)
    if phone_line:
        line = _mask_labelled_phone(line, phone)
    return line, count + masked


def _mask_labelled_phone(line: str, phone: _Replacer) -> str:
    out = []
    pos = 0
    for label in PHONE_LABEL.finditer(line):
        number = _LABELLED_PHONE.match(line, label.end())
        if number is not None:
            out.append(line[pos : number.start()])
            out.append(phone(number))
            pos = number.end()
    out.append(line[pos:])
    return "".join(out)


def mask_text(text: str) -> Masked:
    """``text`` with card, phone and member numbers masked, and how many were.

    Card numbers first, over the whole text (one may be wrapped over two
    lines); then phone and member numbers line by line; then card numbers
    again if those changed anything (a masked phone number's kept digits
    are a new group: the result must not change when masked again).
    """
    text, cards = mask_cards(text, CARD_LABEL)
    text, others = _mask_lines(text)
    if others:
        text, again = mask_cards(text, CARD_LABEL)
        cards += again
    return Masked(text, cards + others)


def _mask_lines(text: str) -> tuple[str, int]:
    """Phone and member numbers: one pass over the whole text finds the lines that may
    hold one (most receipt lines hold none); only those go through the rules."""
    if _CANDIDATE.search(text) is None:
        return text, 0
    lines = text.split("\n")
    total = 0
    starts = [0]
    for line in lines[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    for number in sorted(
        {bisect.bisect_right(starts, m.start()) - 1 for m in _CANDIDATE.finditer(text)}
    ):
        line = lines[number]
        # A member's name has no digit: only the member rule applies to such lines.
        masked, count = _mask_line(line) if any(c.isdigit() for c in line) else _mask_member(line)
        total += count
        lines[number] = masked
    return "\n".join(lines), total


def mask_value(value: Any) -> tuple[Any, int]:
    """``value`` with every string in it masked (strings, tuples, named tuples, lists,
    dict values), and how many numbers were; anything else is returned as it is.

    The last step over every field of a receipt or record: a field that a
    template or a later change takes from somewhere other than the masked
    text is masked all the same.
    """
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, tuple | list):
        items = [mask_value(item) for item in value]
        count = sum(n for _, n in items)
        if not count:
            return value, 0
        masked = [item for item, _ in items]
        if hasattr(value, "_fields"):  # a named tuple
            return type(value)(*masked), count
        return type(value)(masked), count
    if isinstance(value, dict):
        pairs = {key: mask_value(item) for key, item in value.items()}
        count = sum(n for _, n in pairs.values())
        return ({key: item for key, (item, _) in pairs.items()} if count else value), count
    return value, 0
