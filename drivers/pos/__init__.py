"""POS receipts from the printer line: decoding (bytes -> receipts) and the live line.

The decode layer is pure (no clock, no port, never raises on bad input bytes):

- ``escpos``: incremental ESC/POS interpreter (text, code pages, images, cuts);
  ``payloads`` measures data-carrying commands, ``image_guard`` catches image
  headers that lie about their size;
- ``segment``: receipt boundaries (cut, idle gap, size bound);
- ``mask``: card, phone and member numbers masked before anything keeps the text
  (``pan``: card numbers in every spelling);
- ``extract`` / ``templates``: fields (total, items, receipt number, date, payment);
- ``decoder``: the pipeline, ``PosDecoder`` (chunks with times -> ``Receipt``);
- ``quality``: how much bytes look like ESC/POS (baud detection, garbage warnings);
- ``capture_format``: the timestamped-chunk replay format (files created 0600).

The live side, imported on its own (pyserial is optional, so not from here):
``line`` (settings, the port interface), ``serial_line`` (pyserial), ``baud``
(``auto`` detection), ``passthrough`` (forwarding to the printer),
``serial_source`` (the daemon's source), ``replay_line`` (a recording played as
the line), ``recorder`` (``mallsense pos capture``).
"""

from drivers.pos.capture_format import (
    Capture,
    CaptureHeader,
    CaptureWriter,
    Chunk,
    read_capture,
    read_capture_file,
)
from drivers.pos.decoder import PosDecoder, decode_bytes, decode_chunks
from drivers.pos.escpos import EscPosInterpreter
from drivers.pos.extract import Extractor
from drivers.pos.fields import Fields
from drivers.pos.mask import mask_text
from drivers.pos.result import ItemLine, Receipt, Segment, SegmentStats
from drivers.pos.segment import ReceiptSegmenter
from drivers.pos.templates import Template

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
