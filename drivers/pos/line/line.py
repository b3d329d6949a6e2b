"""A POS line as the live source sees it: settings, the port interface, its errors.

Kept apart from ``serial_line`` (pyserial) so that everything that only reads
recordings (``pos parse``, the simulation, the tests' fake lines) runs on a
machine without pyserial.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Final, Protocol

__all__ = ["COMMON_RATES", "Line", "LineError", "LineOpener", "LineSettings", "PosLine"]

COMMON_RATES: Final = (9600, 19200, 38400, 57600, 115200)
"""What ``baudrate = "auto"`` tries: the rates receipt printers ship with."""


class LineError(OSError):
    """The port cannot be opened, or stopped working (unplugged adapter); says what to check."""


@dataclass(frozen=True)
class LineSettings:
    """How the POS and the printer talk (the printer's DIP switches or its setup page)."""

    baudrate: int | None = 9600
    """None: not known yet (``auto``: the source detects it)."""
    bytesize: int = 8
    parity: str = "N"
    stopbits: float = 1
    flow: str = "none"
    """``none``, ``rtscts``, ``xonxoff`` or ``dsrdtr``."""

    def at(self, rate: int) -> LineSettings:
        return replace(self, baudrate=rate)

    def describe(self) -> str:
        rate = "auto" if self.baudrate is None else str(self.baudrate)
        stop = f"{self.stopbits:g}"
        return f"{rate} {self.bytesize}{self.parity}{stop} flow {self.flow}"


class Line(Protocol):
    """A port as the POS source uses it: a live serial port, or a recording played as one."""

    port: str
    """The port as configured (a by-id name stays that), for messages."""
    device: str
    """What it resolved to when opened (``/dev/ttyUSB1``)."""
    tunable: bool
    """Its rate can be changed (False for a recording: there is nothing to detect)."""

    def read(self, timeout: float) -> bytes:
        """What has arrived, waiting up to ``timeout`` s for the first byte (b"": nothing)."""
        ...

    def write(self, data: bytes, stop: threading.Event | None = None) -> int:
        """Write all of ``data`` (flow control may make it wait); how many bytes went out."""
        ...

    def set_baudrate(self, rate: int) -> None: ...

    def discard_input(self) -> None: ...

    def close(self) -> None: ...


class LineOpener(Protocol):
    def __call__(self, port: str, settings: LineSettings) -> Line: ...


@dataclass(frozen=True)
class PosLine:
    """One POS line as the source needs it (built from the sensor's configuration)."""

    sensor: str
    port: str
    settings: LineSettings
    passthrough: str | None = None
    encoding: str = "cp437"
    double_byte: str = "gb18030"
