"""The text a printer prints: raw text bytes collected per character table, decoded late.

Text bytes are appended as they arrive and decoded only when the character
table changes (``ESC t``, ``FS &``, ``ESC @``...) or the segment ends: both
happen between commands, where no character can be split (no byte of a
GBK, GB18030, Big5, Shift-JIS or UTF-8 character is a control byte). So a
character split across two reads is decoded whole, the result never depends on
where the stream was split, and a receipt's text is decoded in a few calls
into the codec's C loop rather than one per line.
"""

from __future__ import annotations

from drivers.pos.escpos.codepages import Decoder, ascii_transparent

__all__ = ["PrintedText", "normalize_text"]

_LF = 0x0A


def normalize_text(raw: str) -> str:
    """Printed lines: CR LF and lone CR as LF, trailing blanks dropped, no blank edges."""
    if "\r" in raw:
        raw = raw.replace("\r\n", "\n").replace("\r", "\n")
    lines = [line.rstrip() for line in raw.split("\n")]
    start = 0
    while start < len(lines) and not lines[start]:
        start += 1
    end = len(lines)
    while end > start and not lines[end - 1]:
        end -= 1
    return "\n".join(lines[start:end])


class PrintedText:
    """One segment's text; ``set_decoder`` follows the printer's active character table."""

    def __init__(self, decode: Decoder) -> None:
        self._decode = decode
        self.raw = bytearray()
        """Text bytes since the last decode, all printed with the current table."""
        self.image_line = False
        """The last command printed an ``ESC *`` band: a LF right after it prints the band."""
        self._next: Decoder | None = None
        """A table selected while only ASCII followed: switched to at the first other byte."""
        self._parts: list[str] = []
        self.text_bytes = 0
        self.replaced = 0

    def set_decoder(self, decode: Decoder) -> None:
        """The text so far was printed in the old table; what follows uses ``decode``.

        Chinese POS software wraps every line in ``FS &`` ... ``FS .``: switching
        and decoding at each would cost a codec call per line. While the text
        after a switch is ASCII, both tables print it alike, so the switch waits
        (only after a line feed, where no character can be left incomplete).
        """
        if decode is self._decode:
            self._next = None
        elif self.raw and self.raw[-1] != _LF:
            self._switch(decode)
        elif ascii_transparent(decode) and ascii_transparent(self._decode):
            self._next = decode
        else:
            self._switch(decode)

    def _switch(self, decode: Decoder) -> None:
        self._decode_raw()
        self._decode = decode
        self._next = None

    def append(self, run: bytes) -> None:
        """Text bytes (LF, CR and HT included)."""
        if self._next is not None and not run.isascii():
            self._switch(self._next)
        if self.image_line:
            self.image_line = False
            if run[:1] == b"\n" and not self._line_open():
                run = run[1:]
        self.raw += run
        self.text_bytes += len(run)

    def line_break(self) -> None:
        """A print-and-feed command ends the line being printed (not an empty one)."""
        if self._line_open():
            self.raw.append(_LF)

    def take(self) -> str:
        """The segment's normalized text; resets for the next segment."""
        if self._next is not None:
            self._switch(self._next)
        self._decode_raw()
        text = normalize_text("".join(self._parts))
        self._parts = []
        return text

    def start(self) -> None:
        """Reset the per-segment counters (after ``take``)."""
        self.text_bytes = 0
        self.replaced = 0

    def _line_open(self) -> bool:
        if self.raw:
            return self.raw[-1] != _LF
        return bool(self._parts) and not self._parts[-1].endswith("\n")

    def _decode_raw(self) -> None:
        if self.raw:
            text = self._decode(bytes(self.raw))
            self.raw.clear()
            self.replaced += text.count("\ufffd")
            self._parts.append(text)
