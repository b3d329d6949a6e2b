"""One camera's frames in, counts out: motion gate -> detector -> tracker -> lines and zones.

``CameraPipeline.process`` takes one frame and its event time and returns the
observations that became final (``drivers.camera.observations``): per-interval
line counts and zone occupancy, and one dwell per track stay. Frames never
leave this object; ``tracks`` is there for the technician's annotated video.
Only tracks the detector confirmed on its last run (``misses == 0``) move the
counters, so a track coasting on its prediction cannot cross a line.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from drivers.camera.count import Line, LineCounter, Point, Stay, Zone, ZoneCounter
from drivers.camera.detect import Detector, DetectorConfig, OnnxDetector
from drivers.camera.motion import GateConfig, MotionGate
from drivers.camera.observations import CameraObservation, LineCount, ZoneDwell, ZoneOccupancy
from drivers.camera.track import ByteTracker, Track, TrackerConfig

__all__ = ["CameraPipeline", "PipelineConfig", "PipelineStats", "build_pipeline"]


@dataclass
class PipelineStats:
    """What a technician's ``watch`` shows: frames, detector runs and their cost."""

    frames: int = 0
    detector_runs: int = 0
    detect_s: float = 0.0


@dataclass
class _Interval:
    start: float
    entered: dict[str, int] = field(default_factory=dict)
    exited: dict[str, int] = field(default_factory=dict)
    entries: dict[str, int] = field(default_factory=dict)
    occupancy: dict[str, list[int]] = field(default_factory=dict)


class CameraPipeline:
    """Counts people on one camera's frames (event time is passed in with each frame)."""

    def __init__(
        self,
        camera: str,
        detector: Detector,
        lines: Sequence[Line] = (),
        zones: Sequence[Zone] = (),
        gate: MotionGate | None = None,
        tracker: TrackerConfig | None = None,
        confirm_frames: int = 3,
        interval_s: float = 60.0,
    ) -> None:
        self.camera = camera
        self.detector = detector
        self.gate = gate
        self.tracker = ByteTracker(tracker or TrackerConfig())
        self.lines = [LineCounter(line, confirm_frames) for line in lines]
        self.zones = [ZoneCounter(zone, confirm_frames) for zone in zones]
        self.interval_s = interval_s
        self.stats = PipelineStats()
        self.tracks: list[Track] = []
        self.stays: list[ZoneDwell] = []
        """Every stay so far (also returned once by ``process``/``finish``)."""
        self._interval: _Interval | None = None
        self.last_t: float | None = None
        """Event time of the last frame processed."""

    def process(self, t: float, frame: npt.NDArray[np.uint8]) -> list[CameraObservation]:
        """Count on one frame taken at event time ``t`` (seconds)."""
        out = self._roll_interval(t)
        self.stats.frames += 1
        self.last_t = t
        tracks = self.tracker.tracks
        run = self.gate is None or self.gate.should_detect(
            frame, bool(tracks), any(t.misses for t in tracks)
        )
        detections = None
        if run:
            started = time.perf_counter()
            detections = self.detector.detect(frame)
            self.stats.detect_s += time.perf_counter() - started
            self.stats.detector_runs += 1
        self.tracks = self.tracker.update(detections)
        feet = [(tr.id, tr.foot) for tr in self.tracks if tr.misses == 0]
        out.extend(self._count(t, feet))
        for track in self.tracker.ended:
            out.extend(self._end_track(track.id))
        return out

    def finish(self) -> list[CameraObservation]:
        """End of input: close every stay and the open interval, marked as cut short."""
        out: list[CameraObservation] = []
        for track in self.tracker.tracks:
            if track.confirmed:
                out.extend(self._end_track(track.id))
        if self._interval is not None:
            out.extend(self._close_interval(self._interval, cut=self.last_t))
            self._interval = None
        return out

    def totals(self) -> tuple[tuple[tuple[str, int, int], ...], tuple[tuple[str, int, int], ...]]:
        """Running figures for a live view: (line, in, out) and (zone, people now, visits)."""
        lines = tuple((c.line.name, c.entered, c.exited) for c in self.lines)
        zones = tuple((z.zone.name, z.occupancy, z.entries) for z in self.zones)
        return lines, zones

    def _count(self, t: float, feet: list[tuple[int, Point]]) -> list[CameraObservation]:
        interval = self._interval
        assert interval is not None  # set by _roll_interval
        out: list[CameraObservation] = []
        for counter in self.lines:
            for _track, direction in counter.update(t, feet):
                tally = interval.entered if direction == "in" else interval.exited
                tally[counter.line.name] = tally.get(counter.line.name, 0) + 1
        for zone in self.zones:
            entries = zone.entries
            out.extend(self._dwell(zone, stay) for stay in zone.update(t, feet))
            name = zone.zone.name
            interval.entries[name] = interval.entries.get(name, 0) + zone.entries - entries
            interval.occupancy.setdefault(name, []).append(zone.occupancy)
        return out

    def _end_track(self, track: int) -> list[CameraObservation]:
        out: list[CameraObservation] = []
        for counter in self.lines:
            counter.forget(track)
        for zone in self.zones:
            stay = zone.end(track)
            if stay is not None:
                out.append(self._dwell(zone, stay))
        return out

    def _dwell(self, zone: ZoneCounter, stay: Stay) -> ZoneDwell:
        record = ZoneDwell(self.camera, zone.zone.name, stay.track, stay.enter, stay.exit)
        self.stays.append(record)
        return record

    def _roll_interval(self, t: float) -> list[CameraObservation]:
        start = math.floor(t / self.interval_s) * self.interval_s
        current = self._interval
        if current is not None and current.start == start:
            return []
        self._interval = _Interval(start)
        return [] if current is None else self._close_interval(current)

    def _close_interval(self, iv: _Interval, cut: float | None = None) -> list[CameraObservation]:
        """The interval's observations; ``cut``: it ended early, at that frame's time."""
        end = iv.start + self.interval_s
        out: list[CameraObservation] = []
        for counter in self.lines:
            name = counter.line.name
            entered, exited = iv.entered.get(name, 0), iv.exited.get(name, 0)
            out.append(LineCount(self.camera, name, iv.start, end, entered, exited, cut))
        for zone in self.zones:
            name = zone.zone.name
            frames = iv.occupancy.get(name, [])
            occ = frames or [0]
            mean = sum(occ) / len(occ)
            entries = iv.entries.get(name, 0)
            out.append(
                ZoneOccupancy(
                    self.camera, name, iv.start, end, entries, max(occ), mean, len(frames), cut
                )
            )
        return out


@dataclass(frozen=True)
class PipelineConfig:
    """Everything a camera's child process needs to build its pipeline (picklable)."""

    camera: str
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    gate: GateConfig | None = field(default_factory=GateConfig)
    """None: run the detector on every frame."""
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    lines: tuple[Line, ...] = ()
    zones: tuple[Zone, ...] = ()
    confirm_frames: int = 3
    interval_s: float = 60.0


def build_pipeline(config: PipelineConfig, detector: Detector | None = None) -> CameraPipeline:
    """A pipeline with the ONNX detector of ``config`` (loaded and checked here)."""
    return CameraPipeline(
        config.camera,
        detector or OnnxDetector(config.detector),
        config.lines,
        config.zones,
        MotionGate(config.gate) if config.gate is not None else None,
        config.tracker,
        config.confirm_frames,
        config.interval_s,
    )
