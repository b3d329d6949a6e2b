"""Recording a live POS line into the capture format (``mallsense pos capture``).

A technician records a shop's printer line once, then works on the recording
(``pos parse``, ``pos test-template``, ``run --simulate``). The rate is found
as the daemon finds it (``auto``), and with a passthrough port the printer
keeps printing while the recording runs, its status replies recorded too
(direction ``FROM_PRINTER``). Chunks are written with the time of their read,
so the recording keeps the line's idle gaps.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import IO, Final

from drivers.pos.line.baud import BaudChoice, Sampling, detect_rate
from drivers.pos.line.capture_format import FROM_PRINTER, TO_PRINTER, CaptureHeader, CaptureWriter
from drivers.pos.line.line import COMMON_RATES, Line, LineError, LineOpener, LineSettings
from drivers.pos.line.passthrough import LatencyWindow, Pump
from drivers.pos.line.serial_line import open_serial_line

__all__ = ["Progress", "Recorder"]

Progress = Callable[[CaptureWriter], None]
_PROGRESS_S: Final = 0.5
_Item = tuple[float, bytes, int] | LineError


class Recorder:
    """One recording session: ``open`` (and settle the rate), then ``record``, then ``close``."""

    def __init__(
        self,
        port: str,
        settings: LineSettings,
        *,
        passthrough: str | None = None,
        encoding: str | None = None,
        opener: LineOpener = open_serial_line,
        rates: Sequence[int] = COMMON_RATES,
        sampling: Sampling | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.port = port
        self.settings = settings
        self.passthrough = passthrough
        self.encoding = encoding
        self._opener = opener
        self._rates = rates
        self._sampling = sampling
        self._clock = clock
        self.pos: Line | None = None
        self.printer: Line | None = None
        self.choice = BaudChoice(settings.baudrate, "configured")
        self.latency = LatencyWindow()

    def open(self, stop: threading.Event) -> BaudChoice:
        """Open the port(s) and settle the rate (``choice.rate`` None: stopped first)."""
        start = self.settings.at(self.settings.baudrate or self._rates[0])
        self.pos = self._opener(self.port, start)
        if self.passthrough is not None:
            self.printer = self._opener(self.passthrough, start)
        if self.settings.baudrate is None:
            self.choice = detect_rate(
                self.pos, self.printer, stop, rates=self._rates,
                encoding=self.encoding or "auto", sampling=self._sampling,
            )  # fmt: skip
            if self.choice.rate is not None:
                for line in (self.pos, self.printer):
                    if line is not None:
                        line.set_baudrate(self.choice.rate)
        return self.choice

    def header(self) -> CaptureHeader:
        settings = self.settings
        return CaptureHeader(
            port=self.port,
            baudrate=self.choice.rate,
            bytesize=settings.bytesize,
            parity=settings.parity,
            stopbits=settings.stopbits,
            flow=settings.flow,
            started_at=self._clock(),
            encoding=self.encoding,
            extra={"baud_method": self.choice.method}
            | ({"passthrough": self.passthrough} if self.passthrough else {}),
        )

    def record(
        self, stream: IO[bytes], stop: threading.Event, progress: Progress | None = None
    ) -> CaptureWriter:
        """Write the capture until ``stop``; a failing port raises LineError (file still valid)."""
        if self.pos is None:
            raise RuntimeError("open() first")
        writer = CaptureWriter(stream, self.header())
        items: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        pumps = self._pumps(self.pos, items)
        try:
            if self.choice.sample:  # the start of the receipt the rate was found on
                pumps[0].forward(self._clock(), self.choice.sample)
            for pump in pumps:
                pump.start()
            self._write(items, writer, stop, progress)
        finally:
            for pump in pumps:
                pump.stop()
            while not items.empty():
                item = items.get_nowait()
                if not isinstance(item, LineError):
                    writer.write(*item)
        return writer

    def _pumps(self, pos: Line, items: queue.SimpleQueue[_Item]) -> list[Pump]:
        def to_printer(t: float, data: bytes) -> None:
            items.put((t, data, TO_PRINTER))

        def from_printer(t: float, data: bytes) -> None:
            items.put((t, data, FROM_PRINTER))

        pumps = [Pump("pos-capture", pos, self.printer, to_printer, items.put, self._clock,
                      self.latency)]  # fmt: skip
        if self.printer is not None:
            pumps.append(Pump("pos-capture-reply", self.printer, pos, from_printer, items.put,
                              self._clock))  # fmt: skip
        return pumps

    def _write(
        self,
        items: queue.SimpleQueue[_Item],
        writer: CaptureWriter,
        stop: threading.Event,
        progress: Progress | None,
    ) -> None:
        shown = 0.0
        while not stop.is_set():
            try:
                item = items.get(timeout=0.1)
            except queue.Empty:
                item = None
            if isinstance(item, LineError):
                raise item
            if item is not None:
                writer.write(*item)
            if progress is not None and time.monotonic() - shown >= _PROGRESS_S:
                progress(writer)
                shown = time.monotonic()

    def close(self) -> None:
        for line in (self.pos, self.printer):
            if line is not None:
                line.close()
