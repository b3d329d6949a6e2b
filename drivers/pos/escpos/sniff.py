"""Which encoding a printer's raw high bytes are: GB18030, Big5, UTF-8 or a code page.

Most Chinese thermal printers ship in Chinese mode: they print GB18030 (Big5 in
Hong Kong and Taiwan) without any ``FS &``, and a box configured for ``cp437``
turns every hanzi into box-drawing characters. With ``encoding = "auto"`` the
power-on table is an ``EncodingSniffer``: it reads the text runs of the first
receipts and weighs, for each candidate,

- the share of high bytes that decode (valid double-byte pairs, valid UTF-8);
- the share of decoded characters that are *common* hanzi in that encoding
  (GB2312 level 1 for GB18030, Big5 level 1 for Big5): Chinese text read with
  the wrong double-byte codec still decodes, but into rare characters;
- how many different common characters were seen (a cp437 ruler ``ÄÄÄÄ`` is
  one GB character repeated, not text).

Until it decides, each run is decoded with the best guess so far; once the
evidence is enough (``DECIDE_AFTER`` characters), or ``CONFIRMED_AFTER`` receipts
read with the guess gave their fields (``confirm``: short receipts), the choice
is kept for the printer, and the owner can persist it (``choice``) and pass it
back next time.
"""

from __future__ import annotations

import codecs
import functools
from typing import Final, NamedTuple

from drivers.pos.escpos.codepages import Decoder, text_decoder

__all__ = ["AUTO", "CANDIDATES", "CONFIRMED_AFTER", "DECIDE_AFTER", "EncodingSniffer", "Verdict"]

AUTO: Final = "auto"
CANDIDATES: Final = ("gb18030", "big5", "utf-8")
"""Multi-byte encodings a printer prints raw, tried against the single-byte page."""
DECIDE_AFTER: Final = 48
"""Non-ASCII characters of evidence before the choice is kept (about one receipt)."""
CONFIRMED_AFTER: Final = 2
"""Receipts read with a multi-byte guess whose total was found: the guess is kept."""
_MIN_COMMON_SHARE: Final = 0.8
_MAX_BAD_SHARE: Final = 0.03
_MIN_DISTINCT: Final = 8
_GUESS_DISTINCT: Final = 3
_REPLACEMENT: Final = "\ufffd"


def _level_one(codec: str, low: int, high: int) -> frozenset[str]:
    """Characters whose lead byte in ``codec`` is in ``low..high`` (the common hanzi)."""
    chars = set()
    for lead in range(low, high + 1):
        for trail in range(0xA1, 0xFF):
            char = bytes((lead, trail)).decode(codec, "ignore")
            if len(char) == 1:
                chars.add(char)
        if codec == "big5":  # Big5 trail bytes also run 0x40-0x7E
            chars.update(
                c
                for t in range(0x40, 0x7F)
                if len(c := bytes((lead, t)).decode(codec, "ignore")) == 1
            )
    return frozenset(chars)


_PUNCTUATION: Final = frozenset("，。、：；！？（）【】《》“”‘’—…·￥％＃＊／－＋＝　")
_LEVEL_ONE: Final = {"gb18030": ("gb2312", 0xB0, 0xD7), "big5": ("big5", 0xA4, 0xC6)}


@functools.cache
def _common(codec: str) -> frozenset[str]:
    """The common characters of ``codec`` (built at the first Chinese text, not at import)."""
    return _level_one(*_LEVEL_ONE[codec]) | _PUNCTUATION


class Verdict(NamedTuple):
    """The evidence for one candidate: characters read, undecodable, common, distinct."""

    chars: int
    bad: int
    common: int
    distinct: frozenset[str]

    def plus(self, other: Verdict) -> Verdict:
        return Verdict(
            self.chars + other.chars,
            self.bad + other.bad,
            self.common + other.common,
            self.distinct | other.distinct if len(self.distinct) < 64 else self.distinct,
        )

    def fits(self, distinct: int) -> bool:
        """Reads as text in this encoding: decodes, mostly common characters, varied."""
        if self.chars == 0:
            return False
        return (
            self.bad <= _MAX_BAD_SHARE * self.chars
            and self.common >= _MIN_COMMON_SHARE * self.chars
            and len(self.distinct) >= distinct
        )

    @property
    def share(self) -> float:
        return self.common / self.chars if self.chars else 0.0


_EMPTY: Final = Verdict(0, 0, 0, frozenset())


def _weigh(codec: str, data: bytes) -> Verdict:
    """How well the non-ASCII part of ``data`` reads in ``codec``."""
    text = data.decode(codec, "replace")
    wide = [char for char in text if char >= "\x80"]
    bad = wide.count(_REPLACEMENT)
    if codec == "utf-8":  # valid UTF-8 by chance is rare: any decoded character counts
        common = [char for char in wide if char != _REPLACEMENT]
    else:
        table = _common(codec)
        common = [char for char in wide if char in table]
    return Verdict(len(wide), bad, len(common), frozenset(common))


class EncodingSniffer:
    """A power-on decoder that finds out which encoding this printer's text is in.

    ``single``: the single-byte page used when no multi-byte encoding fits
    (``cp437``). ``known``: a choice kept from earlier (skips the detection).
    Callable as a ``Decoder``; ``choice`` is None until decided.
    """

    def __init__(self, single: str = "cp437", known: str | None = None) -> None:
        self.single = codecs.lookup(single).name
        self.choice: str | None = codecs.lookup(known).name if known else None
        self.detected = False
        """The choice was made here (not passed in as ``known``)."""
        self.guess: str | None = self.choice
        """The encoding the last text with high bytes was read in (before the choice)."""
        self.evidence: dict[str, Verdict] = dict.fromkeys(CANDIDATES, _EMPTY)
        self._decoders: dict[str, Decoder] = {}
        self._confirmed = 0

    def __call__(self, data: bytes) -> str:
        if self.choice is not None:
            return self._decoder(self.choice)(data)
        if data.isascii():
            return data.decode("ascii")
        for codec in CANDIDATES:
            self.evidence[codec] = self.evidence[codec].plus(_weigh(codec, data))
        self.guess = self._best(_GUESS_DISTINCT)
        if self._enough():
            self.choice, self.detected = self._best(_MIN_DISTINCT), True
        return self._decoder(self.guess)(data)

    def confirm(self, extracted: bool) -> None:
        """A receipt read with the current guess gave its fields (``extracted``) or not."""
        if self.choice is not None or self.guess in (None, self.single):
            return
        self._confirmed = self._confirmed + 1 if extracted else 0
        if self._confirmed >= CONFIRMED_AFTER:
            self.choice, self.detected = self.guess, True

    def status(self) -> dict[str, object]:
        """For ``status``, ``doctor`` and ``pos sniff``: the choice and the evidence."""
        return {
            "encoding": self.choice or f"undecided ({self._best(_GUESS_DISTINCT)} so far)",
            "detected": self.detected,
            "how": "detected" if self.detected else ("kept" if self.choice else "undecided"),
            "evidence": {
                codec: {"chars": v.chars, "common_share": round(v.share, 3), "bad": v.bad}
                for codec, v in self.evidence.items()
            },
        }

    def _enough(self) -> bool:
        # GB18030 reads every high-byte pair: its count is the number of characters seen
        return self.evidence["gb18030"].chars >= DECIDE_AFTER

    def _best(self, distinct: int) -> str:
        fitting = [c for c in CANDIDATES if self.evidence[c].fits(distinct)]
        if not fitting:
            return self.single
        return max(fitting, key=lambda c: (self.evidence[c].share, -CANDIDATES.index(c)))

    def _decoder(self, codec: str) -> Decoder:
        decode = self._decoders.get(codec)
        if decode is None:
            decode = self._decoders[codec] = text_decoder(codec)
        return decode
