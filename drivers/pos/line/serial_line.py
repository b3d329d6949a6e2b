"""One serial port of a POS line, opened with pyserial, read and written without waiting.

pyserial opens and configures the port (rate, data bits, parity, stop bits,
flow control, an exclusive lock); reads and writes then go straight to the
file descriptor with ``select``, because the passthrough needs "whatever has
arrived, now" (pyserial's ``read(n)`` waits for ``n`` bytes or its timeout)
and a write that can be abandoned at stop without losing track of what was
written (pyserial's write timeout does not say how much went out).

A ``/dev/serial/by-id/`` name is resolved again at every open, so the same
adapter plugged back in (as ``ttyUSB1`` this time) is found. Every error
leaves as ``LineError`` naming the port and what to check.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import threading
from pathlib import Path
from typing import Any, Final

import serial  # type: ignore[import-untyped]

from drivers.pos.line.line import COMMON_RATES, Line, LineError, LineSettings

__all__ = ["SerialLine", "explain_open_error", "open_serial_line"]

_READ_SIZE: Final = 4096
_FLOW: Final = {"none": {}, "rtscts": {"rtscts": True}, "xonxoff": {"xonxoff": True}}


def explain_open_error(port: str, device: str, exc: BaseException) -> str:
    """Why ``port`` cannot be used, and what the technician should check."""
    code = getattr(exc, "errno", None)
    text = str(exc)
    where = port if device == port else f"{port} (-> {device})"
    if code == errno.ENOENT or not Path(device).exists():
        return (
            f"{where} does not exist: is the USB serial adapter plugged in? `ls -l"
            " /dev/serial/by-id/` lists the adapters; check the sensor's port in the configuration"
        )
    if code == errno.EACCES:
        return f"permission denied on {where}: add the service user to the 'dialout' group"
    if code in (errno.EBUSY, errno.EAGAIN) or "lock" in text.lower():
        return (
            f"{where} is in use by another program (the mallsense-edge service, a getty or"
            " ModemManager?); stop it or use another port"
        )
    if code == errno.EIO or "disconnected" in text or "returned no data" in text:
        return f"{where} stopped answering (adapter unplugged, or a loose cable): {text}"
    return f"{where}: {text}"


class SerialLine:
    """A real serial port (pyserial, exclusive, non-blocking file descriptor)."""

    tunable = True

    def __init__(self, port: str, settings: LineSettings) -> None:
        self.port = port
        self.device = os.path.realpath(port)  # a by-id symlink, resolved again at every open
        self.settings = settings
        flow: dict[str, Any] = _FLOW.get(settings.flow, {"dsrdtr": True})
        try:
            self._serial = serial.Serial(
                port=self.device,
                baudrate=settings.baudrate or COMMON_RATES[0],
                bytesize=settings.bytesize,
                parity=settings.parity,
                stopbits=settings.stopbits,
                timeout=0,
                exclusive=True,
                **flow,
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            raise LineError(explain_open_error(port, self.device, exc)) from exc
        self._fd: int = self._serial.fileno()

    def _lost(self, exc: BaseException) -> LineError:
        return LineError(explain_open_error(self.port, self.device, exc))

    def read(self, timeout: float) -> bytes:
        try:
            ready, _, _ = select.select([self._fd], [], [], timeout)
            if not ready:
                return b""
            data = os.read(self._fd, _READ_SIZE)
        except BlockingIOError:
            return b""
        except (OSError, ValueError) as exc:
            raise self._lost(exc) from exc
        if not data:  # readable but empty: the device went away (pyserial says the same)
            raise self._lost(OSError(errno.EIO, "device reports readiness but returned no data"))
        return data

    def write(self, data: bytes, stop: threading.Event | None = None) -> int:
        view = memoryview(data)
        sent = 0
        while sent < len(view):
            try:
                sent += os.write(self._fd, view[sent:])
            except BlockingIOError:
                pass
            except (OSError, ValueError) as exc:
                raise self._lost(exc) from exc
            if sent < len(view):  # the printer holds us back (flow control): wait, not spin
                if stop is not None and stop.is_set():
                    return sent
                try:
                    select.select([], [self._fd], [], 0.1)
                except (OSError, ValueError) as exc:
                    raise self._lost(exc) from exc
        return sent

    def set_baudrate(self, rate: int) -> None:
        try:
            self._serial.baudrate = rate
        except (serial.SerialException, OSError, ValueError) as exc:
            raise self._lost(exc) from exc

    def discard_input(self) -> None:
        try:
            self._serial.reset_input_buffer()
        except (serial.SerialException, OSError) as exc:
            raise self._lost(exc) from exc

    def close(self) -> None:
        # An unplugged adapter cannot be closed cleanly; the descriptor is gone anyway.
        with contextlib.suppress(serial.SerialException, OSError):
            self._serial.close()


def open_serial_line(port: str, settings: LineSettings) -> Line:
    """The default ``LineOpener``: a real serial port."""
    return SerialLine(port, settings)
