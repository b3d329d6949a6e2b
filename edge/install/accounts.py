"""The service account, from the target root's own /etc/passwd and /etc/group.

Users and groups are created by ``systemd-sysusers`` from ``systemd/mallsense.sysusers``
(the same declaration the .deb ships in /usr/lib/sysusers.d): it works on an
alternative root without chroot and never touches an existing account. Numeric ids
are read from the root's files, not from this machine's name service, so owners in
a ``--root`` installation are those of the target system.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from edge.errors import MallsenseError

__all__ = ["Accounts", "InstallError", "declared", "lookup", "run_sysusers"]


class InstallError(MallsenseError):
    """The installation cannot go on; the message says what to do."""


def lookup(root: Path, database: str, name: str) -> int | None:
    """The numeric id of ``name`` in ``root/etc/<database>`` (passwd or group), if any."""
    try:
        text = (root / "etc" / database).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[0] == name and fields[2].isdigit():
            return int(fields[2])
    return None


@dataclass(frozen=True)
class Accounts:
    """The users and groups a sysusers.d file declares."""

    users: tuple[str, ...]
    groups: tuple[str, ...]

    def missing(self, root: Path) -> list[str]:
        """``user X`` / ``group X`` for each one ``root`` does not have yet."""
        users = [f"user {u}" for u in self.users if lookup(root, "passwd", u) is None]
        return users + [f"group {g}" for g in self.groups if lookup(root, "group", g) is None]


def declared(sysusers: Path) -> Accounts:
    """The ``u`` and ``g`` lines of a sysusers.d file (a ``u`` line makes its group too)."""
    users: list[str] = []
    groups: list[str] = []
    for line in sysusers.read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if len(fields) < 2 or fields[0] not in ("u", "g"):
            continue
        if fields[0] == "u":
            users.append(fields[1])
        if fields[1] not in groups:
            groups.append(fields[1])
    return Accounts(tuple(users), tuple(groups))


def run_sysusers(root: Path, sysusers: Path) -> None:
    """Create what ``sysusers`` declares and ``root`` lacks."""
    tool = shutil.which("systemd-sysusers")
    if tool is None:
        raise InstallError(
            "systemd-sysusers is not installed, so the mallsense user cannot be created;"
            " install Debian's systemd package (`apt-get install systemd`)"
        )
    argv = [tool, *([] if root == Path("/") else [f"--root={root}"]), str(sysusers)]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise InstallError(
            f"systemd-sysusers could not create the mallsense user and groups in {root}:"
            f" {result.stderr.strip() or result.stdout.strip()}"
        )
