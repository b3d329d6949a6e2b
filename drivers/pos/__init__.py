"""POS receipts from the printer line: decoding (bytes -> receipts) and the live line.

Three rooms, one flow (bytes -> printed text -> fields -> receipt):

- ``escpos/``: the ESC/POS interpreter (text, code pages, images, cuts) and
  ``segment`` (receipt boundaries: cut, idle gap, size bound). Pure.
- ``extract/``: fields from the printed text (amounts, items, receipt number, date,
  payment, templates) and ``mask`` / ``pan`` (card, phone and member numbers masked
  before anything keeps the text). Pure.
- ``decoder`` (here): the pipeline, ``PosDecoder`` (chunks with times -> ``Receipt``);
  ``result``: the value types every room shares.
- ``line/``: the serial line, imported module by module (pyserial is optional, so not
  from here): settings, pyserial, baud detection and ``quality``, passthrough, the
  daemon's source, replay and capture (``capture_format``: files created 0600).
"""

from drivers.pos.decoder import PosDecoder, decode_bytes, decode_chunks
from drivers.pos.escpos.escpos import EscPosInterpreter
from drivers.pos.escpos.segment import ReceiptSegmenter
from drivers.pos.extract.extract import Extractor
from drivers.pos.extract.fields import Fields
from drivers.pos.extract.mask import mask_text
from drivers.pos.extract.templates import Template
from drivers.pos.line.capture_format import (
    Capture,
    CaptureHeader,
    CaptureWriter,
    Chunk,
    read_capture,
    read_capture_file,
)
from drivers.pos.result import ItemLine, Receipt, Segment, SegmentStats

__all__ = [
    "Capture",
    "CaptureHeader",
    "CaptureWriter",
    "Chunk",
    "EscPosInterpreter",
    "Extractor",
    "Fields",
    "ItemLine",
    "PosDecoder",
    "Receipt",
    "ReceiptSegmenter",
    "Segment",
    "SegmentStats",
    "Template",
    "decode_bytes",
    "decode_chunks",
    "mask_text",
    "read_capture",
    "read_capture_file",
]
