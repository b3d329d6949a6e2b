"""Writes the receipt corpus: one ``<layout>.bin`` (the bytes as the printer receives them)
and one ``<layout>.json`` (what the layout is, and the fields it must give) per layout.

    python tests/data/pos/corpus/make.py

The layouts are in ``layouts.py`` beside this file, in a small notation: ``^text`` a
centred double-size heading, ``left|right`` a row justified to the paper's width (CJK
characters take two columns, as on the printer), ``-`` a ruler. The bytes are what the
POS software sends: ``ESC @``, alignment and size commands, the text in the printer's
encoding (GB18030 raw as a printer in Chinese mode takes it, or inside ``FS &`` ...
``FS .``, Big5, UTF-8, cp437), a feed and a cut.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from layouts import LAYOUTS, Layout  # noqa: E402

ESC, GS, FS = b"\x1b", b"\x1d", b"\x1c"
CODECS = {"gb18030": "gb18030", "gb18030-fs": "gb18030", "big5": "big5", "utf-8": "utf-8"}
PRINTERS = {
    "gb18030": "GB18030 printer in Chinese mode (power-on default), no FS &",
    "gb18030-fs": "single-byte printer, each line in FS & ... FS . (GB18030)",
    "big5": "Big5 printer in Chinese mode (Hong Kong, Taiwan), no FS &",
    "utf-8": "UTF-8 printer (Android POS)",
    "cp437": "PC437 (Epson default)",
}


def columns(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def row(spec: str, width: int) -> str:
    if spec == "-":
        return "-" * width
    if "|" not in spec:
        return spec
    left, *rest = spec.split("|")
    right = "   ".join(rest)  # name | quantity | amount: the columns after the name
    return left + " " * max(1, width - columns(left) - columns(right)) + right


def encode(text: str, printer: str) -> bytes:
    data = text.encode(CODECS.get(printer, "cp437"))
    return FS + b"&" + data + FS + b"." if printer == "gb18030-fs" else data


def receipt_bytes(layout: Layout) -> bytes:
    out = [ESC + b"@"]
    for spec in layout.lines:
        if spec.startswith("^"):
            out += [ESC + b"a\x01", GS + b"!\x11", encode(spec[1:], layout.printer), b"\n"]
            out += [GS + b"!\x00", ESC + b"a\x00"]
        else:
            out += [encode(row(spec, layout.width), layout.printer), b"\n"]
    out.append(ESC + b"d\x04" + GS + b"VB\x00")
    return b"".join(out)


def main() -> None:
    for layout in LAYOUTS:
        (HERE / f"{layout.name}.bin").write_bytes(receipt_bytes(layout))
        about = {
            "layout": layout.name,
            "description": layout.description,
            "printer": PRINTERS[layout.printer],
            "width": layout.width,
            "expected": layout.expected,
        }
        text = json.dumps(about, ensure_ascii=False, indent=2) + "\n"
        (HERE / f"{layout.name}.json").write_text(text, encoding="utf-8")
    print(f"{len(LAYOUTS)} layouts written to {HERE}")


if __name__ == "__main__":
    main()
