"""Structured logs to journald, and the rate limit that keeps a broken sensor from
filling the disk.

journald's side is a real AF_UNIX datagram socket bound in a temporary directory,
read with the native protocol's rules (``KEY=value`` lines, the length-prefixed
form for values with newlines, a sealed memfd passed with ``SCM_RIGHTS`` for
entries too large for a datagram). The daemon test runs ``mallsense run`` as a
process whose stderr is a file named by ``JOURNAL_STREAM``, as systemd names the
journal stream, with one sensor whose interface does not exist.
"""

from __future__ import annotations

import array
import fcntl
import io
import json
import logging
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import DEMO_CONFIG, KEY, MALLSENSE, SAMPLES

from edge.runtime.journal import (
    JournalHandler,
    encode_entry,
    journal_fields,
    stderr_is_journal,
)
from edge.runtime.logs import RateLimiter, log_handler

Entry = dict[str, str]


def decode_entry(data: bytes) -> Entry:
    """journald's parser, for the tests: both field forms."""
    fields: Entry = {}
    pos = 0
    while pos < len(data):
        end = data.index(b"\n", pos)
        line = data[pos:end]
        if b"=" in line:
            key, _, value = line.partition(b"=")
            fields[key.decode()] = value.decode()
            pos = end + 1
            continue
        (size,) = struct.unpack("<Q", data[end + 1 : end + 9])
        value = data[end + 9 : end + 9 + size]
        assert data[end + 9 + size : end + 10 + size] == b"\n"
        fields[line.decode()] = value.decode()
        pos = end + 10 + size
    return fields


class Journal:
    """What journald does with its native socket: receive entries, inline or in a memfd."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.1)
        self.entries: list[Entry] = []
        self.memfd_entries = 0
        self.unsealed = 0
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        fd_size = array.array("i").itemsize
        while not self._closed.is_set():
            try:
                data, ancdata, _flags, _addr = self.sock.recvmsg(
                    1 << 20, socket.CMSG_SPACE(fd_size)
                )
            except TimeoutError:
                continue
            except OSError:
                return
            for level, kind, payload in ancdata:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fd = array.array("i", payload[:fd_size])[0]
                    with os.fdopen(fd, "rb") as memfd:
                        seals = fcntl.fcntl(memfd.fileno(), fcntl.F_GET_SEALS)
                        self.unsealed += not seals & fcntl.F_SEAL_WRITE
                        memfd.seek(0)  # the sender's writes moved the shared offset
                        data = memfd.read()
                    self.memfd_entries += 1
            self.entries.append(decode_entry(data))

    def wait_for(self, timeout: float = 20.0, **fields: str) -> Entry:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for entry in list(self.entries):
                if all(entry.get(k) == v for k, v in fields.items()):
                    return entry
            time.sleep(0.05)
        raise AssertionError(f"no entry with {fields}; got {self.entries[-5:]}")

    def close(self) -> None:
        self._closed.set()
        self.sock.close()
        self._thread.join(timeout=2)


@pytest.fixture
def journal() -> Iterator[Journal]:
    # A short directory: an AF_UNIX path must fit in 108 bytes.
    with tempfile.TemporaryDirectory(prefix="ms-journal-", dir="/tmp") as tmp:
        listener = Journal(Path(tmp) / "socket")
        try:
            yield listener
        finally:
            listener.close()


def test_fields_are_encoded_binary_safe() -> None:
    data = encode_entry({"MESSAGE": "one\ntwo", "PRIORITY": "4", "SENSOR": "shop=1"})
    assert data.startswith(b"MESSAGE\n" + struct.pack("<Q", 7) + b"one\ntwo\n")
    assert decode_entry(data) == {"MESSAGE": "one\ntwo", "PRIORITY": "4", "SENSOR": "shop=1"}
    assert decode_entry(encode_entry({"MESSAGE": "ü"})) == {"MESSAGE": "ü"}


def journal_logger(handler: logging.Handler, name: str = "test.journal") -> logging.Logger:
    """A logger of these tests only (the daemons' loggers stay as the other tests expect)."""
    logger = logging.getLogger(name)
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger


def test_a_record_arrives_with_its_structured_fields(journal: Journal) -> None:
    handler = JournalHandler(str(journal.path))
    handler.setFormatter(logging.Formatter("%(message)s"))
    log = journal_logger(handler)
    log.warning("sensor %s: %s", "shop", "gone", extra={"sensor": "shop", "reason": "silence"})
    try:
        raise OSError("no such device")
    except OSError:
        log.exception("sensor %s crashed", "door", extra={"sensor": "door", "reason": "crashed"})
    log.debug("plain")
    handler.close()

    warning = journal.wait_for(SENSOR="shop")
    assert warning["MESSAGE"] == "sensor shop: gone"
    assert warning["PRIORITY"] == "4"
    assert warning["REASON"] == "silence"
    assert warning["SYSLOG_IDENTIFIER"] == "mallsense"
    assert warning["LOGGER"] == "test.journal"
    assert warning["CODE_FILE"] == __file__
    assert warning["CODE_FUNC"] == "test_a_record_arrives_with_its_structured_fields"
    assert int(warning["CODE_LINE"]) > 0
    crash = journal.wait_for(SENSOR="door")
    assert crash["PRIORITY"] == "3"
    assert crash["MESSAGE"].startswith("sensor door crashed\nTraceback (most recent call last):")
    assert crash["MESSAGE"].endswith("OSError: no such device")
    debug = journal.wait_for(MESSAGE="plain")
    assert debug["PRIORITY"] == "7" and "SENSOR" not in debug and "REASON" not in debug


def test_an_entry_too_large_for_a_datagram_goes_in_a_sealed_memfd(journal: Journal) -> None:
    handler = JournalHandler(str(journal.path))
    log = journal_logger(handler)
    big = "x" * 400_000  # above the default socket buffer (212992 bytes)
    log.error("%s", big, extra={"sensor": "cam"})
    handler.close()
    entry = journal.wait_for(SENSOR="cam")
    assert entry["MESSAGE"] == big
    assert journal.memfd_entries == 1 and journal.unsealed == 0


def test_without_the_journal_socket_it_falls_back_to_stderr(tmp_path: Path) -> None:
    stream = io.StringIO()
    fallback = logging.StreamHandler(stream)
    handler = JournalHandler(str(tmp_path / "missing"), fallback=fallback)
    log = journal_logger(handler)
    log.warning("still told")
    log.warning("and again")
    assert stream.getvalue() == "still told\nand again\n"
    assert handler.failures == 2


def test_the_journal_is_used_only_when_stderr_is_the_journal_stream(tmp_path: Path) -> None:
    with (tmp_path / "stderr").open("w") as stream, (tmp_path / "other").open("w") as other:
        st = os.fstat(stream.fileno())
        env = {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
        assert stderr_is_journal(stream, env)
        assert not stderr_is_journal(other, env)
        assert not stderr_is_journal(stream, {})
        assert not stderr_is_journal(stream, {"JOURNAL_STREAM": "garbage"})
        assert not stderr_is_journal(io.StringIO(), env)
        assert isinstance(log_handler(other), logging.StreamHandler)


def test_fields_of_a_record_without_sensor() -> None:
    record = logging.LogRecord("mallsense.sync", logging.INFO, "/x.py", 3, "m", (), None, "f")
    fields = journal_fields(record, "m")
    assert fields["PRIORITY"] == "6" and "SENSOR" not in fields
    assert (fields["CODE_FILE"], fields["CODE_LINE"], fields["CODE_FUNC"]) == ("/x.py", "3", "f")


# -- rate limiting ------------------------------------------------------------------------


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self) -> list[str]:
        return [r.getMessage() for r in self.records]


def limited(interval_s: float, burst: int = 10) -> tuple[logging.Logger, Collect, RateLimiter]:
    handler = Collect()
    limiter = RateLimiter(burst, interval_s)
    limiter.attach(handler)
    return journal_logger(handler, "test.journal.flood"), handler, limiter


def test_a_flood_is_cut_to_a_burst_and_one_summary_when_the_interval_ends() -> None:
    log, handler, limiter = limited(interval_s=0.5)
    for i in range(5000):
        log.warning("sensor %s: error %d", "shop", i, extra={"sensor": "shop", "reason": "failure"})
    assert len(handler.records) == 10
    assert limiter.suppressed_total == 4990
    deadline = time.monotonic() + 5
    while len(handler.records) < 11:  # the summary comes without another message
        assert time.monotonic() < deadline, handler.messages()
        time.sleep(0.02)
    summary = handler.records[10]
    assert summary.getMessage() == (
        "suppressed 4990 similar messages in 0.5 s (sensor shop, reason failure);"
        " the last: sensor shop: error 4999"
    )
    assert summary.levelno == logging.WARNING
    assert (getattr(summary, "sensor", None), getattr(summary, "reason", None)) == (
        "shop",
        "failure",
    )
    log.warning("sensor %s: error %d", "shop", 0, extra={"sensor": "shop", "reason": "failure"})
    assert handler.messages()[-1] == "sensor shop: error 0"  # a new interval, a new burst
    limiter.close()


def test_keys_are_sensor_and_reason_else_the_message_template() -> None:
    log, handler, limiter = limited(interval_s=60, burst=2)
    for i in range(5):
        log.warning("sensor a failed: %d", i, extra={"sensor": "a", "reason": "failure"})
        log.warning("sensor b failed: %d", i, extra={"sensor": "b", "reason": "failure"})
        log.warning("sensor a silent %d", i, extra={"sensor": "a", "reason": "silence"})
        log.warning("disk full: %d", i)
        log.error("other template %d", i)
        log.debug("debug %d is never limited", i)
    messages = handler.messages()
    assert sum(m.startswith("sensor a failed") for m in messages) == 2
    assert sum(m.startswith("sensor b failed") for m in messages) == 2
    assert sum(m.startswith("sensor a silent") for m in messages) == 2
    assert sum(m.startswith("disk full") for m in messages) == 2
    assert sum(m.startswith("other template") for m in messages) == 2
    assert sum(m.startswith("debug") for m in messages) == 5
    limiter.close()  # at exit: what was held back is said
    summaries = [m for m in handler.messages() if m.startswith("suppressed")]
    assert len(summaries) == 5
    assert all(m.startswith("suppressed 3 similar messages") for m in summaries)


def test_a_flood_through_the_journal_is_burst_plus_summary(journal: Journal) -> None:
    handler = JournalHandler(str(journal.path))
    limiter = RateLimiter(10, 0.3)
    limiter.attach(handler)
    log = journal_logger(handler, "test.journal.edge")
    for i in range(2000):
        log.error("sensor cam: frame %d lost", i, extra={"sensor": "cam", "reason": "decode"})
    deadline = time.monotonic() + 5
    while len(journal.entries) < 11:
        assert time.monotonic() < deadline, journal.entries[-3:]
        time.sleep(0.05)
    time.sleep(0.4)  # nothing else comes
    assert len(journal.entries) == 11
    summary = journal.entries[-1]
    assert summary["MESSAGE"].startswith("suppressed 1990 similar messages in 0.3 s")
    assert (summary["SENSOR"], summary["REASON"], summary["PRIORITY"]) == ("cam", "decode", "3")
    limiter.close()
    handler.close()


# -- the daemon ---------------------------------------------------------------------------


def test_the_daemon_logs_sensor_problems_to_the_journal_with_their_fields(
    tmp_path: Path, journal: Journal
) -> None:
    db = tmp_path / "box.db"
    config = tmp_path / "box.toml"
    config.write_text(
        DEMO_CONFIG.read_text().replace('path = "demo-output/mallsense.db"', f'path = "{db}"')
    )
    stderr = tmp_path / "stderr"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLSENSE_")}
    # "shop" is not simulated: its interface wlan1mon does not exist here.
    simulate = [f"--simulate=entrance={SAMPLES / 'entrance.pcap'}"]
    with stderr.open("wb") as err:
        st = os.fstat(err.fileno())
        env |= {
            "MALLSENSE_KEY": KEY,
            "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}",
            "MALLSENSE_JOURNAL_SOCKET": str(journal.path),
        }
        argv = [*MALLSENSE, "run", "--config", str(config), *simulate]
        edge = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=err)
    try:
        failed = journal.wait_for(SENSOR="shop", REASON="failure")
        started = journal.wait_for(LOGGER="mallsense.edge", PRIORITY="6")
    finally:
        edge.send_signal(signal.SIGTERM)
        assert edge.wait(timeout=20) == 0
    assert failed["PRIORITY"] == "4"
    assert failed["MESSAGE"].startswith("sensor shop: wlan1mon: Wi-Fi interface wlan1mon")
    assert failed["CODE_FILE"].endswith("edge/runtime/supervise.py")
    assert failed["CODE_FUNC"] == "supervise"
    assert failed["SYSLOG_IDENTIFIER"] == "mallsense-edge"  # the unit's SyslogIdentifier=
    assert "mall demo-mall box shop-12" in started["MESSAGE"]
    journal.wait_for(MESSAGE="stopped; open sessions written as partial records")
    assert "wlan1mon" not in stderr.read_text()  # the journal got it, not the stream


# -- the real journald --------------------------------------------------------------------

JOURNALD = Path("/lib/systemd/systemd-journald")


@pytest.fixture
def journald() -> Iterator[tuple[str, Path]]:
    """systemd-journald itself, in a journal namespace of its own (removed afterwards)."""
    if not JOURNALD.exists() or shutil.which("journalctl") is None or os.geteuid() != 0:
        pytest.skip("needs root and systemd-journald (Debian's systemd package)")
    namespace = f"mallsensetest{os.getpid()}"
    runtime = Path(f"/run/systemd/journal.{namespace}")
    proc = subprocess.Popen(
        [str(JOURNALD), namespace], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while not (runtime / "socket").exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.skip("systemd-journald does not start here")
            time.sleep(0.05)
        yield namespace, runtime / "socket"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(runtime, ignore_errors=True)
        for stored in Path("/var/log/journal").glob(f"*.{namespace}"):
            shutil.rmtree(stored, ignore_errors=True)


def journalctl(namespace: str, *matches: str) -> list[dict[str, object]]:
    out = subprocess.run(
        ["journalctl", f"--namespace={namespace}", "-o", "json", "--all", "--no-pager", *matches],
        capture_output=True, text=True, check=False, timeout=20,
    )  # fmt: skip
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def test_systemd_journald_stores_the_fields(journald: tuple[str, Path]) -> None:
    namespace, path = journald
    handler = JournalHandler(str(path))
    handler.setFormatter(logging.Formatter("%(message)s"))
    log = journal_logger(handler, "test.journal.edge")
    log.warning("sensor %s: silent", "shop", extra={"sensor": "shop", "reason": "silence"})
    try:
        raise OSError("gone")
    except OSError:
        log.exception("camera crashed", extra={"sensor": "cam", "reason": "crashed"})
    log.error("%s", "z" * 300_000, extra={"sensor": "big"})
    handler.close()
    assert handler.failures == 0
    deadline = time.monotonic() + 10
    while len(entries := journalctl(namespace, "SYSLOG_IDENTIFIER=mallsense")) < 3:
        assert time.monotonic() < deadline, entries
        time.sleep(0.1)
    by_sensor = {e["SENSOR"]: e for e in entries}
    shop = by_sensor["shop"]
    assert (shop["MESSAGE"], shop["PRIORITY"], shop["REASON"]) == (
        "sensor shop: silent",
        "4",
        "silence",
    )
    assert shop["LOGGER"] == "test.journal.edge" and shop["CODE_FILE"] == __file__
    assert str(by_sensor["cam"]["MESSAGE"]).endswith("OSError: gone")
    assert by_sensor["big"]["MESSAGE"] == "z" * 300_000  # sent in a memfd
    assert [e["SENSOR"] for e in journalctl(namespace, "REASON=silence")] == ["shop"]
