"""The SQLite store: atomic batches, idempotence, identity, crash safety."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from edge.aggregate.ids import record_id
from edge.errors import StoreError
from edge.store import Store
from edge.store.migrations import MIGRATIONS

T0 = 1_773_482_400.0


def presence(n: int) -> dict[str, object]:
    start = T0 + 60 * n
    return {
        "id": record_id(start, f"test\x1f{n}"),
        "kind": "presence",
        "schema": "presence/1",
        "mall": "m1",
        "box": "b1",
        "supersedes": None,
        "zone": "z",
        "source": "wifi",
        "start": f"2026-03-14T10:{n % 60:02d}:00.000Z",
        "end": f"2026-03-14T10:{n % 60:02d}:59.999Z",
        "devices": n,
        "visitors": 0,
        "passersby": n,
        "randomized_share": 0.0,
        "fixed": 0,
        "frames": n,
        "partial": False,
    }


def test_records_and_outbox_rows_are_written_together(tmp_path: Path) -> None:
    with Store(tmp_path / "a.db") as store:
        assert (
            store.write([presence(i) for i in range(10)], now=T0, checkpoint=("edge", {"x": 1}))
            == 10
        )
        assert store.counts() == {"presence": 10}
        assert store.outbox_depth() == (10, T0)
        assert store.load_checkpoint("edge") == {"x": 1}
        rows = store.outbox_after(0, 100)
        assert [r.kind for r in rows] == ["presence"] * 10
        assert [r.id for r in rows] == sorted(r.id for r in rows)


def test_writing_the_same_records_again_adds_nothing(tmp_path: Path) -> None:
    with Store(tmp_path / "a.db") as store:
        store.write([presence(i) for i in range(5)], now=T0)
        store.outbox_ack([r.id for r in store.outbox_after(0, 100)])
        assert store.write([presence(i) for i in range(7)], now=T0) == 2
        assert store.counts() == {"presence": 7}
        assert store.outbox_depth()[0] == 2  # an acknowledged record is never queued again


def test_a_failing_batch_leaves_nothing_behind(tmp_path: Path) -> None:
    bad = presence(3) | {"devices": object()}  # cannot be serialized
    with Store(tmp_path / "a.db") as store:
        with pytest.raises(TypeError):
            store.write([presence(1), presence(2), bad], now=T0, checkpoint=("edge", {"v": 2}))
        assert store.counts() == {}
        assert store.outbox_depth() == (0, None)
        assert store.load_checkpoint("edge") is None


def test_migrations_run_once_and_are_recorded(tmp_path: Path) -> None:
    Store(tmp_path / "a.db").close()
    with Store(tmp_path / "a.db") as store:
        names = [r["name"] for r in store.db.query("SELECT name FROM _migrations")]
    assert names == [name for name, _ in MIGRATIONS]


def test_a_database_belongs_to_one_box(tmp_path: Path) -> None:
    with Store(tmp_path / "a.db") as store:
        store.claim_identity("m1", "b1")
        store.claim_identity("m1", "b1")
        with pytest.raises(StoreError, match="mall m1 box b1"):
            store.claim_identity("m1", "b2")
        assert store.identity() == ("m1", "b1")


def test_batch_sequence_numbers_survive_reopening(tmp_path: Path) -> None:
    with Store(tmp_path / "a.db") as store:
        assert [store.next_seq() for _ in range(3)] == [1, 2, 3]
    with Store(tmp_path / "a.db") as store:
        assert store.next_seq() == 4


def test_a_missing_database_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        Store(tmp_path / "nope.db", create=False)


def test_an_unwritable_place_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="cannot open database"):
        Store(tmp_path / "file" / "a.db")


WRITER = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {root!r})
    from tests.test_store import presence
    from edge.store import Store
    store = Store({db!r})
    n = 0
    print("ready", flush=True)
    while True:
        batch = [presence(n + i) for i in range(200)]
        store.write(batch, now=time.time(), checkpoint=("edge", {{"n": n}}))
        n += 200
    """
)


def test_kill_9_while_writing_leaves_whole_batches_only(tmp_path: Path) -> None:
    db = tmp_path / "crash.db"
    root = str(Path(__file__).resolve().parent.parent)
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER.format(root=root, db=str(db))], stdout=subprocess.PIPE
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == b"ready"
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    records = conn.execute("SELECT COUNT(*) FROM records").fetchone()[0]
    outbox = conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
    checkpoint = conn.execute("SELECT state FROM checkpoints WHERE name = 'edge'").fetchone()
    assert records > 0
    assert records % 200 == 0  # never half a batch
    assert outbox == records  # every record has its outbox row
    assert checkpoint is not None and f'"n":{records - 200}'.encode() in checkpoint[0]
