"""Reading and writing capture files (pcap and pcapng) without scapy.

The reader yields ``(timestamp, linktype, frame_bytes)`` tuples straight from a
buffered file, so replay runs at the speed of ``struct.unpack_from``. It is
strict about the file structure (a broken header raises ``CaptureFormatError``
naming the file and offset) but tolerant of a truncated last record, which is
what a capture cut off by a power loss looks like: it stops there and says so
in ``truncated``.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "LINKTYPE_IEEE802_11",
    "LINKTYPE_IEEE802_11_RADIOTAP",
    "CaptureFormatError",
    "CaptureReader",
    "PcapWriter",
    "open_capture",
]

LINKTYPE_IEEE802_11 = 105
LINKTYPE_IEEE802_11_RADIOTAP = 127

_PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
_PCAPNG_SHB = 0x0A0D0D0A
_PCAPNG_BOM = 0x1A2B3C4D
_PCAPNG_IDB = 1
_PCAPNG_SPB = 3
_PCAPNG_EPB = 6
_IF_TSRESOL = 9
_IF_TSOFFSET = 14
_PCAPNG_READ = frozenset({_PCAPNG_SHB, _PCAPNG_IDB, _PCAPNG_EPB, _PCAPNG_SPB})
_CHUNK = 1 << 20
_MAX_RECORD = 1 << 18  # 256 KiB: no 802.11 frame comes near this


class CaptureFormatError(ValueError):
    """The file is not a pcap/pcapng capture, or its structure is broken."""


@dataclass
class CaptureReader:
    """Iterate a pcap or pcapng file as ``(time, linktype, frame)``."""

    path: Path
    frames: int = 0
    bytes_read: int = 0
    """File bytes read so far (for progress bars; the reader buffers ahead)."""
    truncated: bool = False
    skipped_blocks: int = 0
    """pcapng blocks passed over: other block types, packets of unknown interfaces."""
    linktypes: set[int] = field(default_factory=set)

    def __iter__(self) -> Iterator[tuple[float, int, bytes]]:
        for batch in self.batches():
            yield from batch

    def batches(self) -> Iterator[list[tuple[float, int, bytes]]]:
        """The frames in lists of up to a chunk's worth (the fast way to read)."""
        with self.path.open("rb") as f:
            head = f.read(4)
            if head in _PCAP_MAGICS:
                yield from self._pcap(f, head)
            elif len(head) == 4 and struct.unpack("<I", head)[0] == _PCAPNG_SHB:
                yield from _in_lists(self._pcapng(f, head))
            else:
                raise CaptureFormatError(
                    f"{self.path}: not a pcap or pcapng file (it starts with"
                    f" {head.hex() or 'nothing'}); record with tcpdump -w"
                )

    def _pcap(self, f: BinaryIO, magic: bytes) -> Iterator[list[tuple[float, int, bytes]]]:
        endian, tick = _PCAP_MAGICS[magic]
        rest = f.read(20)
        if len(rest) < 20:
            raise CaptureFormatError(f"{self.path}: pcap global header is cut short")
        linktype = struct.unpack(endian + "HHiIII", rest)[5] & 0x0FFFFFFF
        self.linktypes.add(linktype)
        self.bytes_read += 4 + len(rest)
        unpack = struct.Struct(endian + "IIII").unpack_from
        buf = b""
        pos = 0
        eof = False
        while True:
            if not eof and len(buf) - pos < 16 + _MAX_RECORD:
                more = f.read(_CHUNK)
                self.bytes_read += len(more)
                eof = not more
                buf = buf[pos:] + more
                pos = 0
            # Inner loop over what is buffered: one bounds check per record. It stops to
            # refill once less than a largest record is left (not at a fixed offset: that
            # made every batch after the first refill a single record).
            limit = len(buf) - 16
            refill_at = len(buf) - 16 - _MAX_RECORD
            batch: list[tuple[float, int, bytes]] = []
            append = batch.append
            corrupt = 0
            while pos <= limit:
                sec, frac, incl, _orig = unpack(buf, pos)
                if incl > _MAX_RECORD:
                    corrupt = incl
                    break
                end = pos + 16 + incl
                if end > len(buf):
                    break
                append((sec + frac * tick, linktype, buf[pos + 16 : end]))
                pos = end
                if not eof and pos > refill_at:
                    break
            self.frames += len(batch)
            if batch:
                yield batch
            if corrupt:
                raise CaptureFormatError(
                    f"{self.path}: record {self.frames + 1} claims {corrupt} bytes; the file is"
                    f" corrupt after {self.frames} good records"
                )
            if eof:
                if pos < len(buf):
                    self.truncated = True
                return

    def _pcapng(self, f: BinaryIO, first: bytes) -> Iterator[tuple[float, int, bytes]]:
        interfaces: list[tuple[int, float, float]] = []
        endian = "<"
        head = first + f.read(4)
        while len(head) == 8:
            btype = struct.unpack_from(endian + "I", head)[0]
            if btype == _PCAPNG_SHB:
                endian = self._shb_endian(f.read(4))
                interfaces = []
                head += b"\0\0\0\0"  # the byte-order mark, already consumed
            blen = struct.unpack_from(endian + "I", head, 4)[0]
            if blen < 12 or blen % 4:
                raise CaptureFormatError(f"{self.path}: pcapng block of impossible length {blen}")
            if btype not in _PCAPNG_READ or blen > _MAX_RECORD + 64:
                self._skip(f, blen - len(head))  # other blocks (custom, statistics...) may be large
                head = f.read(8)
                continue
            body = f.read(blen - len(head))
            self.bytes_read += len(head) + len(body)
            if len(body) < blen - len(head):
                self.truncated = True
                return
            item = self._block(btype, body[: len(body) - 4], endian, interfaces)
            if item is not None:
                self.frames += 1
                yield item
            head = f.read(8)
        if head:
            self.truncated = True

    def _skip(self, f: BinaryIO, size: int) -> None:
        f.seek(size, 1)
        if f.tell() > os.fstat(f.fileno()).st_size:
            self.truncated = True  # the block claims more bytes than the file has
        self.bytes_read += size + 8
        self.skipped_blocks += 1

    def _block(
        self, btype: int, body: bytes, endian: str, interfaces: list[tuple[int, float, float]]
    ) -> tuple[float, int, bytes] | None:
        if btype == _PCAPNG_IDB:
            interfaces.append(self._idb(body, endian))
        elif btype == _PCAPNG_EPB:
            item = self._epb(body, endian, interfaces)
            if item is None:
                self.skipped_blocks += 1
            return item
        elif btype == _PCAPNG_SPB and interfaces and len(body) >= 4:
            orig = struct.unpack_from(endian + "I", body)[0]
            # No timestamp in a simple packet block; its data is padded to 32 bits.
            return 0.0, interfaces[0][0], body[4 : 4 + orig]
        return None

    def _shb_endian(self, bom: bytes) -> str:
        if bom == struct.pack("<I", _PCAPNG_BOM):
            return "<"
        if bom == struct.pack(">I", _PCAPNG_BOM):
            return ">"
        raise CaptureFormatError(f"{self.path}: pcapng section header has a bad byte-order mark")

    def _idb(self, body: bytes, endian: str) -> tuple[int, float, float]:
        """(linktype, seconds per timestamp unit, timestamp offset in seconds)."""
        if len(body) < 8:
            raise CaptureFormatError(f"{self.path}: pcapng interface description is cut short")
        linktype = struct.unpack_from(endian + "H", body, 0)[0]
        self.linktypes.add(linktype)
        tick, offset = 1e-6, 0.0
        opt = 8
        while opt + 4 <= len(body):
            code, length = struct.unpack_from(endian + "HH", body, opt)
            value = body[opt + 4 : opt + 4 + length]
            if code == 0:
                break
            if code == _IF_TSRESOL and len(value) >= 1:
                tick = 2.0 ** -(value[0] & 0x7F) if value[0] & 0x80 else 10.0 ** -value[0]
            elif code == _IF_TSOFFSET and len(value) >= 8:
                offset = float(struct.unpack_from(endian + "q", value)[0])
            opt += 4 + ((length + 3) & ~3)
        return linktype, tick, offset

    def _epb(
        self, body: bytes, endian: str, interfaces: list[tuple[int, float, float]]
    ) -> tuple[float, int, bytes] | None:
        if len(body) < 20:
            return None
        iface, hi, lo, incl, _orig = struct.unpack_from(endian + "IIIII", body, 0)
        if iface >= len(interfaces) or 20 + incl > len(body):
            return None
        linktype, tick, offset = interfaces[iface]
        return ((hi << 32) | lo) * tick + offset, linktype, body[20 : 20 + incl]


def _in_lists(
    frames: Iterator[tuple[float, int, bytes]], size: int = 4096
) -> Iterator[list[tuple[float, int, bytes]]]:
    batch: list[tuple[float, int, bytes]] = []
    for frame in frames:
        batch.append(frame)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def open_capture(path: str | Path) -> CaptureReader:
    """A reader for ``path``; raises ``CaptureFormatError`` on first iteration if it is not one."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"capture file {p} does not exist")
    return CaptureReader(p)


class PcapWriter:
    """Write a classic microsecond pcap; used by the simulator and `wifi record`."""

    def __init__(self, f: BinaryIO, linktype: int = LINKTYPE_IEEE802_11_RADIOTAP) -> None:
        self._f = f
        self._rec = struct.Struct("<IIII")
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype))

    def write(self, t: float, frame: bytes) -> None:
        usec_total = round(t * 1e6)
        sec, usec = divmod(usec_total, 1_000_000)
        self._f.write(self._rec.pack(sec, usec, len(frame), len(frame)))
        self._f.write(frame)
