"""A camera's configuration -> what its process runs: the URL to open (with its
password, read at every start), the capture settings, the detector, lines and areas."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from drivers.camera.count import Line, Zone
from drivers.camera.urls import redact_url, with_credentials
from drivers.timeline import Timeline
from edge.config.secrets import camera_password, camera_password_sources
from edge.errors import SecretError
from edge.sensors.camera.config import CameraSensorConfig

if TYPE_CHECKING:
    from drivers.camera.capture import CameraSpec
    from drivers.camera.pipeline import PipelineConfig
    from drivers.camera.replay import VideoReplay

__all__ = ["camera_spec", "camera_url", "device", "is_video_file", "pipeline_config"]


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


def camera_spec(sensor: CameraSensorConfig, playback: VideoReplay | None = None) -> CameraSpec:
    """The capture settings of ``sensor`` (a configured video file is played in real time)."""
    from drivers.camera.capture import CameraSpec
    from drivers.camera.replay import VideoReplay

    url = with_credentials(sensor.url, sensor.username, None)  # the password comes at start
    spec = CameraSpec(sensor.name, url, fps_cap=sensor.fps_cap, stall_s=sensor.silence_timeout_s)
    if playback is None and is_video_file(sensor.url):
        playback = VideoReplay(Path(sensor.url), Timeline())
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
    lines = tuple(Line(x.name, x.start, x.end, x.in_side, x.band_px) for x in sensor.lines)
    zones = tuple(Zone(a.name, tuple(a.points)) for a in sensor.areas)
    return PipelineConfig(
        camera=sensor.name,
        detector=detector,
        gate=GateConfig() if sensor.motion_gating else None,
        lines=lines,
        zones=zones,
        interval_s=float(sensor.interval_s),
        anchor="centre" if sensor.mounting == "overhead" else "foot",
    )
