"""Character tables of ESC/POS printers: ``ESC t n`` code pages, ``ESC R n`` national sets.

A receipt printer draws each byte from the character table selected last with
``ESC t n`` (Epson numbering, which most Chinese and Taiwanese clones follow);
``ESC @`` restores the power-on table. With ``FS &`` (Kanji/Chinese mode) bytes
0x80-0xFE start a double-byte character instead (GBK/GB18030 on Chinese
models). ``ESC R n`` swaps up to twelve ASCII punctuation positions for national
characters (ISO 646 variants: UK ``#`` -> ``£``, Japan ``\\`` -> ``¥``).

Single-byte tables are kept as 256-character strings and decoded with
``codecs.charmap_decode``, which runs in C at memcpy-like speed. Tables Python
has no codec for (Epson's Katakana page, Vietnamese TCVN-3) are written out
here from the published standards (JIS X 0201, TCVN 5712:1993 VN3).
"""

from __future__ import annotations

import codecs
import functools
from collections.abc import Callable
from typing import Final

__all__ = [
    "MULTIBYTE_CODECS",
    "PAGE_CODECS",
    "Decoder",
    "ascii_transparent",
    "codec_name",
    "international_table",
    "is_multibyte",
    "page_decoder",
    "single_byte_table",
    "text_decoder",
]

Decoder = Callable[[bytes], str]
"""Bytes of one complete text run -> text (never raises: undecodable bytes give U+FFFD)."""

_REPLACEMENT: Final = "\ufffd"

PAGE_CODECS: Final[dict[int, str]] = {
    # Epson ESC t n table (TM series "Character code tables"); pages Python has no
    # codec for are absent and decode as ASCII with U+FFFD above 0x7F.
    0: "cp437",  # PC437 USA, standard Europe
    1: "x-epson-katakana",  # half-width Katakana (JIS X 0201 upper half)
    2: "cp850",  # PC850 Multilingual
    3: "cp860",  # PC860 Portuguese
    4: "cp863",  # PC863 Canadian-French
    5: "cp865",  # PC865 Nordic
    13: "cp857",  # PC857 Turkish
    14: "cp737",  # PC737 Greek
    15: "iso8859_7",  # ISO 8859-7 Greek
    16: "cp1252",  # WPC1252
    17: "cp866",  # PC866 Cyrillic #2
    18: "cp852",  # PC852 Latin 2
    19: "cp858",  # PC858 Euro
    21: "cp874",  # Thai character code 11 (closest Python codec: TIS-620 based cp874)
    30: "x-tcvn3-lower",  # TCVN-3 Vietnamese, lower-case table
    31: "x-tcvn3-upper",  # TCVN-3 Vietnamese, upper-case table
    32: "cp720",  # PC720 Arabic
    33: "cp775",  # WPC775 Baltic Rim
    34: "cp855",  # PC855 Cyrillic
    35: "cp861",  # PC861 Icelandic
    36: "cp862",  # PC862 Hebrew
    37: "cp864",  # PC864 Arabic
    38: "cp869",  # PC869 Greek
    39: "iso8859_2",  # ISO 8859-2 Latin 2
    40: "iso8859_15",  # ISO 8859-15 Latin 9
    44: "cp1125",  # PC1125 Ukrainian
    45: "cp1250",  # WPC1250 Latin 2
    46: "cp1251",  # WPC1251 Cyrillic
    47: "cp1253",  # WPC1253 Greek
    48: "cp1254",  # WPC1254 Turkish
    49: "cp1255",  # WPC1255 Hebrew
    50: "cp1256",  # WPC1256 Arabic
    51: "cp1257",  # WPC1257 Baltic Rim
    52: "cp1258",  # WPC1258 Vietnamese
    53: "kz1048",  # KZ-1048 Kazakhstan
}

MULTIBYTE_CODECS: Final = frozenset(
    {
        # Stateless multi-byte codecs whose bytes 0x00-0x1F are never part of a
        # character, so ESC/POS commands can be found before decoding.
        "gb18030",
        "gbk",
        "gb2312",
        "big5",
        "big5hkscs",
        "cp950",
        "shift_jis",
        "cp932",
        "shift_jis_2004",
        "shift_jisx0213",
        "euc_jp",
        "euc_jis_2004",
        "euc_jisx0213",
        "euc_kr",
        "cp949",
        "johab",
        "utf-8",
    }
)

_KATAKANA_LOW: Final = 0xA1
_KATAKANA_HIGH: Final = 0xDF
_HALFWIDTH_IDEOGRAPHIC_STOP: Final = 0xFF61  # JIS X 0201 0xA1 -> U+FF61


def _katakana_table() -> str:
    """Epson page 1: ASCII, then JIS X 0201 half-width Katakana at 0xA1-0xDF.

    The printer's box-drawing glyphs at 0x80-0x9F and 0xE0-0xFF have no
    faithful Unicode equivalent here and decode as U+FFFD (counted).
    """
    chars = [chr(b) for b in range(0x80)] + [_REPLACEMENT] * 0x80
    chars[0xA0] = " "
    for b in range(_KATAKANA_LOW, _KATAKANA_HIGH + 1):
        chars[b] = chr(_HALFWIDTH_IDEOGRAPHIC_STOP + b - _KATAKANA_LOW)
    return "".join(chars)


# TCVN 5712:1993 VN3 ("TCVN3", "ABC"): 67 lower-case letters, 7 upper-case base
# letters and NBSP above ASCII. Tone marks on capitals come from a second,
# all-capital table (Epson page 31), which repeats the lower-case positions.
_TCVN3: Final[dict[int, str]] = {
    0xA0: "\u00a0",
    **dict(zip(range(0xA1, 0xA8), "ĂÂÊÔƠƯĐ", strict=True)),
    **dict(zip(range(0xA8, 0xAF), "ăâêôơưđ", strict=True)),
    **dict(zip(range(0xB5, 0xBA), "àảãáạ", strict=True)),
    **dict(zip((0xBB, 0xBC, 0xBD, 0xBE, 0xC6), "ằẳẵắặ", strict=True)),
    **dict(zip(range(0xC7, 0xCC), "ầẩẫấậ", strict=True)),
    **dict(zip((0xCC, 0xCE, 0xCF, 0xD0, 0xD1), "èẻẽéẹ", strict=True)),
    **dict(zip(range(0xD2, 0xD7), "ềểễếệ", strict=True)),
    **dict(zip((0xD7, 0xD8, 0xDC, 0xDD, 0xDE), "ìỉĩíị", strict=True)),
    **dict(zip((0xDF, 0xE1, 0xE2, 0xE3, 0xE4), "òỏõóọ", strict=True)),
    **dict(zip(range(0xE5, 0xEA), "ồổỗốộ", strict=True)),
    **dict(zip(range(0xEA, 0xEF), "ờởỡớợ", strict=True)),
    **dict(zip((0xEF, 0xF1, 0xF2, 0xF3, 0xF4), "ùủũúụ", strict=True)),
    **dict(zip(range(0xF5, 0xFA), "ừửữứự", strict=True)),
    **dict(zip(range(0xFA, 0xFF), "ỳỷỹýỵ", strict=True)),
}


def _tcvn3_table(upper: bool) -> str:
    chars = [chr(b) for b in range(0x80)] + [_REPLACEMENT] * 0x80
    for b, char in _TCVN3.items():
        chars[b] = char.upper() if upper and b >= 0xA8 else char
    return "".join(chars)


_CUSTOM_TABLES: Final[dict[str, Callable[[], str]]] = {
    "x-epson-katakana": _katakana_table,
    "x-tcvn3-lower": lambda: _tcvn3_table(upper=False),
    "x-tcvn3-upper": lambda: _tcvn3_table(upper=True),
}

# ESC R n: the ISO 646 national variants Epson implements, for the positions we
# are sure of (the currency and letter swaps a receipt's text depends on).
_INTERNATIONAL: Final[dict[int, dict[int, str]]] = {
    1: {0x40: "à", 0x5B: "°", 0x5C: "ç", 0x5D: "§", 0x7B: "é", 0x7C: "ù", 0x7D: "è", 0x7E: "¨"},
    2: {0x40: "§", 0x5B: "Ä", 0x5C: "Ö", 0x5D: "Ü", 0x7B: "ä", 0x7C: "ö", 0x7D: "ü", 0x7E: "ß"},
    3: {0x23: "£"},  # United Kingdom
    8: {0x5C: "¥"},  # Japan
    13: {0x5C: "₩"},  # Korea
    15: {0x24: "¥"},  # China (GB 1988: the yuan sign replaces the dollar sign)
}


def international_table(n: int) -> dict[int, str] | None:
    """``str.translate`` table of ``ESC R n``, None for USA and sets kept as ASCII."""
    return _INTERNATIONAL.get(n)


def codec_name(name: str) -> str:
    """Python's canonical name of an encoding (ours for the custom tables).

    Raises LookupError for an unknown name: this checks configuration, not input.
    """
    if name in _CUSTOM_TABLES:
        return name
    return codecs.lookup(name).name


def is_multibyte(name: str) -> bool:
    """Whether ``name`` is one of the double-byte or UTF-8 codecs printers use."""
    return codec_name(name) in MULTIBYTE_CODECS


@functools.cache
def single_byte_table(name: str) -> str:
    """The 256-character decoding table of a single-byte codec or custom page.

    Raises ValueError for a codec that is not single-byte (configuration check).
    """
    custom = _CUSTOM_TABLES.get(name)
    if custom is not None:
        return custom()
    chars = []
    for b in range(256):
        try:
            char = bytes((b,)).decode(name)
        except UnicodeDecodeError:
            char = _REPLACEMENT
        if len(char) != 1:
            raise ValueError(f"{name!r} is not a single-byte encoding")
        chars.append(char)
    return "".join(chars)


@functools.cache
def page_decoder(name: str, international: int = 0) -> Decoder:
    """A decoder for a single-byte table with the ``ESC R`` swaps applied to it."""
    table = single_byte_table(name)
    swaps = international_table(international)
    if swaps:
        chars = list(table)
        for position, char in swaps.items():
            chars[position] = char
        table = "".join(chars)
    charmap_decode = codecs.charmap_decode

    def decode(data: bytes) -> str:
        return charmap_decode(data, "replace", table)[0]

    return decode


@functools.cache
def text_decoder(name: str, international: int = 0) -> Decoder:
    """A decoder for any supported encoding: single-byte page or multi-byte codec."""
    canonical = codec_name(name)
    if canonical not in MULTIBYTE_CODECS:
        return page_decoder(canonical, international)
    swaps = international_table(international)

    def decode(data: bytes) -> str:
        text = data.decode(canonical, "replace")
        return text.translate(swaps) if swaps else text

    return decode


_ASCII: Final = bytes(range(0x80))
_TRANSPARENT: dict[Decoder, bool] = {}


def ascii_transparent(decode: Decoder) -> bool:
    """Whether ``decode`` prints bytes 0x00-0x7F as ASCII (not PC864, not an ESC R set)."""
    known = _TRANSPARENT.get(decode)
    if known is None:
        known = _TRANSPARENT[decode] = decode(_ASCII) == _ASCII.decode("ascii")
    return known
