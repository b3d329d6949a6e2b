"""Looking at the box from outside, for ``benchmarks/whole_box.py``: /proc, metrics, feeders.

- CPU: ``utime + stime`` of every live process of a tree (all threads) plus the root's
  ``cutime + cstime`` (children already reaped, e.g. a restarted camera process).
- Memory: the sum of ``Pss`` in ``/proc/PID/smaps_rollup`` over the tree (shared pages
  split between the processes that map them, so the sum is what the tree really costs).
- Rates and drops: the daemons' Prometheus endpoints (docs/install.md, "Metrics").
- POS: a thread per line writing receipts into a pseudo-terminal at the line's byte rate.
"""

from __future__ import annotations

import os
import random
import re
import statistics
import threading
import time
import tty
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "PosFeeder",
    "Tree",
    "cpu_busy_s",
    "percentile",
    "scrape",
    "slope_per_hour",
]

_TICK = os.sysconf("SC_CLK_TCK")
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # after "pid (comm) "


def _children(pid: int) -> list[int]:
    """Direct children, from every thread's ``children`` file."""
    out: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return out
    for task in tasks:
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def cpu_busy_s(cpus: set[int]) -> float:
    """Busy seconds of these CPUs so far, whoever used them (``/proc/stat``)."""
    busy = 0
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
            ticks = [int(v) for v in values]
            busy += sum(ticks[:8]) - ticks[3] - ticks[4]  # without idle and iowait
    return busy / _TICK


@dataclass
class Tree:
    """A process and its descendants."""

    root: int

    def pids(self) -> list[int]:
        seen, todo = [], [self.root]
        while todo:
            pid = todo.pop()
            seen.append(pid)
            todo += _children(pid)
        return seen

    def cpu_s(self) -> float:
        """CPU seconds used so far by the tree (live processes + reaped children)."""
        ticks = 0
        for pid in self.pids():
            fields = _stat_fields(pid)
            if fields is None:
                continue
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
            if pid == self.root:
                ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
        return ticks / _TICK

    def pss_mb(self) -> dict[int, float]:
        """PSS of each process of the tree (MB)."""
        out = {}
        for pid in self.pids():
            try:
                text = Path(f"/proc/{pid}/smaps_rollup").read_text()
            except OSError:
                continue
            kb = next(
                (int(line.split()[1]) for line in text.splitlines() if line.startswith("Pss:")), 0
            )
            out[pid] = kb / 1024
        return out

    def names(self) -> dict[int, str]:
        """Per process: its name, a tab, its command line."""
        out = {}
        for pid in self.pids():
            try:
                comm = Path(f"/proc/{pid}/comm").read_text().strip()
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            out[pid] = f"{comm}\t{cmdline}"
        return out


def scrape(port: int) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Every sample of a Prometheus endpoint, by name (empty if it does not answer)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return {}
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None or line.startswith("#"):
            continue
        labels = dict(_LABEL.findall(match.group(3) or ""))
        out.setdefault(match.group(1), []).append((labels, float(match.group(4))))
    return out


def percentile(values: list[float], q: float) -> float | None:
    """The ``q`` quantile (0-1), nearest rank; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def slope_per_hour(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, value), per hour; None for fewer than 3 points."""
    if len(points) < 3:
        return None
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return 3600 * statistics.linear_regression(xs, ys).slope


@dataclass
class PosFeeder:
    """A POS terminal on a pseudo-terminal: receipts at ``baud`` (10 bits a byte), spaced."""

    receipts_per_min: float
    make_receipt: Callable[[int, random.Random], bytes]
    baud: int = 115_200
    chunk: int = 64
    path: str = ""
    sent: list[tuple[float, int]] = field(default_factory=list)
    """(wall time the receipt's last byte was written, its size)."""

    def __post_init__(self) -> None:
        self.master, slave = os.openpty()
        tty.setraw(self.master)
        self.path = os.ttyname(slave)
        os.close(slave)  # the daemon opens it by name, as /dev/ttyUSB0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"pos {self.path}", daemon=True)
        self.rng = random.Random(self.master)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        os.close(self.master)

    def _write(self, data: bytes) -> None:
        """At the line's rate: ``chunk`` bytes every ``chunk * 10 / baud`` seconds."""
        step = self.chunk * 10 / self.baud
        due = time.monotonic()
        for i in range(0, len(data), self.chunk):
            view = memoryview(data)[i : i + self.chunk]
            while view and not self._stop.is_set():
                try:
                    view = view[os.write(self.master, view) :]
                except BlockingIOError:
                    time.sleep(0.01)
            due += step
            if (wait := due - time.monotonic()) > 0:
                time.sleep(wait)

    def _run(self) -> None:
        number = 0
        gap = 60 / self.receipts_per_min
        next_at = time.monotonic() + self.rng.uniform(0, gap)
        while not self._stop.wait(max(0.0, next_at - time.monotonic())):
            number += 1
            data = self.make_receipt(number, self.rng)
            self._write(data)
            self.sent.append((time.time(), len(data)))
            next_at += gap * self.rng.uniform(0.5, 1.5)
