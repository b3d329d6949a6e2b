"""Where an installed box keeps everything, and the unit files as installed.

The unit files in ``systemd/`` name ``/opt/mallsense`` (the .deb's prefix); an
installation elsewhere gets them with its own prefix in ``ExecStart=``. Paths
are always those of the target system; ``Layout.at`` maps one into ``--root``.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import ClassVar

import edge

__all__ = [
    "DEB_PREFIX",
    "DROPIN_NAME",
    "SERVICES",
    "SYSUSERS_FILE",
    "UNITS",
    "USER",
    "Layout",
    "credential_dropin",
    "default_prefix",
    "render_unit",
    "systemd_sources",
]

DEB_PREFIX = PurePosixPath("/opt/mallsense")
USER = "mallsense"
SERVICES = ("mallsense-edge.service", "mallsense-sync.service")
UNITS = (*SERVICES, "mallsense-maintenance.service", "mallsense-maintenance.timer")
SYSUSERS_FILE = "mallsense.sysusers"
DROPIN_NAME = "50-credentials.conf"
_EXEC = re.compile(r"^(ExecStart=)/opt/mallsense/(\S*)", re.MULTILINE)
_OPTIONAL_CREDENTIALS = {
    # The key is not here: it is required, so the unit names it itself.
    "mallsense-edge.service": re.compile(r"^camera-[a-z0-9][a-z0-9_-]*-password$"),
    "mallsense-sync.service": re.compile(r"^mqtt-password$"),
}


_CONFIG_DIR = PurePosixPath("/etc/mallsense")
_STATE_DIR = PurePosixPath("/var/lib/mallsense")
_UNIT_DIR = PurePosixPath("/etc/systemd/system")
_PACKAGE_UNIT_DIRS = (
    PurePosixPath("/lib/systemd/system"),
    PurePosixPath("/usr/lib/systemd/system"),
)


@dataclass(frozen=True)
class Layout:
    """The target system's paths (``prefix`` and the rest), seen from ``root``."""

    root: Path
    prefix: PurePosixPath
    config_dir: ClassVar[PurePosixPath] = _CONFIG_DIR
    state_dir: ClassVar[PurePosixPath] = _STATE_DIR
    unit_dir: ClassVar[PurePosixPath] = _UNIT_DIR
    """Where an administrator's units go (a package's go to /lib/systemd/system)."""

    @property
    def credentials_dir(self) -> PurePosixPath:
        return self.config_dir / "credentials"

    @property
    def config_file(self) -> PurePosixPath:
        return self.config_dir / "mallsense.toml"

    @property
    def key_file(self) -> PurePosixPath:
        return self.credentials_dir / "mallsense-key"

    @property
    def executable(self) -> PurePosixPath:
        """What the units run."""
        return self.prefix / ".venv" / "bin" / "mallsense"

    def at(self, path: PurePosixPath) -> Path:
        """``path`` of the target system inside ``root``."""
        return self.root / path.relative_to("/")

    def packaged_units(self) -> PurePosixPath | None:
        """The directory where a package installed the units, if one did."""
        for directory in _PACKAGE_UNIT_DIRS:
            if self.at(directory / SERVICES[0]).is_file():
                return directory
        return None


def default_prefix() -> PurePosixPath:
    """The installation this command runs from: ``X`` for ``X/.venv``, else the .deb's."""
    venv = Path(sys.prefix)
    return PurePosixPath(venv.parent) if venv.name == ".venv" else DEB_PREFIX


def systemd_sources() -> Path:
    """The unit files: ``systemd/`` of a checkout, or the copy a .deb keeps in its venv.

    A wheel cannot carry them (they are not package data), so the .deb builder
    copies them to ``<venv>/share/mallsense/systemd``.
    """
    checkout = Path(edge.__file__).resolve().parent.parent / "systemd"
    shipped = Path(sys.prefix) / "share" / "mallsense" / "systemd"
    for candidate in (checkout, shipped):
        if (candidate / SERVICES[0]).is_file():
            return candidate
    raise FileNotFoundError(
        f"the systemd unit files are neither in {checkout} nor in {shipped}; install"
        " mallsense from a checkout (`make`) or from the .deb (`make deb`)"
    )


def render_unit(text: str, prefix: PurePosixPath) -> str:
    """The unit file with ``ExecStart=`` pointing into ``prefix``."""
    if prefix == DEB_PREFIX:
        return text
    return _EXEC.sub(lambda m: f"{m[1]}{prefix}/{m[2]}", text)


def credential_dropin(unit: str, layout: Layout, present: list[str]) -> str | None:
    """A drop-in loading the optional credentials of ``unit`` found in ``present``.

    ``LoadCredential=`` of a missing file stops a unit from starting, so the units
    name only the key; the broker and camera passwords are listed here, for the
    files that exist. None when there are none.
    """
    pattern = _OPTIONAL_CREDENTIALS.get(unit)
    names = sorted(n for n in present if pattern is not None and pattern.match(n))
    if not names:
        return None
    lines = [
        f"# Written by `mallsense install` from the files in {layout.credentials_dir}.",
        "# Run `mallsense install` again after adding or removing a credential there.",
        "[Service]",
        *(f"LoadCredential={n}:{layout.credentials_dir / n}" for n in names),
    ]
    return "\n".join(lines) + "\n"
