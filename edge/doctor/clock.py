"""Is the clock synchronized? Records carry event times, and TLS needs a right date.

Asked in turn: ``timedatectl`` (systemd-timesyncd or whatever systemd knows of),
``chronyc tracking`` (chrony), then the kernel itself (``adjtimex``: every time
daemon clears ``STA_UNSYNC`` once it disciplines the clock). When none of them
can tell, the answer is a warning, not a failure.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable
from typing import Any

from edge.doctor.host import Host
from edge.doctor.result import Check

__all__ = ["KernelClock", "check_clock", "kernel_clock"]

_TIME_ERROR = 5
_STA_UNSYNC = 0x0040
_FIX = (
    "turn time synchronization on (`sudo timedatectl set-ntp true`, or install chrony) and"
    " let the box reach an NTP server on UDP port 123 (ask the mall's IT for theirs)"
)

KernelClock = tuple[bool, int]
"""(synchronized, estimated error in microseconds), from ``adjtimex``."""


class _Timex(ctypes.Structure):
    """The head of ``struct timex`` (the kernel writes up to ~200 bytes: room is left)."""

    _fields_ = (
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("_rest", ctypes.c_byte * 512),
    )


def kernel_clock() -> KernelClock | None:
    """What ``adjtimex`` (modes 0: read only) says, or None where it cannot be called."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        timex = _Timex()
        state = int(libc.adjtimex(ctypes.byref(timex)))
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    synced = state != _TIME_ERROR and not timex.status & _STA_UNSYNC
    return synced, int(timex.esterror)


def check_clock(host: Host, kernel: Callable[[], KernelClock | None] = kernel_clock) -> Check:
    """The first source that can tell whether the clock is synchronized."""
    verdict = _timedatectl(host) or _chrony(host)
    if verdict is not None:
        return verdict
    state = kernel()
    if state is None:
        return Check(
            "clock",
            "warn",
            "unknown: neither timedatectl nor chronyc answered, and the kernel cannot be asked",
            _FIX,
        )
    synced, error_us = state
    facts: dict[str, Any] = {"source": "adjtimex", "esterror_us": error_us}
    if synced:
        detail = f"synchronized (kernel: estimated error {error_us / 1000:.1f} ms)"
        return Check("clock", "pass", detail, facts=facts)
    detail = "not synchronized: the kernel's clock is not disciplined by any time service"
    return Check("clock", "fail", detail, _FIX, facts)


def _timedatectl(host: Host) -> Check | None:
    result = host.run(["timedatectl", "show", "-p", "NTP", "-p", "NTPSynchronized"], 5.0)
    if result is None or result.returncode != 0:
        return None  # not installed, or no systemd running
    values = dict(line.partition("=")[::2] for line in result.stdout.splitlines() if "=" in line)
    synced = values.get("NTPSynchronized")
    if synced not in ("yes", "no"):
        return None
    facts = {"source": "timedatectl", **values}
    if synced == "yes":
        detail = "synchronized (timedatectl: NTPSynchronized=yes)"
        return Check("clock", "pass", detail, facts=facts)
    if values.get("NTP") == "no":
        detail = "not synchronized: time synchronization is off (timedatectl: NTP=no)"
        return Check("clock", "fail", detail, "`sudo timedatectl set-ntp true`", facts)
    detail = "not synchronized yet, although time synchronization is on (timedatectl)"
    fix = (
        "check that the box reaches an NTP server (`timedatectl timesync-status`); the mall's"
        " IT may have to allow UDP port 123 or name their server in /etc/systemd/timesyncd.conf"
    )
    return Check("clock", "fail", detail, fix, facts)


def _chrony(host: Host) -> Check | None:
    result = host.run(["chronyc", "-n", "tracking"], 5.0)
    if result is None or result.returncode != 0:
        return None  # not installed, or chronyd not running
    fields = {
        key.strip(): value.strip()
        for key, _, value in (line.partition(":") for line in result.stdout.splitlines())
    }
    leap = fields.get("Leap status")
    if leap is None:
        return None
    facts = {"source": "chronyc", "leap_status": leap, "reference": fields.get("Reference ID")}
    if leap != "Not synchronised":
        detail = f"synchronized (chrony: {fields.get('System time', 'leap status ' + leap)})"
        return Check("clock", "pass", detail, facts=facts)
    detail = "not synchronized (chrony: Leap status Not synchronised)"
    fix = "check that the box reaches the NTP servers chrony is configured with (`chronyc sources`)"
    return Check("clock", "fail", detail, fix, facts)
