"""A throwaway local PostgreSQL (Debian's), for the tests and the fleet benchmark.

``initdb`` into a fresh folder, ``pg_ctl start`` on a free loopback port with
its unix socket in that folder, trust authentication for the ``postgres`` user
on loopback only, and everything deleted on ``stop``. PostgreSQL refuses to run
as root, so when started by root the server runs as the ``postgres`` user
(Debian's package creates it) or, failing that, as ``nobody``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from edge.demo.broker import free_port
from edge.errors import MallsenseError

__all__ = ["LocalPostgres", "find_pg_bin"]

_INSTALL_HINT = "`make tools` installs it (apt-get install postgresql)"


def find_pg_bin() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl`` (Debian keeps them off PATH), newest first."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).resolve().parent

    def version(path: Path) -> int:
        name = path.parent.parent.name
        return int(name) if name.isdigit() else 0

    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=version)
    return versions[-1].parent if versions else None


def _server_user() -> str | None:
    """Who runs the server: ourselves, unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise MallsenseError("running as root and neither user 'postgres' nor 'nobody' exists")


class LocalPostgres:
    """One PostgreSQL server in a temporary folder on a free loopback port."""

    def __init__(self, *, durable: bool = False) -> None:
        bin_dir = find_pg_bin()
        if bin_dir is None:
            raise MallsenseError(f"PostgreSQL is not installed; {_INSTALL_HINT}")
        self.bin_dir = bin_dir
        self.durable = durable
        """fsync on (the benchmark); off for tests, which never survive a power cut."""
        self.host = "127.0.0.1"
        self.port = free_port()
        self.user = _server_user()
        # Not under pytest's tmp_path: its folders are 0700 root, closed to the server user.
        self.workdir = Path(tempfile.mkdtemp(prefix="mallsense-pg-"))
        self.data = self.workdir / "data"
        self.log_path = self.workdir / "postgres.log"
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.workdir, entry.pw_uid, entry.pw_gid)

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/{dbname}"

    def _run(self, *args: str) -> None:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
        if done.returncode != 0:
            log = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
            raise MallsenseError(
                f"{args[0]} failed ({done.returncode}): {done.stderr.strip() or done.stdout}"
                f"{chr(10) + log[-2000:] if log else ''}"
            )

    def start(self) -> None:
        """initdb (first time) and start; returns once the server accepts connections."""
        if not self.data.exists():
            self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                      "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")  # fmt: skip
        options = [
            "-c listen_addresses=127.0.0.1",
            f"-p {self.port}",
            f"-k {self.workdir}",
            "-c max_connections=50",
            "-c shared_buffers=256MB",
        ]
        if not self.durable:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log_path), "-w", "-t", "60",
                  "-o", " ".join(options), "start")  # fmt: skip

    def create_database(self, name: str) -> str:
        """A new database; returns its DSN."""
        import psycopg

        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def stop(self) -> None:
        """Stop at once (no checkpoint) and delete everything."""
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(MallsenseError):
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> LocalPostgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
