"""Live capture from a monitor-mode interface, and channel hopping.

scapy opens the interface with a kernel BPF filter for probe requests, so the
kernel drops everything else before it reaches Python, and hands over raw
bytes with the kernel's timestamp (``recv_raw``); scapy never dissects a
packet here. The radio is the only part a test replaces (``Radio``).
"""

from __future__ import annotations

import logging
import select
import shutil
import subprocess
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

__all__ = [
    "BPF_PROBE_REQUESTS",
    "ChannelHopper",
    "MonitorSocket",
    "Radio",
    "RadiotapRequired",
    "check_monitor_interface",
]

BPF_PROBE_REQUESTS = "type mgt subtype probe-req"
ARPHRD_IEEE80211_RADIOTAP = 803
_ARPHRD_NAMES = {1: "Ethernet", 801: "802.11 without radiotap", 802: "Prism", 772: "loopback"}
log = logging.getLogger("mallsense.wifi")


class RadiotapRequired(OSError):
    """The interface exists but does not deliver radiotap frames (not in monitor mode)."""


class Radio(Protocol):
    """Where frames come from: a monitor socket, or (in tests and `watch --file`) a recording."""

    def wait(self, timeout: float) -> bool:
        """True when a frame can be read without blocking."""
        ...

    def recv(self) -> tuple[bytes, float | None] | None:
        """One captured frame and its kernel timestamp (None: nothing after all)."""
        ...

    def close(self) -> None: ...


class MonitorSocket:
    """scapy's listening socket with the kernel BPF filter for probe requests."""

    def __init__(self, interface: str) -> None:
        check_monitor_interface(interface)
        from scapy.config import conf  # lazy: scapy takes ~0.5 s to import

        self.interface = interface
        self._sock = conf.L2listen(iface=interface, filter=BPF_PROBE_REQUESTS)

    def wait(self, timeout: float) -> bool:
        readable, _, _ = select.select([self._sock], [], [], timeout)
        return bool(readable)

    def recv(self) -> tuple[bytes, float | None] | None:
        _cls, data, ts = self._sock.recv_raw(65535)
        return None if data is None else (bytes(data), ts)

    def close(self) -> None:
        self._sock.close()


def check_monitor_interface(interface: str, sysfs: Path = Path("/sys/class/net")) -> None:
    """Raise a plain-words OSError unless ``interface`` is up in monitor mode with radiotap."""
    type_file = sysfs / interface / "type"
    if not (sysfs / interface).exists():
        raise FileNotFoundError(
            f"Wi-Fi interface {interface} does not exist; list interfaces with `iw dev`"
            " and check the adapter is plugged in"
        )
    kind = int(type_file.read_text().strip())
    if kind != ARPHRD_IEEE80211_RADIOTAP:
        name = _ARPHRD_NAMES.get(kind, f"link type {kind}")
        raise RadiotapRequired(
            f"Wi-Fi interface {interface} is not in monitor mode (it is {name}); run"
            f" `iw dev {interface} set type monitor` with the interface down, or use the"
            " monitor interface created by `iw phy ... interface add mon0 type monitor`"
        )


class ChannelHopper:
    """Moves the interface through the configured channels with `iw`, in a thread."""

    def __init__(
        self,
        interface: str,
        channels: Sequence[int],
        dwell_s: float,
        run: Callable[[list[str]], subprocess.CompletedProcess[bytes]] | None = None,
    ) -> None:
        self.interface = interface
        self.channels = list(channels)
        self.dwell_s = dwell_s
        self.current: int | None = None
        self.failures = 0
        self._run = run or _run_quietly
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Fix the channel, or start hopping when there are several."""
        if self._run is _run_quietly and shutil.which("iw") is None:
            log.warning(
                "interface %s: `iw` is not installed, so the channel cannot be set; install"
                " the Debian package iw", self.interface,
            )  # fmt: skip
            return
        self._set(self.channels[0])
        if len(self.channels) > 1:
            self._thread = threading.Thread(
                target=self._hop, name=f"hop-{self.interface}", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _hop(self) -> None:
        index = 0
        while not self._stop.wait(self.dwell_s):
            index = (index + 1) % len(self.channels)
            self._set(self.channels[index])

    def _set(self, channel: int) -> None:
        result = self._run(["iw", "dev", self.interface, "set", "channel", str(channel)])
        if result.returncode == 0:
            self.current = channel
            return
        self.failures += 1
        if self.failures in (1, 10, 100) or self.failures % 1000 == 0:
            log.warning(
                "interface %s: cannot switch to channel %d (%s); %d failures so far",
                self.interface, channel, result.stderr.decode(errors="replace").strip(),
                self.failures,
            )  # fmt: skip


def _run_quietly(argv: list[str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(argv, capture_output=True, check=False, timeout=5)
