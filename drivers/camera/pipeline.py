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
from typing import Literal

import numpy as np
import numpy.typing as npt

from drivers.camera.capture import StopSignal
from drivers.camera.count import Line, LineCounter, Point, Stay, Zone, ZoneCounter
from drivers.camera.detect import Detector, DetectorConfig
from drivers.camera.detectors import open_detector
from drivers.camera.motion import GateConfig, MotionGate
from drivers.camera.observations import CameraObservation, LineCount, ZoneDwell, ZoneOccupancy
from drivers.camera.shared_detector.client import SharedDetectorClient
from drivers.camera.shared_detector.protocol import ServiceAddress
from drivers.camera.track import ByteTracker, Track, TrackerConfig

__all__ = [
    "Anchor",
    "CameraPipeline",
    "Crossing",
    "PipelineConfig",
    "PipelineStats",
    "build_pipeline",
]


@dataclass(frozen=True)
class Crossing:
    """One counted crossing, for the technician's audit (``mallsense camera audit``)."""

    frame: int
    """Number of the frame it was counted on (0 = the first one processed)."""
    t: float
    line: str
    track: int
    direction: str
    """``in`` or ``out``."""
    box: tuple[float, float, float, float]
    """The track's box on that frame (x1, y1, x2, y2, pixels)."""


@dataclass
class PipelineStats:
    """What a technician's ``watch`` shows: frames, detector runs and their cost."""

    frames: int = 0
    detector_runs: int = 0
    detect_s: float = 0.0


Anchor = Literal["foot", "centre"]
"""The point of a track that lines and zones count (``PipelineConfig.anchor``)."""

_UNSURE_RUNS = 8
"""Detector runs after a miss during which the motion gate detects on every frame."""
_WALKING = 0.01
"""Observed speed (share of the person's height per frame) above which someone walks:
1 % a frame is 0.6 px for a 60 px person, a slow walk at 10 fps; standing jitter of the
box averages below it over the four observations the tracker keeps."""


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
        anchor: Anchor = "foot",
    ) -> None:
        self.camera = camera
        self.detector = detector
        self.gate = gate
        self.tracker = ByteTracker(tracker or TrackerConfig())
        self.lines = [LineCounter(line, confirm_frames) for line in lines]
        self.zones = [ZoneCounter(zone, confirm_frames) for zone in zones]
        self.interval_s = interval_s
        self.anchor = anchor
        self.stats = PipelineStats()
        self.tracks: list[Track] = []
        self.stays: list[ZoneDwell] = []
        """Every stay so far (also returned once by ``process``/``finish``)."""
        self.crossings: list[Crossing] = []
        """The crossings counted on the last frame processed (the audit reads them)."""
        self._interval: _Interval | None = None
        self.last_t: float | None = None
        """Event time of the last frame processed."""

    def process(self, t: float, frame: npt.NDArray[np.uint8]) -> list[CameraObservation]:
        """Count on one frame taken at event time ``t`` (seconds)."""
        out = self._roll_interval(t)
        self.stats.frames += 1
        self.last_t = t
        self.crossings = []
        tracks = self.tracker.tracks
        run = self.gate is None or self.gate.should_detect(frame, bool(tracks), self._unsure())
        detections = None
        if run:
            started = time.perf_counter()
            detections = self.detector.detect(frame)
            self.stats.detect_s += time.perf_counter() - started
            self.stats.detector_runs += 1
        self.tracks = self.tracker.update(detections)
        feet = [(tr.id, self._point(tr)) for tr in self.tracks if tr.misses == 0]
        out.extend(self._count(t, feet))
        for track in self.tracker.ended:
            out.extend(self._end_track(track.id))
        return out

    def _point(self, track: Track) -> Point:
        """Where the person is on the floor plan of the picture: feet, or head from above."""
        if self.anchor == "foot":
            return track.foot
        x1, y1, x2, y2 = (float(v) for v in track.box)
        return (x1 + x2) / 2, (y1 + y2) / 2

    def _unsure(self) -> bool:
        """The gate must detect: someone arrives, walks, or was missed on a recent run.

        A new (tentative) track needs consecutive runs to be confirmed before it walks
        over a line; a missed track may be someone leaving or hidden: detect until the
        tracker knows. Tracks kept longer only for recovery do not hold the gate open.
        """
        hold = min(self.tracker.config.max_misses, _UNSURE_RUNS)
        if any(not tr.confirmed or 0 < tr.misses <= hold for tr in self.tracker.tracks):
            return True
        return self.tracker.walking(_WALKING)

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

    def open_counts(self) -> tuple[CameraObservation, ...]:
        """The open interval so far, cut at the last frame: what ``finish`` would hand over
        now, less the stays still open. The camera's process reports it with its health, so
        that its parent keeps these counts if the process dies or hangs before it finishes."""
        if self._interval is None:
            return ()
        return tuple(self._close_interval(self._interval, cut=self.last_t))

    def totals(self) -> tuple[tuple[tuple[str, int, int], ...], tuple[tuple[str, int, int], ...]]:
        """Running figures for a live view: (line, in, out) and (zone, people now, visits)."""
        lines = tuple((c.line.name, c.entered, c.exited) for c in self.lines)
        zones = tuple((z.zone.name, z.occupancy, z.entries) for z in self.zones)
        return lines, zones

    def _count(self, t: float, feet: list[tuple[int, Point]]) -> list[CameraObservation]:
        interval = self._interval
        assert interval is not None  # set by _roll_interval
        out: list[CameraObservation] = []
        boxes = {tr.id: tr.box for tr in self.tracks}
        for counter in self.lines:
            for track, direction in counter.update(t, feet):
                tally = interval.entered if direction == "in" else interval.exited
                tally[counter.line.name] = tally.get(counter.line.name, 0) + 1
                x1, y1, x2, y2 = (float(v) for v in boxes[track])
                frame = self.stats.frames - 1
                self.crossings.append(
                    Crossing(frame, t, counter.line.name, track, direction, (x1, y1, x2, y2))
                )
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
    anchor: Anchor = "foot"
    """``foot``: the bottom centre of the box (a camera at an angle sees the feet);
    ``centre``: the box's centre (an overhead camera sees a head or a body from above)."""
    detector_service: ServiceAddress | None = None
    """The shared detector to ask (``drivers.camera.shared_detector``); None: this camera
    loads its own model."""


def build_pipeline(
    config: PipelineConfig, detector: Detector | None = None, stop: StopSignal | None = None
) -> CameraPipeline:
    """A pipeline with the detector of ``config``: the shared one when it names its
    address (``stop`` ends a wait for it), else its own ONNX model, loaded and checked."""
    if detector is None and config.detector_service is not None:
        detector = SharedDetectorClient(
            config.detector_service, config.detector, config.camera, stop
        )
    return CameraPipeline(
        config.camera,
        detector or open_detector(config.detector),
        config.lines,
        config.zones,
        MotionGate(config.gate) if config.gate is not None else None,
        config.tracker,
        config.confirm_frames,
        config.interval_s,
        config.anchor,
    )
