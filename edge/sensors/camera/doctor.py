"""Doctor's check of a camera, opened as the edge service opens it.

A camera is opened with the drivers' OpenCV capture and must give a picture
within the timeout (a file, an RTSP stream or a USB camera alike), then its
person detector's model file is checked. Passwords come from where the service
gets them: the environment, then the systemd credential the unit loads.
"""

from __future__ import annotations

import time
from typing import Any

from drivers.camera.urls import with_credentials
from edge.config.secrets import camera_password, camera_password_sources
from edge.doctor.host import Host, credential_file, edge_running
from edge.doctor.result import Check
from edge.errors import SecretError
from edge.sensors.camera.config import CameraSensorConfig

__all__ = ["check"]


def check(sensor: CameraSensorConfig, host: Host) -> Check:
    """The camera opens, gives a picture, and its detector's model file is right."""
    name = f"camera:{sensor.name}"
    from drivers.camera.capture import CameraError, CameraSpec
    from drivers.camera.snapshot import grab_frame
    from edge.sensors.camera.settings import device

    where = device(sensor)
    try:
        url = _camera_url(sensor, host)
    except SecretError as exc:
        return Check(name, "fail", f"{where}: {exc}", _password_fix(sensor.name))
    if url is None:
        detail = f"{where}: no password for user {sensor.username}"
        return Check(name, "fail", detail, _password_fix(sensor.name))
    spec = CameraSpec(sensor.name, url, open_timeout_s=host.timeout_s)
    started = time.monotonic()
    try:
        image = grab_frame(spec, skip=0, timeout_s=host.timeout_s)
    except (CameraError, OSError) as exc:
        if sensor.url.startswith(("usb:", "/dev/video")) and edge_running(host):
            detail = f"{exc} (mallsense-edge is running: a USB camera opens only once)"
            fix = "stop mallsense-edge to check the camera here, or see `mallsense status`"
            return Check(name, "warn", detail, fix, {"url": where})
        return Check(name, "fail", str(exc), _camera_fix(sensor), {"url": where})
    seconds = time.monotonic() - started
    h, w = image.shape[:2]
    facts: dict[str, Any] = {"url": where, "width": w, "height": h, "seconds": round(seconds, 3)}
    problem = _model_problem(sensor)
    if problem is not None:
        return Check(name, "fail", f"{where} gives pictures, but: {problem}", _model_fix(), facts)
    detail = f"{where} opened; a {w}x{h} picture in {seconds:.2f} s; detector model present"
    return Check(name, "pass", detail, facts=facts)


def _model_problem(sensor: CameraSensorConfig) -> str | None:
    """Why the camera's person detector could not load (its model file), if it could not."""
    from drivers.camera.detect import ModelError, check_model_file, detector_config

    config = detector_config(sensor.model, sensor.model_format, sensor.threads, sensor.model_sha256)
    try:
        check_model_file(config)
    except ModelError as exc:
        return str(exc)
    return None


def _camera_url(sensor: CameraSensorConfig, host: Host) -> str | None:
    """The URL with the password put in; None when the user has no password anywhere."""
    if not sensor.username:
        return sensor.url
    password = camera_password(sensor.name)
    if password is None:
        try:
            path = credential_file(host, camera_password_sources(sensor.name)[1])
        except PermissionError as exc:
            raise SecretError(
                f"cannot read {host.credentials_dir} as this user; run `sudo mallsense doctor`"
            ) from exc
        if path is None:
            return None
        try:
            password = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SecretError(f"cannot read {path}: {exc.strerror}") from exc
    return with_credentials(sensor.url, sensor.username, password)


def _password_fix(camera: str) -> str:
    env, credential = camera_password_sources(camera)
    return (
        f"put the camera's password in /etc/mallsense/credentials/{credential} (chmod 600) and"
        f" run `sudo mallsense install` (or set ${env} for a manual run)"
    )


def _camera_fix(sensor: CameraSensorConfig) -> str:
    url = sensor.url
    if url.startswith(("usb:", "/dev/video")):
        return (
            "check the camera is plugged in (`ls /dev/video*`, `v4l2-ctl --list-devices`) and"
            " that the service user is in the 'video' group"
        )
    if "://" in url:
        return (
            "check the camera is on the network (`ping` it), the path of the URL, and the user"
            " and password; try the URL in VLC from this box"
        )
    return "check the path in the sensor's url key, and that the file is a complete video"


def _model_fix() -> str:
    return (
        "restore the model file (reinstall mallsense), or correct the camera's model and"
        " model_sha256 keys"
    )
