"""What ``mallsense doctor`` looks at besides the configuration: paths, tools, the service user.

Everything the checks read from the machine goes through ``Host``, so that a test
can point a check at its own directory or put a stand-in for a missing tool
(``iw``, ``btmgmt``, ``timedatectl``) at the boundary, the way the BLE tests fake
only the radio.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from edge.install.layout import USER, Layout

__all__ = ["Host", "Runner", "ToolResult", "credential_file", "edge_running", "run_tool"]

_SBIN = ("/usr/sbin", "/sbin", "/usr/bin", "/bin")
"""Where Debian puts iw and btmgmt: not on a technician's PATH without sudo."""


class ToolResult(NamedTuple):
    """What a command line tool answered."""

    returncode: int
    stdout: str
    stderr: str


Runner = Callable[[list[str], float], ToolResult | None]
"""Runs a tool for at most the given seconds; None when it is not installed."""


def run_tool(argv: list[str], timeout: float) -> ToolResult | None:
    """Run ``argv`` (its program looked up on PATH, then in the sbin directories)."""
    program = shutil.which(argv[0]) or shutil.which(argv[0], path=os.pathsep.join(_SBIN))
    if program is None:
        return None
    try:
        done = subprocess.run(
            [program, *argv[1:]],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return ToolResult(-1, "", f"{argv[0]} did not answer within {timeout:g} s")
    except OSError as exc:
        return ToolResult(-1, "", f"{argv[0]} cannot run: {exc.strerror}")
    return ToolResult(done.returncode, done.stdout, done.stderr)


@dataclass(frozen=True)
class Host:
    """The machine as the checks see it (defaults: this box, as installed)."""

    timeout_s: float = 5.0
    """How long a device or a network step may take."""
    service_user: str = USER
    """The user the services run as (owner of a key file they read themselves)."""
    credentials_dir: Path = field(default_factory=lambda: Path(Layout.config_dir / "credentials"))
    """Where the units' ``LoadCredential=`` files are (``mallsense install`` makes it)."""
    net_dir: Path = Path("/sys/class/net")
    bluetooth_dir: Path = Path("/sys/class/bluetooth")
    run: Runner = run_tool


def credential_file(host: Host, name: str) -> Path | None:
    """Where the service gets credential ``name`` from: ``$CREDENTIALS_DIRECTORY`` when the
    doctor itself runs under systemd, else the file the unit loads, if either exists.

    ``PermissionError`` when the credentials directory cannot be looked into (0700 root:
    the doctor runs without sudo).
    """
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    for candidate in (Path(directory) if directory else None, host.credentials_dir):
        if candidate is not None and (candidate / name).is_file():
            return candidate / name
    return None


def edge_running(host: Host) -> bool:
    """Whether systemd says mallsense-edge is active (it then holds serial ports and cameras)."""
    result = host.run(["systemctl", "is-active", "--quiet", "mallsense-edge.service"], 2.0)
    return result is not None and result.returncode == 0
