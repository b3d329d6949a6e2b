"""What a wrapper of one child process says about it, for the camera and detector wrappers."""

from __future__ import annotations

from multiprocessing.process import BaseProcess

__all__ = ["ChildProcess"]


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
