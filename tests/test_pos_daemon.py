"""POS sensors in the edge daemon: recordings played as the serial line -> transactions in SQLite.

The only stand-in is the serial port: each POS sensor is fed a capture file
played on a ``Timeline`` (what ``mallsense run --simulate till=shop.poscap``
does); the source threads, decoder, handler, pipeline, store and receipt-text
table are the real ones. Records are checked against the contract: the
pydantic model, the generated JSON Schema, and a whole MQTT message.
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pos_receipts import LAYOUTS, Generated

from drivers.pos.decoder import decode_chunks
from drivers.pos.line.capture_format import CaptureHeader, CaptureWriter
from drivers.timeline import Timeline
from edge.config import Config, parse_config
from edge.contract import check_message, schema_errors
from edge.records import Transaction
from edge.runtime.daemon import EdgeDaemon
from edge.sensors.pos.config import PosSensorConfig
from edge.sensors.pos.records import transaction_record
from edge.sensors.pos.settings import decoder_factory
from edge.sensors.table import plugin_for
from edge.store import Store
from edge.store.receipts import ReceiptText, receipt_texts, save_receipt_texts
from edge.store.retention import enforce

KEY = bytes(range(32))
SPEED = 20.0
"""Event time runs 20x: a recording's 3 s idle gap passes in 0.15 s."""
SECRETS = ("4111 1111 1111 1111", "4111111111111111", "13812345678", "1381234")


def config(db: Path, retention_h: float = 2) -> Config:
    return parse_config(
        f"""
mall = "m1"
box = "b1"
[[zones]]
id = "shop"
[[zones]]
id = "market"
[[sensors]]
type = "pos"
name = "till-en"
zone = "shop"
store = "b1-07"
port = "/dev/serial/by-id/usb-FTDI_FT232R-if00-port0"
baudrate = 19200
raw_text_retention_h = {retention_h}
[[sensors]]
type = "pos"
name = "till-cn"
zone = "market"
store = "b1-12"
port = "/dev/serial/by-id/usb-Prolific_PL2303-if00-port0"
encoding = "gb18030"
currency = "CNY"
raw_text_retention_h = {retention_h}
[[sensors.templates]]
name = "hualian"
match = "华联超市"
patterns = {{ receipt_no = '单号:\\s*(?P<receipt_no>\\S+)' }}
[aggregation]
flush_interval_s = 0.2
[store]
path = "{db}"
"""
    )


def recording(path: Path, pieces: list[tuple[float, bytes]], encoding: str) -> Path:
    """A capture file as `mallsense pos capture` writes it."""
    header = CaptureHeader(port="/dev/ttyUSB0", baudrate=19200, encoding=encoding)
    with path.open("wb") as stream:
        writer = CaptureWriter(stream, header)
        for t, data in pieces:
            writer.write(t, data)
    return path


def split(generated: Generated, t: float) -> list[tuple[float, bytes]]:
    """One receipt in three reads, 20 ms apart, as a serial port returns it."""
    data, third = generated.data, len(generated.data) // 3
    cuts = [0, third, 2 * third, len(data)]
    return [(t + 0.02 * i, data[a:b]) for i, (a, b) in enumerate(itertools.pairwise(cuts))]


@pytest.fixture(scope="module")
def english_recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    t0 = 1_773_482_400.0
    pieces = split(LAYOUTS["english-raster-logo"](), t0)
    pieces += split(LAYOUTS["refund"](), t0 + 20)
    pieces += split(LAYOUTS["raster-only"](), t0 + 40)
    return recording(tmp_path_factory.mktemp("en") / "en.poscap", pieces, "cp437")


@pytest.fixture(scope="module")
def chinese_recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two uncut receipts: only the idle gap ends them, the second with no byte after it."""
    t0 = 1_773_482_405.0
    pieces = split(LAYOUTS["chinese-gb18030-uncut"](), t0)
    pieces += split(LAYOUTS["chinese-gb18030-uncut"](), t0 + 30)
    return recording(tmp_path_factory.mktemp("cn") / "cn.poscap", pieces, "gb18030")


async def until(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def simulate(cfg: Config, recordings: dict[str, Path], expected: int, db: Path) -> dict[str, Any]:
    """Run the daemon on the recordings until ``expected`` transactions are stored."""
    timeline = Timeline(SPEED)
    sensors = {s.name: s for s in cfg.sensors}
    overrides = {
        name: plugin_for("pos").simulate(sensors[name], path, timeline)  # type: ignore[misc]
        for name, path in recordings.items()
    }
    with Store(db) as store:
        daemon = EdgeDaemon(cfg, KEY, store, radios=overrides, clock=timeline.now)

        async def main() -> None:
            task = asyncio.create_task(daemon.run())
            try:
                await until(
                    lambda: daemon.pipeline.stats.records_by_kind["transaction"] >= expected
                )
            finally:
                daemon.stop()
                await asyncio.wait_for(task, 15)

        asyncio.run(main())
        return {s["sensor"]: s for s in store.sensor_stats()}


@pytest.fixture(scope="module")
def played(
    tmp_path_factory: pytest.TempPathFactory, english_recording: Path, chinese_recording: Path
) -> tuple[Path, dict[str, Any]]:
    db = tmp_path_factory.mktemp("daemon") / "edge.db"
    recordings = {"till-en": english_recording, "till-cn": chinese_recording}
    stats = simulate(config(db), recordings, 5, db)
    return db, stats


def transactions(db: Path) -> list[dict[str, Any]]:
    with Store(db, create=False) as store:
        return list(store.records("transaction"))


def test_receipts_become_transactions_of_their_store_and_zone(
    played: tuple[Path, dict[str, Any]],
) -> None:
    db, _ = played
    records = transactions(db)
    by_sensor = {s: [r for r in records if r["sensor"] == s] for s in ("till-en", "till-cn")}
    english = by_sensor["till-en"]
    assert [(r["total"], r["refund"], r["raster_only"]) for r in english] == [
        (7.55, False, False),
        (-29.99, True, False),
        (None, False, True),
    ]
    assert {(r["store"], r["zone"]) for r in english} == {("b1-07", "shop")}
    assert english[0]["payment"] == "card" and english[0]["receipt_no"] == "000482"
    chinese = by_sensor["till-cn"]
    assert [(r["total"], r["currency"], r["extractor"]) for r in chinese] == [
        (8.5, "CNY", "hualian"),
        (8.5, "CNY", "hualian"),
    ]
    assert {(r["store"], r["zone"], r["receipt_no"]) for r in chinese} == {
        ("b1-12", "market", "XS20260314001")
    }
    # The recording's 30 s between the two uncut receipts, kept on the timeline. The
    # timeline runs (20x) while the daemon starts, so the first receipt may be read a
    # few event seconds late, never early: the gap shrinks by that much at most.
    start = [Transaction.model_validate(r).start for r in chinese]
    assert 25 < (start[1] - start[0]).total_seconds() < 31


def test_every_transaction_keeps_the_contract(played: tuple[Path, dict[str, Any]]) -> None:
    db, _ = played
    records = transactions(db)
    assert len(records) == 5
    for record in records:
        model = Transaction.model_validate(record)
        assert model.model_dump(mode="json", by_alias=True) == record
        assert schema_errors("transaction", record) == []
        uuid.UUID(record["id"])
    batch = {
        "schema": "envelope/1",
        "mall": "m1",
        "box": "b1",
        "kind": "transaction",
        "seq": 1,
        "batch_id": "b-1",
        "sent_at": records[0]["start"],
        "records": [r | {"historical": False} for r in records],
    }
    assert check_message("mallsense/v1/m1/b1/data/transaction", batch) == []


def test_masked_texts_are_kept_with_the_record_ids(played: tuple[Path, dict[str, Any]]) -> None:
    db, _ = played
    ids = {r["id"]: r for r in transactions(db)}
    with Store(db, create=False) as store:
        kept = receipt_texts(store)
    assert {row.record_id for row in kept} == set(ids)
    for row in kept:
        record = ids[row.record_id]
        assert (row.store, row.sensor, row.start) == (
            record["store"],
            record["sensor"],
            record["start"],
        )
        assert row.expires - row.created == pytest.approx(2 * 3600)
    texts = "\n".join(row.text for row in kept)
    assert "CARD **** **** **** 1111" in texts and "会员手机: *******5678" in texts


def test_no_card_or_phone_number_anywhere_in_the_database(
    played: tuple[Path, dict[str, Any]],
) -> None:
    db, _ = played
    conn = sqlite3.connect(db)
    try:
        dump = "\n".join(conn.iterdump())
    finally:
        conn.close()
    assert "FRESH MART" in dump  # the texts are in there...
    for secret in SECRETS:  # ...masked
        assert secret not in dump


def test_sensor_health_reaches_mallsense_status(played: tuple[Path, dict[str, Any]]) -> None:
    _, stats = played
    english = stats["till-en"]
    assert english["kind"] == "pos" and english["port"].startswith("/dev/serial/by-id/")
    assert english["receipts"] == 3 and english["garbage_receipts"] == 0
    # A recording has no rate to set: the one it was read at (its header) is reported.
    assert english["baudrate"] == 19200 and english["baud_method"] == "recording"
    assert stats["till-cn"]["receipts"] == 2


def test_no_text_is_kept_with_zero_retention(tmp_path: Path, english_recording: Path) -> None:
    db = tmp_path / "edge.db"
    cfg = config(db, retention_h=0)
    simulate(cfg, {"till-en": english_recording}, 3, db)
    with Store(db, create=False) as store:
        assert receipt_texts(store) == []
        assert store.counts()["transaction"] == 3


# -- ids, retention ---------------------------------------------------------------------------


def pos_sensor(cfg: Config, name: str) -> PosSensorConfig:
    sensor = next(s for s in cfg.sensors if s.name == name)
    assert isinstance(sensor, PosSensorConfig)
    return sensor


def test_decoding_a_recording_again_gives_the_same_ids(tmp_path: Path) -> None:
    sensor = pos_sensor(config(tmp_path / "x.db"), "till-en")
    chunks = split(LAYOUTS["english-raster-logo"](), 1_773_482_400.0)

    def ids() -> list[str]:
        receipts = decode_chunks(chunks, decoder_factory(sensor)())
        return [transaction_record("m1", "b1", sensor, r)["id"] for r in receipts]

    first = ids()
    assert first == ids() and len(first) == 1
    millis = f"{round(chunks[0][0] * 1000):012x}"  # a UUIDv7 of the receipt's first byte
    assert first[0].startswith(f"{millis[:8]}-{millis[8:]}-7")


@pytest.fixture
def store_with_texts(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "edge.db") as store:
        rows = [
            ReceiptText(
                f"id-{i}",
                "till",
                "b1-07",
                f"2026-03-14T10:0{i}:00.000Z",
                "TOTAL 1.00",
                "default",
                0.5,
                1000.0 + i,
                1000.0 + i + 3600,
            )
            for i in range(3)
        ]
        assert save_receipt_texts(store.path, rows, now=1000.0) == 3
        assert save_receipt_texts(store.path, rows[:1], now=1000.0) == 0  # kept once
        yield store


def test_retention_deletes_texts_whose_time_is_up(store_with_texts: Store) -> None:
    report = enforce(store_with_texts, config(store_with_texts.path).store, now=4601.5)
    assert report.deleted_receipt_texts == 2
    assert [row.record_id for row in receipt_texts(store_with_texts)] == ["id-2"]


def test_a_write_prunes_expired_texts_too(store_with_texts: Store) -> None:
    late = ReceiptText("id-9", "till", "b1-07", "2026-03-14T12:00:00.000Z", "x", "default",
                       0.5, 9000.0, 9000.0 + 3600)  # fmt: skip
    save_receipt_texts(store_with_texts.path, [late], now=9000.0)
    assert [row.record_id for row in receipt_texts(store_with_texts)] == ["id-9"]
