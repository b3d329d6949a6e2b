"""Times in the technician's commands: the mall's zone, labelled, the same hour everywhere."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import invoke, json_lines

from edge.sensors.counter.config import CounterSensorConfig
from edge.sensors.counter.intervals import Interval
from edge.sensors.counter.records import footfall_record
from edge.store import Store

T0 = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC, 09:00 in Berlin
REPLAYED = 1_668_002_400.0  # 2022-11-09 14:00 UTC: a replayed capture's last frame
DOOR = CounterSensorConfig(type="counter", name="door", zone="shop", url="http://10.0.0.20/c")


@pytest.fixture
def box(tmp_path: Path) -> Path:
    """A configuration in Europe/Berlin whose database holds one hour of a door's counts."""
    db = tmp_path / "box.db"
    config = tmp_path / "mallsense.toml"
    config.write_text(
        f'mall = "m1"\nbox = "b1"\ntimezone = "Europe/Berlin"\n[[zones]]\nid = "shop"\n'
        f'[store]\npath = "{db}"\n',
        encoding="utf-8",
    )
    with Store(db) as store:
        store.claim_identity("m1", "b1")
        record = footfall_record("m1", "b1", DOOR, Interval(T0, T0 + 3600, 40, 38))
        store.write([record], T0 + 3600)
        stats = {"frames": 10, "last_frame_at": REPLAYED}
        store.put_sensor_stats("door", "counter", stats, REPLAYED)
    return config


def test_records_show_the_malls_hour_with_its_zone_and_utc_on_request(box: Path) -> None:
    local = invoke("records", "--config", box, "--kind", "footfall")
    assert local.exit_code == 0, local.output
    assert "(Europe/Berlin)" in local.stdout and "2027-01-15 09:00:00" in local.stdout
    utc = invoke("records", "--config", box, "--kind", "footfall", "--utc")
    assert "(UTC)" in utc.stdout and "2027-01-15 08:00:00" in utc.stdout
    raw = json_lines(invoke("records", "--config", box, "--json").stdout)
    assert raw[0]["start"] == "2027-01-15T08:00:00.000Z", "JSON stays in UTC"


def test_status_gives_an_old_last_frame_as_a_time_not_as_hours_ago(box: Path) -> None:
    result = invoke("status", "--config", box)
    assert result.exit_code == 0, result.output
    # the table may wrap the cell at its spaces on a narrow terminal
    assert all(word in result.stdout for word in ("2022-11-09", "15:00", "Europe/Berlin"))
    assert " h ago" not in result.stdout


def test_report_without_a_date_shows_the_latest_day_with_records(box: Path) -> None:
    result = invoke("report", "--config", box, "--json")
    assert result.exit_code == 0, result.output
    assert "showing 2027-01-15, the latest day with records" in result.stderr
    assert json_lines(result.stdout)[0]["date"] == "2027-01-15"
