"""``mallsense install``: the account, directories, config template, key and units.

Each step looks before it changes anything, so running it again changes nothing
and says so, and ``--dry-run`` lists every step without touching the system. The
Debian package's postinst runs the same thing; the units are then the package's
(in /lib/systemd/system) and only the credential drop-ins are written here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from edge.config.secrets import generate_key
from edge.install.accounts import InstallError, declared, run_sysusers
from edge.install.files import Owner, Report, ensure_dir, ensure_file, ensure_mode, remove_file
from edge.install.layout import (
    DROPIN_NAME,
    SYSUSERS_FILE,
    UNITS,
    USER,
    Layout,
    credential_dropin,
    render_unit,
    systemd_sources,
)
from edge.install.template import config_template

__all__ = ["InstallOptions", "install"]

ROOT_OWNER = Owner("root", "root")
CONFIG_OWNER = Owner("root", USER)
SERVICE_OWNER = Owner(USER, USER)
_HIDDEN_BY_PROTECT_HOME = (
    PurePosixPath("/home"),
    PurePosixPath("/root"),
    PurePosixPath("/run/user"),
)


@dataclass(frozen=True)
class InstallOptions:
    prefix: PurePosixPath
    root: Path = Path("/")
    dry_run: bool = False
    later: bool = False
    """An image being built (``--root`` without ``--prefix``): mallsense may be put at
    the prefix after this; its absence is noted, not refused."""


def install(options: InstallOptions) -> Report:
    """Bring the target system to an installed box; the report lists every step."""
    layout = Layout(options.root, options.prefix)
    report = Report(options.dry_run)
    sources = systemd_sources()
    _check_prefix(layout, report, options.later)
    _accounts(layout, report, sources / SYSUSERS_FILE)
    ensure_dir(report, layout, layout.config_dir, 0o750, CONFIG_OWNER)
    ensure_dir(report, layout, layout.credentials_dir, 0o700, ROOT_OWNER)
    ensure_dir(report, layout, layout.state_dir, 0o750, SERVICE_OWNER)
    _state_files(layout, report)
    template = config_template().encode()
    ensure_file(report, layout, layout.config_file, template, 0o640, CONFIG_OWNER, replace=False)
    key = (generate_key() + "\n").encode()
    if ensure_file(
        report, layout, layout.key_file, key, 0o600, ROOT_OWNER, replace=False, verb="generate"
    ):
        report.note(
            f"a NEW pseudonymization key is in {layout.key_file}: every box of one mall must"
            " use the same key, so copy this one to the others, or put the mall's key there"
        )
    units_changed = _units(layout, report, sources)
    units_changed |= _dropins(layout, report)
    if units_changed:
        _daemon_reload(layout, report)
    return report


def _check_prefix(layout: Layout, report: Report, later: bool) -> None:
    executable = layout.at(layout.executable)
    if not os.access(executable, os.X_OK):
        problem = (
            f"{layout.executable} does not exist, and the units run it: install mallsense"
            " there first (the .deb does; from a checkout, `make` builds .venv and --prefix"
            " names the checkout)"
        )
        if later:
            report.note(
                f"{layout.executable} is not in {layout.root} yet: install mallsense there"
                " before the image boots (the units run it)"
            )
        elif not report.dry_run:
            raise InstallError(problem)
        else:
            report.note(problem)
    if any(layout.prefix.is_relative_to(p) for p in _HIDDEN_BY_PROTECT_HOME):
        raise InstallError(
            f"the services cannot run from {layout.prefix}: ProtectHome=yes hides it from"
            " them; install the .deb, or use a checkout outside /home and /root"
        )


def _accounts(layout: Layout, report: Report, sysusers: Path) -> None:
    accounts = declared(sysusers)
    missing = accounts.missing(layout.root)
    if not missing:
        report.ok(f"user {USER}, groups {', '.join(accounts.groups)}")
        return
    if report.change("create", f"{', '.join(missing)} (systemd-sysusers)"):
        run_sysusers(layout.root, sysusers)


def _state_files(layout: Layout, report: Report) -> None:
    """A database created by root (a manual run) would be read-only for the services."""
    state = layout.at(layout.state_dir)
    if not state.is_dir():
        return
    for entry in sorted(state.iterdir()):
        if entry.is_file() and not entry.is_symlink():
            ensure_mode(report, layout, layout.state_dir / entry.name, 0o640, SERVICE_OWNER)


def _units(layout: Layout, report: Report, sources: Path) -> bool:
    packaged = layout.packaged_units()
    if packaged is not None:
        report.ok(f"units from the package in {packaged}")
        for unit in UNITS:
            if layout.at(layout.unit_dir / unit).exists():
                report.note(
                    f"{layout.unit_dir / unit} overrides the package's {unit}; remove it"
                    " unless it is meant to (then systemctl daemon-reload)"
                )
        return False
    changed = False
    for unit in UNITS:
        text = render_unit((sources / unit).read_text(encoding="utf-8"), layout.prefix)
        path = layout.unit_dir / unit
        changed |= ensure_file(report, layout, path, text.encode(), 0o644, ROOT_OWNER, replace=True)
    return changed


def _dropins(layout: Layout, report: Report) -> bool:
    credentials = layout.at(layout.credentials_dir)
    present = sorted(p.name for p in credentials.iterdir()) if credentials.is_dir() else []
    changed = False
    for unit in UNITS:
        path = layout.unit_dir / f"{unit}.d" / DROPIN_NAME
        text = credential_dropin(unit, layout, present)
        if text is None:
            changed |= remove_file(report, layout, path)
        else:
            changed |= ensure_file(
                report, layout, path, text.encode(), 0o644, ROOT_OWNER, replace=True
            )
    return changed


def _daemon_reload(layout: Layout, report: Report) -> None:
    """Make a running systemd read the new units (not for another root, not in a container
    without systemd)."""
    systemctl = shutil.which("systemctl")
    if layout.root != Path("/") or systemctl is None or not Path("/run/systemd/system").is_dir():
        return
    if report.change("run", "systemctl daemon-reload"):
        subprocess.run([systemctl, "daemon-reload"], check=False)
