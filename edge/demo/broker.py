"""A throwaway local Mosquitto, for the demo (and the tests): a real broker on loopback."""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from edge.errors import UplinkError

__all__ = ["LocalBroker", "find_mosquitto", "free_port"]

_FALLBACK_PATHS = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")


def find_mosquitto() -> str | None:
    """The mosquitto binary (Debian installs it in /usr/sbin, often not on PATH)."""
    found = shutil.which("mosquitto")
    if found:
        return found
    return next((p for p in _FALLBACK_PATHS if os.access(p, os.X_OK)), None)


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalBroker:
    """One mosquitto process on a free loopback port; can be stopped and started again."""

    def __init__(self, workdir: Path, *, persistence: bool = False, extra_config: str = "") -> None:
        executable = find_mosquitto()
        if executable is None:
            raise UplinkError(
                "the mosquitto broker is not installed; run `make demo` (it installs it) or"
                " `apt-get install mosquitto`"
            )
        self.executable = executable
        self.host = "127.0.0.1"
        self.port = free_port()
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = workdir / "mosquitto.conf"
        self.log_path = workdir / "mosquitto.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self.config_path.write_text(self._config(persistence, extra_config), encoding="utf-8")

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def _config(self, persistence: bool, extra: str) -> str:
        lines = [
            f"listener {self.port} {self.host}",
            "allow_anonymous true",
            # Started as root, mosquitto would switch to user 'mosquitto', who cannot write here.
            f"user {getpass.getuser()}",
            f"persistence {'true' if persistence else 'false'}",
            f"persistence_location {self.workdir}/",
            # Never drop messages queued for a slow subscriber. (0, "unlimited", makes
            # mosquitto 2.0.11 disconnect a client after any refused QoS 1 publish.)
            "max_queued_messages 1000000",
            extra,
        ]
        return "\n".join(lines) + "\n"

    def start(self, timeout: float = 5.0) -> None:
        """Start mosquitto and return once its port accepts connections."""
        if self._proc is not None and self._proc.poll() is None:
            return
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [self.executable, "-c", str(self.config_path)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise UplinkError(f"mosquitto exited at start; its log says:\n{self.log()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.host, self.port), 0.2),
            ):
                return
            time.sleep(0.02)
        raise UplinkError(f"mosquitto did not listen on {self.url} within {timeout:.0f} s")

    def stop(self) -> None:
        """Stop like a service stop (SIGTERM: a persistent broker saves its state)."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        self._end(signal.SIGKILL)

    def _end(self, sig: signal.Signals) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def __enter__(self) -> LocalBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
