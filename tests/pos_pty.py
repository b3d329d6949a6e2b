"""Pseudo-terminal pairs standing in for a POS line: a fake POS terminal and a fake printer.

The code under test opens the pty's slave side by name with pyserial, as it
opens ``/dev/ttyUSB0``; the test holds the master side. What a pty cannot do
is carry a physical rate: bytes arrive intact whatever rate either side set.
On Linux, though, the master sees the termios settings the reader put on the
slave (the same structure), so a fake device can look at the rate the reader
chose and, when it is not the device's own, deliver what a UART would read
instead: ``uart_resample`` models that bit by bit (start bit, 8 data bits LSB
first, stop bit; the receiver samples mid-bit at its own rate; a framing error
arrives as NUL, as Linux delivers it without PARMRK). So the live baud
detector really sets each rate, reads and scores; only the garbling is modelled.
"""

from __future__ import annotations

import contextlib
import os
import select
import termios
import threading
import time
import tty
from collections.abc import Iterator
from pathlib import Path

__all__ = ["FakePos", "FakePrinter", "PtyPair", "line_rate", "uart_resample"]

_SPEEDS = {
    getattr(termios, f"B{rate}"): rate
    for rate in (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400)
}


def uart_resample(data: bytes, sent: int, read: int) -> bytes:
    """What a UART at ``read`` baud receives of ``data`` sent back to back at ``sent`` baud."""
    if sent == read:
        return bytes(data)
    bits: list[int] = []
    for byte in data:
        bits += [0, *((byte >> k) & 1 for k in range(8)), 1]
    n = len(bits)
    # Integer time: a tick is 1 / (2 * sent * read) s, so a sent bit lasts 2 * read ticks
    # and a received bit 2 * sent ticks (half a received bit: sent ticks).
    sent_bit, half = 2 * read, sent

    def level(t: int) -> int:
        index = t // sent_bit
        return bits[index] if index < n else 1

    out = bytearray()
    t = 0
    while True:
        index = t // sent_bit  # a start bit: the line low at or after t
        while index < n and bits[index] != 0:
            index += 1
        if index >= n:
            return bytes(out)
        start = max(t, index * sent_bit)
        if level(start + half) != 0:  # a glitch shorter than half a bit
            t = start + sent_bit
            continue
        value = sum(level(start + half * (3 + 2 * k)) << k for k in range(8))
        stop = start + half * 19
        out.append(value if level(stop) == 1 else 0)
        t = stop


def line_rate(fd: int) -> int | None:
    """The rate the other side of the pty set (None if not a standard one)."""
    return _SPEEDS.get(termios.tcgetattr(fd)[5])


class PtyPair:
    """One pseudo-terminal: ``path`` is what the code under test opens, ``master`` the test's."""

    def __init__(self) -> None:
        self.master, slave = os.openpty()
        tty.setraw(self.master)
        self.path = os.ttyname(slave)
        os.close(slave)  # the code under test opens it by name, as a real port
        self.closed = False

    def close(self) -> None:
        """Unplug: the reader gets EIO, and the path goes away."""
        if not self.closed:
            os.close(self.master)
            self.closed = True

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            select.select([], [self.master], [], 1.0)
            try:
                view = view[os.write(self.master, view) :]
            except BlockingIOError:
                continue

    def read(self, timeout: float) -> bytes:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return b""
        try:
            return os.read(self.master, 65536)
        except OSError:
            return b""


@contextlib.contextmanager
def pty_pairs(count: int) -> Iterator[list[PtyPair]]:
    pairs = [PtyPair() for _ in range(count)]
    try:
        yield pairs
    finally:
        for pair in pairs:
            pair.close()


class FakePos:
    """The POS terminal: writes receipts at its own rate, garbled if the reader set another."""

    def __init__(self, pair: PtyPair, rate: int = 19200) -> None:
        self.pair = pair
        self.rate = rate

    def send(self, data: bytes) -> bytes:
        """Write ``data`` as the line delivers it at the reader's current rate; what was sent."""
        current = line_rate(self.pair.master) or self.rate
        wire = uart_resample(data, self.rate, current)
        self.pair.write(wire)
        return wire


class FakePrinter:
    """The printer: collects every byte; answers DLE EOT 1 at its own rate (or always)."""

    STATUS_OK = 0x12

    def __init__(self, pair: PtyPair, rate: int | None = None) -> None:
        self.pair = pair
        self.rate = rate
        self.received = bytearray()
        self.arrivals: list[tuple[float, int]] = []
        """(perf_counter at arrival, bytes) of each read."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-printer", daemon=True)

    def __enter__(self) -> FakePrinter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)

    def _run(self) -> None:
        while not self._stop.is_set():
            data = self.pair.read(0.05)
            if not data:
                continue
            self.arrivals.append((time.perf_counter(), len(data)))
            self.received += data
            at_my_rate = self.rate is None or line_rate(self.pair.master) == self.rate
            if b"\x10\x04\x01" in data and at_my_rate:
                self.pair.write(bytes([self.STATUS_OK]))

    def wait_for(self, size: int, timeout: float = 5.0) -> bytes:
        deadline = time.monotonic() + timeout
        while len(self.received) < size and time.monotonic() < deadline:
            time.sleep(0.01)
        return bytes(self.received)


def by_id_link(directory: Path, target: str) -> Path:
    """A symlink standing for ``/dev/serial/by-id/usb-...``, pointing at ``target``."""
    link = directory / "usb-FTDI_FT232R_USB_UART_A10K3ABC-if00-port0"
    if link.is_symlink():
        link.unlink()
    link.symlink_to(target)
    return link
