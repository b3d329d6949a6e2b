"""POS decode benchmark: ESC/POS bytes -> receipts, on one core.

    python benchmarks/pos_decode.py [--json] [--megabytes 32]

Generates (in memory, deterministic) a printer-line stream of shop receipts:
English receipts with a formatting command on every line, Chinese receipts
in FS & GBK and in raw GB18030, most with a raster logo (GS v 0), some with
QR codes, barcodes, ESC * column logos, and a few raster-only receipts (a
driver that prints the whole receipt as a picture). Pinned to one CPU core,
it measures:

- ``mb_per_s``: the interpreter and segmenter (``ReceiptSegmenter``) over the
  stream fed in 4 KiB chunks, as a serial port delivers it (median of runs);
- ``text_only_mb_per_s``: the same on receipts without any image (the worst
  case: every byte is text or command), and per layout: ``english_mb_per_s``,
  ``chinese_fs_mb_per_s`` (FS & ... FS . around every line, GBK) and
  ``chinese_raw_mb_per_s`` (raw GB18030);
- ``pipeline_mb_per_s`` / ``receipts_per_s``: the whole pipeline as the daemon
  runs it by default: encoding detection (``auto``), masking, field extraction
  (the money ladder, receipt kinds); target ``receipts_target`` (500/s);
  ``cp437_receipts_per_s``: the same with ``encoding = cp437`` configured (the
  raw GB18030 receipts then read as box drawing, so they cost less to extract);
- ``naive_mb_per_s`` / ``vs_naive``: a byte-at-a-time interpreter written
  below for reference (python-escpos only writes ESC/POS; it has no decoder);
- ``passthrough_p99_ms`` (and p50, max): what the box adds between the POS
  and the printer, measured on pseudo-terminal pairs with the live source
  decoding meanwhile (``benchmarks/pos_passthrough.py``; target under 5 ms).
  It runs first, before the process is pinned to one core: the box and the
  fake POS and printer are separate processes, as on a real line.

Rates are bytes per second of this process's CPU time (``time.process_time``),
so that other work on the machine does not skew them; the run is single-threaded.
"""

from __future__ import annotations

import argparse
import codecs
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import pos_passthrough  # noqa: E402

from drivers.pos.decoder import PosDecoder  # noqa: E402
from drivers.pos.escpos.segment import ReceiptSegmenter  # noqa: E402

ESC, GS, FS = b"\x1b", b"\x1d", b"\x1c"
CHUNK = 4096
TARGET_MB_PER_S = 20.0
RECEIPTS_TARGET = 500
ITEMS_EN = ("Apples 1kg", "Whole milk 1L", "Sourdough bread", "Free range eggs x12", "Coffee beans")
ITEMS_CN = ("农夫山泉550ml", "康师傅红烧牛肉面", "鸡蛋(10枚)", "可口可乐330ml", "五常大米5kg")


def raster(width_bytes: int, height: int, rng: random.Random) -> bytes:
    """GS v 0: a logo of ``width_bytes * 8`` by ``height`` dots."""
    header = GS + b"v0\x00" + width_bytes.to_bytes(2, "little") + height.to_bytes(2, "little")
    return header + rng.randbytes(width_bytes * height)


def column_logo(dots: int, bands: int, rng: random.Random) -> bytes:
    """ESC * 33: 24-dot bands, each ended by LF, as python-escpos writes them."""
    band = ESC + b"*\x21" + dots.to_bytes(2, "little")
    return ESC + b"3\x10" + b"".join(band + rng.randbytes(dots * 3) + b"\n" for _ in range(bands))


def qr(content: bytes) -> bytes:
    store = GS + b"(k" + (len(content) + 3).to_bytes(2, "little") + b"1P0" + content
    return GS + b"(k\x04\x001A2\x00" + store + GS + b"(k\x03\x001Q0"


def english(rng: random.Random, n: int) -> bytes:
    out = [ESC + b"@", ESC + b"a\x01", ESC + b"!\x30", b"FRESH MART\n", ESC + b"!\x00"]
    out += [b"12 Harbour Road\n", f"Receipt No: {n:06d}\n".encode(), b"2026-03-14 10:05:11\n"]
    out.append(ESC + b"a\x00")
    total = 0
    for _ in range(rng.randint(3, 15)):
        cents = rng.randint(50, 5000)
        total += cents
        name = rng.choice(ITEMS_EN)
        out += [ESC + b"E\x00", f"{name:<34}{cents / 100:>8.2f}\n".encode()]
    out += [ESC + b"E\x01", f"{'TOTAL':<34}{total / 100:>8.2f}\n".encode(), ESC + b"E\x00"]
    out += [b"VISA **** **** **** 1234\n", GS + b"k\x02" + b"4006381333931\x00"]
    return b"".join(out)


def chinese(rng: random.Random, n: int, raw_gb18030: bool) -> bytes:
    def line(text: str) -> bytes:
        if raw_gb18030:
            return text.encode("gb18030") + b"\n"
        return FS + b"&" + text.encode("gbk") + b"\n" + FS + b"."

    out = [ESC + b"@", ESC + b"a\x01", GS + b"!\x11", line("华联超市 五角场店"), GS + b"!\x00"]
    out += [line(f"单号: XS2026031400{n:04d}"), line("日期: 2026-03-14 10:05:11")]
    total = 0
    for _ in range(rng.randint(3, 15)):
        cents = rng.randint(50, 5000)
        total += cents
        out += [ESC + b"E\x00", line(f"{rng.choice(ITEMS_CN)}  x1  {cents / 100:.2f}")]
    out += [line(f"合计: {total / 100:.2f}"), line("支付方式: 微信支付")]
    return b"".join(out)


def logo(rng: random.Random) -> tuple[bytes, int]:
    """A shop logo as POS software prints them, and its image data size.

    Most print the logo stored in the printer (FS p: four bytes on the line);
    others send it every time, as a raster (GS v 0) or in ESC * bands.
    """
    choice = rng.random()
    if choice < 0.5:
        return FS + b"p\x01\x00", 0
    if choice < 0.85:
        return raster(72, 120, rng), 72 * 120
    return column_logo(384, 4, rng), 384 * 3 * 4


def receipt(rng: random.Random, n: int) -> tuple[bytes, int]:
    """One receipt of the mix, and the bytes of image and 2D-code data in it."""
    kind = rng.random()
    if kind < 0.03:  # the whole receipt as a picture (a Windows driver's output)
        height = rng.randint(600, 1200)
        return raster(72, height, rng) + GS + b"VA\x03", 72 * height
    body = english(rng, n) if kind < 0.55 else chinese(rng, n, raw_gb18030=kind < 0.75)
    parts, payload = [], 0
    if rng.random() < 0.8:
        image, payload = logo(rng)
        parts.append(image)
    parts.append(body)
    if rng.random() < 0.4:
        code = qr(f"https://example.com/r/{n}".encode())
        parts.append(code)
        payload += len(code)
    parts.append(ESC + b"d\x03" + GS + b"VA\x03")
    return b"".join(parts), payload


def stream(megabytes: float) -> tuple[bytes, int, float]:
    """The mixed stream, its number of receipts, and the share of image and code bytes."""
    rng = random.Random(20260314)
    mixed: list[bytes] = []
    size = n = payload = 0
    while size < megabytes * 1_000_000:
        data, image_bytes = receipt(rng, n)
        mixed.append(data)
        size += len(data)
        payload += image_bytes
        n += 1
    return b"".join(mixed), n, payload / size


def layout(kind: str, megabytes: float) -> bytes:
    """Receipts of one layout without images: text and commands only."""
    rng = random.Random(kind)
    out: list[bytes] = []
    size = n = 0
    while size < megabytes * 1_000_000:
        if kind == "english":
            data = english(rng, n)
        else:
            data = chinese(rng, n, raw_gb18030=kind == "chinese_raw")
        out.append(data + ESC + b"d\x03" + GS + b"VA\x03")
        size += len(out[-1])
        n += 1
    return b"".join(out)


def chunks(data: bytes) -> Iterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(data), CHUNK):
        yield bytes(view[start : start + CHUNK])


def segmenter_run(data: bytes) -> int:
    segmenter = ReceiptSegmenter()
    count = 0
    for chunk in chunks(data):
        count += len(segmenter.feed(0.0, chunk))
    return count + len(segmenter.flush())


def pipeline_run(data: bytes, encoding: str = "auto") -> int:
    decoder = PosDecoder(encoding)
    count = 0
    for chunk in chunks(data):
        count += len(decoder.feed(0.0, chunk))
    return count + len(decoder.flush())


class NaiveInterpreter:
    """The obvious design for reference: a state machine stepping one byte at a time.

    It knows the same command lengths for the commands of this stream, decodes
    each line with an incremental decoder, and counts down image data byte by byte.
    """

    FIXED: ClassVar[dict[tuple[int, int], int]] = {
        (0x1B, 0x40): 0, (0x1B, 0x61): 1, (0x1B, 0x21): 1, (0x1B, 0x45): 1, (0x1B, 0x64): 1,
        (0x1B, 0x33): 1, (0x1D, 0x21): 1, (0x1C, 0x26): 0, (0x1C, 0x2E): 0, (0x1C, 0x70): 2,
    }  # fmt: skip

    def __init__(self) -> None:
        self.receipts: list[str] = []
        self.line = bytearray()
        self.text: list[str] = []
        self.decoder = codecs.getincrementaldecoder("cp437")("replace")
        self.pending: list[int] = []
        self.skip = 0
        self.need = 0

    def feed(self, data: bytes) -> None:
        for byte in data:
            if self.skip:
                self.skip -= 1
            elif self.pending or byte in (0x1B, 0x1D, 0x1C):
                self.command(byte)
            elif byte == 0x0A:
                self.text.append(self.decoder.decode(bytes(self.line)) + "\n")
                self.line.clear()
            else:
                self.line.append(byte)

    def command(self, byte: int) -> None:
        self.pending.append(byte)
        p = self.pending
        if len(p) < 2:
            return
        fixed = self.FIXED.get((p[0], p[1]))
        if fixed is not None:
            if len(p) == 2 + fixed:
                self.apply(p)
            return
        self.variable(p)

    def variable(self, p: list[int]) -> None:
        if p[:2] == [0x1D, 0x76] and len(p) == 8:  # GS v 0 m xL xH yL yH
            self.skip = (p[4] | p[5] << 8) * (p[6] | p[7] << 8)
            p.clear()
        elif p[:2] == [0x1B, 0x2A] and len(p) == 5:  # ESC * m nL nH
            self.skip = (p[3] | p[4] << 8) * 3
            p.clear()
        elif p[:2] == [0x1D, 0x28] and len(p) == 5:  # GS ( k pL pH
            self.skip = p[3] | p[4] << 8
            p.clear()
        elif p[:2] == [0x1D, 0x56] and len(p) == 4:  # GS V A n
            self.receipts.append("".join(self.text))
            self.text = []
            p.clear()
        elif p[:2] == [0x1D, 0x6B] and len(p) > 3 and p[-1] == 0:  # GS k m ... NUL
            p.clear()

    def apply(self, p: list[int]) -> None:
        if p[0] == 0x1C:  # FS & / FS .: switch between GBK and the code page
            name = "gb18030" if p[1] == 0x26 else "cp437"
            self.decoder = codecs.getincrementaldecoder(name)("replace")
        p.clear()


def naive_run(data: bytes) -> int:
    interpreter = NaiveInterpreter()
    for chunk in chunks(data):
        interpreter.feed(chunk)
    return len(interpreter.receipts)


def rate(run: Callable[[bytes], int], data: bytes, repeats: int) -> tuple[float, int]:
    """Median MB/s over ``repeats`` runs after a warm-up, and the receipts found."""
    found = run(data[:1_000_000])
    times = []
    for _ in range(repeats):
        start = time.process_time()
        found = run(data)
        times.append(time.process_time() - start)
    return len(data) / 1e6 / statistics.median(times), found


def pin_to_one_core() -> int | None:
    try:
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
    except (AttributeError, OSError):
        return None
    return core


def measure(megabytes: float, repeats: int, passthrough_chunks: int = 2000) -> dict[str, Any]:
    mixed, receipts, image_share = stream(megabytes)
    passthrough: dict[str, Any] = {}
    if passthrough_chunks:
        passthrough = pos_passthrough.measure(mixed[:2_000_000], passthrough_chunks)
    core = pin_to_one_core()
    mb_per_s, segments = rate(segmenter_run, mixed, repeats)
    kinds = ("english", "chinese_fs", "chinese_raw")
    layouts = {kind: layout(kind, megabytes / 8) for kind in kinds}
    layout_rates = {kind: rate(segmenter_run, data, repeats)[0] for kind, data in layouts.items()}
    text_mb_per_s, _ = rate(segmenter_run, b"".join(layouts.values()), repeats)
    pipeline_mb_per_s, decoded = rate(pipeline_run, mixed, max(1, repeats // 2))
    cp437_mb_per_s, _ = rate(lambda d: pipeline_run(d, "cp437"), mixed, max(1, repeats // 2))
    per_receipt = len(mixed) / receipts
    naive_mb_per_s, _ = rate(naive_run, mixed[:4_000_000], 1)
    naive_text_mb_per_s, _ = rate(naive_run, layouts["english"], 1)
    return {
        "mb_per_s": round(mb_per_s, 1),
        "target_mb_per_s": TARGET_MB_PER_S,
        "meets_target": mb_per_s >= TARGET_MB_PER_S,
        "text_only_mb_per_s": round(text_mb_per_s, 1),
        **{f"{kind}_mb_per_s": round(value, 1) for kind, value in layout_rates.items()},
        "pipeline_mb_per_s": round(pipeline_mb_per_s, 1),
        "receipts_per_s": round(pipeline_mb_per_s * 1e6 / per_receipt),
        "receipts_target": RECEIPTS_TARGET,
        "meets_receipts_target": pipeline_mb_per_s * 1e6 / per_receipt >= RECEIPTS_TARGET,
        "cp437_receipts_per_s": round(cp437_mb_per_s * 1e6 / per_receipt),
        "naive_mb_per_s": round(naive_mb_per_s, 2),
        "vs_naive": round(mb_per_s / naive_mb_per_s, 1),
        "naive_english_mb_per_s": round(naive_text_mb_per_s, 2),
        "english_vs_naive": round(layout_rates["english"] / naive_text_mb_per_s, 1),
        "stream_bytes": len(mixed),
        "image_share_of_bytes": round(image_share, 3),
        "receipts": receipts,
        "segments_found": segments,
        "receipts_decoded": decoded,
        "chunk_bytes": CHUNK,
        "core": core,
        **passthrough,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--megabytes", type=float, default=32.0, help="size of the mixed stream")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs (median)")
    parser.add_argument(
        "--passthrough-chunks", type=int, default=2000, help="pty chunks timed (0: skip)"
    )
    args = parser.parse_args()
    result = measure(args.megabytes, args.repeats, args.passthrough_chunks)
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:>20}: {value}")


if __name__ == "__main__":
    main()
