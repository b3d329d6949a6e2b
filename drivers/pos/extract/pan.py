"""Card numbers (PANs) in every spelling a printer or a POS program produces.

A PAN is 13-19 digits with a valid Luhn check digit. What a receipt prints is
rarely that plain, so the text is first *folded*, character for character (so
positions do not move): any Unicode digit (full-width ``４``, Arabic-Indic,
circled...) becomes its ASCII digit, any Unicode space, dash, full stop or
slash (``　``, ``－``, ``．``, ``／``) its ASCII form. Then digit *groups*
(maximal runs of digits, whatever letters touch them: ``VISA4111...``,
``...1111EXP``, ``*4111...*`` all give one group) are chained when what lies
between two of them is

- a separator: 1 to 4 of space, tab, ``.``, ``-``, ``/`` in any mix
  (``4111 1111-1111 1111``, ``4111  1111  1111  1111``, ``4111.1111...``); or
- a line break (with spaces or a trailing separator around it): a number the
  POS program wrapped at the paper's width continues on the next line.

Every run of consecutive groups of a chain holding 13-19 digits is a candidate;
one is a card number when its digits pass the Luhn check and its shape is one a
card number is printed in:

- one group (``4111111111111111``), or groups of at least 3 digits each in any
  grouping (``4111 11111111 1111``, Amex ``3782 822463 10005``); a group next to
  a line break may be shorter (a wrap splits anywhere); or 13-19 single digits
  each followed by one space (letter-spaced "double width" text);
- a group of one or two digits after a ``.`` is cents, never part of a card number
  (``12.50 4111...`` does not join them), unless the line breaks right after it
  (a wrap splitting ``4111.1111.1`` / ``111.1111``: masking wins over the rare
  amount at a line's end followed by a line of digits).

The digits must also start like a card (an issuer prefix: Visa, Mastercard,
Amex, Diners, JCB, UnionPay, Discover, Maestro, RuPay, Mir) unless the number
is printed in a card grouping (4-4-4-4[-3], 4-6-5, one separator) or sits on a
line with a card label (``卡号``, ``CARD``, ``VISA``...).

What is deliberately left alone, and why (a receipt number or an article code
must survive when it is not a plausible card number):

- runs that fail the Luhn check: nine in ten of all long numbers, and no card
  number ever does;
- Luhn-valid runs without an issuer prefix, grouping or card label: receipt
  numbers built from dates (``20260314...``), EAN-13 article codes of China
  (``69...``), timestamps (``17...``);
- contiguous runs of more than 19 digits (WeChat Pay and Alipay transaction
  numbers have 28): no card number has that many, and looking for one inside
  them would mask most of them by chance.

A Luhn-valid run *with* an issuer prefix is masked wherever it is: on a
receipt-number line, glued to letters, as a receipt number (``Txn
5500005555555559``). One receipt number in a few hundred pays for that, and a
card number never leaks. The last four digits stay, as card slips print them.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence
from typing import Final, NamedTuple

__all__ = ["fold", "luhn_valid", "mask_cards"]

_GROUP: Final = re.compile(r"[0-9]+")
_SEPARATOR: Final = re.compile(r"[ \t./-]{1,4}")
_LINE_BREAK: Final = re.compile(r"[ \t./-]{0,4}\r?\n[ \t]{0,8}")
_CARD_PREFIX: Final = re.compile(
    r"4|5[0-8]|2(?:2[2-9]|[3-6]\d|7[01]|720)|3[47]|3(?:0[0-5]|[5689])|6[0-57]|8[12]|220[0-4]"
)
"""Issuer prefixes: Visa, Mastercard, Amex, Diners, JCB, UnionPay, Discover, Maestro, RuPay,
Mir. ``69`` (Chinese EAN-13 article codes), ``1``, ``20`` (dates) are not card prefixes."""
_CARD_GROUPINGS: Final = (
    (4, 4, 4, 1),
    (4, 4, 4, 2),
    (4, 4, 4, 3),
    (4, 4, 4, 4),
    (4, 4, 4, 4, 1),
    (4, 4, 4, 4, 2),
    (4, 4, 4, 4, 3),
    (4, 6, 4),
    (4, 6, 5),
)
_MIN_DIGITS: Final = 13
_MAX_DIGITS: Final = 19
_KEEP: Final = 4
_MAX_ROUNDS: Final = 16
"""Masking runs again on its own result until nothing changes (a masked number's kept
digits start a new group); past this many rounds every long chain is masked whole."""
_PLAIN, _BREAK = 0, 1


class _Group(NamedTuple):
    start: int
    end: int
    join: int
    """How this group is joined to the one before it: ``_PLAIN`` or ``_BREAK``."""
    separator: str
    """What lies between the group before and this one (empty for a chain's first)."""


@functools.lru_cache(maxsize=4096)
def _fold_char(char: str) -> str:
    digit = unicodedata.digit(char, None)
    if digit is not None:
        return str(digit)
    folded = unicodedata.normalize("NFKC", char)
    if len(folded) == 1 and folded in " ./-":
        return folded
    category = unicodedata.category(char)
    if category == "Zs":
        return " "
    if category == "Pd" or char == "\u2212":
        return "-"
    return char


def fold(text: str) -> str:
    """``text`` with Unicode digits and separators in their ASCII form; same length."""
    if text.isascii():
        return text
    return "".join(map(_fold_char, text))


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check of a card number's ASCII digits."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _chains(folded: str) -> list[list[_Group]]:
    """Digit groups, chained by separators and line breaks, in text order."""
    chains: list[list[_Group]] = []
    previous = -1
    for match in _GROUP.finditer(folded):
        start, end = match.span()
        between = folded[previous:start] if previous >= 0 else ""
        join = None
        if previous >= 0 and _SEPARATOR.fullmatch(between):
            join = _PLAIN
        elif previous >= 0 and _LINE_BREAK.fullmatch(between):
            join = _BREAK
        if join is None:
            chains.append([_Group(start, end, _PLAIN, "")])
        else:
            chains[-1].append(_Group(start, end, join, between))
        previous = end
    return chains


def _shape_ok(run: Sequence[_Group]) -> bool:
    """Groups of a candidate printed the way card numbers are (see the module doc)."""
    if len(run) == 1:
        return True
    spaced = all(g.separator == " " or g.join == _BREAK for g in run[1:])
    if spaced and all(g.end - g.start == 1 for g in run):
        return True  # letter-spaced
    for index, group in enumerate(run):
        size = group.end - group.start
        wrapped = index + 1 < len(run) and run[index + 1].join == _BREAK
        if size <= 2 and "." in group.separator and group.join == _PLAIN and not wrapped:
            return False  # cents (unless a wrap split a dotted number right there)
        if size < 3 and not wrapped and not (index > 0 and group.join == _BREAK):
            return False
    return True


def _card_grouping(run: Sequence[_Group]) -> bool:
    sizes = tuple(g.end - g.start for g in run)
    separators = {g.separator for g in run[1:]}
    return sizes in _CARD_GROUPINGS and len(separators) == 1 and separators <= {" ", "-"}


def _is_card(folded: str, run: Sequence[_Group], card_line: bool) -> bool:
    digits = "".join(folded[g.start : g.end] for g in run)
    if not _MIN_DIGITS <= len(digits) <= _MAX_DIGITS or not luhn_valid(digits):
        return False
    if not _shape_ok(run):
        return False
    return card_line or _card_grouping(run) or _CARD_PREFIX.match(digits) is not None


def _cards_in(folded: str, chain: list[_Group], card_line: CardLine | None) -> list[list[_Group]]:
    """The card numbers of one chain: from each group, the longest run that is one."""
    found = []
    first = 0
    while first < len(chain):
        best = None
        digits = 0
        for last in range(first, len(chain)):
            digits += chain[last].end - chain[last].start
            if digits > _MAX_DIGITS:
                break
            run = chain[first : last + 1]
            on_card_line = card_line is not None and card_line(run[0].start)
            if digits >= _MIN_DIGITS and _is_card(folded, run, on_card_line):
                best = run
        if best is None:
            first += 1
            continue
        found.append(best)
        first += len(best)
    return found


class CardLine:
    """Whether the line holding a text position carries a card label."""

    def __init__(self, folded: str, label: re.Pattern[str]) -> None:
        self._spans = [
            (folded.rfind("\n", 0, m.start()) + 1, _line_end(folded, m.end()))
            for m in label.finditer(folded)
        ]

    def __call__(self, position: int) -> bool:
        return any(start <= position < end for start, end in self._spans)


def _line_end(text: str, position: int) -> int:
    end = text.find("\n", position)
    return len(text) if end < 0 else end


def _digits(chain: Sequence[_Group]) -> int:
    return sum(g.end - g.start for g in chain)


def _hide(chars: list[str], folded: list[str], run: Sequence[_Group]) -> None:
    """Every digit of ``run`` but the last four becomes ``*``, in both texts."""
    positions = [i for g in run for i in range(g.start, g.end)]
    for index in positions[: len(positions) - _KEEP]:
        chars[index] = folded[index] = "*"


def mask_cards(text: str, label: re.Pattern[str]) -> tuple[str, int]:
    """``text`` with every card number masked, and how many were; ``label``: card labels."""
    folded = fold(text)
    if sum(map(str.isdigit, folded)) < _MIN_DIGITS:
        return text, 0
    chars, folded_chars = list(text), list(folded)
    count = 0
    for _ in range(_MAX_ROUNDS):
        chains = [chain for chain in _chains(folded) if _digits(chain) >= _MIN_DIGITS]
        card_line = CardLine(folded, label) if chains else None
        runs = [run for chain in chains for run in _cards_in(folded, chain, card_line)]
        if not runs:
            return "".join(chars), count
        for run in runs:
            _hide(chars, folded_chars, run)
        count += len(runs)
        folded = "".join(folded_chars)
    for chain in _chains(folded):  # pathological input: every long chain goes
        if _digits(chain) >= _MIN_DIGITS:
            _hide(chars, folded_chars, chain)
            count += 1
    return "".join(chars), count
