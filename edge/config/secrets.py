"""Secrets: from the environment or a credentials file, never from the TOML.

Order of precedence, for each secret: the environment variable, then the
systemd credential (``$CREDENTIALS_DIRECTORY/<name>``, set by
``LoadCredential=``), then the file named in the configuration (camera
passwords have no such file: a camera's URL is in the configuration, its
password never is).
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

from drivers.privacy import MIN_KEY_BYTES
from edge.config.models import Config
from edge.errors import SecretError

__all__ = [
    "KEY_ENV",
    "PASSWORD_ENV",
    "camera_password",
    "camera_password_sources",
    "generate_key",
    "mqtt_password",
    "pseudonymization_key",
    "read_key_file",
]

KEY_ENV = "MALLSENSE_KEY"
PASSWORD_ENV = "MALLSENSE_MQTT_PASSWORD"
_KEY_CREDENTIAL = "mallsense-key"
_PASSWORD_CREDENTIAL = "mqtt-password"


def _credential(name: str) -> Path | None:
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    if not directory:
        return None
    path = Path(directory) / name
    return path if path.is_file() else None


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SecretError(
            f"cannot read the {what} from {path}: {exc.strerror}; check that the file exists"
            " and is readable by the service user"
        ) from exc


def _decode_key(text: str, origin: str) -> bytes:
    try:
        key = bytes.fromhex(text)
    except ValueError as exc:
        raise SecretError(
            f"the pseudonymization key from {origin} is not hexadecimal; generate one with"
            " `mallsense keygen`"
        ) from exc
    if len(key) < MIN_KEY_BYTES:
        raise SecretError(
            f"the pseudonymization key from {origin} has {len(key)} bytes; at least"
            f" {MIN_KEY_BYTES} are needed (`mallsense keygen` makes a 32-byte key)"
        )
    return key


def pseudonymization_key(config: Config) -> bytes:
    """The mall-wide key, or ``SecretError`` saying where it was looked for."""
    value = os.environ.get(KEY_ENV)
    if value:
        return _decode_key(value.strip(), f"${KEY_ENV}")
    for path in (_credential(_KEY_CREDENTIAL), config.privacy.key_file):
        if path is not None:
            return read_key_file(path)
    raise SecretError(
        "no pseudonymization key: set MALLSENSE_KEY, load the systemd credential"
        f" '{_KEY_CREDENTIAL}', or set privacy.key_file; all boxes of one mall must share it"
    )


def read_key_file(path: Path) -> bytes:
    """The key in ``path`` (hex), or ``SecretError`` saying what is wrong with it."""
    return _decode_key(_read(path, "pseudonymization key"), str(path))


def mqtt_password(config: Config) -> str | None:
    """The broker password, if any is configured."""
    value = os.environ.get(PASSWORD_ENV)
    if value:
        return value
    for path in (_credential(_PASSWORD_CREDENTIAL), config.mqtt.password_file):
        if path is not None:
            return _read(path, "broker password")
    return None


def camera_password_sources(camera: str) -> tuple[str, str]:
    """(environment variable, systemd credential) holding camera ``camera``'s password."""
    env = "MALLSENSE_CAMERA_" + re.sub(r"[^A-Z0-9]", "_", camera.upper()) + "_PASSWORD"
    return env, f"camera-{camera}-password"


def camera_password(camera: str) -> str | None:
    """The RTSP password of camera ``camera``: ``$MALLSENSE_CAMERA_<NAME>_PASSWORD``
    (NAME upper-case, '-' as '_'), else the systemd credential ``camera-<name>-password``;
    None when neither is set."""
    env, credential = camera_password_sources(camera)
    value = os.environ.get(env)
    if value:
        return value
    path = _credential(credential)
    if path is not None:
        return _read(path, f"password of camera {camera}")
    return None


def generate_key() -> str:
    """A new random 32-byte key, hex-encoded."""
    return secrets.token_hex(32)
