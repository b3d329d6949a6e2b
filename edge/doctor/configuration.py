"""The configuration file and the pseudonymization key, as the services will read them.

The key check looks where the edge service looks, in its order, but without the
technician's shell: the service's environment has no ``MALLSENSE_KEY``, so a key
only there is a warning. The unit loads ``/etc/mallsense/credentials/mallsense-key``
as root (``LoadCredential=``) and hands the service a private copy, so that file
must be root's and unreadable by anybody else; a ``privacy.key_file`` is read by
the service itself, so it must belong to the service user, again unreadable by
anybody else.
"""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path

from edge.config import Config, load_config
from edge.config.secrets import KEY_ENV, current_user, pseudonymization_key, read_key_file
from edge.doctor.host import Host, credential_file
from edge.doctor.result import Check
from edge.errors import ConfigError, SecretError

__all__ = ["KEY_CREDENTIAL", "check_config", "check_key"]

KEY_CREDENTIAL = "mallsense-key"
_SUDO = "run `sudo mallsense doctor` to check it"


def check_config(path: Path) -> tuple[Check, Config | None]:
    """Whether ``path`` loads and validates, and the configuration when it does."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        detail = "; ".join([str(exc.args[0]).rstrip(":"), *exc.problems])
        if exc.problems:
            fix = (
                f"correct each key named above in {path} (`mallsense config validate {path}`"
                " lists them; docs/configuration.md describes every key)"
            )
        else:
            fix = (
                "give the right file with --config, or run `sudo mallsense install` to write"
                " a template to /etc/mallsense/mallsense.toml and fill it in"
            )
        facts = {"file": str(path), "problems": exc.problems}
        return Check("config", "fail", detail, fix, facts), None
    sensors = ", ".join(f"{s.name} ({s.type})" for s in config.sensors) or "none"
    detail = (
        f"{path} is valid: mall {config.mall}, box {config.box}, {len(config.zones)} zone(s),"
        f" sensors: {sensors}"
    )
    facts = {"file": str(path), "mall": config.mall, "box": config.box}
    return Check("config", "pass", detail, facts=facts), config


def check_key(config: Config, host: Host) -> Check:
    """The key the edge service will use: present, valid, and readable only by whom it must."""
    handed = _handed_by_systemd()
    if handed is not None:  # the doctor runs in a unit: the copy's mode is systemd's affair
        try:
            read_key_file(handed)
        except SecretError as exc:
            return Check("key", "fail", str(exc), "put a valid key in the credential file")
        return Check("key", "pass", f"{handed}: a valid key, handed over by systemd")
    try:
        credential = credential_file(host, KEY_CREDENTIAL)
    except PermissionError:
        detail = (
            f"cannot look into {host.credentials_dir} (where the key is) as user {current_user()}"
        )
        return Check("key", "warn", detail, _SUDO)
    if credential is not None:
        return _key_file(credential, host, by_systemd=True)
    if config.privacy.key_file is not None:
        return _key_file(config.privacy.key_file, host, by_systemd=False)
    target = host.credentials_dir / KEY_CREDENTIAL
    if os.environ.get(KEY_ENV):
        try:
            pseudonymization_key(config)
        except SecretError as exc:
            return Check("key", "fail", str(exc), "`mallsense keygen` prints a valid key")
        return Check(
            "key",
            "warn",
            f"the key is only in ${KEY_ENV} of this shell; the services do not see it",
            f"write it to {target} (chmod 600, owner root) and run `sudo mallsense install`,"
            " or set privacy.key_file",
            {"source": f"${KEY_ENV}"},
        )
    return Check(
        "key",
        "fail",
        f"no pseudonymization key: neither {target} nor privacy.key_file exists",
        "run `sudo mallsense install` to generate one; if other boxes of this mall already run,"
        f" copy their key to {target} instead (chmod 600): all boxes of a mall must share it",
    )


def _handed_by_systemd() -> Path | None:
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    path = Path(directory) / KEY_CREDENTIAL if directory else None
    return path if path is not None and path.is_file() else None


def _key_file(path: Path, host: Host, *, by_systemd: bool) -> Check:
    try:
        info = path.stat()
    except PermissionError:
        return Check("key", "warn", f"cannot inspect {path} as user {current_user()}", _SUDO)
    except OSError as exc:
        fix = "correct privacy.key_file, or remove it to use the installed credential"
        return Check("key", "fail", f"privacy.key_file {path}: {exc.strerror}", fix)
    mode = stat.S_IMODE(info.st_mode)
    facts = {"source": str(path), "mode": f"{mode:04o}", "uid": info.st_uid}
    problem = _mode_problem(path, info) or _owner_problem(path, info, host, by_systemd=by_systemd)
    if problem is not None and problem.status == "fail":
        return Check("key", "fail", problem.detail, problem.fix, facts)
    if not os.access(path, os.R_OK):
        return Check("key", "warn", f"{path} cannot be read as user {current_user()}", _SUDO, facts)
    try:
        read_key_file(path)
    except SecretError as exc:
        return Check("key", "fail", str(exc), f"put a valid key in {path}", facts)
    if problem is not None:
        return Check("key", problem.status, problem.detail, problem.fix, facts)
    reader = "root (systemd hands the edge service a copy)" if by_systemd else host.service_user
    detail = f"{path}: a valid key, mode {mode:04o}, readable only by {reader}"
    return Check("key", "pass", detail, facts=facts)


def _mode_problem(path: Path, info: os.stat_result) -> Check | None:
    mode = stat.S_IMODE(info.st_mode)
    if not stat.S_ISREG(info.st_mode):
        return Check("key", "fail", f"{path} is not a regular file", f"put the key (hex) in {path}")
    if not mode & 0o077:
        return None
    who = "every user of the box" if mode & 0o007 else "its group"
    return Check(
        "key",
        "fail",
        f"{path} is mode {mode:04o}: {who} may read the pseudonymization key",
        f"`chmod 600 {path}`; if others may have copied it, make a new key for the whole mall"
        " (`mallsense keygen`): with the key, pseudonyms can be linked to devices",
    )


def _owner_problem(
    path: Path, info: os.stat_result, host: Host, *, by_systemd: bool
) -> Check | None:
    """A fail when the wrong user owns the file, a warn when it cannot be told."""
    if by_systemd:
        if info.st_uid == 0:
            return None
        return Check(
            "key",
            "fail",
            f"{path} belongs to uid {info.st_uid}, not root (systemd reads it as root)",
            f"`chown root:root {path}`",
        )
    uid = _uid(host.service_user)
    if uid is None:
        return Check(
            "key",
            "warn",
            f"there is no user {host.service_user} on this box, so whether the edge service"
            f" can read {path} cannot be told",
            "run `sudo mallsense install` (it creates the user), or name the services' user"
            " with --user",
        )
    if info.st_uid == uid:
        return None
    return Check(
        "key",
        "fail",
        f"{path} belongs to uid {info.st_uid}, not to {host.service_user} (uid {uid}): the"
        " edge service cannot read it",
        f"`chown {host.service_user} {path}`, or move the key to"
        f" {host.credentials_dir / KEY_CREDENTIAL} (root, 0600) and drop privacy.key_file",
    )


def _uid(user: str) -> int | None:
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        return None
