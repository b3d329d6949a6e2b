"""Secrets: from the environment or a credentials file, never from the TOML.

Order of precedence, for each secret: the environment variable, then the
systemd credential (``$CREDENTIALS_DIRECTORY/<name>``, set by
``LoadCredential=``), then the file named in the configuration (camera
passwords have no such file: a camera's URL is in the configuration, its
password never is).
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import stat
from pathlib import Path

from drivers.privacy import MIN_KEY_BYTES
from edge.config.models import Config
from edge.errors import SecretError

__all__ = [
    "KEY_ENV",
    "PASSWORD_ENV",
    "camera_password",
    "camera_password_sources",
    "check_private",
    "current_user",
    "file_problems",
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
    credential = _credential(_KEY_CREDENTIAL)
    if credential is not None:  # systemd's private copy: its mode is systemd's affair
        return read_key_file(credential)
    if config.privacy.key_file is not None:
        check_private(config.privacy.key_file, "privacy.key_file", "pseudonymization key")
        return read_key_file(config.privacy.key_file)
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
    credential = _credential(_PASSWORD_CREDENTIAL)
    if credential is not None:
        return _read(credential, "broker password")
    if config.mqtt.password_file is not None:
        check_private(config.mqtt.password_file, "mqtt.password_file", "broker password")
        return _read(config.mqtt.password_file, "broker password")
    return None


def check_private(path: Path, key: str, what: str) -> None:
    """``SecretError`` unless ``path`` is a regular file only its owner may read.

    The key links pseudonyms back to devices and the password lets anybody publish
    as this box; a copy readable by the group or every user of the box is a leak.
    """
    problem = _file_problem(path, key, what, private=True)
    if problem is not None:
        raise SecretError(problem)


def file_problems(config: Config) -> list[str]:
    """What is wrong with the files the configuration names, one line each.

    The pseudonymization key and the broker password must be regular files that
    only their owner may read (mode 0600 or 0400); the TLS files must exist. A
    file that cannot be looked at (a directory the user may not enter) is a
    problem too: the check must run as the service user or root.
    """
    named = [
        (config.privacy.key_file, "privacy.key_file", "pseudonymization key", True),
        (config.mqtt.password_file, "mqtt.password_file", "broker password", True),
        (config.mqtt.ca_file, "mqtt.ca_file", "CA bundle", False),
        (config.mqtt.cert_file, "mqtt.cert_file", "client certificate", False),
        (config.mqtt.key_file, "mqtt.key_file", "client certificate's private key", False),
    ]
    found = [_file_problem(p, key, what, private=pv) for p, key, what, pv in named if p]
    return [problem for problem in found if problem is not None]


def _file_problem(path: Path, key: str, what: str, *, private: bool) -> str | None:
    try:
        info = path.stat()
    except FileNotFoundError:
        return (
            f"{key} (got '{path}'): the file does not exist; put the {what} there or correct"
            " the path"
        )
    except OSError as exc:
        return (
            f"{key} (got '{path}'): cannot be checked as user {current_user()}"
            f" ({exc.strerror}); run the check as the service user or root"
        )
    if not stat.S_ISREG(info.st_mode):
        return f"{key} (got '{path}'): not a regular file; put the {what} in a file there"
    mode = stat.S_IMODE(info.st_mode)
    if private and mode & 0o077:
        who = "every user of the box" if mode & 0o007 else "its group"
        return (
            f"{key} (got '{path}'): mode {mode:04o} lets {who} read the {what};"
            f" run `chmod 600 {path}`"
        )
    return None


def current_user() -> str:
    """This process's user name (its uid when the name is unknown), for messages."""
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


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
