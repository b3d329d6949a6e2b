"""The POS capture (replay) format: the bytes of a printer line, in timestamped chunks.

What ``mallsense pos capture`` writes and what replay and ``pos parse`` read. A
chunk is what one read of the serial port returned, with the time of the read,
so that a replay sees the same idle gaps (receipt boundaries) as the live line.

Layout (all integers little-endian)::

    header  b"MSPOSCAP"            8 bytes, magic
            version                u8 (1)
            length                 u32, of the JSON that follows
            JSON object (UTF-8)    port settings: {"format": "mallsense-pos-capture",
                                   "version": 1, "port": "/dev/ttyUSB0", "baudrate": 9600,
                                   "bytesize": 8, "parity": "N", "stopbits": 1,
                                   "flow": "none", "started_at": 1773480311.5, ...}
    chunk   t                      f64, seconds since the epoch (UTC), time of the read
            direction              u8: 0 POS -> printer, 1 printer -> POS (status replies)
            length                 u32
            data                   length bytes
    ...     (chunks until the end of the file)

A writer that dies mid-chunk leaves a truncated last chunk: the reader returns
every whole chunk before it and reports the leftover bytes, never raising. A
file without the magic is taken as a raw byte dump: one chunk at time 0.
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, Final, NamedTuple

__all__ = [
    "FORMAT",
    "FROM_PRINTER",
    "MAGIC",
    "MAX_CHUNK",
    "TO_PRINTER",
    "VERSION",
    "Capture",
    "CaptureHeader",
    "CaptureWriter",
    "Chunk",
    "create_private",
    "encode_chunk",
    "encode_header",
    "read_capture",
    "read_capture_file",
]

MAGIC: Final = b"MSPOSCAP"
VERSION: Final = 1
FORMAT: Final = "mallsense-pos-capture"
TO_PRINTER: Final = 0
FROM_PRINTER: Final = 1
PRIVATE_MODE: Final = 0o600
"""A capture holds the raw line, card numbers unmasked: only its owner may read it."""
MAX_CHUNK: Final = 16 * 1024 * 1024
"""A serial read never returns more; a larger length means a damaged file."""
_PREAMBLE: Final = struct.Struct("<8sBI")
_CHUNK: Final = struct.Struct("<dBI")
_MAX_HEADER: Final = 1024 * 1024


@dataclass(frozen=True)
class CaptureHeader:
    """Where and how the bytes were read (the serial port's settings)."""

    port: str = ""
    baudrate: int | None = None
    bytesize: int = 8
    parity: str = "N"
    stopbits: float = 1
    flow: str = "none"
    """``none``, ``xonxoff``, ``rtscts`` or ``dsrdtr``."""
    started_at: float | None = None
    encoding: str | None = None
    """The printer's text encoding when the technician knows it (``gb18030``)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Other keys found in the file (kept, for newer writers)."""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        extra = data.pop("extra")
        return {"format": FORMAT, "version": VERSION, **extra, **data}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CaptureHeader:
        """Known keys of the right type; everything else goes to ``extra``."""
        known: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        types: dict[str, tuple[type, ...]] = {
            "port": (str,),
            "baudrate": (int,),
            "bytesize": (int,),
            "parity": (str,),
            "stopbits": (int, float),
            "flow": (str,),
            "started_at": (int, float),
            "encoding": (str,),
        }
        for key, value in data.items():
            if key in ("format", "version"):
                continue
            expected = types.get(key)
            if expected and isinstance(value, expected) and not isinstance(value, bool):
                known[key] = value
            else:
                extra[key] = value
        return cls(**known, extra=extra)


class Chunk(NamedTuple):
    t: float
    data: bytes
    direction: int = TO_PRINTER


class Capture(NamedTuple):
    """What a reader found in a file; ``error`` says why it stopped early, if it did."""

    header: CaptureHeader | None
    """None for a raw byte dump (no magic)."""
    chunks: list[Chunk]
    leftover: int
    """Bytes after the last whole chunk (a truncated or damaged tail)."""
    error: str | None

    def to_printer(self) -> list[tuple[float, bytes]]:
        """``(t, data)`` of the POS -> printer direction: what the decoder reads."""
        return [(c.t, c.data) for c in self.chunks if c.direction == TO_PRINTER]


def encode_header(header: CaptureHeader) -> bytes:
    """The file's first bytes: magic, version, JSON header."""
    body = json.dumps(header.to_json(), sort_keys=True, separators=(",", ":")).encode("utf-8")
    return _PREAMBLE.pack(MAGIC, VERSION, len(body)) + body


def encode_chunk(t: float, data: bytes, direction: int = TO_PRINTER) -> bytes:
    """One chunk record (raises ValueError for an impossible chunk: a writer's bug)."""
    if direction not in (TO_PRINTER, FROM_PRINTER) or not math.isfinite(t):
        raise ValueError(f"bad chunk: t={t!r}, direction={direction!r}")
    if len(data) > MAX_CHUNK:
        raise ValueError(f"chunk of {len(data)} bytes exceeds {MAX_CHUNK}")
    return _CHUNK.pack(t, direction, len(data)) + bytes(data)


def _header(data: bytes) -> tuple[CaptureHeader | None, int, str | None]:
    """The header and the offset of the first chunk, or an error."""
    if len(data) < _PREAMBLE.size:
        return None, len(data), "truncated header"
    _, version, length = _PREAMBLE.unpack_from(data)
    if version != VERSION:
        return None, _PREAMBLE.size, f"unsupported capture version {version}"
    end = _PREAMBLE.size + length
    if length > _MAX_HEADER or end > len(data):
        return None, _PREAMBLE.size, "truncated or damaged header"
    try:
        parsed = json.loads(data[_PREAMBLE.size : end].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None, _PREAMBLE.size, "header is not JSON"
    if not isinstance(parsed, dict):
        return None, _PREAMBLE.size, "header is not a JSON object"
    return CaptureHeader.from_json(parsed), end, None


def _chunks(data: bytes, pos: int) -> tuple[list[Chunk], int, str | None]:
    chunks: list[Chunk] = []
    size = len(data)
    while pos < size:
        if pos + _CHUNK.size > size:
            return chunks, pos, "truncated chunk header"
        t, direction, length = _CHUNK.unpack_from(data, pos)
        if not math.isfinite(t) or direction > FROM_PRINTER or length > MAX_CHUNK:
            return chunks, pos, f"damaged chunk at offset {pos}"
        start = pos + _CHUNK.size
        if start + length > size:
            return chunks, pos, "truncated chunk"
        chunks.append(Chunk(t, data[start : start + length], direction))
        pos = start + length
    return chunks, pos, None


def read_capture(data: bytes) -> Capture:
    """Every whole chunk of a capture file's bytes (or a raw dump as one chunk)."""
    if not data.startswith(MAGIC):
        chunks = [Chunk(0.0, bytes(data))] if data else []
        return Capture(None, chunks, 0, None)
    header, pos, error = _header(data)
    if header is None:
        return Capture(None, [], len(data) - pos, error)
    chunks, end, error = _chunks(data, pos)
    return Capture(header, chunks, len(data) - end, error)


def read_capture_file(path: str | Path) -> Capture:
    """``read_capture`` of a file's contents."""
    return read_capture(Path(path).read_bytes())


def create_private(path: str | Path, *, replace: bool = False) -> IO[bytes]:
    """A new file for a capture, open for writing, mode 0600 from its creation.

    The mode is given to ``open(2)`` itself: no moment exists when another user
    could open the file, as one would between a create and a ``chmod``. An
    existing file raises FileExistsError unless ``replace``; then it is removed
    first (truncating it would keep its old, possibly readable, mode), and a
    symbolic link at ``path`` is removed, never followed.
    """
    target = Path(path)
    if replace:
        target.unlink(missing_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(target, flags | getattr(os, "O_CLOEXEC", 0), PRIVATE_MODE)
    return os.fdopen(fd, "wb")


class CaptureWriter:
    """Appends chunks to a binary stream; each chunk is written whole, then flushed."""

    def __init__(self, stream: IO[bytes], header: CaptureHeader) -> None:
        self._stream = stream
        self._stream.write(encode_header(header))
        self._stream.flush()
        self.chunks = 0
        self.bytes = 0

    def write(self, t: float, data: bytes, direction: int = TO_PRINTER) -> None:
        self._stream.write(encode_chunk(t, data, direction))
        self._stream.flush()
        self.chunks += 1
        self.bytes += len(data)
