"""The ``mallsense`` command line: `mallsense records` and `mallsense status` after a replay.

Most tests call the click group in this process (CliRunner keeps stdout and
stderr apart); databases are real SQLite files under tmp_path and recordings are
the bundled samples. Shared fixtures are in conftest.py, helpers in cli_helpers.py.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import (
    DWELL_FIELDS,
    ISO_UTC,
    PRESENCE_FIELDS,
    Replayed,
    counts,
    failed_cleanly,
    invoke,
    json_lines,
    stored,
)

from edge.records import RECORD_MODELS

# -- 5. records ---------------------------------------------------------------------------


def records_json(db: Path, *args: str) -> list[dict[str, Any]]:
    result = invoke("records", "--db", db, "--json", *args)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    return json_lines(result.stdout)


def parse_utc(text: str) -> datetime:
    assert ISO_UTC.match(text), text
    return datetime.fromisoformat(text)


def test_dwell_records_carry_the_contract_fields(demo_replay: Replayed) -> None:
    dwells = records_json(demo_replay.db, "--kind", "dwell")
    assert len(dwells) == counts(demo_replay.db)["dwell"] > 0
    for dwell in dwells:
        assert set(dwell) >= DWELL_FIELDS, DWELL_FIELDS - set(dwell)
        assert (dwell["kind"], dwell["schema"]) == ("dwell", "dwell/1")
        start, end = parse_utc(dwell["start"]), parse_utc(dwell["end"])
        assert (end - start).total_seconds() == pytest.approx(dwell["duration_s"], abs=0.002)
    starts = [parse_utc(d["start"]) for d in dwells]
    assert starts == sorted(starts)  # oldest first


def test_presence_records_carry_the_contract_fields(demo_replay: Replayed) -> None:
    presences = records_json(demo_replay.db, "--kind", "presence")
    assert len(presences) == counts(demo_replay.db)["presence"] > 0
    for presence in presences:
        assert set(presence) >= PRESENCE_FIELDS, PRESENCE_FIELDS - set(presence)
        start, end = parse_utc(presence["start"]), parse_utc(presence["end"])
        assert end - start == timedelta(seconds=60) or presence["partial"]
        assert presence["visitors"] + presence["passersby"] == presence["devices"]
        assert 0 <= presence["randomized_share"] <= 1


def test_visit_records_have_a_path_of_known_zones(demo_replay: Replayed) -> None:
    visits = records_json(demo_replay.db, "--kind", "visit")
    assert len(visits) == counts(demo_replay.db)["visit"] > 0
    for visit in visits:
        assert visit["path"]
        assert {stop["zone"] for stop in visit["path"]} <= {"entrance", "shop"}
        for stop in visit["path"]:
            assert parse_utc(stop["start"]) <= parse_utc(stop["end"])


def test_every_record_validates_against_its_model(demo_replay: Replayed) -> None:
    records = records_json(demo_replay.db)
    assert len(records) == sum(counts(demo_replay.db).values())
    for record in records:
        model = RECORD_MODELS[record["kind"]].model_validate(record)
        assert model.model_dump(mode="json", by_alias=True) == record


def test_records_zone_and_limit_filter(demo_replay: Replayed) -> None:
    shop = records_json(demo_replay.db, "--kind", "presence", "--zone", "shop")
    expected = [r for r in stored(demo_replay.db, "presence") if r["zone"] == "shop"]
    assert shop == expected
    assert (
        records_json(demo_replay.db, "--kind", "dwell", "--limit", "5")
        == stored(demo_replay.db, "dwell")[:5]
    )
    assert records_json(demo_replay.db, "--zone", "nowhere") == []


def test_records_table(demo_replay: Replayed) -> None:
    result = invoke("records", "--db", demo_replay.db, "--limit", "4")
    assert result.exit_code == 0, result.output
    assert "presence records" in result.stdout
    assert "4 record(s); use --json for every field" in result.stdout
    dwells = invoke("records", "--db", demo_replay.db, "--kind", "dwell", "--zone", "shop")
    assert "dwell records" in dwells.stdout
    shown = re.search(r"^([\d,]+) record\(s\)", dwells.stdout, re.M)
    assert shown is not None
    shop = [r for r in stored(demo_replay.db, "dwell") if r["zone"] == "shop"]
    assert int(shown.group(1).replace(",", "")) == len(shop)
    empty = invoke("records", "--db", demo_replay.db, "--kind", "visit", "--zone", "nowhere")
    assert empty.stdout == "no visit records\n"


def test_records_missing_database(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    failed_cleanly(invoke("records", "--db", missing), f"database {missing} does not exist")
    assert not missing.exists()


@pytest.mark.parametrize("command", ["records", "status"])
def test_a_missing_config_file_is_named(tmp_path: Path, command: str) -> None:
    missing = tmp_path / "missing.toml"
    result = invoke(command, "--config", missing)
    assert result.exit_code == 2
    assert f"{missing} does not exist" in result.stderr


# -- 6. status ----------------------------------------------------------------------------


def test_status_json_after_a_replay(demo_replay: Replayed) -> None:
    result = invoke("status", "--db", demo_replay.db, "--json")
    assert result.exit_code == 0, result.output
    (status,) = json_lines(result.stdout)
    (summary,) = json_lines(demo_replay.result.stdout)
    sensors = {s["sensor"]: s for s in status["sensors"]}
    assert set(sensors) == {"entrance", "shop", "shop-ble"}
    assert sensors["shop-ble"]["kind"] == "ble"
    assert sensors["shop-ble"]["frames"] == summary["sensors"]["shop-ble"]["frames"] > 0
    for name in ("entrance", "shop"):
        assert sensors[name]["kind"] == "wifi"
        assert sensors[name]["frames"] == summary["sensors"][name]["frames"]
        assert sensors[name]["probes"] == summary["sensors"][name]["probes"]
    assert status["records"] == summary["records"] == counts(demo_replay.db)
    assert status["outbox"]["depth"] == sum(status["records"].values())
    assert status["outbox"]["oldest_age_s"] >= 0
    uplink = status["uplink"]
    assert uplink["connected"] is False
    assert uplink["last_upload_age_s"] is None
    assert uplink["records_sent"] == 0


def test_status_table_after_a_replay(demo_replay: Replayed) -> None:
    result = invoke("status", "--db", demo_replay.db)
    assert result.exit_code == 0, result.output
    records = counts(demo_replay.db)
    out = result.stdout
    assert re.search(r"^│ entrance +│ wifi +│ replayed", out, re.M), out
    assert re.search(r"^│ shop +│ wifi +│ replayed +│ [\d.]+ +│ 1,802 ", out, re.M), out
    assert f"records: {records['dwell']} dwell, {records['presence']} presence" in out
    assert f"outbox: {sum(records.values())} waiting" in out
    assert "uplink: not connected, last upload never, 0 records sent" in out


def test_status_does_not_say_never_for_a_sensor_with_frames(demo_replay: Replayed) -> None:
    out = invoke("status", "--db", demo_replay.db).stdout
    shop_row = next(line for line in out.splitlines() if line.startswith("│ shop "))
    assert "never" not in shop_row


def test_status_missing_database(tmp_path: Path) -> None:
    failed_cleanly(invoke("status", "--db", tmp_path / "none.db"), "does not exist")


def test_status_names_a_camera_whose_process_or_shared_detector_restarted() -> None:
    from edge.cli.common import console
    from edge.cli.status_cmd import _print_watchdogs

    cameras = [
        {"sensor": "door", "child_restarts": 0, "detector_restarts": 2, "detector_waits": 7},
        {"sensor": "plaza", "child_restarts": 0, "detector_restarts": 0},
    ]
    with console.capture() as captured:
        _print_watchdogs(cameras)
    text = captured.get()
    assert "sensor door: camera process restarted 0 time(s), shared detector 2 time(s)," in text
    assert "7 frame(s) waited" in text and "plaza" not in text
