"""The ``mallsense`` command line: `mallsense wifi watch`, `run` and `sync` from the command line.

Most tests call the click group in this process (CliRunner keeps stdout and
stderr apart); databases are real SQLite files under tmp_path and recordings are
the bundled samples. Shared fixtures are in conftest.py, helpers in cli_helpers.py.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from cli_helpers import (
    DEMO_CONFIG,
    KEY,
    SHOP,
    Replayed,
    failed_cleanly,
    invoke,
    json_lines,
)
from click.testing import Result

from edge.store import Store

# -- 7. wifi watch ------------------------------------------------------------------------


def test_watch_a_recording_as_json(watch_json: subprocess.CompletedProcess[str]) -> None:
    assert watch_json.returncode == 0, watch_json.stderr
    assert watch_json.stderr == ""
    lines = json_lines(watch_json.stdout)
    assert 2 <= len(lines) <= 4  # about one per second
    for line in lines:
        assert {"frames_per_s", "probes", "devices_last_min"} <= set(line)
        assert line["sensor"] == "shop.pcap"
    # shop.pcap's first two frames are 10 ms apart, the third 23 s later.
    assert lines[-1]["probes"] == 2
    assert lines[-1]["devices_last_min"] == 1


def test_watch_rate_counts_the_first_second(watch_json: subprocess.CompletedProcess[str]) -> None:
    lines = json_lines(watch_json.stdout)
    assert lines[-1]["probes"] > 0
    assert any(line["frames_per_s"] > 0 for line in lines)


def test_watch_table(watch_table: Result) -> None:
    assert watch_table.exit_code == 0, watch_table.output
    assert "Wi-Fi sensor shop.pcap" in watch_table.stdout
    assert re.search(r"probe requests +│ 2 ", watch_table.stdout)


def test_watch_table_ends_with_a_newline(watch_table: Result) -> None:
    assert watch_table.stdout.endswith("\n")


def test_watch_an_interface_that_does_not_exist(
    no_such_interface: subprocess.CompletedProcess[str],
) -> None:
    assert no_such_interface.returncode == 2
    stderr = no_such_interface.stderr
    assert "Traceback" not in stderr
    assert "doesnotexist0 does not exist" in stderr
    assert "`iw dev`" in stderr


def test_watch_interface_error_names_it_once(
    no_such_interface: subprocess.CompletedProcess[str],
) -> None:
    assert no_such_interface.stderr.count("Wi-Fi interface doesnotexist0") == 1


def test_watch_needs_a_source() -> None:
    result = invoke("wifi", "watch", "--seconds", "1")
    assert result.exit_code == 2
    assert "give --interface IFACE, --file CAPTURE or --config FILE" in result.stderr


# -- run, sync ----------------------------------------------------------------------------


def test_run_without_key_says_how_to_give_one() -> None:
    failed_cleanly(invoke("run", "--config", DEMO_CONFIG), "MALLSENSE_KEY", "privacy.key_file")


def test_run_simulate_radio_needs_a_known_sensor() -> None:
    result = invoke("run", "--config", DEMO_CONFIG, "--simulate-radio", f"bogus={SHOP}", key=KEY)
    assert result.exit_code == 2
    assert "expected SENSOR=FILE with SENSOR one of entrance, shop" in result.stderr


def test_sync_without_identity_asks_for_config(tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    Store(db).close()
    failed_cleanly(invoke("sync", "--db", db), f"database {db} has no records yet", "--config")


def test_sync_bad_broker_url_fails_cleanly(demo_replay: Replayed) -> None:
    result = invoke("sync", "--db", demo_replay.db, "--broker", "http://x")
    failed_cleanly(result, "http://x", "mqtt://HOST[:PORT]")
