"""Commands that carry data: images, barcodes, 2D codes, length-prefixed functions.

Each function measures the command starting at ``buf[i]`` (``second`` is its
second byte) from its header alone and returns ``(end, payload, effect)``:
``end`` may lie beyond the buffer, and the interpreter then skips the rest of
the payload as it arrives, without buffering it. ``end`` is ``NEED_MORE`` when
the header is not complete yet. Every decision depends on byte positions
relative to ``i`` only, never on how much data happens to be buffered, so any
split of the stream gives the same result. Impossible parameters are garbage on
the line (``MALFORMED``): the header is skipped and the bytes after it are
interpreted again. An image whose size is beyond what any receipt printer
prints is ``REJECTED`` the same way, with the size it claims (the interpreter
warns about it: skipping it would swallow every receipt that follows).

The bound on an image (``MAX_IMAGE_BYTES``): paper width in dots times a sane
maximum height. The widest receipt paper is 112 mm; printed at 203 dpi that is
832 dots, and 80 mm paper (the common width) prints 576 dots at 203 dpi or 512
at 180 dpi (Epson TM-T88 and TM-L90 specifications). 1024 dots (128 bytes a
row) leaves room. Height: Epson's command reference limits one ``GS v 0`` image
to 2303 dots (``yH`` at most 8) and one ``GS ( L`` / ``GS 8 L`` raster store
to 1662 dots at single density (png2pos splits taller logos there); POS
programs split a tall bitmap into bands (python-escpos: 960 dots). 4096 dots
(about 51 cm of paper) is twice the largest. So one image is at most 128 x 4096
bytes = 512 KiB; ``GS 8 L`` may carry up to 4 colour planes of that.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "BAND",
    "CODE",
    "GRAPHIC",
    "MALFORMED",
    "MAX_IMAGE_BYTES",
    "NEED_MORE",
    "NONE",
    "REJECTED",
    "Measured",
    "esc_data",
    "fs_data",
    "gs_data",
]

NEED_MORE: Final = -1
NONE: Final = 0
GRAPHIC: Final = 1
"""An image is printed."""
BAND: Final = 2
"""An ``ESC *`` bit-image band is printed; the LF that follows prints it."""
CODE: Final = 3
"""A barcode or 2D symbol is printed."""
MALFORMED: Final = 4
REJECTED: Final = 5
"""An image claiming more data than any receipt printer prints; ``payload`` is the claim."""

Measured = tuple[int, int, int]
_NEED: Final[Measured] = (NEED_MORE, 0, NONE)

_MAX_WIDTH_BYTES: Final = 128
"""1024 dots: receipt printers print at most 832 (112 mm paper at 203 dpi)."""
_MAX_HEIGHT_DOTS: Final = 4096
MAX_IMAGE_BYTES: Final = _MAX_WIDTH_BYTES * _MAX_HEIGHT_DOTS
"""The most data one receipt image can carry (see the module doc for the sources)."""
_MAX_BAND_DOTS: Final = 4096
_MAX_GRAPHICS_DATA: Final = 4 * MAX_IMAGE_BYTES + 16
"""``GS 8 L``: four colour planes and the 10-16 byte function header."""
_TAB_WINDOW: Final = 33  # ESC D: at most 32 tab positions, then NUL
_BARCODE_WINDOW: Final = 256  # GS k form 1: data ends with NUL within 255 bytes
_NV_IMAGES_WINDOW: Final = 1024 * 1024  # FS q: image headers must start within 1 MiB
_GRAPHICS_PRINT_FUNCTIONS: Final = frozenset({0x32, 0x45, 0x55})
"""GS ( L / GS 8 L fn 50, 69, 85: print the buffered, NV or downloaded graphics."""
_SYMBOL_PRINT_FUNCTION: Final = 0x51  # GS ( k fn 81: print the 2D symbol


def _u16(buf: bytes, i: int) -> int:
    return buf[i] | buf[i + 1] << 8


def _length_prefixed(buf: bytes, i: int, n: int) -> Measured:
    """``X ( c pL pH d1...dp`` (ESC (, GS (, FS ( functions): skip p bytes."""
    if i + 4 >= n:
        return _NEED
    size = _u16(buf, i + 3)
    effect = NONE
    function = buf[i + 2]
    if function in b"Lk" and size >= 2 and buf[i] == 0x1D:
        if i + 6 >= n:
            return _NEED
        fn = buf[i + 6]
        if function == 0x4C and fn in _GRAPHICS_PRINT_FUNCTIONS:
            effect = GRAPHIC
        elif function == 0x6B and fn == _SYMBOL_PRINT_FUNCTION:
            effect = CODE
    return (i + 5 + size, size, effect)


def _find_terminator(buf: bytes, start: int, n: int, window: int) -> int:
    """Index of the NUL ending a field at ``start``: -1 need more, -2 none in window."""
    stop = start + window
    j = buf.find(b"\0", start, min(n, stop))
    if j >= 0:
        return j
    return -1 if n < stop else -2


def esc_data(buf: bytes, i: int, n: int, second: int) -> Measured:
    """``ESC *`` bit image, ``ESC D`` tab stops, ``ESC &`` user characters, ``ESC (``."""
    if second == 0x28:
        return _length_prefixed(buf, i, n)
    if second == 0x44:  # ESC D n1...nk NUL
        j = _find_terminator(buf, i + 2, n, _TAB_WINDOW)
        if j == -1:
            return _NEED
        return (i + 2, 0, MALFORMED) if j < 0 else (j + 1, 0, NONE)
    if i + 4 >= n:
        return _NEED
    if second == 0x2A:  # ESC * m nL nH d1...dk
        mode, dots = buf[i + 2], _u16(buf, i + 3)
        if mode not in (0, 1, 32, 33) or not 0 < dots <= _MAX_BAND_DOTS:
            return (i + 5, 0, MALFORMED)
        size = dots * 3 if mode >= 32 else dots
        return (i + 5 + size, size, BAND)
    return _user_characters(buf, i, n)


def _user_characters(buf: bytes, i: int, n: int) -> Measured:
    """``ESC & y c1 c2 [x d1...d(y*x)]...``: one width byte, then columns, per character."""
    height, first, last = buf[i + 2], buf[i + 3], buf[i + 4]
    if not (1 <= height <= 3 and 0x20 <= first <= last <= 0x7E):
        return (i + 5, 0, MALFORMED)
    j = i + 5
    for _ in range(last - first + 1):
        if j >= n:
            return _NEED  # bounded: at most 95 * (1 + 3 * 48) bytes
        width = buf[j]
        if width > 48:
            return (i + 5, 0, MALFORMED)
        j += 1 + height * width
    return (j, j - i - 5, NONE)


def gs_data(buf: bytes, i: int, n: int, second: int) -> Measured:
    """Images (``GS v 0``, ``GS ( L``, ``GS 8 L``, ``GS *``, ``GS /``, ``GS Q 0``), barcodes."""
    if second == 0x28:
        return _length_prefixed(buf, i, n)
    if i + 2 >= n:
        return _NEED
    if second == 0x6B:
        return _barcode(buf, i, n)
    if second == 0x2F:  # GS / m: print the downloaded bit image
        return (i + 3, 0, GRAPHIC)
    if second in b"vQ":
        return _raster(buf, i, n)
    if second == 0x38:
        return _graphics_long(buf, i, n)
    if i + 3 >= n:  # GS * x y d1...d(x*y*8): define a downloaded bit image
        return _NEED
    width, height = buf[i + 2], buf[i + 3]
    if not width or not height:
        return (i + 4, 0, MALFORMED)
    size = width * height * 8
    if size > MAX_IMAGE_BYTES:
        return (i + 4, size, REJECTED)
    return (i + 4 + size, size, NONE)


def _raster(buf: bytes, i: int, n: int) -> Measured:
    """``GS v 0 m xL xH yL yH d1...dk`` (and ``GS Q 0``): k = x bytes * y dots."""
    if buf[i + 2] != 0x30:
        return (i + 3, 0, MALFORMED)
    if i + 7 >= n:
        return _NEED
    mode, width, height = buf[i + 3], _u16(buf, i + 4), _u16(buf, i + 6)
    if mode not in (0, 1, 2, 3, 48, 49, 50, 51) or not width or not height:
        return (i + 8, 0, MALFORMED)
    size = width * height
    if width > _MAX_WIDTH_BYTES or height > _MAX_HEIGHT_DOTS:
        return (i + 8, size, REJECTED)
    return (i + 8 + size, size, GRAPHIC)


def _graphics_long(buf: bytes, i: int, n: int) -> Measured:
    """``GS 8 L p1 p2 p3 p4 m fn ...``: GS ( L with a 32-bit length."""
    if buf[i + 2] != 0x4C:
        return (i + 3, 0, MALFORMED)
    if i + 8 >= n:
        return _NEED
    size = int.from_bytes(buf[i + 3 : i + 7], "little")
    if size < 2:
        return (i + 7, 0, MALFORMED)
    if size > _MAX_GRAPHICS_DATA:
        return (i + 7, size, REJECTED)
    effect = GRAPHIC if buf[i + 8] in _GRAPHICS_PRINT_FUNCTIONS else NONE
    return (i + 7 + size, size, effect)


def _barcode(buf: bytes, i: int, n: int) -> Measured:
    """``GS k m d1...dk NUL`` (m 0-6) or ``GS k m n d1...dn`` (m 65-79)."""
    system = buf[i + 2]
    if system <= 6:
        j = _find_terminator(buf, i + 3, n, _BARCODE_WINDOW)
        if j == -1:
            return _NEED
        return (i + 3, 0, MALFORMED) if j < 0 else (j + 1, j - i - 3, CODE)
    if 65 <= system <= 79:
        if i + 3 >= n:
            return _NEED
        size = buf[i + 3]
        return (i + 4 + size, size, CODE)
    return (i + 3, 0, MALFORMED)


def fs_data(buf: bytes, i: int, n: int, second: int) -> Measured:
    """``FS p`` prints an NV image, ``FS q`` defines them, ``FS (`` functions."""
    if second == 0x28:
        return _length_prefixed(buf, i, n)
    if i + 2 >= n:
        return _NEED
    if second == 0x70:  # FS p n m
        return (i + 4, 0, GRAPHIC) if i + 3 < n else _NEED
    return _nv_images(buf, i, n)


def _nv_images(buf: bytes, i: int, n: int) -> Measured:
    """``FS q n [xL xH yL yH d1...dk]1...n``: k = x * y * 8 per image."""
    count = buf[i + 2]
    if not count:
        return (i + 3, 0, MALFORMED)
    j = i + 3
    for _ in range(count):
        if j - i >= _NV_IMAGES_WINDOW:
            return (i + 3, 0, MALFORMED)
        if j + 3 >= n:
            return _NEED
        width, height = _u16(buf, j), _u16(buf, j + 2)
        if not (0 < width <= 1023 and 0 < height <= 288):
            return (i + 3, 0, MALFORMED)
        if width * height * 8 > MAX_IMAGE_BYTES:
            return (i + 3, width * height * 8, REJECTED)
        j += 4 + width * height * 8
    return (j, j - i - 3, NONE)
