"""systemd's notify protocol (``sd_notify(3)``) without libsystemd.

Both services are ``Type=notify``: systemd counts a service started only when it
says ``READY=1`` (so ``systemctl start`` and units ordered after it wait for a
daemon that really runs, not for a Python process still importing), and with
``WatchdogSec=`` it kills and restarts a service that stops saying
``WATCHDOG=1``. The daemons send the ping only while their main loop is healthy,
so a hang (a blocked disk, a deadlock, a stuck event loop) becomes a restart
instead of a box that looks alive and records nothing. ``STATUS=`` lines are what
``systemctl status`` shows a technician.

The protocol is one datagram of ``KEY=VALUE`` lines to the AF_UNIX socket named
by ``$NOTIFY_SOCKET`` (a path, or ``@name`` in the abstract namespace). Outside
systemd the variable is unset and every call here does nothing, so the daemons
run the same from a shell or a test.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import time
from collections.abc import Callable, Mapping

__all__ = ["STATUS_PERIOD_S", "Notifier", "feed_watchdog"]

log = logging.getLogger("mallsense.systemd")

STATUS_PERIOD_S = 10.0
"""How often the status line is refreshed when systemd asked for no watchdog."""


def _address(name: str) -> str | bytes:
    """``@name`` is Linux's abstract namespace: a leading NUL byte, no file."""
    return b"\0" + name[1:].encode() if name.startswith("@") else name


def _watchdog_usec(environ: Mapping[str, str]) -> int | None:
    """The watchdog interval systemd asked for, if it is meant for this process.

    ``WATCHDOG_PID`` names the process the interval is for; a child that inherited
    the variables (a camera's inference process) must not feed its parent's watchdog.
    """
    usec = environ.get("WATCHDOG_USEC", "")
    pid = environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and (not pid.isdigit() or int(pid) != os.getpid()):
        return None
    return int(usec)


class Notifier:
    """Messages to systemd; silent no-ops when the process was not started by it."""

    def __init__(
        self,
        address: str | None,
        watchdog_usec: int | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.address = address or None
        self.watchdog_s = watchdog_usec / 1e6 if watchdog_usec else None
        """The watchdog timeout (WatchdogSec=), or None when no watchdog runs."""
        self._clock = clock
        self._sock: socket.socket | None = None
        self._last_pulse = -math.inf
        self._warned = False

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        """What systemd put in the environment (``NOTIFY_SOCKET``, ``WATCHDOG_USEC``)."""
        env = os.environ if environ is None else environ
        return cls(env.get("NOTIFY_SOCKET"), _watchdog_usec(env))

    @property
    def enabled(self) -> bool:
        return self.address is not None

    @property
    def period(self) -> float:
        """How often to ping: half the watchdog timeout, as sd_watchdog_enabled(3) advises."""
        return self.watchdog_s / 2 if self.watchdog_s else STATUS_PERIOD_S

    def ready(self, status: str) -> None:
        """Start-up is complete: systemd marks the unit active and starts the watchdog."""
        self.send("READY=1", f"STATUS={status}")

    def reloading(self, status: str = "reloading the configuration") -> None:
        """A reload (SIGHUP) has begun; ``ready`` ends it. ``MONOTONIC_USEC`` is what
        ``Type=notify-reload`` (systemd 253) also asks for; older systemd ignores it."""
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.send("RELOADING=1", f"MONOTONIC_USEC={usec}", f"STATUS={status}")

    def status(self, text: str) -> None:
        self.send(f"STATUS={text}")

    def watchdog(self, status: str | None = None) -> None:
        """The keep-alive ping (with a fresh status line); call it only when healthy."""
        self._last_pulse = self._clock()
        fields = ["WATCHDOG=1"] if self.watchdog_s else []
        if status is not None:
            fields.append(f"STATUS={status}")
        self.send(*fields)

    def next_pulse_in(self) -> float:
        """Seconds until ``pulse`` sends again: how long a waiting loop may sleep."""
        if not self.enabled:
            return math.inf
        return max(0.0, self._last_pulse + self.period - self._clock())

    def pulse(self, status: Callable[[], str]) -> None:
        """``watchdog`` at most once per ``period``: for a loop that turns many times a second.

        ``status`` is called only when a message is due.
        """
        if self.enabled and self._clock() - self._last_pulse >= self.period:
            self.watchdog(status())

    def extend_timeout(self, seconds: float) -> None:
        """Ask for more time to start (a long database backup before migrations)."""
        self.send(f"EXTEND_TIMEOUT_USEC={int(seconds * 1e6)}")

    def stopping(self, status: str) -> None:
        """Shutdown has begun (systemd shows the unit as deactivating)."""
        self.send("STOPPING=1", f"STATUS={status}")

    def send(self, *fields: str) -> bool:
        """One datagram; False (and one warning) if systemd cannot be told."""
        if self.address is None or not fields:
            return False
        # A newline would start a new field: a status text must stay one line.
        payload = "\n".join(f.replace("\n", " ") for f in fields).encode()
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto(payload, _address(self.address))
        except OSError as exc:
            if not self._warned:
                self._warned = True
                log.warning(
                    "cannot notify systemd through %s: %s; if the watchdog is on, systemd will"
                    " restart this service",
                    self.address,
                    exc,
                )
            return False
        return True

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


async def feed_watchdog(
    notifier: Notifier, problem: Callable[[float], str | None], summary: Callable[[], str]
) -> None:
    """Ping systemd's watchdog every half interval, only while ``problem(period)`` is None.

    Run as a task on the daemon's event loop, so a blocked loop stops the pings too;
    the status line says what is wrong while the pings are held back.
    """
    if not notifier.enabled:
        return
    stalled = False
    while True:
        await asyncio.sleep(notifier.period)
        why = problem(notifier.period)
        if why is None:
            notifier.watchdog(summary())
            if stalled:
                log.info("healthy again; feeding the systemd watchdog")
        else:
            notifier.status(f"unhealthy: {why}")
            if not stalled:
                log.error("%s; not feeding the systemd watchdog", why)
        stalled = why is not None
