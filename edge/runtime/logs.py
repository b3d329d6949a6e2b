"""Where the daemons' logs go, and how much of them: journald or stderr, rate-limited.

A sensor that fails in a loop (a camera that drops every second, a serial line
full of noise) must not fill the disk with the same line. ``RateLimiter`` lets a
burst of messages through per key and interval, then counts instead of writing,
and says how many it held back when the interval ends::

    sensor shop: [Errno 19] No such device; restarting in 1 s
    ... (10 of them)
    suppressed 49 similar messages in 60 s (sensor shop, reason failure); the last: ...

The key is (logger, sensor, reason) when the log call names them with
``extra={"sensor": ..., "reason": ...}``, else (logger, sensor, the message's
template), so the same warning about different values counts as one.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from edge.runtime.journal import JournalHandler, stderr_is_journal

__all__ = [
    "STDERR_FORMAT",
    "RateLimiter",
    "log_handler",
    "quiet_third_parties",
    "set_identifier",
    "setup_logging",
]

STDERR_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
BURST = 10
INTERVAL_S = 60.0
_MAX_KEYS = 1024

_Key = tuple[str, str | None, object]


@dataclass
class _Window:
    start: float
    passed: int = 0
    suppressed: int = 0
    last: logging.LogRecord | None = None
    """The last record held back (named in the summary)."""


class RateLimiter(logging.Filter):
    """At most ``burst`` records per key and ``interval_s``; then one summary line.

    Attach it to a handler (``attach``): the summary goes to that handler, from a
    small timer thread at the end of the interval (or at ``flush``, at exit).
    Records below ``min_level`` are never limited (debug output is asked for).
    """

    def __init__(
        self,
        burst: int = BURST,
        interval_s: float = INTERVAL_S,
        *,
        min_level: int = logging.INFO,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.burst = burst
        self.interval_s = interval_s
        self.min_level = min_level
        self.suppressed_total = 0
        self._clock = clock
        self._windows: dict[_Key, _Window] = {}
        self._handler: logging.Handler | None = None
        self._wake = threading.Condition()
        self._timer: threading.Thread | None = None
        self._closed = False

    def attach(self, handler: logging.Handler) -> None:
        handler.addFilter(self)
        self._handler = handler

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < self.min_level or getattr(record, "rate_summary", False):
            return True
        key = _key(record)
        now = self._clock()
        summaries: list[logging.LogRecord] = []
        with self._wake:
            window = self._windows.get(key)
            if window is None or now - window.start >= self.interval_s:
                if window is not None:
                    summaries += self._summary(key, window)
                window = self._windows[key] = _Window(now)
                if len(self._windows) > _MAX_KEYS:
                    summaries += self._evict(now)
            allowed = window.passed < self.burst
            if allowed:
                window.passed += 1
            else:
                window.suppressed += 1
                window.last = record
                self.suppressed_total += 1
                self._start_timer()
                self._wake.notify()
        self._emit(summaries)
        return allowed

    def flush(self) -> None:
        """Say now what was held back (at exit)."""
        with self._wake:
            summaries = [s for k, w in self._windows.items() for s in self._summary(k, w)]
            self._windows.clear()
        self._emit(summaries)

    def close(self) -> None:
        self.flush()
        with self._wake:
            self._closed = True
            self._wake.notify()

    # -- internals ------------------------------------------------------------------------

    def _summary(self, key: _Key, window: _Window) -> list[logging.LogRecord]:
        last = window.last
        if not window.suppressed or last is None:
            return []
        n, window.suppressed = window.suppressed, 0
        name, sensor, _ = key
        about = ", ".join(
            f"{what} {value}"
            for what, value in (("sensor", sensor), ("reason", getattr(last, "reason", None)))
            if value is not None
        )
        record = logging.LogRecord(
            name,
            last.levelno,
            last.pathname,
            last.lineno,
            "suppressed %d similar messages in %g s%s; the last: %s",
            (n, self.interval_s, f" ({about})" if about else "", last.getMessage()),
            None,
            last.funcName,
        )
        record.sensor = sensor
        record.reason = getattr(last, "reason", None)
        record.rate_summary = True
        return [record]

    def _evict(self, now: float) -> list[logging.LogRecord]:
        """Too many keys: forget the oldest half (saying what they held back)."""
        oldest = sorted(self._windows.items(), key=lambda kw: kw[1].start)
        summaries = []
        for key, window in oldest[: len(oldest) // 2]:
            summaries += self._summary(key, window)
            del self._windows[key]
        return summaries

    def _emit(self, summaries: list[logging.LogRecord]) -> None:
        handler = self._handler
        if handler is None:
            return
        for record in summaries:
            handler.handle(record)

    def _start_timer(self) -> None:
        if self._timer is None:
            self._timer = threading.Thread(
                target=self._run_timer, name="log-rate-limit", daemon=True
            )
            self._timer.start()

    def _run_timer(self) -> None:
        """Emit each window's summary when it ends, even if nothing else is logged."""
        while True:
            with self._wake:
                if self._closed:
                    return
                now = self._clock()
                summaries: list[logging.LogRecord] = []
                due: float | None = None
                for key, window in list(self._windows.items()):
                    if not window.suppressed:
                        continue
                    end = window.start + self.interval_s
                    if end <= now:
                        summaries += self._summary(key, window)
                        del self._windows[key]
                    else:
                        due = end if due is None else min(due, end)
                if not summaries:
                    self._wake.wait(None if due is None else max(due - now, 0.01))
                    continue
            self._emit(summaries)


def _key(record: logging.LogRecord) -> _Key:
    sensor = getattr(record, "sensor", None)
    reason = getattr(record, "reason", None)
    return (record.name, None if sensor is None else str(sensor), reason or str(record.msg))


def log_handler(stream: object = None) -> logging.Handler:
    """journald's socket when stderr is the journal, else stderr (the usual format)."""
    err = sys.stderr if stream is None else stream
    plain = logging.StreamHandler(err)  # type: ignore[arg-type]
    plain.setFormatter(logging.Formatter(STDERR_FORMAT))
    if not stderr_is_journal(err):  # type: ignore[arg-type]
        return plain
    journal = JournalHandler(fallback=plain)
    journal.setFormatter(logging.Formatter("%(message)s"))
    return journal


def set_identifier(name: str) -> None:
    """The ``SYSLOG_IDENTIFIER`` of journal entries from now on (the unit's
    ``SyslogIdentifier=``, so ``journalctl -t mallsense-edge`` finds both kinds of lines)."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, JournalHandler):
            handler.identifier = name


def setup_logging(level: str, *, burst: int = BURST, interval_s: float = INTERVAL_S) -> None:
    """The root logger of a command: journald or stderr, rate-limited (once per process)."""
    root = logging.getLogger()
    if root.handlers:  # already set up (a test harness, a second call)
        return
    handler = log_handler()
    limiter = RateLimiter(burst, interval_s)
    limiter.attach(handler)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    atexit.register(limiter.close)  # runs before logging's own shutdown (registered first)
    quiet_third_parties()


def quiet_third_parties() -> None:
    """Libraries speak through our log, or not at all on stderr.

    Python warnings (a deprecation in a dependency) go to the ``py.warnings`` logger,
    rate-limited like ours. OpenCV's C++ log (``[ WARN:0@0.088] global cap.cpp:212 open
    VIDEOIO(FFMPEG) ...``) cannot be routed into Python's logging, and its warnings
    repeat what our camera code says in the technician's words: only its errors are
    kept; FFmpeg's own lines (``moov atom not found``) likewise. Set before OpenCV is
    imported and opens its first file (it reads the variables once); explicit values in
    the environment win.
    """
    logging.captureWarnings(True)
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "8")  # AV_LOG_FATAL, as drivers.camera.capture
