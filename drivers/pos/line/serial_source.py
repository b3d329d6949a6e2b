"""The live POS source: a printer line read (and optionally forwarded), decoded into receipts.

Threads, per connection:

- ``pos-read:<sensor>`` (a ``Pump``): reads the POS side, writes every chunk
  to the printer at once when passthrough is on, then queues it;
- ``pos-reply:<sensor>`` (passthrough only): the printer's status replies
  back to the POS;
- the caller's thread (``run``): drains the queue into the decoder, ticks it
  (``advance``) so a receipt without a cut ends after the idle gap even when
  no byte follows, judges every receipt (garbage is counted and warned about,
  not emitted) and emits ``Receipt`` objects stamped with this source's clock.

The port is opened again whenever it fails (an unplugged USB adapter), the
``/dev/serial/by-id/`` name resolved anew each time, with capped backoff and
messages naming the port. The baud rate is detected once (``auto``) and kept
for the reconnects. A decoder that raises (a bug) is replaced and counted;
the bytes it failed on were forwarded already.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Final, NamedTuple

from drivers.pos.decoder import PosDecoder
from drivers.pos.line.baud import BaudChoice, Sampling, detect_rate
from drivers.pos.line.line import COMMON_RATES, Line, LineError, LineOpener, PosLine
from drivers.pos.line.line_health import LineCounters, RateLimitedLog, garbage_message
from drivers.pos.line.passthrough import LatencyWindow, Pump
from drivers.pos.line.quality import ACCEPT, LineScore, score_receipt, score_silent
from drivers.pos.line.serial_line import open_serial_line
from drivers.pos.result import Receipt

__all__ = ["Emit", "SerialPosSource"]

log = logging.getLogger("mallsense.pos")

Emit = Callable[[list[Receipt]], None]
_TICK_S: Final = 0.25
_RETRY_S: Final = (0.5, 1.0, 2.0, 5.0)
_RAW_KEEP: Final = 8192
"""Bytes of the current stretch kept to judge it when it prints nothing."""
_QUEUE_CHUNKS: Final = 16_384
"""Chunks waiting for the decoder at most (hours of a busy line: only a stuck decoder fills
it); beyond, chunks are dropped for decoding (counted), never for the printer."""


class _Link(NamedTuple):
    pos: Line
    printer: Line | None


class SerialPosSource:
    """Reads one POS line until ``stop``; reconnects by itself (implements ``Source``)."""

    def __init__(
        self,
        line: PosLine,
        decoder: Callable[[], PosDecoder],
        *,
        clock: Callable[[], float] = time.time,
        opener: LineOpener = open_serial_line,
        rates: Sequence[int] = COMMON_RATES,
        sampling: Sampling | None = None,
    ) -> None:
        self.line = line
        self._new_decoder = decoder
        self.decoder = decoder()
        self._clock = clock
        self._opener = opener
        self._rates = rates
        self._sampling = sampling
        self.last_frame_at: float | None = None
        self.counters = LineCounters(baudrate=line.settings.baudrate)
        self.latency = LatencyWindow()
        self._pumps: list[Pump] = []
        """The current connection's pumps (reader first), for the counters."""
        self._replies = 0
        self._lost = 0
        self._pending_sample = b""
        self._decoder_stats: dict[str, object] = {}
        self._warn = RateLimitedLog(log)
        self._raw = bytearray()
        self._empty_seen = 0
        self._down_since: float | None = None

    @property
    def name(self) -> str:
        return self.line.sensor

    # -- supervision ------------------------------------------------------------------

    def run(self, emit: Emit, stop: threading.Event) -> None:
        """Read until ``stop`` is set; the receipt still open is emitted at the end."""
        attempt = 0
        try:
            while not stop.is_set():
                link = self._connect(stop)
                if link is None:
                    self._wait(emit, stop, _RETRY_S[min(attempt, len(_RETRY_S) - 1)])
                    attempt += 1
                    continue
                attempt = 0
                try:
                    self._serve(link, emit, stop)
                except LineError as exc:
                    self.counters.disconnects += 1
                    self._down(str(exc))
                finally:
                    link.pos.close()
                    if link.printer is not None:
                        link.printer.close()
        finally:
            self._emit(emit, self._guarded(self.decoder.flush))
            self.counters.state = "stopped"

    def _connect(self, stop: threading.Event) -> _Link | None:
        """Open the port(s) and settle the rate; None after a failure (already reported)."""
        line = self.line
        settings = line.settings.at(self.counters.baudrate or self._rates[0])
        opened: list[Line] = []
        try:
            opened.append(self._opener(line.port, settings))
            if line.passthrough is not None:
                opened.append(self._opener(line.passthrough, settings))
            link = _Link(opened[0], opened[1] if len(opened) > 1 else None)
            if not self._rate_known(link, stop):
                raise _Stopped
        except (LineError, _Stopped) as exc:
            for each in opened:
                each.close()
            if isinstance(exc, LineError):
                self.counters.open_failures += 1
                self._down(str(exc))
            return None
        self._up(link)
        return link

    def _down(self, reason: str) -> None:
        self.counters.state, self.counters.last_error = "waiting", reason
        now = time.monotonic()
        if self._down_since is None:
            self._down_since = now
            self._warn.reset("down")
        self._warn.warning(
            "down",
            "POS sensor %s: %s; retrying every few seconds until it is back",
            self.name,
            reason,
        )

    def _up(self, link: _Link) -> None:
        counters, line = self.counters, self.line
        counters.state, counters.device = "reading", link.pos.device
        where = f"{line.port} (-> {link.pos.device})" if line.port != link.pos.device else line.port
        through = f", forwarding to the printer on {line.passthrough}" if link.printer else ""
        settings = line.settings.at(counters.baudrate) if counters.baudrate else line.settings
        if self._down_since is not None:
            log.info(
                "POS sensor %s: %s is back after %.0f s%s",
                self.name, where, time.monotonic() - self._down_since, through,
            )  # fmt: skip
        else:
            log.info("POS sensor %s: reading %s at %s%s", self.name, where,
                     settings.describe(), through)  # fmt: skip
        self._down_since = None
        self._warn.reset("down")

    def _wait(self, emit: Emit, stop: threading.Event, seconds: float) -> None:
        """Pause before the next attempt; receipts read before the failure still close."""
        deadline = time.monotonic() + seconds
        while not stop.is_set() and time.monotonic() < deadline:
            stop.wait(min(_TICK_S, max(deadline - time.monotonic(), 0)))
            self._advance(emit)

    # -- the rate ---------------------------------------------------------------------

    def _rate_known(self, link: _Link, stop: threading.Event) -> bool:
        """Set the configured or detected rate on both ports; False if stopped meanwhile."""
        counters = self.counters
        if counters.baudrate is None and link.pos.tunable:
            choice = self._detect(link, stop)
            if choice.rate is None:
                return False
            counters.baudrate, counters.baud_method = choice.rate, choice.method
            counters.baud_scores = {str(r): s.score for r, s in choice.scores.items()}
            counters.detection_discarded_bytes += choice.discarded
            self._pending_sample = choice.sample
        elif counters.baud_method is None:
            counters.baud_method = "configured" if link.pos.tunable else "recording"
            if counters.baudrate is None:  # a recording's header says what it was read at
                counters.baudrate = getattr(link.pos, "baudrate", None)
        if counters.baudrate is not None:
            for port in (link.pos, link.printer):
                if port is not None and port.tunable:
                    port.set_baudrate(counters.baudrate)
        return True

    def _detect(self, link: _Link, stop: threading.Event) -> BaudChoice:
        self.counters.state = "detecting"
        line = self.line
        return detect_rate(
            link.pos, link.printer, stop, rates=self._rates, encoding=line.encoding,
            double_byte=line.double_byte, sampling=self._sampling,
        )  # fmt: skip

    # -- reading ----------------------------------------------------------------------

    def _serve(self, link: _Link, emit: Emit, stop: threading.Event) -> None:
        """Pump and decode until ``stop`` or a port fails (LineError)."""
        chunks: queue.SimpleQueue[tuple[float, bytes] | LineError] = queue.SimpleQueue()

        def deliver(t: float, data: bytes) -> None:
            if chunks.qsize() < _QUEUE_CHUNKS:
                chunks.put((t, data))
                return
            self.counters.parse_dropped_bytes += len(data)
            self._warn.warning("behind", "POS sensor %s: the decoder is stuck behind the line;"
                               " bytes are forwarded but not decoded (a bug: restart the"
                               " service)", self.name)  # fmt: skip

        reader = Pump(f"pos-read:{self.name}", link.pos, link.printer, deliver, chunks.put,
                      self._clock, self.latency)  # fmt: skip
        pumps = [reader]
        if link.printer is not None:
            pumps.append(Pump(f"pos-reply:{self.name}", link.printer, link.pos, None,
                              chunks.put, self._clock))  # fmt: skip
        self._pumps = pumps
        sample, self._pending_sample = self._pending_sample, b""
        try:
            if sample:
                reader.forward(self._clock(), sample)
            for pump in pumps:
                pump.start()
            self._drain(chunks, emit, stop)
        finally:
            for pump in pumps:
                pump.stop()
            self._lost, self._replies = self._passthrough_totals()
            self._pumps = []
            while not chunks.empty():  # what was read before the stop is decoded too
                item = chunks.get_nowait()
                if not isinstance(item, LineError):
                    self._feed(emit, *item)

    def _drain(
        self,
        chunks: queue.SimpleQueue[tuple[float, bytes] | LineError],
        emit: Emit,
        stop: threading.Event,
    ) -> None:
        tick_at = time.monotonic() + _TICK_S
        while not stop.is_set():
            try:
                item = chunks.get(timeout=_TICK_S)
            except queue.Empty:
                item = None
            if isinstance(item, LineError):
                raise item
            if item is not None:
                self._feed(emit, *item)
            if time.monotonic() >= tick_at:
                self._advance(emit)
                tick_at = time.monotonic() + _TICK_S

    def _passthrough_totals(self) -> tuple[int, int]:
        """(bytes the printer did not take, reply bytes), this connection's included."""
        pumps = list(self._pumps)
        lost = self._lost + (pumps[0].lost if pumps else 0)
        return lost, self._replies + sum(p.bytes for p in pumps[1:])

    # -- decoding ---------------------------------------------------------------------

    def _feed(self, emit: Emit, t: float, data: bytes) -> None:
        self.last_frame_at = t
        self.counters.chunks += 1
        self.counters.bytes += len(data)
        if len(self._raw) < _RAW_KEEP:
            self._raw += data[: _RAW_KEEP - len(self._raw)]
        self._emit(emit, self._guarded(lambda: self.decoder.feed(t, data)))

    def _advance(self, emit: Emit) -> None:
        self._emit(emit, self._guarded(lambda: self.decoder.advance(self._clock())))
        self._decoder_stats = self.decoder.stats()

    def _guarded(self, step: Callable[[], list[Receipt]]) -> list[Receipt]:
        """Run a decoder step; a decoder that raises is replaced (its open receipt is lost)."""
        try:
            return step()
        except Exception:
            self.counters.parser_errors += 1
            if self._warn.warning(
                "parser",
                "POS sensor %s: the decoder failed (a bug; the bytes"
                " were forwarded and the line keeps being read)",
                self.name,
            ):
                log.exception("POS sensor %s: decoder failure", self.name)  # fmt: skip
            self.decoder = self._new_decoder()
            self._empty_seen = 0
            return []

    def _emit(self, emit: Emit, receipts: list[Receipt]) -> None:
        kept = [r for r in receipts if self._judged(r)]
        self._check_silent_garbage()
        if receipts:
            self._raw.clear()
        if kept:
            emit(kept)

    def _judged(self, receipt: Receipt) -> bool:
        """Count a receipt; False for garbage (warned about, not emitted)."""
        score = score_receipt(receipt)
        counters = self.counters
        if score.score >= ACCEPT or score.cause is None:
            counters.receipts += 1
            return True
        if score.cause == "encoding":
            counters.receipts += 1
            counters.suspect_encoding += 1
            self._garbage(score, dropped=False)
            return True
        counters.garbage_receipts += 1
        counters.garbage_bytes += receipt.stats.bytes
        self._garbage(score, dropped=True)
        return False

    def _check_silent_garbage(self) -> None:
        """Stretches that ended without printing anything (NULs, lone controls): judge them."""
        empty = int(getattr(self.decoder.segmenter.interpreter, "empty_segments", 0))
        if empty == self._empty_seen:
            return
        self._empty_seen = empty
        raw, self._raw = bytes(self._raw), bytearray()
        score = score_silent(raw)
        if score is not None:
            self.counters.garbage_bytes += len(raw)
            self._garbage(score, dropped=True)

    def _garbage(self, score: LineScore, dropped: bool) -> None:
        settings = self.line.settings
        if self.counters.baudrate is not None:
            settings = settings.at(self.counters.baudrate)
        message = garbage_message(self.line.port, score, settings.describe(), dropped)
        self._warn.warning(f"garbage:{score.cause}", "%s", message)

    # -- counters ---------------------------------------------------------------------

    def stats(self) -> dict[str, object]:
        """Counters for status and telemetry (safe to call from another thread)."""
        stats = self.counters.as_dict() | {"frames": self.counters.chunks}
        stats["decoder"] = self._decoder_stats
        if self.line.passthrough is not None:
            latency = self.latency.summary()
            lost, replies = self._passthrough_totals()
            stats["passthrough"] = {
                "port": self.line.passthrough,
                "latency": latency,
                "lost_bytes": lost,
                "reply_bytes": replies,
            }
            stats["passthrough_p99_ms"] = latency["p99_ms"]
        return stats


class _Stopped(Exception):
    """Stop was requested while the rate was being detected."""
