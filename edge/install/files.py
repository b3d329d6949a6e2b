"""Idempotent file-system steps: each looks first, changes only what differs, and says so.

Every step reports either ``ok`` (already so) or the change it makes (``would ...``
in a dry run, which touches nothing). Files are written to a temporary name and
moved into place, so a power cut leaves the old file or the new one; a file that
must never be overwritten (the key) is linked into place, which fails if it exists.
"""

from __future__ import annotations

import contextlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from edge.install.accounts import InstallError, lookup
from edge.install.layout import Layout

__all__ = ["Owner", "Report", "ensure_dir", "ensure_file", "ensure_mode", "remove_file"]

_PAST = {"create": "created", "update": "updated", "fix": "fixed", "generate": "generated"}
_PAST |= {"remove": "removed", "run": "ran", "reload": "reloaded"}


@dataclass(frozen=True)
class Owner:
    user: str
    group: str

    def __str__(self) -> str:
        return f"{self.user}:{self.group}"

    def ids(self, root: Path) -> tuple[int, int] | None:
        """(uid, gid) in ``root``'s own files; None while the account does not exist."""
        uid, gid = lookup(root, "passwd", self.user), lookup(root, "group", self.group)
        return None if uid is None or gid is None else (uid, gid)


@dataclass
class Report:
    """What an installation did (or, in a dry run, would do), one line per step."""

    dry_run: bool
    lines: list[str] = field(default_factory=list)
    changes: int = 0

    def ok(self, what: str) -> None:
        self.lines.append(f"{'ok':<13} {what}")

    def change(self, verb: str, what: str) -> bool:
        """Record a change; True when it is to be made (not a dry run)."""
        self.changes += 1
        done = f"would {verb}" if self.dry_run else _PAST.get(verb, verb)
        self.lines.append(f"{done:<13} {what}")
        return not self.dry_run

    def note(self, text: str) -> None:
        self.lines.append(f"{'note':<13} {text}")


def _ids(layout: Layout, owner: Owner, report: Report) -> tuple[int, int] | None:
    ids = owner.ids(layout.root)
    if ids is None and not report.dry_run:
        raise InstallError(f"user or group of {owner} missing in {layout.root}/etc after sysusers")
    return ids


def _chown(path: Path, ids: tuple[int, int]) -> None:
    try:
        os.chown(path, *ids, follow_symlinks=False)
    except PermissionError as exc:
        raise InstallError(
            f"cannot give {path} to uid {ids[0]} gid {ids[1]}: changing owners needs root;"
            " run the installation with sudo"
        ) from exc


def ensure_mode(
    report: Report, layout: Layout, path: PurePosixPath, mode: int, owner: Owner
) -> None:
    """Bring an existing path's mode and owner to what they must be."""
    real = layout.at(path)
    st = real.lstat()
    ids = _ids(layout, owner, report)
    now_mode = stat.S_IMODE(st.st_mode)
    wrong_owner = ids is not None and (st.st_uid, st.st_gid) != ids
    if now_mode == mode and not wrong_owner:
        report.ok(f"{path} ({mode:04o} {owner})")
        return
    was = f"{now_mode:04o} uid {st.st_uid} gid {st.st_gid}"
    if report.change("fix", f"{path}: {was} -> {mode:04o} {owner}"):
        real.chmod(mode)
        if ids is not None:
            _chown(real, ids)


def ensure_dir(
    report: Report, layout: Layout, path: PurePosixPath, mode: int, owner: Owner
) -> None:
    real = layout.at(path)
    if real.is_dir():
        ensure_mode(report, layout, path, mode, owner)
        return
    ids = _ids(layout, owner, report)
    if report.change("create", f"{path} ({mode:04o} {owner})"):
        real.mkdir(parents=True, exist_ok=True)
        real.chmod(mode)  # mkdir's mode is filtered by the umask
        if ids is not None:
            _chown(real, ids)


def ensure_file(
    report: Report,
    layout: Layout,
    path: PurePosixPath,
    content: bytes,
    mode: int,
    owner: Owner,
    *,
    replace: bool,
    verb: str = "create",
) -> bool:
    """``path`` with ``content``; an existing file is rewritten only if ``replace``.

    Returns True when the content changed (or would).
    """
    real = layout.at(path)
    if real.is_file():
        if replace and real.read_bytes() != content:
            if report.change("update", f"{path}"):
                _write(real, content, mode, _ids(layout, owner, report), replace=True)
            return True
        ensure_mode(report, layout, path, mode, owner)
        return False
    ids = _ids(layout, owner, report)
    if report.change(verb, f"{path} ({mode:04o} {owner})"):
        _write(real, content, mode, ids, replace=replace)
    return True


def remove_file(report: Report, layout: Layout, path: PurePosixPath) -> bool:
    real = layout.at(path)
    if not real.exists():
        return False
    if report.change("remove", f"{path}"):
        real.unlink()
    return True


def _write(
    path: Path, content: bytes, mode: int, ids: tuple[int, int] | None, *, replace: bool
) -> None:
    """Write beside ``path`` and move into place; without ``replace``, never over a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), mode)
            if ids is not None:
                _chown(tmp, ids)
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        if replace:
            tmp.replace(path)
        else:
            with contextlib.suppress(FileExistsError):  # created meanwhile: that one stays
                os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
