"""What ``wifi watch`` and ``ble watch`` share: the rate over the last seconds, the RSSI
histogram, and their options (a live device or a recording, for a while)."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ParamSpec, Protocol, TypeVar

import click

from edge.cli.common import config_option

__all__ = [
    "RSSI_BUCKETS",
    "Radio",
    "collector",
    "recording_option",
    "rssi_bucket",
    "seconds_option",
]

P = ParamSpec("P")
R = TypeVar("R")
RSSI_BUCKETS = (-90, -80, -70, -60, -50)
_RATE_WINDOW_S = 5.0


class _Window(Protocol):
    def add(self, item: Any) -> None: ...


def collector(window: _Window, kind: type) -> tuple[threading.Lock, Callable[[list[Any]], None]]:
    """A source's ``emit`` that adds its observations of ``kind`` (watermarks are skipped)
    to ``window``, and the lock the display takes to read the window."""
    lock = threading.Lock()

    def emit(batch: list[Any]) -> None:
        with lock:
            for item in batch:
                if isinstance(item, kind):
                    window.add(item)

    return lock, emit


def rssi_bucket(rssi: int | None) -> str:
    """The histogram bucket of one signal strength (dBm)."""
    if rssi is None:
        return "unknown"
    for edge in RSSI_BUCKETS:
        if rssi < edge:
            return f"<{edge}"
    return f">={RSSI_BUCKETS[-1]}"


@dataclass
class Radio:
    """Frames per second over the last seconds, and signal strengths heard."""

    per_second: deque[tuple[float, int]] = field(
        default_factory=lambda: deque([(time.time(), 0)])  # so the first second's frames count
    )
    rssi: Counter[str] = field(default_factory=Counter)

    def heard(self, rssi: int | None) -> None:
        self.rssi[rssi_bucket(rssi)] += 1

    def rate(self, now: float, frames: int) -> float:
        """Frames per second, from the running total ``frames`` at ``now``."""
        self.per_second.append((now, frames))
        while len(self.per_second) > 2 and self.per_second[0][0] < now - _RATE_WINDOW_S:
            self.per_second.popleft()
        (t0, f0), (t1, f1) = self.per_second[0], self.per_second[-1]
        return round((f1 - f0) / (t1 - t0), 1) if t1 > t0 else 0.0

    def histogram(self) -> dict[str, int]:
        return dict(sorted(self.rssi.items()))


def recording_option(name: str, what: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """``--file`` (into ``name``): a recording played at its pace instead of the device;
    with ``--config`` for the configured sensor's device."""

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        func = config_option(required=False)(func)
        return click.option(
            "--file",
            name,
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help=f"Watch a recording ({what}) at its recorded pace instead of a live device.",
        )(func)

    return decorate


def seconds_option() -> Callable[[Callable[P, R]], Callable[P, R]]:
    return click.option(
        "--seconds", type=float, help="Stop after this long (default: until Ctrl-C)."
    )
