"""How much a stretch of printer-line bytes looks like ESC/POS: baud detection and garbage.

One score serves two purposes: ``auto`` baud detection reads a sample at each
common rate and keeps the best-scored one, and the live source judges every
receipt (and every stretch of bytes that printed nothing) so that a wrongly
configured line gives a warning naming the likely cause instead of fake sales.

What bytes read at the wrong rate look like (a UART sampling another rate's
bit stream): mostly NULs (framing errors and breaks arrive as ``\\0``) and a
few byte values repeated, with hardly a line feed. So the score multiplies:

- ``structure``: bytes per command. A receipt has text between its commands
  (tens of bytes per command; thousands for images, skipped by their declared
  length); garbage is one lone control byte after another (1 to 3);
- ``printable``: the share of printed characters that a receipt plausibly
  holds: ASCII, Latin letters, CJK, currency signs; not box drawing or Greek,
  which is what random high bytes decode to in code page 437;
- ``lines``: the share of text in lines a receipt printer can print (80
  columns at most): garbage rarely contains a line feed;
- ``errors``: unknown and malformed commands per command.

Measured on python-escpos, escpos-php and benchmark receipts through a
bit-level UART model (``tests/pos_pty.py``): right rate 1.0 in every case,
wrong rates 0.21 at most. Pure: no clock, no port.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final, NamedTuple

from drivers.pos.escpos.escpos import EscPosInterpreter
from drivers.pos.result import Receipt, SegmentStats

__all__ = [
    "ACCEPT",
    "CAUSES",
    "LineScore",
    "score_receipt",
    "score_sample",
    "score_segments",
    "score_silent",
]

ACCEPT: Final = 0.5
"""A score at or above this looks like ESC/POS."""
_MAX_COLUMNS: Final = 80
_SILENT_MIN_BYTES: Final = 32
_JUNK: Final = bytes([0, *range(0x80, 0x100)])
_BYTES_PER_COMMAND_FLOOR: Final = 1.5
_BYTES_PER_COMMAND_GOOD: Final = 7.5
_ERROR_WEIGHT: Final = 5.0
_LABEL_LANGUAGE: Final = re.compile(r"\^XA|\^FO|^SIZE \d|^GAP \d|^PRINT \d|^N\r?$", re.MULTILINE)
"""ZPL (``^XA``), TSPL and EPL label-printer languages: printable text, not receipts."""

CAUSES: Final = {
    "baud": "wrong baud rate (or electrical noise on the cable)",
    "encoding": "wrong text encoding for this printer (Chinese printers: encoding = 'gb18030')",
    "not-escpos": "a printer language that is not ESC/POS (Star Line Mode, ZPL or TSPL labels)",
}
"""Likely causes of a bad score, in words for the warning a technician reads."""


class LineScore(NamedTuple):
    """How much some bytes look like ESC/POS, and why not when they do not."""

    score: float
    """0..1; ``ACCEPT`` or more: ESC/POS."""
    bytes: int
    commands: int
    bytes_per_command: float
    errors: int
    """Unknown and malformed commands (one cut off by the end of a receipt is not an error)."""
    text_chars: int
    printable: float
    """Share of the printed (non-blank) characters a receipt plausibly holds."""
    cause: str | None
    """A key of ``CAUSES``, or None when the bytes look like ESC/POS (or there are none)."""

    def as_json(self) -> dict[str, object]:
        return {
            "score": self.score,
            "bytes": self.bytes,
            "bytes_per_command": self.bytes_per_command,
            "errors": self.errors,
            "printable": self.printable,
            "cause": self.cause,
        }


def _plausible(char: str) -> bool:
    code = ord(char)
    if 0x20 <= code < 0x7F:
        return True
    if 0xC0 <= code <= 0xFF:
        return code not in (0xD7, 0xF7)  # Latin letters, not x and ÷
    if 0x4E00 <= code <= 0x9FFF or 0x3000 <= code <= 0x303F or 0xFF01 <= code <= 0xFF5E:
        return True  # CJK ideographs, CJK punctuation, full-width forms
    return char in "£¥€¢°"


def _printable(text: str) -> tuple[int, float]:
    visible = [c for c in text if not c.isspace()]
    if not visible:
        return 0, 1.0
    return len(visible), sum(map(_plausible, visible)) / len(visible)


def _in_short_lines(text: str) -> float:
    if not text:
        return 1.0
    long = sum(len(line) for line in text.split("\n") if len(line) > _MAX_COLUMNS)
    return 1.0 - long / len(text)


def _cause(structure: float, error_share: float, printable: float, text: str) -> str:
    """The likeliest reason for a bad score."""
    if structure < 0.3:
        return "baud"
    if error_share > 0.2 or _LABEL_LANGUAGE.search(text):
        return "not-escpos"
    return "encoding" if printable < 0.6 else "baud"


def score_segments(parts: Iterable[tuple[SegmentStats, str]], size: int | None = None) -> LineScore:
    """Score decoded segments (their stats and text); ``size``: the bytes they came from."""
    stats: list[SegmentStats] = []
    texts: list[str] = []
    for segment_stats, text in parts:
        stats.append(segment_stats)
        texts.append(text)
    total = sum(s.bytes for s in stats) if size is None else size
    if not stats:  # nothing printable at all: NULs and lone controls
        return LineScore(0.0, total, 0, 0.0, 0, 0, 0.0, "baud" if total else None)
    text = "\n".join(texts)
    commands = sum(s.commands for s in stats)
    errors = sum(s.unknown + s.malformed for s in stats)  # truncation: a boundary, not an error
    chars, readable = _printable(text)
    per_command = total / max(commands, 1)
    span = _BYTES_PER_COMMAND_GOOD - _BYTES_PER_COMMAND_FLOOR
    structure = min(max((per_command - _BYTES_PER_COMMAND_FLOOR) / span, 0.0), 1.0)
    error_share = errors / max(commands, 1)
    replaced = sum(s.replaced for s in stats)
    printable = readable * (1.0 - min(replaced / max(chars, 1), 1.0))
    clean = 1 - min(_ERROR_WEIGHT * error_share, 1.0)
    score = structure * printable * _in_short_lines(text) * clean
    cause = None if score >= ACCEPT else _cause(structure, error_share, printable, text)
    if cause is None and _LABEL_LANGUAGE.search(text):
        cause, score = "not-escpos", min(score, ACCEPT / 2)
    return LineScore(
        round(score, 3),
        total,
        commands,
        round(per_command, 1),
        errors,
        chars,
        round(printable, 3),
        cause,
    )


def score_sample(data: bytes, encoding: str = "cp437", double_byte: str = "gb18030") -> LineScore:
    """Score raw line bytes (a baud-detection sample) with a fresh interpreter."""
    interpreter = EscPosInterpreter(encoding, double_byte, max_bytes=max(len(data), 1) + 1)
    segments = interpreter.feed(data, 0.0) + interpreter.close("end")
    return score_segments(((s.stats, s.text) for s in segments), len(data))


def score_receipt(receipt: Receipt) -> LineScore:
    """Score one decoded receipt: is it a receipt, or garbage from a misconfigured line?"""
    return score_segments([(receipt.stats, receipt.text)])


def score_silent(data: bytes) -> LineScore | None:
    """A stretch that printed nothing: garbage when it is mostly NULs and high bytes.

    That is what a UART at the wrong rate delivers (framing errors arrive as
    NULs). Commands alone are not garbage: POS software polls the printer's
    status (``DLE EOT``) and kicks the cash drawer (``ESC p``) between receipts,
    and high bytes in a stretch that printed nothing can only be parameters.
    None: not garbage (or too short to tell).
    """
    if len(data) < _SILENT_MIN_BYTES:
        return None
    junk = len(data) - len(data.translate(None, _JUNK))
    if junk < len(data) / 2:
        return None
    return LineScore(0.0, len(data), 0, 0.0, 0, 0, 0.0, "baud")
