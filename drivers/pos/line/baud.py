"""``baudrate = "auto"``: find the rate of a live POS line.

Two ways, the quiet one first:

- ``probe_printer``: in passthrough mode the box has a port to the printer,
  and ESC/POS printers answer a real-time status request (``DLE EOT 1``) with
  one byte of a fixed bit pattern. Asked at each common rate, the printer
  answers at its own: found in under two seconds, with no receipt needed.
  A request at a wrong rate reaches the printer as a few junk bytes, so once
  the rate is found the printer is initialized (``ESC @`` clears its buffer);
- ``detect_from_traffic``: listen at each rate in turn until the POS prints,
  score each sample (``quality.score_sample``: valid command structure,
  printable text, decode errors) and keep the rate whose sample scores well
  and clearly best. It needs the shop to print; until then it keeps cycling.

A pseudo-terminal has no physical rate, so the tests model a UART reading
another rate's bit stream (``tests/pos_pty.py``); what this module does on
the line (set each rate, discard, sample, score, choose) runs unchanged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

from drivers.pos.line.line import COMMON_RATES, Line
from drivers.pos.line.quality import ACCEPT, LineScore, score_sample

__all__ = [
    "BaudChoice",
    "Sampling",
    "detect_from_traffic",
    "detect_rate",
    "probe_printer",
    "status_byte",
]

log = logging.getLogger("mallsense.pos")

STATUS_REQUEST: Final = b"\x10\x04\x01"
"""DLE EOT 1: transmit printer status (real time: answered even mid-receipt)."""
INITIALIZE: Final = b"\x1b@"
_MARGIN: Final = 0.2
_ALSO_TRIED: Final = ("gb18030", "utf-8")
"""Encodings a sample is also scored in: the rate must not depend on the encoding being
configured right (a wrong one only lowers the printable share, never the structure)."""


def status_byte(value: int) -> bool:
    """The fixed bits of an ESC/POS status reply: bits 1 and 4 set, bits 0 and 7 clear."""
    return value & 0x93 == 0x12


@dataclass
class BaudChoice:
    """The rate chosen (None: stopped before a choice), how, and every rate's best score."""

    rate: int | None
    method: str
    """``configured``, ``printer-status``, ``traffic`` or ``recording``."""
    scores: dict[int, LineScore] = field(default_factory=dict)
    sample: bytes = b""
    """The chosen rate's sample: the start of a receipt, to be forwarded and decoded."""
    discarded: int = 0
    """Bytes read while detecting that are not in ``sample`` (read at other rates, mostly)."""

    def summary(self) -> str:
        parts = [f"{rate}: {score.score:.2f}" for rate, score in sorted(self.scores.items())]
        return ", ".join(parts) or "no samples"


@dataclass(frozen=True)
class Sampling:
    """How long to listen at each rate."""

    max_bytes: int = 2048
    """Enough to score: a few lines of a receipt."""
    listen_s: float = 2.0
    """Give up on a rate after this long without a byte."""
    quiet_s: float = 0.3
    """A burst (a receipt) is over after this long without a byte."""
    max_s: float = 2.5
    """Never listen longer than this at one rate (a busy line has no pauses)."""


def probe_printer(
    printer: Line, rates: Sequence[int] = COMMON_RATES, reply_s: float = 0.3
) -> int | None:
    """The rate at which the printer answers a status request, or None."""
    for index, rate in enumerate(rates):
        printer.set_baudrate(rate)
        printer.discard_input()
        printer.write(STATUS_REQUEST)
        deadline = time.monotonic() + reply_s
        while (left := deadline - time.monotonic()) > 0:
            reply = printer.read(left)
            if any(status_byte(b) for b in reply):
                if index:  # junk from the requests at wrong rates may sit in its buffer
                    printer.write(INITIALIZE)
                return rate
    return None


def _sample(line: Line, sampling: Sampling, stop: threading.Event) -> bytes:
    """One burst read at the line's current rate (b"" if the line stayed quiet)."""
    got = bytearray()
    started = last = time.monotonic()
    while not stop.is_set() and len(got) < sampling.max_bytes:
        now = time.monotonic()
        # In a burst: until it pauses; nothing yet: until the listening time is over.
        wait = sampling.quiet_s - (now - last) if got else sampling.listen_s - (now - started)
        if wait <= 0 or now - started >= sampling.max_s:
            break
        data = line.read(min(wait, 0.1))
        if data:
            got += data
            last = time.monotonic()
    return bytes(got)


def _best_score(data: bytes, encoding: str, double_byte: str) -> LineScore:
    tried = dict.fromkeys((encoding, *_ALSO_TRIED))
    return max((score_sample(data, e, double_byte) for e in tried), key=lambda s: s.score)


def _decided(scores: dict[int, LineScore], candidates: Sequence[int]) -> int | None:
    """The rate whose best sample looks like ESC/POS and clearly beats every other rate's."""
    best = max(scores, key=lambda r: scores[r].score, default=None)
    if best is None or scores[best].score < ACCEPT:
        return None
    others = [scores[r].score for r in candidates if r != best and r in scores]
    return best if all(scores[best].score >= s + _MARGIN for s in others) else None


def detect_from_traffic(
    line: Line,
    stop: threading.Event,
    *,
    rates: Sequence[int] = COMMON_RATES,
    encoding: str = "cp437",
    double_byte: str = "gb18030",
    sampling: Sampling | None = None,
    on_round: Callable[[int, dict[int, LineScore]], None] | None = None,
) -> BaudChoice:
    """Cycle through ``rates`` until one's sample is clearly ESC/POS (or ``stop`` is set).

    ``on_round(n, scores)`` is called after each full round without a decision
    (the caller logs that it is waiting for the POS to print).
    """
    sampling = sampling or Sampling()
    scores: dict[int, LineScore] = {}
    samples: dict[int, bytes] = {}
    rounds = read = 0
    while not stop.is_set():
        for rate in rates:
            line.set_baudrate(rate)
            line.discard_input()
            data = _sample(line, sampling, stop)
            if stop.is_set():
                break
            if not data:
                continue
            read += len(data)
            score = _best_score(data, encoding, double_byte)
            log.debug("%s at %d baud: %d bytes, %s", line.port, rate, len(data), score)
            if rate not in scores or score.score > scores[rate].score:
                scores[rate], samples[rate] = score, data
            chosen = _decided(scores, rates)
            if chosen == rate:  # decide only at the rate the line is set to now
                return BaudChoice(rate, "traffic", scores, data, read - len(data))
        rounds += 1
        chosen = _decided(scores, rates)
        if chosen is not None:
            line.set_baudrate(chosen)  # its sample is older: keep only the new bytes
            return BaudChoice(chosen, "traffic", scores, b"", read)
        if on_round is not None:
            on_round(rounds, scores)
    return BaudChoice(None, "traffic", scores, b"", read)


def detect_rate(
    pos: Line,
    printer: Line | None,
    stop: threading.Event,
    *,
    rates: Sequence[int] = COMMON_RATES,
    encoding: str = "cp437",
    double_byte: str = "gb18030",
    sampling: Sampling | None = None,
) -> BaudChoice:
    """The printer's status reply first (passthrough), else the POS traffic; logs the choice."""
    if printer is not None:
        rate = probe_printer(printer, rates)
        if rate is not None:
            log.info("POS line %s: %d baud, from the printer's status reply on %s",
                     pos.port, rate, printer.port)  # fmt: skip
            return BaudChoice(rate, "printer-status")
        log.warning(
            "POS line %s: the printer on %s did not answer a status request at any rate;"
            " detecting the rate from the POS traffic: a receipt printed meanwhile may not"
            " reach the printer. Set the baud rate in the configuration to avoid this",
            pos.port, printer.port,
        )  # fmt: skip

    def waiting(rounds: int, scores: dict[int, LineScore]) -> None:
        if rounds == 1 or rounds % 20 == 0:
            seen = ", ".join(f"{r}: {s.score:.2f}" for r, s in sorted(scores.items()))
            log.info("POS line %s: waiting for the POS to print to detect the baud rate"
                     " (scores so far: %s)", pos.port, seen or "nothing received")  # fmt: skip

    choice = detect_from_traffic(
        pos, stop, rates=rates, encoding=encoding, double_byte=double_byte,
        sampling=sampling, on_round=waiting,
    )  # fmt: skip
    if choice.rate is not None:
        log.info("POS line %s: %d baud chosen from the POS traffic (scores %s)",
                 pos.port, choice.rate, choice.summary())  # fmt: skip
    return choice
