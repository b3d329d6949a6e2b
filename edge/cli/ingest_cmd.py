"""``mallsense ingest``: the reference platform consumer, from the broker into PostgreSQL.

With ``--workers 1`` (the default) the command is the worker. With more, it
starts that many worker processes (``python -m edge.cli ingest ... --worker-index
I``), each with its own fixed client id in one shared subscription group, and
starts again any that dies: the broker kept the dead worker's session, so its
unacknowledged messages come back to it. systemd (or any supervisor) is the outer
ring around the whole command.

Progress goes to stderr as short lines (``--json``: JSON objects on stdout, one a
line, with a ``message`` field), every ``--progress`` seconds and at exit.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from edge.cli.common import broker_login_options, fails_cleanly, json_option
from edge.config.secrets import PASSWORD_ENV

if TYPE_CHECKING:
    from sync.ingest.consumer import IngestStats

__all__ = ["register"]

log = logging.getLogger("mallsense.ingest")

DSN_ENV = "MALLSENSE_INGEST_DSN"
_RESTART_DELAY_S = 1.0


def _level(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    if not value or "/" in value or "#" in value or (value != "+" and "+" in value):
        raise click.BadParameter(f"{value!r} must be one topic level (or '+'): no '/' or '#'")
    return value


@dataclass(frozen=True, slots=True)
class _Options:
    broker: str
    dsn: str
    mall: str
    group: str
    instance: str
    schema: str
    platform_id: str | None
    batch_messages: int
    progress: float
    seconds: float | None
    as_json: bool
    ca_file: Path | None
    cert_file: Path | None
    key_file: Path | None
    username: str | None

    def client_id(self, index: int) -> str:
        """Fixed per worker: the broker keeps a session per client id."""
        return f"mallsense-ingest-{self.group}-{self.instance}-{index}"

    def worker_argv(self, index: int) -> list[str]:
        """The command line of worker ``index`` (the DSN and the password travel in the
        environment: a command line is readable by every user of the host)."""
        argv = [sys.executable, "-m", "edge.cli", "ingest", "--broker", self.broker,
                "--mall", self.mall, "--group", self.group,
                "--instance", self.instance, "--schema", self.schema,
                "--batch-messages", str(self.batch_messages), "--progress", str(self.progress),
                "--worker-index", str(index)]  # fmt: skip
        for flag, value in (
            ("--platform-id", self.platform_id),
            ("--ca-file", self.ca_file),
            ("--cert-file", self.cert_file),
            ("--key-file", self.key_file),
            ("--username", self.username),
        ):
            if value is not None:
                argv += [flag, str(value)]
        return [*argv, "--json"] if self.as_json else argv


def _say(as_json: bool, message: str, text: str, **fields: Any) -> None:
    """One progress line: JSON on stdout, or words on stderr."""
    if as_json:
        line = json.dumps({"message": message, **fields}, separators=(",", ":"))
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    else:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()


def _progress_text(index: int, stats: IngestStats, rate: float) -> str:
    refused = f", {stats.refused} refused" if stats.refused else ""
    gaps = f", {stats.gaps_open} seq gaps open" if stats.gaps_open else ""
    return (
        f"worker {index}: {stats.inserted:,} records stored ({rate:,.0f}/s),"
        f" {stats.duplicates:,} duplicates, {stats.replaced:,} partial replaced,"
        f" {stats.envelopes:,} batches{refused}{gaps}"
    )


def _run_worker(opts: _Options, index: int) -> int:
    from sync.ingest.consumer import IngestSettings, IngestWorker

    settings = IngestSettings(
        broker_url=opts.broker, dsn=opts.dsn, client_id=opts.client_id(index), mall=opts.mall,
        group=opts.group, schema=opts.schema, max_messages=opts.batch_messages,
        platform_id=opts.platform_id, ca_file=opts.ca_file, cert_file=opts.cert_file,
        key_file=opts.key_file, username=opts.username,
        password=os.environ.get(PASSWORD_ENV) if opts.username else None,
    )  # fmt: skip
    started = time.monotonic()

    def progress(stats: IngestStats, message: str = "progress") -> None:
        rate = stats.inserted / max(1e-9, time.monotonic() - started)
        _say(opts.as_json, message, _progress_text(index, stats, rate), worker=index,
             pid=os.getpid(), rate=round(rate), **stats.as_dict())  # fmt: skip

    stop = _stop_on_signals()
    if opts.seconds is not None:
        threading.Timer(opts.seconds, stop.set).start()
    worker = IngestWorker(settings, on_progress=progress, progress_s=opts.progress)
    worker.connect()
    _say(opts.as_json, "subscribed", f"worker {index}: subscribed to {settings.topic_filter}"
         f" as {settings.client_id}", worker=index, pid=os.getpid(),
         topic_filter=settings.topic_filter, client_id=settings.client_id)  # fmt: skip
    stats = worker.run(stop)
    progress(stats, "stopped")
    return 0


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def on_signal(_sig: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return stop


def _supervise(opts: _Options, workers: int) -> int:
    """Run ``workers`` worker processes; start again any that ends before we stop."""
    stop = _stop_on_signals()
    if opts.seconds is not None:
        threading.Timer(opts.seconds, stop.set).start()
    procs: dict[int, subprocess.Popen[bytes]] = {}

    def start(index: int) -> None:
        env = {**os.environ, DSN_ENV: opts.dsn}
        proc = subprocess.Popen(opts.worker_argv(index), env=env)
        procs[index] = proc
        _say(opts.as_json, "worker started", f"worker {index} started (pid {proc.pid})",
             worker=index, pid=proc.pid)  # fmt: skip

    for index in range(workers):
        start(index)
    while not stop.wait(0.2):
        for index, proc in list(procs.items()):
            code = proc.poll()
            if code is None:
                continue
            how = f"signal {-code}" if code < 0 else f"exit status {code}"
            _say(opts.as_json, "worker ended", f"worker {index} (pid {proc.pid}) ended ({how});"
                 " starting it again", worker=index, pid=proc.pid, code=code)  # fmt: skip
            if stop.wait(_RESTART_DELAY_S):
                break
            start(index)
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs.values():
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    return 0


@click.command("ingest")
@click.option("--broker", required=True, help="Broker URL mqtt://HOST:PORT or mqtts://HOST:PORT.")
@click.option("--dsn", envvar=DSN_ENV, required=True,
              help=f"PostgreSQL connection string (or ${DSN_ENV}); the password is best in"
              " PGPASSWORD or ~/.pgpass.")  # fmt: skip
@click.option("--mall", default="+", show_default=True, callback=_level,
              help="Mall id to take ('+': every mall).")  # fmt: skip
@click.option("--group", default="mallsense-ingest", show_default=True, callback=_level,
              help="Shared subscription group: workers of one group share the load.")  # fmt: skip
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Worker processes (each its own client id and database link).")  # fmt: skip
@click.option("--instance", default=socket.gethostname(), show_default="this host's name",
              callback=_level, help="Names this command's workers among other hosts'.")  # fmt: skip
@click.option("--schema", default="mallsense", show_default=True,
              help="PostgreSQL schema of the tables (created if missing).")  # fmt: skip
@click.option("--platform-id", help="Publish the retained platform STATE the boxes wait for.")
@click.option("--batch-messages", default=200, show_default=True, type=click.IntRange(1, 5000),
              help="Envelopes written in one transaction at most.")  # fmt: skip
@click.option("--progress", default=10.0, show_default=True, type=click.FloatRange(0.1),
              help="Seconds between progress lines.")  # fmt: skip
@click.option("--seconds", type=click.FloatRange(0.1), help="Stop after this long.")
@broker_login_options
@click.option("--worker-index", type=click.IntRange(0), hidden=True)
@json_option()
@fails_cleanly
def ingest_command(workers: int, worker_index: int | None, **kwargs: Any) -> None:
    """Store every box's records in PostgreSQL: one table per record kind, by day.

    Takes the data topics through an MQTT 5 shared subscription with a persistent
    session, writes many batches per transaction (duplicates add nothing, a partial
    record is replaced by the one that supersedes it, seq gaps go to seq_gaps), and
    acknowledges each message to the broker only after the commit. Tables:
    docs/platform.md.

    \b
    Example:
      mallsense ingest --broker mqtt://broker.mall:1883 \\
          --dsn postgresql://ingest@db.mall/mallsense --workers 2
    """
    from edge.config.urls import parse_broker_url

    try:
        parse_broker_url(kwargs["broker"])
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--broker") from None
    opts = _Options(**kwargs)
    if worker_index is not None:
        sys.exit(_run_worker(opts, worker_index))
    sys.exit(_supervise(opts, workers) if workers > 1 else _run_worker(opts, 0))


def register(cli: click.Group) -> None:
    cli.add_command(ingest_command)
