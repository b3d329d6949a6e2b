"""A recording played as if it were a radio: frames arrive at their recorded pace.

Used by ``mallsense wifi watch --file`` (a technician can check what a capture
looked like live) and by the daemon's tests, where it stands in for the
monitor-mode card: it is the lowest layer, everything above it is the real
daemon. Frames are re-stamped to the moment they are delivered, as the kernel
would stamp them (``restamp=False`` keeps the recorded times).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

from drivers.wifi.pcap import open_capture

__all__ = ["FileRadio"]


class FileRadio:
    """Implements ``drivers.wifi.live.Radio`` over a pcap file."""

    def __init__(
        self,
        path: str | Path,
        speed: float = 1.0,
        clock: Callable[[], float] = time.time,
        loop: bool = False,
        restamp: bool = True,
    ) -> None:
        self.path = Path(path)
        self.restamp = restamp
        self.speed = speed
        self.loop = loop
        self._clock = clock
        self._frames: Iterator[tuple[float, int, bytes]] = iter(())
        self._next: tuple[float, bytes] | None = None
        self._offset = 0.0
        self.exhausted = False
        self._rewind()

    def _rewind(self) -> None:
        self._frames = iter(open_capture(self.path))
        first = next(self._frames, None)
        if first is None:
            self.exhausted = True
            return
        self._offset = self._clock() - first[0] / self.speed
        self._next = (first[0], first[2])

    def _due(self) -> float:
        assert self._next is not None
        return self._next[0] / self.speed + self._offset

    def wait(self, timeout: float) -> bool:
        if self._next is None:
            time.sleep(timeout)
            return False
        delay = self._due() - self._clock()
        if delay > timeout:
            time.sleep(timeout)
            return False
        if delay > 0:
            time.sleep(delay)
        return True

    def recv(self) -> tuple[bytes, float | None] | None:
        if self._next is None:
            return None
        recorded, data = self._next
        stamp = self._clock() if self.restamp else recorded
        following = next(self._frames, None)
        if following is not None:
            self._next = (following[0], following[2])
        elif self.loop:
            self._rewind()
        else:
            self._next = None
            self.exhausted = True
        return data, stamp

    def close(self) -> None:
        self._next = None
