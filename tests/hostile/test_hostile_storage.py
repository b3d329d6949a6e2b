"""Stored rows and the disk under them, as bad luck (and an attacker with the file) makes them.

- A stored value that cannot be read (not UTF-8, not JSON, not a kind or a time) is
  quarantined with its reason and counted; the rows behind it are still delivered
  (``mallsense sync`` against a real Mosquitto) or read (checkpoints, sensor health,
  sent batches). Hypothesis puts any bytes in any column.
- A full disk (a real small tmpfs, and SQLite's own ``max_page_count``, which gives the
  real SQLITE_FULL on any machine) is named as such, never as "cannot rollback"; the
  daemon keeps sensing with a bounded backlog in memory, and at SIGTERM the log says
  how many records were lost; the metrics and ``mallsense status`` count them.
- An empty (zero-byte) database file is refused, not silently replaced; a damaged one
  is called damaged, with the backup to restore, not blamed on permissions.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from broker import Broker, Subscriber, free_port
from cli_helpers import ROOT, run_mallsense
from hostile_settings import FUZZ
from hypothesis import given
from hypothesis import strategies as st
from test_daemon import RUN_CONFIG as DAEMON_CONFIG
from uplink_helpers import BOX, MALL, presence

from edge.config import parse_config
from edge.doctor.host import Host
from edge.doctor.storage import check_database
from edge.errors import StoreError
from edge.store import Store
from edge.store.status import collect_status
from edge.store.uplink import quarantine_summary, sent_batches

KEY = bytes(range(32)).hex()
SHOP = ROOT / "edge" / "demo" / "samples" / "shop.pcap"
DATA = f"mallsense/v1/{MALL}/{BOX}/data/#"


# -- helpers -----------------------------------------------------------------------------


def outbox_db(path: Path, n: int = 30) -> list[str]:
    """``n`` presence records with their outbox rows, as the edge daemon writes them."""
    records = [presence(i) for i in range(n)]
    with Store(path) as store:
        store.write(records, time.time())
        store.claim_identity(MALL, BOX)
    return [r["id"] for r in records]


def corrupt(path: Path, sql: str, *params: Any) -> None:
    """Change the file behind the store's back, as a bad sector or a hand edit would."""
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(sql, params)
    conn.close()


def record_seq(path: Path, record_id: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT seq FROM records WHERE id = ?", (record_id,)).fetchone()[0])
    finally:
        conn.close()


def wait_for_records(db: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(sqlite3.Error), contextlib.closing(sqlite3.connect(db)) as conn:
            if conn.execute("SELECT COUNT(*) FROM records").fetchone()[0]:
                return
        assert time.monotonic() < deadline, f"no record in {db} after {timeout} s"
        time.sleep(0.1)


def delivered_ids(sub: Subscriber) -> list[str]:
    return [r["id"] for m in sub.messages for r in m.json()["records"]]


_TEMPLATES: dict[int, tuple[bytes, list[str]]] = {}


@contextlib.contextmanager
def scratch_db(records: int = 5) -> Iterator[tuple[Path, list[str]]]:
    """A fresh database per Hypothesis example (function fixtures are shared across them),
    copied from one written once: building one per example would take most of the time."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "box.db"
        if records not in _TEMPLATES:
            ids = outbox_db(db, records)
            _TEMPLATES[records] = (db.read_bytes(), ids)
        image, ids = _TEMPLATES[records]
        db.write_bytes(image)
        yield db, ids


# -- case 3: a record that cannot be read ----------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        pytest.param(
            "UPDATE records SET body = CAST(x'7bff2200' AS TEXT) WHERE seq = ?", id="text"
        ),
        pytest.param("UPDATE records SET body = x'7b22ff22' WHERE seq = ?", id="blob"),
    ],
)
def test_sync_quarantines_a_body_that_is_not_utf8_and_delivers_the_rest(
    tmp_path: Path, broker: Broker, sql: str
) -> None:
    db = tmp_path / "box.db"
    ids = outbox_db(db, 30)
    bad = ids[7]
    corrupt(db, sql, record_seq(db, bad))
    with Subscriber(broker.host, broker.port, DATA) as sub:
        synced = run_mallsense("sync", "--db", db, "--broker", broker.url, "--drain", cwd=tmp_path)
        assert synced.returncode == 0, synced.stderr
        sub.wait_for(lambda _m: len(delivered_ids(sub)) >= 29)
        time.sleep(0.2)
        assert sorted(delivered_ids(sub)) == sorted(i for i in ids if i != bad)
    assert re.search(
        r"outbox row \d+: body is not valid UTF-8 \(byte 0xff at [12]\)", synced.stderr
    )
    assert "Traceback" not in synced.stderr
    status = run_mallsense("status", "--db", db, "--json", cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    shown = json.loads(status.stdout)
    assert shown["drops"] == {"quarantined.presence": 1}
    assert shown["outbox"]["depth"] == 0
    assert shown["quarantine"]["count"] == 1
    assert shown["quarantine"]["last"]["record_id"] == bad
    assert "body is not valid UTF-8" in shown["quarantine"]["last"]["reason"]
    conn = sqlite3.connect(db)
    (kept,) = conn.execute("SELECT body FROM quarantine").fetchone()
    conn.close()
    assert b"\xff" in kept  # the evidence is kept as it was stored


_COLUMNS = {
    "body": "UPDATE records SET body = ? WHERE seq = ?",
    "body_text": "UPDATE records SET body = CAST(? AS TEXT) WHERE seq = ?",
    "kind": "UPDATE outbox SET kind = CAST(? AS TEXT) WHERE record = ?",
    "created": "UPDATE outbox SET created = ? WHERE record = ?",
}


@FUZZ
@given(
    column=st.sampled_from(sorted(_COLUMNS)),
    value=st.one_of(
        st.binary(max_size=64),
        st.text(max_size=64),
        st.floats(allow_nan=False),
        st.integers(-(2**63), 2**63 - 1),
    ),
    which=st.integers(0, 4),
)
def test_any_value_in_an_outbox_column_is_quarantined_or_sent(
    column: str, value: object, which: int
) -> None:
    with scratch_db() as (db, ids):
        corrupt(db, _COLUMNS[column], value, record_seq(db, ids[which]))
        with Store(db) as store:
            rows = store.outbox_after(0, 100)
            readable = {json.loads(r.body)["id"] for r in rows}
            summary = quarantine_summary(store)
            drops = store.drop_counts()
        assert set(ids) - {ids[which]} <= readable  # the others always flow
        assert len(rows) + summary.count == len(ids)  # nothing vanishes
        assert sum(drops.values()) == summary.count  # every set-aside row is counted
        for row in rows:
            assert isinstance(json.loads(row.body), dict)
            assert isinstance(row.created, float)


def test_a_whole_window_of_bad_rows_does_not_end_the_outbox(tmp_path: Path) -> None:
    db = tmp_path / "box.db"
    ids = outbox_db(db, 12)
    corrupt(db, "UPDATE records SET body = x'ff' WHERE seq <= ?", record_seq(db, ids[9]))
    with Store(db) as store:
        rows = store.outbox_after(0, 5)  # two whole windows are unreadable
        assert [json.loads(r.body)["id"] for r in rows] == ids[10:]
        assert store.drop_counts() == {"quarantined.presence": 10}


@FUZZ
@given(state=st.one_of(st.binary(max_size=64), st.text(max_size=64)))
def test_any_bytes_in_a_checkpoint_start_afresh_counted(state: bytes | str) -> None:
    with scratch_db(1) as (db, _ids):
        corrupt(db, "INSERT INTO checkpoints (name, state, updated) VALUES ('edge', ?, 1.0)", state)
        with Store(db) as store:
            loaded = store.load_checkpoint("edge")
            if loaded is None:
                assert store.drop_counts() == {"unreadable.checkpoint": 1}
                assert quarantine_summary(store).count == 1
                assert store.load_checkpoint("edge") is None  # set aside, not met again
            else:
                assert isinstance(loaded, dict)


@FUZZ
@given(
    column=st.sampled_from(["sensor", "kind", "stats", "updated"]),
    value=st.one_of(st.binary(max_size=32), st.text(max_size=32), st.floats()),
)
def test_any_value_in_sensor_health_is_left_out_counted(column: str, value: object) -> None:
    with scratch_db(1) as (db, _ids):
        with Store(db) as store:
            for name in ("a", "b"):
                store.put_sensor_stats(name, "wifi", {"frames": 1}, 1.0)
        corrupt(db, f"UPDATE sensor_stats SET {column} = ? WHERE sensor = 'a'", value)
        with Store(db) as store:
            names = [s["sensor"] for s in store.sensor_stats()]
            assert "b" in names
            assert len(names) + store.drop_counts().get("unreadable.sensor_stats", 0) == 2
            shown = collect_status(store, 2.0)  # what `mallsense status` and `cmd/status` show
            assert [s["sensor"] for s in shown["sensors"]] == names


@FUZZ
@given(runs=st.one_of(st.binary(max_size=32), st.text(max_size=32)), count=st.integers(-5, 10**7))
def test_any_bytes_in_a_sent_batch_are_set_aside_for_resend(runs: bytes | str, count: int) -> None:
    with scratch_db(1) as (db, _ids):
        corrupt(
            db,
            "INSERT INTO sent_batches (seq, kind, records, count, sent_at) VALUES"
            " (1, 'presence', ?, ?, 1.0), (2, 'presence', '[[1,2]]', 2, 1.0)",
            runs,
            count,
        )
        with Store(db) as store:
            batches = sent_batches(store, 0, 10)
            assert batches[-1].records == (1, 2)
            assert all(len(b.records) <= 10**6 for b in batches)
            assert len(batches) + store.drop_counts().get("unreadable.sent_batches", 0) == 2


# -- case 4: a full disk -----------------------------------------------------------------------

# The daemon test's box, with the metrics endpoint on.
RUN_CONFIG = (
    DAEMON_CONFIG
    + """[metrics]
enabled = true
listen = "127.0.0.1:{port}"
sync_listen = "127.0.0.1:{sync_port}"
"""
)

LAUNCHER = """
import sys
import edge.store.db as db

import edge.runtime.backlog as backlog
backlog.DEFAULT_BOUND = {bound}
opened = db.Store.__init__

def capped(self, *args, **kwargs):
    opened(self, *args, **kwargs)
    if {pages} and not self.readonly:  # SQLite's own limit: the real SQLITE_FULL
        pages = self.conn.execute("PRAGMA page_count").fetchone()[0]
        self.conn.execute(f"PRAGMA max_page_count = {{pages + {pages}}}")

db.Store.__init__ = capped
from edge.cli.main import main
sys.argv[0] = "mallsense"
main()
"""


class EdgeRun:
    """``mallsense run`` as a real process replaying shop.pcap as its radio."""

    def __init__(self, tmp: Path, db: Path, *, pages: int = 0, bound: int = 200_000) -> None:
        self.port = free_port()
        self.log = tmp / "edge.log"
        cfg = tmp / "box.toml"
        cfg.write_text(RUN_CONFIG.format(db=db, port=self.port, sync_port=free_port()))
        launcher = tmp / "launch.py"
        launcher.write_text(LAUNCHER.format(pages=pages, bound=bound))
        argv = [sys.executable, str(launcher), "run", "--config", str(cfg)]
        argv += ["--simulate-radio", f"shop={SHOP}", "--simulate-speed", "400"]
        env = os.environ | {"MALLSENSE_KEY": KEY, "PYTHONPATH": str(ROOT)}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, count: int = 1, timeout: float = 30) -> list[str]:
        deadline = time.monotonic() + timeout
        while True:
            found = re.findall(pattern, self.text())
            if len(found) >= count:
                return found
            assert self.proc.poll() is None, self.text()
            assert time.monotonic() < deadline, f"no {pattern!r} in:\n{self.text()}"
            time.sleep(0.1)

    def metric(self, name: str) -> float:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            page = r.read().decode()
        match = re.search(rf"^{name}(?:_total)? ([0-9.e+]+)$", page, re.MULTILINE)
        assert match, page
        return float(match.group(1))

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=30) == 0, self.text()
        return self.text()


def check_full_disk_run(tmp: Path, db: Path, run: EdgeRun) -> None:
    """The daemon names the full disk, keeps sensing, and reports the loss at exit."""
    failures = run.wait_for(r"cannot write (\d+) records \(kept in memory, retrying", 3)
    assert "SQLITE_FULL" in run.text() and "disk full:" in run.text()
    assert "no transaction is active" not in run.text()
    assert run.metric("mallsense_records_unwritten") >= 1
    # Still sensing and flushing: three failed flushes, each keeping what it could not
    # write (their sizes need not grow: one may get through when SQLite finds a page).
    assert len(failures) >= 3 and all(int(n) > 0 for n in failures)
    text = run.stop()
    lost = re.search(r"at exit: (\d+) records held in memory could not be written", text)
    assert lost or re.search(r"at exit: all \d+ records held in memory were written", text), text
    assert lost is None or int(lost.group(1)) > 0
    assert "Traceback" not in text
    if "could not be counted in the database" not in text:
        shown = json.loads(run_mallsense("status", "--db", db, "--json", cwd=tmp).stdout)
        total = int(re.findall(r"(\d+) lost since start", text)[-1])
        assert shown["records_lost"] == total


def test_sqlite_full_is_named_and_losses_are_reported_at_exit(tmp_path: Path) -> None:
    db = tmp_path / "box.db"
    run = EdgeRun(tmp_path, db, pages=3)
    check_full_disk_run(tmp_path, db, run)


def test_the_backlog_in_memory_is_bounded_and_drops_oldest_counted(tmp_path: Path) -> None:
    db = tmp_path / "box.db"
    run = EdgeRun(tmp_path, db, pages=3, bound=5)
    run.wait_for(r"oldest records dropped to keep at most 5 waiting in memory")
    assert run.metric("mallsense_records_unwritten") <= 5
    assert run.metric("mallsense_records_lost") >= 1
    text = run.stop()
    exit_line = r"at exit: ([1-5] records held in memory could not be written|all [1-5] records)"
    assert re.search(exit_line, text), text  # never more than the bound waited


@pytest.mark.parametrize(
    "state",
    [
        pytest.param(b"\xff\xfe{", id="not_utf8"),
        pytest.param('{"version": 1, "clock": "soon", "devices": 7}', id="not_a_snapshot"),
    ],
)
def test_the_daemon_sets_a_damaged_checkpoint_aside_and_senses(
    tmp_path: Path, state: bytes | str
) -> None:
    db = tmp_path / "box.db"
    with Store(db) as store:
        store.claim_identity("m1", "b1")
    corrupt(db, "INSERT INTO checkpoints (name, state, updated) VALUES ('edge', ?, 1.0)", state)
    run = EdgeRun(tmp_path, db)
    run.wait_for(r"config \w+, database")
    wait_for_records(db)
    text = run.stop()
    assert re.search(r"checkpoint edge of \S+ cannot be used: .+; moved to the quarantine", text)
    assert "Traceback" not in text
    with Store(db) as store:
        assert store.counts()  # it went on sensing and writing
        assert store.drop_counts().get("unreadable.checkpoint", 0) >= 1
        assert quarantine_summary(store).count >= 1


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MB tmpfs (root only; skipped where mounting is not permitted)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip() or 'not root'}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_real_full_filesystem_is_named_and_losses_reported(
    tmp_path: Path, small_disk: Path
) -> None:
    db = small_disk / "box.db"
    run = EdgeRun(tmp_path, db)
    run.wait_for(r"config \w+, database")
    time.sleep(1.0)  # a few flushes went well; then the disk fills up (another writer)
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    (small_disk / "filler").write_bytes(b"\0" * free)
    check_full_disk_run(tmp_path, db, run)
    assert f"disk full: {small_disk} is out of space" in run.text()


# -- case 13: an empty or damaged database file ---------------------------------------------


def test_an_empty_database_file_is_refused_not_replaced(tmp_path: Path) -> None:
    db = tmp_path / "box.db"
    db.touch()
    with pytest.raises(StoreError, match=r"is an empty file \(0 bytes"):
        Store(db)
    for args in (("status", "--db", db), ("records", "--db", db)):
        result = run_mallsense(*args, cwd=tmp_path)
        assert result.returncode != 0
        assert "is an empty file (0 bytes" in result.stderr
        assert "failed copy or restore" in result.stderr
        assert "Traceback" not in result.stderr
    assert db.stat().st_size == 0  # left for the technician to decide


def test_a_new_database_is_never_left_empty(tmp_path: Path) -> None:
    db = tmp_path / "box.db"
    Store(db).close()
    assert db.stat().st_size > 0
    assert not list(tmp_path.glob(".box.db.new-*"))
    with Store(db, create=False) as store:  # and it opens as any other
        assert store.counts() == {}


@pytest.mark.parametrize("damage", ["not_a_database", "malformed"])
def test_a_damaged_database_is_called_damaged_with_the_backup_to_restore(
    tmp_path: Path, damage: str
) -> None:
    db = tmp_path / "box.db"
    outbox_db(db, 200)
    backup = tmp_path / "box.db.bak-0003_quarantine"
    backup.write_bytes(db.read_bytes())
    data = bytearray(db.read_bytes())
    if damage == "not_a_database":
        data[:100] = b"\x13" * 100
    else:
        page = 4096
        data[page : len(data)] = bytes(len(data) - page)  # every page but the header's
    db.write_bytes(bytes(data))
    result = run_mallsense("status", "--db", db, cwd=tmp_path)
    assert result.returncode != 0
    err = " ".join(result.stderr.split())
    assert f"database {db} is damaged" in err
    assert "not a matter of permissions" in err
    assert str(backup) in err and "copy the newest backup" in err
    assert "Traceback" not in err


def test_doctor_fails_an_empty_database_with_what_to_do(tmp_path: Path) -> None:
    db = tmp_path / "box.db"
    db.touch()
    config = parse_config(RUN_CONFIG.format(db=db, port=free_port(), sync_port=free_port()))
    check = check_database(config, Host())
    assert check.status == "fail"
    assert check.detail == f"{db} is an empty file (0 bytes)"
    assert check.fix is not None and "delete it to start a new database" in check.fix
    assert db.stat().st_size == 0


def test_threads_creating_the_database_at_once_each_get_it_whole(tmp_path: Path) -> None:
    """The demo opens the new database from its replay thread and its progress reader at
    the same moment: each must build its own copy beside the path, not share one."""
    db = tmp_path / "new.db"
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def open_it() -> None:
        start.wait()
        try:
            with Store(db) as store:
                store.count_drop("probe", 1)
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with Store(db) as store:
        assert store.drop_counts()["probe"] == 6
    assert sorted(p.name for p in tmp_path.iterdir() if ".new-" in p.name) == []
