"""What a wrapper of one child process says about it, for the camera and detector wrappers,
and the name a child gives itself."""

from __future__ import annotations

import contextlib
from multiprocessing.process import BaseProcess
from pathlib import Path

__all__ = ["ChildProcess", "name_this_process"]


def name_this_process(name: str) -> None:
    """Show ``name`` (15 bytes at most) for this process in ``top``, ``ps -o comm`` and the
    journal's ``_COMM``: every child otherwise shows as ``python``, forked ones with the
    forkserver's command line, and a technician cannot tell a camera from the detector."""
    with contextlib.suppress(OSError):  # not Linux, or /proc is not mounted
        Path("/proc/self/comm").write_bytes(name.encode()[:15])


class ChildProcess:
    """Holds the current child process (None before the first start)."""

    _process: BaseProcess | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def alive(self) -> bool:
        """The child is running (a stopped or hung one counts as running)."""
        return self._process is not None and self._process.is_alive()
