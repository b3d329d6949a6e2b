"""Lengths of ESC/POS commands: what the interpreter skips without interpreting.

Every ESC/POS command starts with a C0 control byte (ESC 0x1B, GS 0x1D, FS 0x1C,
DLE 0x10, or a one-byte control such as LF or CAN) and has either a fixed
number of parameter bytes or a length it declares itself. Printed text never
contains a byte below 0x20: not in single-byte code pages, and not inside GBK,
GB18030, Big5, Shift-JIS or UTF-8 characters, whose trail bytes are all >= 0x30.
So a regular-expression search for the next control byte splits the stream into
text runs and commands in C, and only commands need Python code.

The tables give, per second byte, the number of parameter bytes of commands
whose parameters only need skipping (sources: Epson "ESC/POS Command Reference"
for TM printers; the common additions of Chinese clones, e.g. ``ESC B n t``
beeper). ``SPECIAL`` marks commands the interpreter handles itself (state,
feeds, cuts, images, length-prefixed data); anything else is ``UNKNOWN``.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "CAN",
    "CR",
    "DLE",
    "ESC",
    "FF",
    "FS",
    "GS",
    "LF",
    "NUL",
    "SIMPLE_COMMAND",
    "SPECIAL",
    "UNKNOWN",
    "command_name",
    "dle_end",
    "esc_params",
    "fs_params",
    "gs_params",
]

NUL: Final = 0x00
LF: Final = 0x0A
FF: Final = 0x0C
CR: Final = 0x0D
DLE: Final = 0x10
CAN: Final = 0x18
ESC: Final = 0x1B
FS: Final = 0x1C
GS: Final = 0x1D

SPECIAL: Final = -1
UNKNOWN: Final = -2


def _table(fixed: dict[str, int], special: str) -> tuple[int, ...]:
    table = [UNKNOWN] * 256
    for chars, count in fixed.items():
        for char in chars:
            table[ord(char)] = count
    for char in special:
        table[ord(char)] = SPECIAL
    return tuple(table)


esc_params: Final = _table(
    {
        # ESC 2 default line spacing; ESC < return home; ESC L / ESC S page/standard
        # mode; ESC v paper sensor status (answered by the printer, nothing printed).
        "2<LSv": 0,
        # One parameter: ESC SP right spacing, ESC ! print mode, ESC % user chars on/off,
        # ESC - underline, ESC 3 line spacing, ESC = peripheral, ESC ? cancel user char,
        # ESC E emphasis, ESC G double strike, ESC K reverse feed (clones), ESC M font,
        # ESC T print direction (page mode), ESC U unidirectional, ESC V rotate 90,
        # ESC a justification, ESC l/Q margins (clones), ESC r colour, ESC u status,
        # ESC { upside down, ESC I italic (clones), ESC C page length (clones).
        " !%-3=?EGKMTUVaClQru{I": 1,
        # ESC $ / ESC \ absolute and relative position; ESC c 3 / 4 / 5 sensor and panel
        # switches; ESC B n t beeper on Chinese models.
        "$\\cB": 2,
        "p": 3,  # ESC p m t1 t2: cash drawer kick pulse
        "W": 8,  # ESC W: print area in page mode
    },
    special="@tRdJeim*D&(\x0c",
)
"""Parameter bytes of ``ESC x``; ``ESC d``/``J``/``e`` feed, ``ESC i``/``m`` cut (legacy)."""

gs_params: Final = _table(
    {
        ":c": 0,  # GS : macro definition start/end; GS c print counter
        # One parameter: GS ! character size, GS B reverse, GS E density (clones),
        # GS H HRI position, GS I printer ID, GS T line start (page mode), GS a ASB,
        # GS b smoothing, GS f HRI font, GS h barcode height, GS j ink ASB, GS r status,
        # GS w barcode width.
        "!BEHITabfhjrw": 1,
        "$LPW\\": 2,  # GS $ / GS \ positions; GS L left margin; GS P motion units; GS W width
        "^z": 3,  # GS ^ r t m execute macro; GS z 0 t1 t2 online recovery wait
        "g": 4,  # GS g 0 m nL nH / GS g 2 m nL nH: maintenance counters
    },
    special="V(8kv*/Q",
)
"""Parameter bytes of ``GS x``; ``GS V`` is the cut, ``GS v 0`` / ``GS ( L`` images."""

fs_params: Final = _table(
    {
        # FS ! Kanji print mode, FS - Kanji underline, FS C Kanji code system,
        # FS W Kanji quadruple size.
        "!-CW": 1,
        "S": 2,  # FS S n1 n2: Kanji character spacing
        "2": 74,  # FS 2 c1 c2 d1...d72: define a 24x24 user Kanji character
    },
    special="&.pq(",
)
"""Parameter bytes of ``FS x``; ``FS &`` / ``FS .`` switch Chinese (Kanji) mode."""

_PREFIX_NAMES: Final = {ESC: "ESC", GS: "GS", FS: "FS", DLE: "DLE"}


def command_name(prefix: int, second: int | None = None) -> str:
    """A readable command name for counters: ``GS V``, ``ESC 0x07``."""
    head = _PREFIX_NAMES.get(prefix, f"{prefix:#04x}")
    if second is None:
        return head
    tail = chr(second) if 0x21 <= second <= 0x7E else f"{second:#04x}"
    return f"{head} {tail}"


def _simple_command() -> bytes:
    """Regex source of every command the tables say only needs skipping, and NUL.

    ``ESC E n`` (bold), ``GS ! n`` (size), ``ESC a n`` (alignment)... change how
    text looks, never which characters print, so a stretch of text and such
    commands can be taken in one regular-expression match and the commands
    removed in one ``subn``. Parameter bytes may take any value (``[\\x00-\\xff]``).
    """
    alternatives = [rb"\x00"]
    for prefix, table in ((ESC, esc_params), (GS, gs_params), (FS, fs_params)):
        by_count: dict[int, list[int]] = {}
        for second, count in enumerate(table):
            if count >= 0:
                by_count.setdefault(count, []).append(second)
        for count, seconds in sorted(by_count.items()):
            chars = b"".join(re.escape(bytes((second,))) for second in seconds)
            params = b"[\\x00-\\xff]{%d}" % count if count else b""
            alternatives.append(re.escape(bytes((prefix,))) + b"[" + chars + b"]" + params)
    return b"|".join(alternatives)


SIMPLE_COMMAND: Final = _simple_command()


def dle_end(buf: bytes, i: int, n: int) -> int:
    """End of ``DLE EOT`` / ``DLE ENQ`` / ``DLE DC4`` at ``i``: -1 need more, UNKNOWN otherwise.

    Real-time requests (status, recovery, drawer pulse, buffer clear): answered
    by the printer, never printed. ``DLE EOT 7 a`` / ``8 a`` take one more byte,
    ``DLE DC4 7 m`` one, ``DLE DC4 8 d1...d7`` seven, the other functions two.
    """
    if i + 2 >= n:
        return -1
    second, value = buf[i + 1], buf[i + 2]
    if second == 0x04:
        end = i + 4 if value in (7, 8) else i + 3
    elif second == 0x05:
        end = i + 3
    elif second == 0x14:
        end = i + {7: 4, 8: 10}.get(value, 5)
    else:
        return UNKNOWN
    return end if end <= n else -1
