"""``mallsense install`` (the box's account, directories, key and units) and
``mallsense config upgrade`` (a configuration file brought to this version)."""

from __future__ import annotations

import difflib
import os
import shutil
import sys
from pathlib import Path, PurePosixPath

import click

from edge.cli.common import EXIT_ERROR, console, err_console, fails_cleanly
from edge.cli.config_cmd import config_group
from edge.config.load import parse_config, read_config_text
from edge.config.models import DEFAULT_CONFIG_PATH
from edge.config.upgrade import rewrite
from edge.errors import ConfigError
from edge.install.installer import InstallOptions, install
from edge.install.layout import Layout, default_prefix

__all__ = ["register"]


def _absolute(_ctx: click.Context, _param: click.Parameter, value: Path | None) -> Path | None:
    if value is not None and not value.is_absolute():
        raise click.BadParameter(f"{value} is not an absolute path")
    return value


def _next_steps(layout: Layout) -> list[str]:
    return [
        "next:",
        f"  1. edit {layout.config_file} (mall, box, zones, sensors, broker), then check it:"
        f" mallsense config validate {layout.config_file}",
        f"  2. put the broker password in {layout.credentials_dir}/mqtt-password (and camera"
        " passwords as camera-NAME-password), chmod 600, then run mallsense install again",
        "  3. systemctl enable --now mallsense-edge mallsense-sync mallsense-maintenance.timer",
    ]


def _default_prefix(root: Path) -> PurePosixPath:
    """The running installation; for an image (--root), where the .deb installs."""
    return default_prefix() if root == Path("/") else PurePosixPath("/opt/mallsense")


@click.command("install")
@click.option(
    "--prefix",
    type=click.Path(file_okay=False, path_type=Path),
    callback=_absolute,
    help="Where mallsense is installed (the units run PREFIX/.venv/bin/mallsense)"
    "  [default: the installation running this command; /opt/mallsense with --root]",
)
@click.option(
    "--root",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=Path("/"),
    show_default=True,
    callback=_absolute,
    help="Install into this directory as the target system's / (an image being built).",
)
@click.option("--dry-run", is_flag=True, help="Print every step; change nothing.")
@fails_cleanly
def install_command(prefix: Path | None, root: Path, dry_run: bool) -> None:
    """Set this box up for the services (as root; safe to run again).

    Creates the system user and group 'mallsense' (systemd-sysusers), the
    directories /etc/mallsense (0750 root:mallsense), /etc/mallsense/credentials
    (0700 root) and /var/lib/mallsense (0750 mallsense), a configuration
    template (only if there is none), a pseudonymization key (only if there is
    none: it is never replaced), and the systemd units with the credentials found
    in /etc/mallsense/credentials. A second run changes nothing and says so.

    \b
    Examples:
      sudo mallsense install --dry-run
      sudo /opt/mallsense/.venv/bin/mallsense install --prefix /opt/mallsense
      mallsense install --root /srv/image --prefix /opt/mallsense
    """
    target = PurePosixPath(prefix) if prefix is not None else _default_prefix(root)
    later = prefix is None and root != Path("/")
    report = install(InstallOptions(target, root, dry_run, later))
    for line in report.lines:
        console.print(line, markup=False, soft_wrap=True)
    if dry_run:
        console.print(f"dry run: {report.changes} change(s) listed, nothing was changed")
    elif report.changes == 0:
        console.print("nothing changed: this box was already installed")
    else:
        console.print(f"{report.changes} change(s) made")
        for line in _next_steps(Layout(root, target)):
            console.print(line, markup=False, soft_wrap=True)


@click.command("upgrade")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Print the changes as a diff; write nothing.")
@fails_cleanly
def upgrade_command(file: Path | None, dry_run: bool) -> None:
    """Rewrite FILE (default /etc/mallsense/mallsense.toml) for this version.

    Renamed keys get their new names and old spellings of values their new
    ones, in place: comments and layout stay. The previous file is kept as
    FILE.bak. A key that was removed is not guessed at: it is listed with its
    replacement and nothing is written. Exit status 0 when the file is up to date
    and valid, 2 otherwise.

    \b
    Examples:
      mallsense config upgrade --dry-run
      mallsense config upgrade /etc/mallsense/mallsense.toml
    """
    path = file or DEFAULT_CONFIG_PATH
    text = read_config_text(path)  # size, UTF-8: one line naming the file, never a traceback
    result = rewrite(text, str(path))
    if not result.findings:
        console.print(f"{path} is up to date: nothing to change", markup=False)
    for finding in result.findings:
        console.print(f"  {finding.message}", markup=False, soft_wrap=True)
    if result.findings and dry_run:
        diff = difflib.unified_diff(
            text.splitlines(keepends=True),
            result.text.splitlines(keepends=True),
            fromfile=str(path),
            tofile=f"{path} (upgraded)",
        )
        sys.stdout.writelines(diff)
        console.print("dry run: nothing written")
    elif result.findings:
        backup = _replace_keeping_backup(path, result.text)
        console.print(f"wrote {path}; the previous version is {backup}", markup=False)
    try:
        parse_config(result.text, str(path))
    except ConfigError as exc:
        err_console.print(f"still invalid: {exc}", markup=False, soft_wrap=True)
        sys.exit(EXIT_ERROR)


def _replace_keeping_backup(path: Path, text: str) -> Path:
    """``path`` gets ``text`` (same mode and owner); the old file becomes ``path.bak``."""
    st = path.stat()
    backup = path.with_name(f"{path.name}.bak")
    shutil.copy2(path, backup)
    tmp = path.with_name(f".{path.name}.upgrade-{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        for copy in (backup, tmp):
            if (copy.stat().st_uid, copy.stat().st_gid) != (st.st_uid, st.st_gid):
                os.chown(copy, st.st_uid, st.st_gid)
            copy.chmod(st.st_mode & 0o7777)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return backup


def register(cli: click.Group) -> None:
    cli.add_command(install_command)
    config_group.add_command(upgrade_command)
