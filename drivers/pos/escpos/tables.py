"""The printer's character-table state: ``ESC t`` page, ``ESC R`` set, ``FS &`` mode.

A printer's power-on ``encoding`` is a single-byte code page (``cp437``,
Epson's default) or, for Chinese models that print GB18030 without ``FS &``,
a multi-byte codec (``gb18030``, ``big5``, ``utf-8``): Chinese mode is then on
after ``ESC @`` and ``FS .`` falls back to the ``ESC t`` page. ``double_byte``
is the codec of ``FS &`` mode on single-byte printers. ``auto`` finds out which
from the text itself (``sniff.EncodingSniffer``, one per printer).
"""

from __future__ import annotations

from typing import Final

from drivers.pos.escpos.codepages import (
    PAGE_CODECS,
    Decoder,
    ascii_transparent,
    codec_name,
    is_multibyte,
    page_decoder,
    text_decoder,
)
from drivers.pos.escpos.sniff import AUTO, EncodingSniffer

__all__ = ["CharacterTables", "kanji_only"]

_UNKNOWN_PAGE: Final = "ascii"
"""Pages Python has no codec for: ASCII, and U+FFFD (counted) above 0x7F."""


class CharacterTables:
    """Which table the printer draws characters from, and its decoder (cached)."""

    def __init__(self, encoding: str, double_byte: str, known: str | None = None) -> None:
        """Raises for a configuration no printer has (a checked setting, not input).

        ``known``: with ``encoding="auto"``, the encoding detected earlier for this printer.
        """
        if not is_multibyte(double_byte):
            raise ValueError(f"double_byte must be a multi-byte codec, not {double_byte!r}")
        self.sniffer = EncodingSniffer(known=known) if encoding == AUTO else None
        if self.sniffer is not None:
            encoding = self.sniffer.single
        self._power_on_kanji = is_multibyte(encoding)
        self._double = codec_name(encoding) if self._power_on_kanji else codec_name(double_byte)
        self._single = "cp437" if self._power_on_kanji else codec_name(encoding)
        text_decoder(self._single)  # raises ValueError now for a multi-character codec
        self._decoders: dict[tuple[bool, int | None, int], Decoder] = {}
        self.reset()

    def reset(self) -> None:
        """``ESC @``: power-on code page, national set and Chinese mode."""
        self.page: int | None = None
        self.kanji = self._power_on_kanji
        self.intl = 0

    def decoder(self, kanji: bool | None = None) -> Decoder:
        """The decoder of the current table (``kanji`` overrides the mode)."""
        mode = self.kanji if kanji is None else kanji
        key = (mode, self.page, self.intl)
        decode = self._decoders.get(key)
        if decode is None:
            decode = self._decoders[key] = self._new_decoder(mode)
        return decode

    def _new_decoder(self, kanji: bool) -> Decoder:
        if kanji:
            return text_decoder(self._double, self.intl)
        if self.page is None:
            if self.sniffer is not None and not self.intl:
                return self.sniffer
            return text_decoder(self._single, self.intl)
        return page_decoder(PAGE_CODECS.get(self.page, _UNKNOWN_PAGE), self.intl)


def kanji_only(pieces: list[bytes], kanji: bool, decoders: tuple[Decoder, Decoder]) -> bool | None:
    """Whether text split by ``FS &`` / ``FS .`` can be decoded in Chinese mode at once.

    ``pieces`` alternate text and the switch (``&`` or ``.``) before the next
    text. It can when everything printed outside Chinese mode is ASCII (which
    both tables print alike) and each Chinese piece that another piece follows
    ends with a complete character (a LF, or all ASCII). Returns the final mode
    then, else None (decode piece by piece).
    """
    if not (ascii_transparent(decoders[0]) and ascii_transparent(decoders[1])):
        return None
    if not pieces[0].isascii():
        return None
    last = len(pieces) - 2
    for index in range(1, len(pieces), 2):
        kanji = pieces[index] == b"&"
        piece = pieces[index + 1]
        if not piece or piece.isascii():
            continue
        if not kanji or (index < last and not piece.endswith(b"\n")):
            return None
    return kanji
