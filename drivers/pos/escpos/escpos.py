"""ESC/POS interpreter: printer bytes -> receipt segments, fed in chunks of any size.

The interpreter keeps what a receipt printer would print as text, with line
breaks, and cuts the stream into segments at ``GS V`` (cut) and at a size bound;
the caller closes segments at idle gaps (``segment.ReceiptSegmenter``). It is
pure: the time of each chunk is passed in, nothing raises on bad input, and
what it cannot interpret is counted.

Identical output for any split of the input is by construction:

- a command is interpreted only once all of its header bytes are there
  (an incomplete one waits in ``_stash``, a few bytes); declared payloads
  (images, barcodes, 2D codes) are skipped by count, across chunks;
- text bytes are decoded only when the character table changes or the
  segment ends, both between commands, where no character can be split
  (``printed.PrintedText``);
- the size bound cuts at an exact byte offset, never at a chunk boundary.

A declared size is trusted only as far as a printer would: an image that is
too big, or whose data runs over a receipt cut and printer reset, or past the
end of the data or an idle gap, is rejected (``rejected_images``), warned about
in one line, and decoding resumes right after its header, so the receipts after
it are read (``image_guard`` says why).

Speed: one regular-expression match takes a whole stretch of text and of
commands that only need skipping (bold, size, alignment...), and one ``subn``
drops those commands; text is decoded by the codec in C a few times per
receipt; only the other commands run Python code, and image data is skipped
by count, only searched (in C) for a cut and reset. See ``benchmarks/pos_decode.py``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Final

from drivers.pos.escpos.codepages import PAGE_CODECS
from drivers.pos.escpos.commands import (
    DLE,
    ESC,
    FF,
    FS,
    GS,
    SIMPLE_COMMAND,
    SPECIAL,
    UNKNOWN,
    command_name,
    dle_end,
    esc_params,
    fs_params,
    gs_params,
)
from drivers.pos.escpos.image_guard import DataCommand, DataGuard, warn_rejected
from drivers.pos.escpos.payloads import (
    BAND,
    CODE,
    GRAPHIC,
    MALFORMED,
    NEED_MORE,
    REJECTED,
    Measured,
    esc_data,
    fs_data,
    gs_data,
)
from drivers.pos.escpos.printed import PrintedText
from drivers.pos.escpos.tables import CharacterTables, kanji_only
from drivers.pos.result import Segment, SegmentStats

__all__ = ["DEFAULT_MAX_BYTES", "EscPosInterpreter"]

DEFAULT_MAX_BYTES: Final = 64 * 1024
_COMMAND_BYTE: Final = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
"""Bytes that start a command. HT, LF and CR stay in text runs and are decoded
with them (the codec maps them to themselves), which keeps a line of text and
its line feed one run."""
_SPAN: Final = re.compile(rb"(?:[^\x00-\x08\x0b\x0c\x0e-\x1f]+|" + SIMPLE_COMMAND + rb"|\x1c[&.])+")
"""Text, commands that only need skipping and Chinese mode switches: most of a receipt."""
_SIMPLE: Final = re.compile(SIMPLE_COMMAND)
_KANJI_SWITCH: Final = re.compile(rb"\x1c([&.])")
_MAX_RESUMES: Final = 64
"""Images cut short by one idle gap whose data is interpreted again: nested lying headers
cannot make ``close`` go over the same bytes more often than this. (``feed`` reads bytes
again at most once a chunk: an image in them that goes on waits for the next chunk.)"""
_OVER_CUT: Final = "running over a receipt cut"

Special = Callable[[bytes, int, int, int], int]
"""Handler of a command needing code: (buffer, start, buffer end, second byte) -> end."""


class EscPosInterpreter:
    """Incremental ESC/POS interpreter (one per printer line).

    ``encoding``: what the printer prints at power-on (``cp437``, or ``gb18030``
    for Chinese models); ``double_byte``: the codec of ``FS &`` mode. See
    ``tables.CharacterTables``. ``max_bytes``: the size bound of a segment.
    """

    def __init__(
        self,
        encoding: str = "cp437",
        double_byte: str = "gb18030",
        max_bytes: int = DEFAULT_MAX_BYTES,
        known: str | None = None,
    ) -> None:
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be positive, not {max_bytes}")
        self._max = max_bytes
        self._tables = CharacterTables(encoding, double_byte, known)
        self.sniffer = self._tables.sniffer
        """With ``encoding="auto"``: what this printer's text was found to be."""
        self.unknown_commands: Counter[str] = Counter()
        self.malformed_commands: Counter[str] = Counter()
        self.boundaries: Counter[str] = Counter()
        self.unknown_pages: Counter[int] = Counter()
        self.empty_segments = 0
        self.rejected_images = 0
        self.bytes_in = 0
        self._base = 0
        self._data: DataCommand | None = None
        """The data-carrying command the last ``_command`` measured (taken by ``_run``)."""
        self._guard = DataGuard()
        self._stash = b""
        self._t = 0.0
        self._cut = False
        self._out = PrintedText(self._tables.decoder())
        self._open_segment(0, None)

    def _open_segment(self, offset: int, t: float | None) -> None:
        self._start = offset
        self._t_start = t
        self._out.start()
        self._payload = 0
        self._commands = 0
        self._graphics = 0
        self._codes = 0
        self._unknown = 0
        self._malformed = 0
        self._truncated = 0

    def stats(self) -> dict[str, object]:
        """Counters for status and telemetry."""
        return {
            "bytes": self.bytes_in,
            "segments": dict(self.boundaries),
            "empty_segments": self.empty_segments,
            "unknown_commands": dict(self.unknown_commands),
            "malformed_commands": dict(self.malformed_commands),
            "unknown_code_pages": dict(self.unknown_pages),
            "rejected_images": self.rejected_images,
        }

    @property
    def is_open(self) -> bool:
        """Bytes have arrived since the last boundary (``close`` would emit or count)."""
        return self.bytes_in > self._start

    # -- feeding -----------------------------------------------------------------

    def feed(self, data: bytes, t: float) -> list[Segment]:
        """Interpret one chunk read at time ``t``; the segments it completed."""
        if not data:
            return []
        self._t = t
        if self._t_start is None:
            self._t_start = t
        done: list[Segment] = []
        buf = self._stash + data if self._stash else bytes(data)
        base = self.bytes_in - len(self._stash)
        self._stash = b""
        self.bytes_in += len(data)
        pos = 0
        if self._guard.missing:  # the rest of an image or code: its size check waits for its end
            buf, base, pos = self._skipped(buf, base, done)
        self._run(buf, base, pos, done)
        return done

    def close(self, boundary: str) -> list[Segment]:
        """End the open segment between chunks (idle gap, end of input)."""
        done: list[Segment] = []
        for _ in range(_MAX_RESUMES):  # past it, counted as truncated below
            # A POS sends an image in one burst: one cut short by a pause or the end of
            # the data was a damaged header, and what it swallowed is read again.
            resume = self._guard.cut_short()
            if resume is None:
                break
            self._truncated += 1  # cut short, as a command cut by the end always is
            self.malformed_commands["truncated"] += 1
            self._reject(resume.image, "running past the end of the data")
            self._run(resume.data, resume.image.start, 0, done)
        if self._stash or self._guard.missing:
            self._truncated += 1
            self.malformed_commands["truncated"] += 1
        self._stash = b""
        self._guard.drop()
        self._finish(boundary, self.bytes_in, done)
        return done

    def _skipped(self, buf: bytes, base: int, done: list[Segment]) -> tuple[bytes, int, int]:
        """Skip the rest of a command's data at the start of ``buf``: the bytes to interpret,
        their stream offset and where to start (an image's data again if it lied)."""
        pos, resume = self._guard.skip(buf)
        if resume is not None:
            self._reject(resume.image, _OVER_CUT)
            return resume.data, resume.image.start, 0
        if not self._guard.missing and base + pos - self._start - self._payload >= self._max:
            self._finish("size", base + pos, done)
        return buf, base, pos

    def _run(self, buf: bytes, base: int, pos: int, done: list[Segment]) -> None:
        """Interpret ``buf`` (at stream offset ``base``) from ``pos``."""
        self._base = base
        n = len(buf)
        span = _SPAN.match
        while pos < n:
            found = span(buf, pos)
            if found is not None:
                end = found.end()
                if end - pos < self._max - (base + pos - self._start - self._payload):
                    self._span(buf[pos:end])  # the common case: far from the size bound
                else:
                    self._bounded(buf, pos, end, base, done)
                pos = end
                if pos == n:
                    return
            self._out.image_line = False
            end = self._command(buf, pos, n)
            data, self._data = self._data, None
            if end == NEED_MORE:
                self._stash = buf[pos:]
                return
            self._commands += 1
            if end > n:
                self._guard.wait(buf, base, end - n, data)
                return
            if data is not None and self._guard.swallowed(buf, base, data, base + end):
                self._reject(data, _OVER_CUT)
                pos = data.start - base
                continue
            pos = end
            if self._cut:
                self._cut = False
                self._finish("cut", base + pos, done)
            elif base + pos - self._start - self._payload >= self._max:
                self._finish("size", base + pos, done)

    # -- images that lie about their size (``image_guard``) --------------------------

    def _reject(self, data: DataCommand, why: str) -> None:
        """Undo what an image's header counted; count and warn about the rejection."""
        self._payload -= data.payload
        if data.effect in (GRAPHIC, BAND):
            self._graphics -= 1
            self._out.image_line = False
        elif data.effect == CODE:
            self._codes -= 1
        self._rejected(data.offset, data.payload, data.name, why)

    def _rejected(self, offset: int, size: int, name: str, why: str) -> None:
        self.rejected_images += 1
        self._malformed += 1
        self.malformed_commands[name] += 1
        warn_rejected(self.rejected_images, offset, size, name, why)

    def _span(self, data: bytes) -> None:
        """Text with simple commands in it: the commands dropped and counted, the text kept."""
        text, commands = _SIMPLE.subn(b"", data)
        self._commands += commands
        out = self._out
        if out.image_line and data[:1] != b"\n":
            out.image_line = False  # a command came first: the band is printed already
        if 0x1C not in text:
            out.append(text)
            return
        # FS & ... FS . around each line (escpos-php and many Chinese POS programs).
        pieces = _KANJI_SWITCH.split(text)
        self._commands += len(pieces) // 2
        tables = self._tables
        decoders = (tables.decoder(kanji=False), tables.decoder(kanji=True))
        kanji = kanji_only(pieces, tables.kanji, decoders)
        if kanji is not None:
            if not pieces[0]:
                out.image_line = False
            out.set_decoder(decoders[True])
            out.append(b"".join(pieces[0::2]))
        else:
            out.append(pieces[0])
            kanji = tables.kanji
            for index in range(1, len(pieces), 2):
                kanji = pieces[index] == b"&"
                out.set_decoder(decoders[kanji])
                out.append(pieces[index + 1])
        tables.kanji = kanji
        out.set_decoder(decoders[kanji])

    def _bounded(self, buf: bytes, pos: int, stop: int, base: int, done: list[Segment]) -> None:
        """A span that reaches the size bound, element by element, cut at the exact offset."""
        while pos < stop:
            found = _COMMAND_BYTE.search(buf, pos, stop)
            following = stop if found is None else found.start()
            if following > pos:
                self._text(buf[pos:following], base + pos, done)
                pos = following
                continue
            self._out.image_line = False
            command = _SIMPLE.match(buf, pos, stop)
            pos = self._command(buf, pos, stop) if command is None else command.end()
            self._commands += 1
            if base + pos - self._start - self._payload >= self._max:
                self._finish("size", base + pos, done)

    # -- text ----------------------------------------------------------------------

    def _text(self, run: bytes, offset: int, done: list[Segment]) -> None:
        """A run of text bytes at stream ``offset``, cut where the size bound falls."""
        while True:
            room = self._max - (offset - self._start - self._payload)
            if len(run) < room:
                break
            self._out.append(run[:room])
            self._finish("size", offset + room, done)
            run = run[room:]
            offset += room
            if not run:
                return
        self._out.append(run)

    # -- segments ------------------------------------------------------------------

    def _finish(self, boundary: str, offset: int, done: list[Segment]) -> None:
        text = self._out.take()
        size = offset - self._start
        if text or self._graphics:
            t_start = self._t if self._t_start is None else self._t_start
            stats = SegmentStats(
                size,
                self._out.text_bytes,
                self._commands,
                self._graphics,
                self._codes,
                self._unknown,
                self._malformed,
                self._truncated,
                self._out.replaced,
            )
            done.append(Segment(text, t_start, self._t, boundary, stats))
            self.boundaries[boundary] += 1
        elif size:
            self.empty_segments += 1
        more = offset < self.bytes_in
        self._open_segment(offset, self._t if more else None)

    # -- commands ----------------------------------------------------------------

    def _unknown_command(self, prefix: int, second: int | None) -> None:
        self._unknown += 1
        self.unknown_commands[command_name(prefix, second)] += 1

    def _bad(self, prefix: int, second: int | None, end: int) -> int:
        """Count a malformed command and resume after ``end`` (its fixed header)."""
        self._malformed += 1
        self.malformed_commands[command_name(prefix, second)] += 1
        return end

    def _measured(self, prefix: int, second: int, i: int, measured: Measured) -> int:
        """Account for a data-carrying command at ``i`` measured by ``payloads``."""
        end, payload, effect = measured
        if end == NEED_MORE:
            return end
        if effect == REJECTED:
            why = "more than any receipt printer prints"
            self._rejected(self._base + i, payload, command_name(prefix, second), why)
            return end
        if effect != MALFORMED and payload:
            name = command_name(prefix, second)
            self._data = DataCommand(
                self._base + i, self._base + end - payload, payload, effect, name
            )
        self._payload += payload
        if effect == GRAPHIC:
            self._graphics += 1
        elif effect == BAND:
            self._graphics += 1
            self._out.image_line = True
        elif effect == CODE:
            self._codes += 1
        elif effect == MALFORMED:
            return self._bad(prefix, second, end)
        return end

    def _command(self, buf: bytes, i: int, n: int) -> int:
        """Interpret the command at ``i``: its end, or NEED_MORE."""
        first = buf[i]
        if first == ESC:
            return self._prefixed(buf, i, n, esc_params, self._esc_special)
        if first == GS:
            return self._prefixed(buf, i, n, gs_params, self._gs_special)
        if first == FS:
            return self._prefixed(buf, i, n, fs_params, self._fs_special)
        if first == DLE:
            end = dle_end(buf, i, n)
            return self._bad(DLE, None, i + 1) if end == UNKNOWN else end
        if first == FF:
            self._out.line_break()
        # NUL padding, CAN, BEL, DC1-DC4 and other lone controls print nothing.
        return i + 1

    def _prefixed(
        self, buf: bytes, i: int, n: int, params: tuple[int, ...], special: Special
    ) -> int:
        if i + 1 >= n:
            return NEED_MORE
        second = buf[i + 1]
        count = params[second]
        if count >= 0:
            end = i + 2 + count
            return end if end <= n else NEED_MORE
        if second < 0x20 and count != SPECIAL:
            # A lone prefix followed by another command: drop the prefix only.
            return self._bad(buf[i], None, i + 1)
        if count == SPECIAL:
            return special(buf, i, n, second)
        self._unknown_command(buf[i], second)
        return i + 2

    def _esc_special(self, buf: bytes, i: int, n: int, second: int) -> int:
        if second == 0x40:  # ESC @: initialize printer
            self._out.line_break()
            self._tables.reset()
            self._out.set_decoder(self._tables.decoder())
            return i + 2
        if second in b"im":  # ESC i / ESC m: full / partial cut (legacy)
            self._out.line_break()
            self._cut = True
            return i + 2
        if second == 0x0C:  # ESC FF: print page-mode data
            self._out.line_break()
            return i + 2
        if second in b"*D&(":
            return self._measured(ESC, second, i, esc_data(buf, i, n, second))
        if i + 2 >= n:
            return NEED_MORE
        value = buf[i + 2]
        if second in b"dJe":  # ESC d n / ESC J n / ESC e n: print and feed
            self._out.line_break()
        elif second == 0x74:  # ESC t n: select character code table
            self._tables.page = value
            if value not in PAGE_CODECS:
                self.unknown_pages[value] += 1
            self._out.set_decoder(self._tables.decoder())
        else:  # ESC R n: select an international character set
            self._tables.intl = value
            self._out.set_decoder(self._tables.decoder())
        return i + 3

    def _gs_special(self, buf: bytes, i: int, n: int, second: int) -> int:
        if second == 0x56:  # GS V m [n]: cut (m 0/1/48/49, or 65/66/97/98/103/104 with n)
            if i + 2 >= n:
                return NEED_MORE
            mode = buf[i + 2]
            if mode in (0, 1, 48, 49):
                end = i + 3
            elif mode in (65, 66, 97, 98, 103, 104):
                end = i + 4
            else:
                return self._bad(GS, second, i + 3)
            if end > n:
                return NEED_MORE
            self._out.line_break()
            self._cut = True
            return end
        return self._measured(GS, second, i, gs_data(buf, i, n, second))

    def _fs_special(self, buf: bytes, i: int, n: int, second: int) -> int:
        if second in b"&.":
            self._tables.kanji = second == 0x26
            self._out.set_decoder(self._tables.decoder())
            return i + 2
        return self._measured(FS, second, i, fs_data(buf, i, n, second))
