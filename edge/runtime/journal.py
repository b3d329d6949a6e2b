"""journald's native protocol (``systemd.journal-fields(7)``) without libsystemd.

Under systemd, a service's stderr is a stream to journald and every line becomes
one entry with nothing but the text. Written to journald's native socket
instead, each entry carries fields a technician can filter on::

    journalctl -u mallsense-edge SENSOR=shop PRIORITY=4
    journalctl -u mallsense-edge REASON=silence --since today

``MESSAGE``, ``PRIORITY``, ``SYSLOG_IDENTIFIER``, ``CODE_FILE``/``CODE_LINE``/
``CODE_FUNC``, ``LOGGER``, and ``SENSOR``/``REASON`` when the log call passed
``extra={"sensor": ..., "reason": ...}``.

The protocol: one datagram per entry to ``/run/systemd/journal/socket``, each
field ``KEY=value\\n``, or, for a value holding a newline (a traceback),
``KEY\\n`` + its length as 64-bit little endian + the value + ``\\n``. An entry too
large for a datagram goes in a sealed memfd whose descriptor is passed instead
(``SCM_RIGHTS``), as ``sd_journal_sendv`` does.

The daemons use it only when stderr *is* the journal: systemd then sets
``JOURNAL_STREAM`` to the device and inode of that stream (``systemd.exec(5)``).
Run from a shell, or with stderr redirected, they log plain lines to stderr.
"""

from __future__ import annotations

import array
import errno
import fcntl
import logging
import os
import socket
import struct
import sys
from collections.abc import Mapping
from typing import TextIO

__all__ = [
    "JOURNAL_SOCKET",
    "JournalHandler",
    "encode_entry",
    "journal_fields",
    "stderr_is_journal",
]

JOURNAL_SOCKET = "/run/systemd/journal/socket"
SOCKET_ENV = "MALLSENSE_JOURNAL_SOCKET"
"""Another socket path (for tests; systemd's own is always the default)."""
IDENTIFIER = "mallsense"
_SEND_TIMEOUT_S = 1.0
_SEALS = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL


def _priority(levelno: int) -> int:
    """syslog priorities: 2 critical, 3 error, 4 warning, 6 info, 7 debug."""
    if levelno >= logging.CRITICAL:
        return 2
    if levelno >= logging.ERROR:
        return 3
    if levelno >= logging.WARNING:
        return 4
    if levelno >= logging.INFO:
        return 6
    return 7


def stderr_is_journal(
    stream: TextIO | None = None, environ: Mapping[str, str] | None = None
) -> bool:
    """True when ``stream`` (stderr) is the journal stream systemd connected."""
    value = (os.environ if environ is None else environ).get("JOURNAL_STREAM", "")
    device, sep, inode = value.partition(":")
    if not sep or not device.isdigit() or not inode.isdigit():
        return False
    try:
        st = os.fstat((stream or sys.stderr).fileno())
    except (OSError, ValueError, AttributeError):  # closed, or not a real file
        return False
    return st.st_dev == int(device) and st.st_ino == int(inode)


def encode_entry(fields: Mapping[str, str | bytes]) -> bytes:
    """One entry in the native protocol (binary-safe for values with newlines)."""
    out = bytearray()
    for key, value in fields.items():
        data = value.encode("utf-8", "replace") if isinstance(value, str) else value
        name = key.encode("ascii")
        if b"\n" in data:
            out += name + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
        else:
            out += name + b"=" + data + b"\n"
    return bytes(out)


def journal_fields(
    record: logging.LogRecord, message: str, identifier: str = IDENTIFIER
) -> dict[str, str]:
    """The fields of one log record (``message`` already formatted, traceback included)."""
    fields = {
        "MESSAGE": message,
        "PRIORITY": str(_priority(record.levelno)),
        "SYSLOG_IDENTIFIER": identifier,
        "CODE_FILE": record.pathname,
        "CODE_LINE": str(record.lineno),
        "CODE_FUNC": record.funcName,
        "LOGGER": record.name,
        "THREAD_NAME": record.threadName or "",
    }
    for attribute, key in (("sensor", "SENSOR"), ("reason", "REASON")):
        value = getattr(record, attribute, None)
        if value is not None:
            fields[key] = str(value)
    return fields


class JournalHandler(logging.Handler):
    """Sends each record to journald; falls back to ``fallback`` (stderr) if it cannot."""

    def __init__(
        self,
        path: str | None = None,
        fallback: logging.Handler | None = None,
        level: int = logging.NOTSET,
    ) -> None:
        super().__init__(level)
        self.path = path or os.environ.get(SOCKET_ENV) or JOURNAL_SOCKET
        self.identifier = IDENTIFIER
        """``SYSLOG_IDENTIFIER``: the daemons set their unit's (``mallsense-edge``)."""
        self.fallback = fallback
        self.failures = 0
        self._sock: socket.socket | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            payload = encode_entry(journal_fields(record, self.format(record), self.identifier))
            self._send(payload)
        except OSError as exc:
            self.failures += 1
            if self.fallback is None:
                self.handleError(record)
                return
            if self.failures == 1:
                sys.stderr.write(f"cannot log to the journal at {self.path}: {exc}; using stderr\n")
            self.fallback.handle(record)
        except Exception:
            self.handleError(record)

    def _send(self, payload: bytes) -> None:
        if self._sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            sock.settimeout(_SEND_TIMEOUT_S)  # a stuck journald must not stall the daemon
            self._sock = sock
        try:
            self._sock.sendto(payload, self.path)
        except OSError as exc:
            if exc.errno not in (errno.EMSGSIZE, errno.ENOBUFS):
                raise
            self._send_memfd(payload)

    def _send_memfd(self, payload: bytes) -> None:
        """A large entry: the payload in a sealed memfd, its descriptor in the datagram."""
        assert self._sock is not None
        fd = os.memfd_create("mallsense-journal", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
            rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))]
            self._sock.sendmsg([], rights, 0, self.path)
        finally:
            os.close(fd)

    def close(self) -> None:
        self.acquire()
        try:
            if self._sock is not None:
                self._sock.close()
                self._sock = None
        finally:
            self.release()
        super().close()
