"""Camera sensors: a process per camera -> line counts, occupancy, dwell -> records.

Record mapping (``edge.records``), one record per camera interval (``interval_s``,
UTC-aligned) and per configured line or area:

- ``footfall``: a ``LineCount`` -> ``in``/``out`` crossings of the line.
- ``occupancy``: a ``ZoneOccupancy`` -> ``visits`` (people who entered the area),
  ``occupancy_max``/``occupancy_mean`` (people in it, over the interval's frames),
  and ``dwell_s``: the stays (``ZoneDwell``) that ended since the area's previous
  record, i.e. the people whose leaving the camera established in this interval.

An interval the camera did not finish (the daemon stopped, the camera's
process was restarted, a played video ended) comes ``cut``: its record is
``partial`` and ends at its last frame. When the camera continues the same
interval (a restart inside the daemon), the next record of that interval adds
both parts and ``supersedes`` the partial one, as the Wi-Fi sessions do.
After a restart of the daemon itself the two parts stay two records (the first
partial): the consumer adds them. Ids are ``record_id(start, natural key)`` with
the interval's end in the key, so re-processing the same video gives the same ids.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drivers.camera.count import Line, Zone
from drivers.camera.observations import LineCount, ZoneDwell, ZoneOccupancy
from drivers.camera.urls import redact_url, with_credentials
from drivers.registry import load_driver
from drivers.timeline import Timeline
from edge.aggregate.ids import Record, iso, record_id
from edge.config.secrets import camera_password, camera_password_sources
from edge.config.sensors import CameraSensorConfig
from edge.errors import SecretError
from edge.runtime.pipeline import Pipeline
from edge.runtime.sensors import Emit, SensorPlugin, Source

if TYPE_CHECKING:
    from drivers.camera.capture import CameraSpec
    from drivers.camera.pipeline import PipelineConfig
    from drivers.camera.source import VideoPlayback

__all__ = [
    "PLUGIN",
    "CameraRecords",
    "camera_spec",
    "camera_url",
    "device",
    "is_video_file",
    "pipeline_config",
]

SOURCE = load_driver("camera")
"""The camera source class, loaded with this module: without OpenCV or onnxruntime the
daemon leaves cameras out with the registry's message (what to install) and runs the rest.
The camera modules imported inside the functions below are then cheap to import."""

WATCHDOG_FACTOR = 3
"""The daemon restarts a camera's process after this many ``silence_timeout_s`` without a
frame; the process reconnects the stream itself after one."""


# -- configuration -> what the camera's process runs --------------------------------------


def is_video_file(url: str) -> bool:
    """A configured URL naming a video file (played in real time) rather than a camera."""
    return "://" not in url and not url.startswith(("usb:", "/dev/")) and Path(url).is_file()


def device(sensor: CameraSensorConfig) -> str:
    """How messages name the camera: its URL with the user and a redacted password."""
    return redact_url(
        with_credentials(sensor.url, sensor.username, "-" if sensor.username else None)
    )


def camera_url(sensor: CameraSensorConfig) -> str:
    """The URL to open, with the password from the environment or a systemd credential.

    Read at every start of the camera, so a changed password needs no daemon restart.
    Raises ``CameraError`` (the daemon retries and logs it) when the user has no password.
    """
    from drivers.camera.capture import CameraError

    try:
        password = camera_password(sensor.name) if sensor.username else None
    except SecretError as exc:
        raise CameraError(f"camera {sensor.name}: {exc}") from exc
    if sensor.username and password is None:
        env, credential = camera_password_sources(sensor.name)
        raise CameraError(
            f"camera {sensor.name} ({device(sensor)}): no password for user {sensor.username};"
            f" set ${env} or load the systemd credential {credential}"
        )
    return with_credentials(sensor.url, sensor.username, password)


def camera_spec(sensor: CameraSensorConfig, playback: VideoPlayback | None = None) -> CameraSpec:
    """The capture settings of ``sensor`` (a configured video file is played in real time)."""
    from drivers.camera.capture import CameraSpec
    from drivers.camera.source import VideoPlayback

    url = with_credentials(sensor.url, sensor.username, None)  # the password comes at start
    spec = CameraSpec(sensor.name, url, fps_cap=sensor.fps_cap, stall_s=sensor.silence_timeout_s)
    if playback is None and is_video_file(sensor.url):
        playback = VideoPlayback(Path(sensor.url), Timeline())
    if playback is None:
        return spec
    timeline = playback.timeline
    return replace(
        spec,
        url=str(playback.path),
        replay_start=timeline.start,
        pace=timeline,
        loop=playback.loop,
    )


def pipeline_config(sensor: CameraSensorConfig) -> PipelineConfig:
    """What the camera's process counts with (raises ``ModelError`` for a missing model)."""
    from drivers.camera.detect import detector_config
    from drivers.camera.motion import GateConfig
    from drivers.camera.pipeline import PipelineConfig

    detector = detector_config(
        sensor.model, sensor.model_format, sensor.threads, sensor.model_sha256
    )
    lines = tuple(Line(x.name, x.start, x.end, x.in_side) for x in sensor.lines)
    zones = tuple(Zone(a.name, tuple(a.points)) for a in sensor.areas)
    return PipelineConfig(
        camera=sensor.name,
        detector=detector,
        gate=GateConfig() if sensor.motion_gating else None,
        lines=lines,
        zones=zones,
        interval_s=float(sensor.interval_s),
    )


# -- observations -> records ----------------------------------------------------------------


@dataclass
class _Cut:
    """The record of an interval cut short, which a restarted camera may continue."""

    start: float
    record: Record
    frames: int
    revision: int


@dataclass
class CameraRecords:
    """Folds one camera's observations into ``footfall`` and ``occupancy`` records."""

    mall: str
    box: str
    zone: str
    _cuts: dict[tuple[str, str], _Cut] = field(default_factory=dict)
    _dwell: dict[str, list[float]] = field(default_factory=dict)
    """Per area: stays that ended since its last record."""

    def fold(self, batch: list[Any]) -> list[Record]:
        """Records for the observations in ``batch`` (other items are ignored)."""
        out: list[Record] = []
        for item in batch:
            kind = type(item)
            if kind is LineCount:
                out.append(self.footfall(item))
            elif kind is ZoneOccupancy:
                out.append(self.occupancy(item))
            elif kind is ZoneDwell:
                self._dwell.setdefault(item.zone, []).append(item.dwell_s)
        return out

    def footfall(self, obs: LineCount) -> Record:
        prev = self._continued(("footfall", obs.line), obs.start)
        where = {"camera": obs.camera, "line": obs.line, "zone": self.zone}
        counts = {
            "in": obs.entered + (prev.record["in"] if prev else 0),
            "out": obs.exited + (prev.record["out"] if prev else 0),
        }
        return self._record("footfall", obs, where, counts, prev, 0)

    def occupancy(self, obs: ZoneOccupancy) -> Record:
        prev = self._continued(("occupancy", obs.zone), obs.start)
        dwell = [round(d, 1) for d in self._dwell.pop(obs.zone, [])]
        frames = obs.frames + (prev.frames if prev else 0)
        total = obs.mean_occupancy * obs.frames
        if prev is not None:
            total += prev.record["occupancy_mean"] * prev.frames
            dwell = prev.record["dwell_s"] + dwell
        mean = total / frames if frames else obs.mean_occupancy
        where = {"camera": obs.camera, "area": obs.zone, "zone": self.zone}
        counts = {
            "visits": obs.entries + (prev.record["visits"] if prev else 0),
            "occupancy_max": max(obs.max_occupancy, prev.record["occupancy_max"] if prev else 0),
            "occupancy_mean": round(mean, 3),
            "dwell_s": dwell,
        }
        return self._record("occupancy", obs, where, counts, prev, frames)

    def _continued(self, series: tuple[str, str], start: float) -> _Cut | None:
        """The cut record this interval continues, if any (older cuts are forgotten)."""
        cut = self._cuts.pop(series, None)
        return cut if cut is not None and cut.start == start else None

    def _record(
        self,
        kind: str,
        obs: LineCount | ZoneOccupancy,
        where: dict[str, str],
        counts: dict[str, Any],
        prev: _Cut | None,
        frames: int,
    ) -> Record:
        start, cut = obs.start, obs.cut
        end = obs.end if cut is None else max(cut, start)
        name = where.get("line") or where["area"]
        revision = prev.revision + 1 if prev is not None else 0
        key = "\x1f".join(
            (self.mall, self.box, kind, obs.camera, name, repr(start), repr(end), str(revision))
        )
        record: Record = {
            "id": record_id(start, key),
            "kind": kind,
            "schema": f"{kind}/1",
            "mall": self.mall,
            "box": self.box,
            "supersedes": prev.record["id"] if prev is not None else None,
            **where,
            "start": iso(start),
            "end": iso(end),
            **counts,
            "partial": cut is not None,
        }
        if cut is not None:
            self._cuts[(kind, name)] = _Cut(start, record, frames, revision)
        return record


# -- the plugin -------------------------------------------------------------------------


class _Unusable:
    """A camera that cannot start (its model is missing): the daemon logs why and retries,
    the other sensors run."""

    last_frame_at: float | None = None

    def __init__(self, error: OSError) -> None:
        self.error = error

    def run(self, emit: Emit, stop: Any) -> None:
        raise self.error


def _make_source(
    sensor: CameraSensorConfig, pipeline: Pipeline, clock: Callable[[], float], override: Any
) -> Source:
    from drivers.camera.detect import ModelError
    from drivers.camera.source import VideoPlayback

    playback = override if isinstance(override, VideoPlayback) else None
    try:
        config = pipeline_config(sensor)
    except ModelError as exc:
        return _Unusable(exc)
    source: Source = SOURCE(
        camera_spec(sensor, playback),
        config,
        clock=clock,
        resolve_url=None if playback is not None else lambda: camera_url(sensor),
    )
    return source


def _make_handler(sensor: CameraSensorConfig, pipeline: Pipeline) -> Emit:
    records = CameraRecords(pipeline.config.mall, pipeline.config.box, sensor.zone)

    def handle(batch: list[Any]) -> None:
        made = records.fold(batch)
        if made:
            pipeline.add_records(made)

    return handle


def _counters(sensor: CameraSensorConfig, pipeline: Pipeline, source: Any) -> dict[str, object]:
    if isinstance(source, SOURCE):
        counters: dict[str, object] = source.stats.as_counters()
        return counters
    return {"frames": 0}


def _simulate(sensor: CameraSensorConfig, path: Path, timeline: Timeline) -> VideoPlayback:
    """A video file played as the camera, looped, on the shared timeline."""
    from drivers.camera.source import VideoPlayback

    return VideoPlayback(path, timeline, loop=True)


PLUGIN = SensorPlugin(
    make_source=_make_source,
    make_handler=_make_handler,
    silence_timeout=lambda sensor: WATCHDOG_FACTOR * sensor.silence_timeout_s,
    device=device,
    counters=_counters,
    simulate=_simulate,
)
