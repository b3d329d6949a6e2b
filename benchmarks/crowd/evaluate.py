"""Scoring a counting method against the simulator's truth.

The recording is replayed through the real parser (``WifiParser`` with a
``Pseudonymizer``), the sensors merged in event time, and every probe handed
to three trackers that differ only in what they call a device:

- ``raw``: the pseudonym (one MAC = one person: what MAC counting does);
- ``grouped``: the group id from ``edge.grouping.Grouper``;
- ``oracle``: the true visitor (perfect grouping: the ceiling the localization
  and the phones' sparse probing leave).

A tracker localizes a device per scan (probes less than ``CLUSTER_S`` apart)
at the sensor that heard it loudest, and turns the scans into runs per zone:
a device's zones, its dwell per zone (first to last scan of a run) and its
path (the ordered shops and food court; the corridor connects them all).
"""

from __future__ import annotations

import heapq
import statistics
import time
from collections import Counter, OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from drivers.observations import Probe
from drivers.privacy import Pseudonymizer
from drivers.wifi.parse import WifiParser
from drivers.wifi.pcap import open_capture
from edge.grouping import Grouper, GroupingConfig

__all__ = ["Evaluation", "Tracker", "evaluate", "replay"]

CLUSTER_S: Final = 2.0
KEY: Final = b"crowd-benchmark-key-0123456789ab"
_CHUNK: Final = 8192


class _Entity:
    """What a tracker keeps of one device while it is heard."""

    __slots__ = ("c_last", "c_rssi", "c_start", "c_zone", "last", "persons", "runs")

    def __init__(self, t: float, zone: str, rssi: int) -> None:
        self.last = t
        self.c_start = t
        self.c_last = t
        self.c_zone = zone
        self.c_rssi = rssi
        self.runs: list[list[Any]] = []
        """[zone, first scan, last scan, scans]"""
        self.persons: Counter[int] = Counter()

    def close_scan(self) -> None:
        runs = self.runs
        if runs and runs[-1][0] == self.c_zone:
            runs[-1][2] = self.c_start
            runs[-1][3] += 1
        else:
            runs.append([self.c_zone, self.c_start, self.c_start, 1])


@dataclass
class Tracker:
    """Devices of one counting method, closed after ``gap_s`` of silence."""

    gap_s: float = 300.0
    devices: int = 0
    zone_devices: Counter[str] = field(default_factory=Counter)
    dwell: dict[str, list[float]] = field(default_factory=dict)
    best: dict[int, tuple[int, tuple[str, ...]]] = field(default_factory=dict)
    """visitor -> (frames of theirs in their main device, that device's path)"""
    purity: list[tuple[int, int]] = field(default_factory=list)
    """(frames of the main visitor, frames) per closed device"""
    _open: OrderedDict[object, _Entity] = field(default_factory=OrderedDict)

    def add(self, key: object, t: float, zone: str, rssi: int, pid: int) -> None:
        e = self._open.get(key)
        if e is None:
            e = self._open[key] = _Entity(t, zone, rssi)
            self.devices += 1
        else:
            self._open.move_to_end(key)
            if t - e.c_last > CLUSTER_S:
                e.close_scan()
                e.c_start, e.c_zone, e.c_rssi = t, zone, rssi
            elif rssi > e.c_rssi:
                e.c_zone, e.c_rssi = zone, rssi
            e.c_last = t
        e.last = max(e.last, t)
        e.persons[pid] += 1

    def expire(self, t: float) -> None:
        while self._open:
            key, e = next(iter(self._open.items()))
            if e.last >= t - self.gap_s:
                return
            del self._open[key]
            self._close(e)

    def close_all(self) -> None:
        for e in self._open.values():
            self._close(e)
        self._open.clear()

    def _close(self, e: _Entity) -> None:
        e.close_scan()
        runs = _deflicker(e.runs)
        for zone in {r[0] for r in runs}:
            self.zone_devices[zone] += 1
        for zone, first, last, _n in runs:
            self.dwell.setdefault(zone, []).append(last - first)
        path = tuple(z for z, *_ in runs if z != "corridor")
        path = tuple(z for i, z in enumerate(path) if i == 0 or path[i - 1] != z)
        count = e.persons.most_common(1)[0][1]
        self.purity.append((count, sum(e.persons.values())))
        for person, n in e.persons.items():
            if n > self.best.get(person, (0, ()))[0]:
                self.best[person] = (n, path)


def _deflicker(runs: list[list[Any]]) -> list[list[Any]]:
    """Drop one-scan runs between two runs of one zone (a loud probe through a door)."""
    out: list[list[Any]] = []
    for i, run in enumerate(runs):
        if 0 < i < len(runs) - 1 and run[3] == 1 and runs[i - 1][0] == runs[i + 1][0]:
            continue
        if out and out[-1][0] == run[0]:
            out[-1][2], out[-1][3] = run[2], out[-1][3] + run[3]
        else:
            out.append(list(run))
    return out


def replay(truth: dict[str, Any]) -> Iterator[list[tuple[Probe, int]]]:
    """The day's probes, all sensors merged in time order, with their true visitor."""
    pseudo = Pseudonymizer(KEY)
    streams = [_sensor(name, info, pseudo) for name, info in truth["sensors"].items()]
    chunk: list[tuple[Probe, int]] = []
    for item in heapq.merge(*streams, key=lambda pair: pair[0].t):
        chunk.append(item)
        if len(chunk) == _CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _sensor(name: str, info: dict[str, Any], pseudo: Pseudonymizer) -> Iterator[tuple[Probe, int]]:
    parser = WifiParser(name, pseudo)
    persons = info["persons"]
    i = 0
    for batch in open_capture(info["pcap"]).batches():
        probes = parser.parse_batch(batch)
        if len(probes) != len(batch):
            raise ValueError(f"{name}: the parser kept {len(probes)} of {len(batch)} frames")
        yield from zip(probes, persons[i : i + len(probes)], strict=True)
        i += len(probes)


@dataclass
class Evaluation:
    """The three trackers after a replay, and the grouper's counters and speed."""

    raw: Tracker
    grouped: Tracker
    oracle: Tracker
    grouper: dict[str, object]
    probes: int
    group_seconds: float
    confidences: list[float]


def evaluate(truth: dict[str, Any], config: GroupingConfig | None = None) -> Evaluation:
    """Replay ``truth``'s recording through the parser, the grouper and the trackers."""
    grouper = Grouper(config, keep_summaries=True)
    raw, grouped, oracle = Tracker(), Tracker(), Tracker()
    spent = 0.0
    probes = 0
    confidences: list[float] = []
    for chunk in replay(truth):
        batch = [p for p, _ in chunk]
        started = time.perf_counter()
        ids = grouper.assign_batch(batch)
        spent += time.perf_counter() - started
        probes += len(batch)
        for (p, pid), gid in zip(chunk, ids, strict=True):
            rssi = p.rssi if p.rssi is not None else -100
            raw.add(p.device, p.t, p.sensor, rssi, pid)
            grouped.add(gid, p.t, p.sensor, rssi, pid)
            oracle.add(pid, p.t, p.sensor, rssi, pid)
        now = batch[-1].t
        for tracker in (raw, grouped, oracle):
            tracker.expire(now)
        confidences += [s.confidence for s in grouper.drain()]
    grouper.close_all()
    confidences += [s.confidence for s in grouper.drain()]
    for tracker in (raw, grouped, oracle):
        tracker.close_all()
    return Evaluation(raw, grouped, oracle, grouper.stats(), probes, spent, confidences)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0
