"""Replay: recordings through the same pipeline as the daemon, as fast as possible.

Several recordings (one per sensor: pcap/pcapng for Wi-Fi, JSON lines for BLE)
are merged in event-time order, so a zone heard by both radios gets its figures
from both as it would live. With ``speed`` set, event time is paced against the
wall clock (the demo uses this to show a shop's morning in a few seconds).

Every recording's frames pass their sensor's time gate (``drivers.timegate``) before
anything else, and before the merge: a frame dated 2106 in a 2022 capture is rejected
and counted with the file and record number, instead of closing every window up to 2106
(and holding the other recordings' frames back in the merge until it is passed).
"""

from __future__ import annotations

import gc
import heapq
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from drivers.ble.recording import BleRecord, RecordingFormatError, RecordingReader
from drivers.timegate import TimeGate
from drivers.wifi.pcap import CaptureFormatError, CaptureReader, open_capture
from edge.config.models import BleSensorConfig, Config
from edge.errors import CaptureError, ConfigError
from edge.runtime.pipeline import Pipeline
from edge.store import Store

__all__ = ["ReplayProgress", "replay"]

_FLUSH_EVERY_FRAMES = 20_000
_PROGRESS_EVERY_S = 0.1
_BLE_BATCH = 256


@dataclass
class ReplayProgress:
    """What a progress view shows."""

    frames: int
    bytes_read: int
    bytes_total: int
    event_time: float
    records: int
    open_devices: int
    done: bool = False


Frame = tuple[float, int, bytes | BleRecord, str]
"""(event time, pcap link type or ``_BLE``, frame bytes or BLE record, sensor)."""
_BLE = -1


def _frames(reader: CaptureReader, sensor: str, gate: TimeGate) -> Iterator[Frame]:
    for batch in reader.batches():
        for t, linktype, data in gate.admit(batch):
            yield t, linktype, data, sensor
    for t, linktype, data in gate.finish():
        yield t, linktype, data, sensor


def _adverts(reader: RecordingReader, sensor: str, gate: TimeGate) -> Iterator[Frame]:
    records = iter(reader)
    while batch := list(islice(records, _BLE_BATCH)):
        for record in gate.admit(batch):
            yield record.t, _BLE, record, sensor
    for record in gate.finish():
        yield record.t, _BLE, record, sensor


def _merged(
    readers: dict[str, CaptureReader],
    ble_readers: dict[str, RecordingReader],
    gates: dict[str, TimeGate],
) -> Iterator[Frame]:
    streams = [_frames(r, s, gates[s]) for s, r in readers.items()]
    streams += [_adverts(r, s, gates[s]) for s, r in ble_readers.items()]
    if len(streams) == 1:
        return streams[0]
    return heapq.merge(*streams, key=lambda f: f[0])


def _check_sensor(sensor: str, path: Path, known: set[str], option: str) -> None:
    if sensor not in known:
        raise ConfigError(
            f"recording {path} is for sensor {sensor!r}, which the configuration does not"
            f" define (sensors: {', '.join(sorted(known)) or 'none'}); use {option} NAME=FILE"
        )


def _readers(config: Config, captures: dict[str, Path]) -> dict[str, CaptureReader]:
    known = {s.name for s in config.wifi_sensors()}
    readers = {}
    for sensor, path in captures.items():
        _check_sensor(sensor, path, known, "--wifi")
        try:
            readers[sensor] = open_capture(path)
        except FileNotFoundError as exc:
            raise CaptureError(f"recording {path} does not exist") from exc
    return readers


def _ble_readers(config: Config, recordings: dict[str, Path]) -> dict[str, RecordingReader]:
    known = {s.name for s in config.sensors if isinstance(s, BleSensorConfig)}
    readers = {}
    for sensor, path in recordings.items():
        _check_sensor(sensor, path, known, "--ble")
        try:
            readers[sensor] = RecordingReader(path)
        except FileNotFoundError as exc:
            raise CaptureError(f"recording {path} does not exist") from exc
    return readers


def replay(
    config: Config,
    captures: dict[str, Path],
    key: bytes,
    store: Store | None,
    progress: Callable[[ReplayProgress], None] | None = None,
    speed: float | None = None,
    ble: dict[str, Path] | None = None,
) -> Pipeline:
    """Process recordings into records; returns the pipeline (stats, parsers, builders).

    ``captures`` are Wi-Fi recordings by sensor, ``ble`` BLE recordings by sensor.
    """
    ble = ble or {}
    readers = _readers(config, captures)
    ble_readers = _ble_readers(config, ble)
    total = sum(p.stat().st_size for p in [*captures.values(), *ble.values()])
    pipeline = Pipeline(config, key, store)
    for sensor, path in [*captures.items(), *ble.items()]:
        pipeline.gates[sensor].source = str(path)
        pipeline.gates[sensor].unit = "record"
        pipeline.gates[sensor].hold_start = True  # a file's first frame may be the absurd one
    watch = _Watch(pipeline, [*readers.values(), *ble_readers.values()], total, progress, speed)
    with _quiet_gc():
        try:
            if len(readers) == 1 and not ble_readers and not watch.active:
                _run_single(pipeline, readers)
            else:
                _run_merged(pipeline, readers, ble_readers, watch)
        except (CaptureFormatError, RecordingFormatError) as exc:
            raise CaptureError(str(exc)) from exc
    pipeline.aggregator.flush_partial()
    pipeline.flush()
    pipeline.truncated = [str(captures[s]) for s, r in readers.items() if r.truncated]
    pipeline.truncated += [str(ble[s]) for s, r in ble_readers.items() if r.truncated]
    for sensor, reader in ble_readers.items():  # lines skipped count as rejected adverts
        for reason, count in reader.rejected.items():
            pipeline.ble[sensor].rejected[f"line_{reason}"] += count
        pipeline.gates[sensor].problems.extend(reader.problems)
    watch.report(pipeline.aggregator.clock, done=True)
    return pipeline


def _run_single(pipeline: Pipeline, readers: dict[str, CaptureReader]) -> None:
    """The fast path (benchmarks, big files): one recording, no progress view."""
    ((sensor, reader),) = readers.items()
    parse_batch = pipeline.parsers[sensor].parse_batch
    observe_batch = pipeline.aggregator.observe_batch
    admit = pipeline.gates[sensor].admit
    frames = 0
    for batch in reader.batches():
        observe_batch(parse_batch(admit(batch)))
        frames += len(batch)
        if frames >= _FLUSH_EVERY_FRAMES:
            pipeline.flush()
            frames = 0
    observe_batch(parse_batch(pipeline.gates[sensor].finish()))


def _run_merged(
    pipeline: Pipeline,
    readers: dict[str, CaptureReader],
    ble_readers: dict[str, RecordingReader],
    watch: _Watch,
) -> None:
    parsers, builders = pipeline.parsers, pipeline.ble
    observe_probes = pipeline.aggregator.observe_batch
    observe_adverts = pipeline.aggregator.observe_adverts
    for frames, (t, linktype, data, sensor) in enumerate(
        _merged(readers, ble_readers, pipeline.gates), 1
    ):
        if isinstance(data, bytes):
            probe = parsers[sensor].parse(t, data, linktype)
            if probe is not None:
                observe_probes((probe,))
        else:
            advert = builders[sensor].from_record(data)
            if advert is not None:
                observe_adverts((advert,))
        if frames % _FLUSH_EVERY_FRAMES == 0:
            pipeline.flush()
        if watch.active and frames % watch.every == 0:
            watch.tick(t, frames)


@contextmanager
def _quiet_gc() -> Iterator[None]:
    """Fewer cyclic-GC passes while replaying.

    The aggregation allocates many small containers and frees them by
    reference counting; the default gen-0 threshold (700) makes the collector
    walk the live state thousands of times a second for nothing.
    """
    thresholds = gc.get_threshold()
    gc.set_threshold(50_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


class _Watch:
    """Pacing (``speed``) and progress reports for the merged loop."""

    def __init__(
        self,
        pipeline: Pipeline,
        readers: list[CaptureReader | RecordingReader],
        total: int,
        progress: Callable[[ReplayProgress], None] | None,
        speed: float | None,
    ) -> None:
        self.pipeline = pipeline
        self.readers = readers
        self.total = total
        self.progress = progress
        self.speed = speed
        self.active = progress is not None or speed is not None
        self.every = 16 if speed is not None else 512
        self.frames = 0
        self._wall0 = time.monotonic()
        self._event0: float | None = None
        self._next_report = 0.0

    def tick(self, t: float, frames: int) -> None:
        self.frames = frames
        if self._event0 is None:
            self._event0 = t
        if self.speed is not None:
            ahead = (t - self._event0) / self.speed - (time.monotonic() - self._wall0)
            if ahead > 0.005:
                time.sleep(ahead)
        now = time.monotonic()
        if now >= self._next_report:
            self._next_report = now + _PROGRESS_EVERY_S
            if self.speed is not None:
                # Paced like the live daemon: records reach the outbox as they finish.
                self.pipeline.flush()
            self.report(t, done=False)

    def report(self, t: float, done: bool) -> None:
        if self.progress is None:
            return
        pipeline = self.pipeline
        frames = sum(p.frames for p in pipeline.parsers.values())
        frames += sum(b.frames for b in pipeline.ble.values())
        self.progress(
            ReplayProgress(
                frames=frames,
                bytes_read=self.total if done else sum(r.bytes_read for r in self.readers),
                bytes_total=self.total,
                event_time=t,
                records=self.pipeline.stats.records_written + self.pipeline.aggregator.pending,
                open_devices=self.pipeline.aggregator.open_devices,
                done=done,
            )
        )
