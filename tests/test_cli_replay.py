"""The ``mallsense`` command line: `replay` defaults, configuration, refusals, determinism.

Most tests call the click group in this process (CliRunner keeps stdout and
stderr apart); databases are real SQLite files under tmp_path and recordings are
the bundled samples. Shared fixtures are in conftest.py, helpers in cli_helpers.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import (
    DEMO_CONFIG,
    DEMO_SPECS,
    ENTRANCE,
    KEY,
    SHOP,
    Replayed,
    counts,
    counts_of,
    failed_cleanly,
    invoke,
    json_lines,
    stored,
)

# -- 4. replay ----------------------------------------------------------------------------


def test_replay_without_config_uses_the_built_in_defaults(shop_replay: Replayed) -> None:
    out = shop_replay.result.stdout
    assert re.search(r"replayed [\d,]+ frames in [\d.]+ s into ", out)
    assert "sensor shop: 1,802 probe requests" in out
    hint = f"next: mallsense records --db {shop_replay.db} --kind dwell"
    assert hint in " ".join(out.split())
    records = stored(shop_replay.db)
    assert {r["kind"] for r in records} == {"dwell", "visit", "presence", "traffic"}
    assert {(r["mall"], r["box"]) for r in records} == {("demo", "replay")}
    assert {r["zone"] for r in records if "zone" in r} == {"shop"}


def test_replay_groups_random_macs_by_default(shop_replay: Replayed, tmp_path: Path) -> None:
    raw_db = tmp_path / "raw.db"
    assert invoke("replay", "--wifi", SHOP, "--db", raw_db, "--no-grouping").exit_code == 0

    def hour(db: Path) -> dict[str, Any]:
        return next(r for r in stored(db, "traffic") if not r["partial"])

    grouped, raw = hour(shop_replay.db), hour(raw_db)
    assert grouped["devices"] < grouped["devices_raw"] == raw["devices_raw"] == raw["devices"]
    assert grouped["grouping_confidence"] is not None and raw["grouping_confidence"] is None
    presence = stored(shop_replay.db, "presence")
    assert all(r["devices"] <= r["devices_raw"] for r in presence)


def test_replay_next_step_hint_is_one_line(tmp_path: Path) -> None:
    db = tmp_path / ("a-long-folder-name-" * 8) / "shop.db"
    result = invoke("replay", "--wifi", SHOP, "--db", db)
    assert result.exit_code == 0, result.output
    hint = f"next: mallsense records --db {db} --kind dwell"
    assert any(line.strip() == hint for line in result.stdout.splitlines())


def test_replay_json_prints_one_summary_line(demo_replay: Replayed) -> None:
    (summary,) = json_lines(demo_replay.result.stdout)
    assert summary["db"] == str(demo_replay.db)
    assert set(summary["sensors"]) == {"entrance", "shop", "shop-ble"}
    assert summary["frames"] == sum(s["frames"] for s in summary["sensors"].values()) > 0
    assert summary["sensors"]["shop"]["probes"] == 1802
    assert set(summary["records"]) == {"dwell", "visit", "presence", "traffic"}
    assert summary["records"] == counts(demo_replay.db)
    assert demo_replay.result.stderr == ""


def test_replay_with_the_demo_config_uses_its_ids_and_zones(demo_replay: Replayed) -> None:
    records = stored(demo_replay.db)
    assert {(r["mall"], r["box"]) for r in records} == {("demo-mall", "shop-12")}
    assert {r["zone"] for r in records if "zone" in r} == {"entrance", "shop"}


def test_replaying_the_same_files_twice_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "twice.db"
    assert invoke("replay", "--wifi", SHOP, "--db", db).exit_code == 0
    before = counts(db)
    again = invoke("replay", "--wifi", SHOP, "--db", db)
    failed_cleanly(
        again,
        f"these recordings were already replayed into {db}",
        "nothing was added",
        "--force",
    )
    assert counts(db) == before


def test_force_with_the_throwaway_key_adds_the_sessions_again(tmp_path: Path) -> None:
    """Without --config every replay has a new key: --force adds the device records again."""
    db = tmp_path / "force.db"
    assert invoke("replay", "--wifi", SHOP, "--db", db).exit_code == 0
    before = stored(db)
    forced = invoke("replay", "--wifi", SHOP, "--db", db, "--force")
    assert forced.exit_code == 0, forced.output
    after = stored(db)
    assert len({r["id"] for r in after}) == len(after)  # ids stay unique
    assert {r["id"] for r in before} <= {r["id"] for r in after}
    grown = {k: n - counts_of(before).get(k, 0) for k, n in counts_of(after).items()}
    assert grown["dwell"] == counts_of(before)["dwell"]  # new pseudonyms: "added again"
    assert grown["presence"] == 0  # presence ids do not depend on the key


def test_force_with_the_same_key_adds_no_duplicates(tmp_path: Path) -> None:
    db = tmp_path / "same-key.db"
    args = ("replay", "--config", DEMO_CONFIG, *DEMO_SPECS, "--db", db, "--json")
    assert invoke(*args, key=KEY).exit_code == 0
    before = [r["id"] for r in stored(db)]
    forced = invoke(*args, "--force", key=KEY)
    assert forced.exit_code == 0, forced.output
    assert [r["id"] for r in stored(db)] == before


def test_force_summary_counts_only_records_it_added(tmp_path: Path) -> None:
    db = tmp_path / "same-key.db"
    args = ("replay", "--config", DEMO_CONFIG, *DEMO_SPECS, "--db", db, "--json")
    assert invoke(*args, key=KEY).exit_code == 0
    (summary,) = json_lines(invoke(*args, "--force", key=KEY).stdout)
    assert summary["records_added"] == 0  # produced again, but every id was already stored
    assert sum(summary["records"].values()) > 0


def test_same_key_gives_the_same_record_ids(demo_replay: Replayed, tmp_path: Path) -> None:
    db = tmp_path / "again.db"
    result = invoke("replay", "--config", DEMO_CONFIG, *DEMO_SPECS, "--db", db, key=KEY)
    assert result.exit_code == 0, result.output
    assert stored(db) == stored(demo_replay.db)


def test_another_key_gives_other_pseudonyms(demo_replay: Replayed, tmp_path: Path) -> None:
    db = tmp_path / "other-key.db"
    other = "ab" * 32
    result = invoke("replay", "--config", DEMO_CONFIG, *DEMO_SPECS, "--db", db, key=other)
    assert result.exit_code == 0, result.output
    devices = {r["device"] for r in stored(db, "dwell")}
    assert devices.isdisjoint(r["device"] for r in stored(demo_replay.db, "dwell"))


def test_replay_file_without_sensor_name_with_two_sensors(tmp_path: Path) -> None:
    result = invoke(
        "replay", "--config", DEMO_CONFIG, "--wifi", SHOP, "--db", tmp_path / "x.db", key=KEY
    )
    failed_cleanly(result, "2 Wi-Fi sensors (entrance, shop)", f"--wifi NAME={SHOP}")


def test_replay_unknown_sensor_name(tmp_path: Path) -> None:
    result = invoke(
        "replay",
        "--config",
        DEMO_CONFIG,
        "--wifi",
        f"bogus={SHOP}",
        "--db",
        tmp_path / "x.db",
        key=KEY,
    )
    failed_cleanly(result, "'bogus'", "(sensors: entrance, shop)", "NAME=FILE")


def test_replay_two_recordings_for_one_sensor(tmp_path: Path) -> None:
    result = invoke(
        "replay",
        "--config",
        DEMO_CONFIG,
        "--wifi",
        f"shop={SHOP}",
        "--wifi",
        f"shop={ENTRANCE}",
        "--db",
        tmp_path / "x.db",
        key=KEY,
    )
    failed_cleanly(result, "two recordings for sensor 'shop'")


@pytest.mark.parametrize("with_config", [False, True], ids=["defaults", "config"])
def test_replay_missing_recording(tmp_path: Path, with_config: bool) -> None:
    missing = tmp_path / "missing.pcap"
    config = ("--config", DEMO_CONFIG) if with_config else ()
    spec = f"shop={missing}" if with_config else str(missing)
    result = invoke("replay", *config, "--wifi", spec, "--db", tmp_path / "x.db", key=KEY)
    failed_cleanly(result, f"recording {missing} does not exist")


@pytest.mark.parametrize("content", [b"", b"hello, not a capture\n"], ids=["empty", "text"])
def test_replay_a_file_that_is_not_a_capture(tmp_path: Path, content: bytes) -> None:
    bogus = tmp_path / "notes.pcap"
    bogus.write_bytes(content)
    result = invoke("replay", "--wifi", bogus, "--db", tmp_path / "x.db")
    failed_cleanly(result, f"{bogus}: not a pcap or pcapng file", "tcpdump -w")


def test_replay_with_config_and_no_key_says_how_to_give_one(tmp_path: Path) -> None:
    result = invoke("replay", "--config", DEMO_CONFIG, *DEMO_SPECS, "--db", tmp_path / "x.db")
    failed_cleanly(
        result, "no pseudonymization key", "MALLSENSE_KEY", "credential", "privacy.key_file"
    )
    assert not (tmp_path / "x.db").exists()


def test_replay_with_a_key_that_is_not_hex(tmp_path: Path) -> None:
    result = invoke(
        "replay", "--config", DEMO_CONFIG, *DEMO_SPECS, "--db", tmp_path / "x.db", key="not-a-key"
    )
    failed_cleanly(result, "$MALLSENSE_KEY is not hexadecimal", "mallsense keygen")


def test_replay_without_config_needs_db(tmp_path: Path) -> None:
    result = invoke("replay", "--wifi", SHOP)
    assert result.exit_code == 2
    assert "--db is required without --config" in result.stderr


def test_replay_into_a_database_of_another_box_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "box.db"
    first = invoke("replay", "--config", DEMO_CONFIG, "--wifi", f"shop={SHOP}", "--db", db, key=KEY)
    assert first.exit_code == 0, first.output
    before = counts(db)
    failed_cleanly(
        invoke("replay", "--wifi", SHOP, "--db", db),
        "holds records of mall demo-mall box shop-12, not of mall demo box replay",
    )
    assert counts(db) == before


def test_replay_a_directory_says_it_is_a_directory(tmp_path: Path) -> None:
    stderr = failed_cleanly(invoke("replay", "--wifi", tmp_path, "--db", tmp_path / "x.db"))
    assert "does not exist" not in stderr
    assert "directory" in stderr


def test_a_refused_replay_creates_no_database(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    failed_cleanly(
        invoke("replay", "--config", DEMO_CONFIG, "--wifi", f"bogus={SHOP}", "--db", db, key=KEY)
    )
    assert not db.exists()


@pytest.mark.parametrize("folder", ["[store]", "[/store]"], ids=["tag", "closing-tag"])
def test_error_messages_show_paths_with_brackets_verbatim(tmp_path: Path, folder: str) -> None:
    missing = tmp_path / "x" / folder / "a.pcap"
    result = invoke("replay", "--wifi", str(missing), "--db", tmp_path / "x.db")
    failed_cleanly(result, f"recording {missing} does not exist")
