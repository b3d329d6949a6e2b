"""Passthrough: the box between the POS and its printer, forwarding every byte at once.

A ``Pump`` owns one direction on its own thread: it reads whatever has
arrived and writes it to the other port *before* anything else happens to
it; only then is the chunk handed on (to a queue the parser drains on
another thread). So printing never waits for parsing, and a parser that
fails or falls behind cannot stop a byte from reaching the printer.
Flow control still works end to end: when the printer holds us back, the
write waits, reading pauses, our input buffer fills and the port tells the
POS to wait, as the printer would have.

The other direction (printer -> POS) carries status replies (``DLE EOT``
answers, automatic status back) that POS software waits for; it is pumped
the same way, and not parsed.

``LatencyWindow`` keeps the last forwarding delays (read returned -> write
returned) for the ``passthrough_p99_ms`` counter, without locks: one writer
thread, readers copy the list.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Final

from drivers.pos.line.line import Line, LineError

__all__ = ["Deliver", "LatencyWindow", "Pump"]

Deliver = Callable[[float, bytes], None]
"""(time of the read, bytes): hands a forwarded chunk on; must never block."""
Fail = Callable[[LineError], None]
_POLL_S: Final = 0.1


class LatencyWindow:
    """The last ``size`` forwarding delays in milliseconds, summarized on demand."""

    def __init__(self, size: int = 4096) -> None:
        self._values = [0.0] * size
        self._count = 0

    def add(self, milliseconds: float) -> None:
        self._values[self._count % len(self._values)] = milliseconds
        self._count += 1

    @property
    def count(self) -> int:
        return self._count

    def summary(self) -> dict[str, float | int | None]:
        """p50, p99 and max over the window (None before the first chunk)."""
        values = sorted(self._values[: min(self._count, len(self._values))])
        if not values:
            return {"p50_ms": None, "p99_ms": None, "max_ms": None, "chunks": 0}

        def at(share: float) -> float:
            return round(values[min(int(share * len(values)), len(values) - 1)], 3)

        return {"p50_ms": at(0.5), "p99_ms": at(0.99), "max_ms": at(1.0), "chunks": self._count}


class Pump:
    """One direction: read ``source``, write ``sink`` at once, then hand the chunk on."""

    def __init__(
        self,
        name: str,
        source: Line,
        sink: Line | None,
        deliver: Deliver | None,
        fail: Fail,
        clock: Callable[[], float],
        latency: LatencyWindow | None = None,
    ) -> None:
        self.name = name
        self._source = source
        self._sink = sink
        self._deliver = deliver
        self._fail = fail
        self._clock = clock
        self.latency = latency
        self.bytes = 0
        self.forwarded = 0
        self.lost = 0
        """Bytes read that the other port did not take (it failed mid-write, or at stop)."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def forward(self, t: float, data: bytes) -> None:
        """Write one chunk to the sink, then hand it on (also used for a detection sample)."""
        started = time.perf_counter()
        self.bytes += len(data)
        try:
            if self._sink is not None:
                sent = self._sink.write(data, self._stop)
                self.forwarded += sent
                self.lost += len(data) - sent
                if self.latency is not None:
                    self.latency.add((time.perf_counter() - started) * 1000)
        except LineError:
            self.lost += len(data)
            raise
        finally:
            if self._deliver is not None:  # the sale happened even if the printer is gone
                self._deliver(t, data)

    def _run(self) -> None:
        read, clock = self._source.read, self._clock
        try:
            while not self._stop.is_set():
                data = read(_POLL_S)
                if data:
                    self.forward(clock(), data)
        except LineError as exc:
            self._fail(exc)
