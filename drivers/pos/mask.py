"""Masking of card, phone and member numbers in receipt text, before anything keeps it.

- Card numbers (PANs): 13-19 digits, contiguous or in the printed groups
  (4-4-4-4[-3], Amex 4-6-5), with a valid Luhn check digit. Contiguous digits
  must also start like a card (an issuer prefix) or sit on a card line, because
  one long number in ten passes Luhn by chance: receipt numbers and EAN-13
  article codes (``69...``) are left alone, and so is anything on a
  receipt-number line. The last four digits stay, as card slips print them.
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
from typing import Final, NamedTuple

from drivers.pos.labels import CARD_LABEL, MEMBER_LABEL, PHONE_LABEL, RECEIPT_NO

__all__ = ["Masked", "luhn_valid", "mask_text"]

_EDGE_BEFORE: Final = r"(?<![0-9A-Za-z*+])"
_EDGE_AFTER: Final = r"(?![0-9A-Za-z*])"
_PAN: Final = re.compile(
    _EDGE_BEFORE + r"(?:\d{4}(?P<s1>[ -])\d{4}(?P=s1)\d{4}(?P=s1)\d{1,4}(?:(?P=s1)\d{1,3})?|"
    r"\d{4}(?P<s2>[ -])\d{6}(?P=s2)\d{4,5}|\d{13,19})" + _EDGE_AFTER
)
_CARD_PREFIX: Final = re.compile(
    r"4|5[1-5]|2(?:2[2-9]|[3-6]\d|7[01]|720)|3[47]|3(?:0[0-5]|[689])|35|62|81|6011|64[4-9]|65|"
    r"5[068]|6[37]|60|220[0-4]"
)
"""Issuer prefixes: Visa, Mastercard, Amex, Diners, JCB, UnionPay, Discover, Maestro, RuPay, Mir."""
_CN_MOBILE: Final = re.compile(
    _EDGE_BEFORE + r"(?:(?:\+|00)86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}" + _EDGE_AFTER
)
_INTERNATIONAL: Final = re.compile(r"(?<![0-9A-Za-z*])\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,6}\d*")
_LABELLED_PHONE: Final = re.compile(r"[+(]?\d[\d ().-]{5,}\d")
_MEMBER_VALUE: Final = re.compile(r"[0-9A-Za-z\u3400-\u9fff-]*[0-9A-Za-z\u3400-\u9fff]")
_CANDIDATE: Final = re.compile(
    r"\d{13}|\d{4}[ -]\d{4}|\d{4}[ -]\d{6}|1[3-9]\d|\+\d|"
    + MEMBER_LABEL.pattern
    + "|"
    + PHONE_LABEL.pattern,
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


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check of a card number's digits."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


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


def _is_pan(match: re.Match[str], card_line: bool) -> bool:
    token = match.group(0)
    digits = re.sub(r"\D", "", token)
    if not 13 <= len(digits) <= 19 or not luhn_valid(digits):
        return False
    grouped = len(digits) != len(token)
    return grouped or card_line or _CARD_PREFIX.match(digits) is not None


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
    card_line = CARD_LABEL.search(line) is not None
    phone_line = PHONE_LABEL.search(line) is not None
    receipt_line = RECEIPT_NO.search(line) is not None
    masked = 0

    def card(match: re.Match[str]) -> str:
        nonlocal masked
        if (receipt_line and not card_line) or not _is_pan(match, card_line):
            return match.group(0)
        masked += 1
        return _mask_digits(match.group(0))

    def phone(match: re.Match[str]) -> str:
        nonlocal masked
        if receipt_line and not phone_line:
            return match.group(0)
        if len(_DIGIT.findall(match.group(0))) < 7:
            return match.group(0)
        masked += 1
        return _mask_digits(match.group(0))

    line = _PAN.sub(card, line)
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

    One pass over the whole text finds the lines that may hold something to
    mask (most receipt lines hold none); only those go through the rules.
    """
    if _CANDIDATE.search(text) is None:
        return Masked(text, 0)
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
    return Masked("\n".join(lines), total)
