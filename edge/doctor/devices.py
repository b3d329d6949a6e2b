"""Cameras and POS serial lines: each one opened as the edge service opens it.

A camera is opened with the drivers' OpenCV capture and must give a picture
within the timeout (a file, an RTSP stream or a USB camera alike), then its
person detector's model file is checked. A POS line's ports are opened with
pyserial exactly as the live source opens them (exclusively), and closed again.
Passwords come from where the service gets them: the environment, then the
systemd credential the unit loads.
"""

from __future__ import annotations

import time
from typing import Any

from drivers.camera.urls import with_credentials
from drivers.registry import DriverUnavailable, load_driver
from edge.config.secrets import camera_password, camera_password_sources
from edge.config.sensors import CameraSensorConfig, PosSensorConfig
from edge.doctor.host import Host, credential_file, edge_running
from edge.doctor.result import Check
from edge.errors import SecretError

__all__ = ["check_camera", "check_pos"]

_INSTALL = "install what it names, then restart mallsense-edge"


def check_camera(sensor: CameraSensorConfig, host: Host) -> Check:
    """The camera opens, gives a picture, and its detector's model file is right."""
    name = f"camera:{sensor.name}"
    try:
        load_driver("camera")
    except DriverUnavailable as exc:
        return Check(name, "fail", str(exc), _INSTALL)
    from drivers.camera.capture import CameraError, CameraSpec
    from drivers.camera.snapshot import grab_frame
    from edge.runtime.sensors.camera import device

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


def check_pos(sensor: PosSensorConfig, host: Host) -> Check:
    """The POS side's port (and the printer's, with passthrough) open, as the source opens them."""
    name = f"pos:{sensor.name}"
    try:
        load_driver("pos")
    except DriverUnavailable as exc:
        return Check(name, "fail", str(exc), _INSTALL)
    from drivers.pos.line import LineError
    from drivers.pos.serial_line import open_serial_line
    from edge.runtime.sensors.pos_config import line_settings

    settings = line_settings(sensor)
    if settings.baudrate is None:
        settings = settings.at(9600)  # auto: any rate opens the port; the source detects it
    ports = [("port", sensor.port)]
    if sensor.passthrough_port is not None:
        ports.append(("passthrough_port", sensor.passthrough_port))
    opened: list[str] = []
    facts: dict[str, Any] = {"ports": dict(ports)}
    for key, port in ports:
        try:
            line = open_serial_line(port, settings)
        except LineError as exc:
            if "in use" in str(exc) and edge_running(host):
                detail = f"{key} {port} is in use, most likely by the running mallsense-edge"
                fix = "to open it here, stop mallsense-edge first; its status shows the line"
                return Check(name, "warn", detail, fix, facts)
            detail, fix = _serial_problem(key, port, str(exc))
            return Check(name, "fail", detail, fix, facts)
        opened.append(port if line.device == port else f"{port} (-> {line.device})")
        line.close()
    baud = "auto" if sensor.baudrate == "auto" else str(sensor.baudrate)
    detail = f"{' and '.join(opened)} opened (baud rate {baud})"
    return Check(name, "pass", detail, facts=facts)


_SERIAL_PROBLEMS = (
    # (what the drivers' message says, the detail here, the fix)
    (
        "does not exist",
        "does not exist",
        "plug the USB serial adapter in (`ls -l /dev/serial/by-id/` lists the adapters), or"
        " correct the sensor's {key} key",
    ),
    (
        "permission denied",
        "cannot be opened: permission denied",
        "add the service user to the 'dialout' group (`sudo usermod -aG dialout mallsense`),"
        " then restart mallsense-edge",
    ),
    (
        "in use",
        "is in use by another program",
        "stop the program holding it (a getty, ModemManager, a terminal program), or use"
        " another port",
    ),
)


def _serial_problem(key: str, port: str, message: str) -> tuple[str, str]:
    """(detail, fix) from the POS driver's explanation of a port that does not open."""
    for words, detail, fix in _SERIAL_PROBLEMS:
        if words in message:
            return f"{key} {port} {detail}", fix.format(key=key)
    fix = "check the adapter and its cable (`dmesg | tail` shows what the kernel saw)"
    return f"{key}: {message}", fix
