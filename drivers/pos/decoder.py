"""The POS decode pipeline: timestamped chunks -> masked, extracted receipts.

``PosDecoder`` is what the edge's POS source and ``mallsense pos parse`` use:
segments from the interpreter, masked at once (so no later stage ever sees a
card or phone number), then fields extracted from the masked text.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

from drivers.pos.escpos.escpos import DEFAULT_MAX_BYTES
from drivers.pos.escpos.segment import DEFAULT_IDLE_GAP, ReceiptSegmenter
from drivers.pos.extract.extract import Extractor
from drivers.pos.extract.fields import Fields
from drivers.pos.extract.mask import mask_text, mask_value
from drivers.pos.extract.templates import Template
from drivers.pos.result import Receipt, Segment

__all__ = ["RASTER_ONLY_EXTRACTOR", "PosDecoder", "decode_bytes", "decode_chunks", "mask_fields"]

RASTER_ONLY_EXTRACTOR: Final = "none"
_REMEMBERED_SALES: Final = 256
_NOT_MASKED: Final = frozenset(
    {"text", "text_sha256", "stats", "gross", "discount", "tendered", "change", "payments",
     "doubts", "kind", "encoding"}
)  # fmt: skip
"""Receipt fields the last masking step leaves: the text (masked first, everything else
is read from it), the hash of that text, counters, and what the extractor made itself
from parsed amounts and its own words (the money ladder, doubts, kind, encoding)."""

_FIELDS: Final = dataclasses.fields(Fields)
"""What an extractor finds; a ``Receipt`` carries them all."""


class PosDecoder:
    """Decodes one printer line: feed chunks with their read times, get receipts.

    ``encoding``: what the printer prints without commands (``cp437``, or
    ``gb18030`` for Chinese models that print raw GB18030), or ``auto`` to find
    out from the first receipts (``detected``: what was found out before, kept by
    the owner from ``encoding_status``). ``templates``: this
    store's extraction templates (dicts or ``Template``). ``currency``: the
    mall's currency, used when a receipt prints none and to read ``$``/``¥``.
    ``day_first``: how to read ``03/04/2026``.
    """

    def __init__(
        self,
        encoding: str = "auto",
        *,
        double_byte: str = "gb18030",
        idle_gap: float = DEFAULT_IDLE_GAP,
        max_bytes: int = DEFAULT_MAX_BYTES,
        templates: Sequence[Template | Mapping[str, object]] = (),
        currency: str | None = None,
        day_first: bool = True,
        detected: str | None = None,
    ) -> None:
        self.encoding = encoding
        self.segmenter = ReceiptSegmenter(encoding, double_byte, idle_gap, max_bytes, detected)
        self.extractor = Extractor(templates, currency, day_first)
        self.receipts = 0
        self.raster_only = 0
        self.masked = 0
        self.kinds: Counter[str] = Counter()
        self._sold: OrderedDict[tuple[str, Decimal | None], None] = OrderedDict()
        """Receipt numbers and amounts of the last sales: the same again is a reprint."""

    def feed(self, t: float, data: bytes) -> list[Receipt]:
        """One chunk read at time ``t`` (seconds, from the source's clock)."""
        return self._receipts(self.segmenter.feed(t, data))

    def advance(self, t: float) -> list[Receipt]:
        """The line has been quiet up to ``t``: emit a receipt idle for long enough."""
        return self._receipts(self.segmenter.advance(t))

    def flush(self) -> list[Receipt]:
        """End of input: the receipt still open, if any."""
        return self._receipts(self.segmenter.flush())

    def stats(self) -> dict[str, object]:
        """Counters for status and telemetry."""
        return {
            **self.segmenter.stats(),
            "receipts": self.receipts,
            "raster_only": self.raster_only,
            "masked": self.masked,
            "kinds": dict(self.kinds),
            "encoding": self.encoding_status(),
        }

    def encoding_status(self) -> dict[str, object]:
        """The printer's text encoding: configured, or detected (and on what evidence)."""
        sniffer = self.segmenter.interpreter.sniffer
        if sniffer is None:
            return {"encoding": self.encoding, "detected": False, "how": "configured"}
        return sniffer.status()

    def _kind(self, fields: Fields) -> str:
        """The receipt's kind; a sale whose number and amount were just printed is a reprint."""
        kind = fields.kind
        if kind in ("sale", "refund") and fields.receipt_no is not None:
            key = (fields.receipt_no, fields.total)
            if key in self._sold:
                kind = "reprint"
            else:
                self._sold[key] = None
                if len(self._sold) > _REMEMBERED_SALES:
                    self._sold.popitem(last=False)
        self.kinds[kind] += 1
        return kind

    def _encoding(self) -> str | None:
        sniffer = self.segmenter.interpreter.sniffer
        if sniffer is None:
            return self.encoding
        return sniffer.choice or sniffer.guess

    def _receipts(self, segments: list[Segment]) -> list[Receipt]:
        return [self.receipt(segment) for segment in segments]

    def receipt(self, segment: Segment) -> Receipt:
        """Mask a segment's text, extract its fields."""
        masked = mask_text(segment.text)
        fields = self.extractor.extract(masked.text)
        sniffer = self.segmenter.interpreter.sniffer
        if sniffer is not None and sniffer.choice is None and not segment.text.isascii():
            sniffer.confirm(fields.total is not None)
        raster_only = segment.raster_only
        self.receipts += 1
        self.raster_only += raster_only
        found: dict[str, Any] = {f.name: getattr(fields, f.name) for f in _FIELDS}
        if raster_only:  # no text: nothing was extracted, whatever the extractor says
            found |= {"extractor": RASTER_ONLY_EXTRACTOR, "confidence": 0.0}
        found["kind"] = self._kind(fields)
        receipt = Receipt(
            **found,
            text=masked.text,
            raster_only=raster_only,
            text_sha256=hashlib.sha256(masked.text.encode("utf-8")).hexdigest(),
            t_start=segment.t_start,
            t_end=segment.t_end,
            boundary=segment.boundary,
            stats=segment.stats,
            masked=masked.masked,
            encoding=self._encoding(),
        )
        receipt = mask_fields(receipt)
        self.masked += receipt.masked
        return receipt


def mask_fields(receipt: Receipt) -> Receipt:
    """The last step: every field but the text masked again (a no-op unless a field was
    found somewhere the masked text does not show, e.g. by a store template)."""
    changes: dict[str, object] = {}
    count = 0
    for field in dataclasses.fields(receipt):
        if field.name in _NOT_MASKED:
            continue
        value, found = mask_value(getattr(receipt, field.name))
        if found:
            changes[field.name] = value
            count += found
    if not changes:
        return receipt
    return dataclasses.replace(receipt, **changes, masked=receipt.masked + count)  # type: ignore[arg-type]


def decode_chunks(chunks: Iterable[tuple[float, bytes]], decoder: PosDecoder) -> list[Receipt]:
    """All receipts of a recording (``(t, data)`` chunks), the last one flushed."""
    receipts: list[Receipt] = []
    for t, data in chunks:
        receipts += decoder.feed(t, data)
    return receipts + decoder.flush()


def decode_bytes(data: bytes, encoding: str = "cp437", t: float = 0.0) -> list[Receipt]:
    """Receipts of a raw byte dump (one chunk: only cuts and the size bound separate them)."""
    return decode_chunks([(t, data)], PosDecoder(encoding))
