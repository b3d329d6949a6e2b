"""Upgrades: a database backup before schema migrations; configuration keys that changed.

The databases are real SQLite files written by the real Store. An "older version"
is the same code with the newest migrations left out of the list, which is
exactly what an older release was.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import time
from pathlib import Path

import pytest
from cli_helpers import DEMO_CONFIG, failed_cleanly, invoke, write_text

from edge.config import load_config, parse_config
from edge.config import upgrade as config_upgrade
from edge.errors import ConfigError
from edge.store import Store, migrations
from edge.store.backup import KEEP, backups

ALL = list(migrations.MIGRATIONS)
NAMES = [name for name, _step in ALL]


def release(monkeypatch: pytest.MonkeyPatch, *, old: bool) -> None:
    """The Store of an old release (only the first migration) or of this one."""
    monkeypatch.setattr(migrations, "MIGRATIONS", ALL[:1] if old else ALL)


def applied(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT name FROM _migrations ORDER BY name")]


# -- database ---------------------------------------------------------------------------


def test_pending_migrations_are_applied_after_a_backup_of_the_old_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "box.db"
    release(monkeypatch, old=True)
    writer = Store(db)  # stays open: its last writes are still in the WAL
    writer.put("identity.mall", "m1")
    assert Path(f"{db}-wal").stat().st_size > 0
    release(monkeypatch, old=False)
    try:
        with Store(db) as upgraded:
            assert upgraded.get("identity.mall") == "m1"
    finally:
        writer.close()
    backup = tmp_path / f"box.db.bak-{NAMES[0]}"
    assert backups(db) == [backup]
    assert applied(backup) == NAMES[:1]  # the database as the old release left it
    assert applied(db) == sorted(NAMES)
    with sqlite3.connect(backup) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        assert conn.execute("SELECT value FROM kv WHERE key = 'identity.mall'").fetchone() == (
            "m1",
        )
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert not list(tmp_path.glob("*.partial-*"))


def test_no_backup_for_a_new_or_current_database(tmp_path: Path) -> None:
    db = tmp_path / "box.db"
    Store(db).close()  # new: nothing to keep
    Store(db).close()  # current: nothing to migrate
    assert backups(db) == []


def test_only_the_newest_backups_are_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "box.db"
    release(monkeypatch, old=True)
    Store(db).close()
    old = []
    for age in range(KEEP + 2):
        path = tmp_path / f"box.db.bak-0000_old_{age}"
        path.write_bytes(b"")
        stamp = time.time() - 3600 * (age + 1)
        os.utime(path, (stamp, stamp))
        old.append(path)
    release(monkeypatch, old=False)
    Store(db).close()
    kept = backups(db)
    assert len(kept) == KEEP
    assert kept[-1].name == f"box.db.bak-{NAMES[0]}"
    assert kept[:-1] == sorted(old[: KEEP - 1], key=lambda p: p.stat().st_mtime)


def test_a_backup_that_cannot_be_made_does_not_stop_the_upgrade(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "box.db"
    release(monkeypatch, old=True)
    Store(db).close()
    release(monkeypatch, old=False)

    class Full:
        free = 0

    monkeypatch.setattr(shutil, "disk_usage", lambda _path: Full)  # a full disk
    with caplog.at_level(logging.ERROR, "mallsense.store"), Store(db):
        pass
    assert applied(db) == sorted(NAMES)
    assert backups(db) == []
    assert "could not back up" in caplog.text
    assert "upgrading without a backup" in caplog.text


# -- configuration: the loader ------------------------------------------------------------

OLD_CONFIG = """\
# the shop's box, as written for an older release
mall = "m1"
box = "b1"

[[zones]]
id = "shop"   # the sales floor

[aggregation]
session_gap = 120   # two minutes

[mqtt]
url = "tcp://broker.mall.example:1883"
"""


def test_the_loader_reads_renamed_keys_and_names_them(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "mallsense.config"):
        config = parse_config(OLD_CONFIG, "/etc/mallsense/mallsense.toml")
    assert config.aggregation.session_gap_s == 120
    assert config.mqtt.url == "mqtt://broker.mall.example:1883"
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2
    gap, url = warnings
    assert "aggregation.session_gap was renamed aggregation.session_gap_s" in gap
    assert "`mallsense config upgrade /etc/mallsense/mallsense.toml` does it" in gap
    assert "mqtt.url (got 'tcp://broker.mall.example:1883')" in url
    assert "change it to 'mqtt://broker.mall.example:1883'" in url


def test_the_loader_refuses_a_removed_key_naming_its_replacement(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gone = config_upgrade.Removed(
        "aggregation.flush_every", "use aggregation.flush_interval_s (seconds)", "0.2"
    )
    monkeypatch.setattr(config_upgrade, "REMOVED", (gone,))
    text = 'mall = "m1"\nbox = "b1"\n[[zones]]\nid = "s"\n[aggregation]\nflush_every = 3\n'
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "box.toml")
    message = str(caught.value)
    assert "box.toml has key(s) this version no longer reads" in message
    assert "aggregation.flush_every was removed in mallsense 0.2" in message
    assert "use aggregation.flush_interval_s (seconds)" in message


def test_old_and_new_name_together_are_refused() -> None:
    text = OLD_CONFIG.replace("session_gap = 120", "session_gap = 120\nsession_gap_s = 60")
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert "aggregation.session_gap and aggregation.session_gap_s are both set" in str(caught.value)


def test_renames_reach_every_table_of_an_array(monkeypatch: pytest.MonkeyPatch) -> None:
    rename = config_upgrade.Renamed("sensors[].hop", "sensors[].hop_dwell_s", "0.2")
    monkeypatch.setattr(config_upgrade, "RENAMED", (rename,))
    data = {"sensors": [{"name": "a", "hop": 1}, {"name": "b"}, {"name": "c", "hop": 2}]}
    result, findings = config_upgrade.find_changes(data)
    assert [s.get("hop_dwell_s") for s in result["sensors"]] == [1, None, 2]
    assert [f.key for f in findings] == ["sensors[0].hop", "sensors[2].hop"]
    assert data["sensors"][0] == {"name": "a", "hop": 1}  # the input is left alone


# -- configuration: mallsense config upgrade ----------------------------------------------


def test_config_upgrade_dry_run_prints_the_diff_and_writes_nothing(tmp_path: Path) -> None:
    path = write_text(tmp_path / "box.toml", OLD_CONFIG)
    result = invoke("config", "upgrade", path, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "-session_gap = 120   # two minutes" in result.stdout
    assert "+session_gap_s = 120   # two minutes" in result.stdout
    assert '+url = "mqtt://broker.mall.example:1883"' in result.stdout
    assert "dry run: nothing written" in result.stdout
    assert path.read_text() == OLD_CONFIG
    assert not (tmp_path / "box.toml.bak").exists()


def test_config_upgrade_rewrites_in_place_and_keeps_a_backup(tmp_path: Path) -> None:
    path = write_text(tmp_path / "box.toml", OLD_CONFIG)
    path.chmod(0o640)
    result = invoke("config", "upgrade", path)
    assert result.exit_code == 0, result.output
    assert "aggregation.session_gap was renamed aggregation.session_gap_s" in result.stdout
    assert f"the previous version is {path}.bak" in result.stdout
    text = path.read_text()
    assert text == OLD_CONFIG.replace("session_gap =", "session_gap_s =").replace(
        "tcp://", "mqtt://"
    )  # comments and layout kept
    assert (tmp_path / "box.toml.bak").read_text() == OLD_CONFIG
    assert path.stat().st_mode & 0o777 == 0o640
    assert load_config(path).aggregation.session_gap_s == 120
    again = invoke("config", "upgrade", path)
    assert again.exit_code == 0
    assert "is up to date: nothing to change" in again.stdout


def test_config_upgrade_of_an_inline_table_asks_for_a_hand_edit(tmp_path: Path) -> None:
    text = OLD_CONFIG.replace('[mqtt]\nurl = "tcp://broker.mall.example:1883"\n', "").replace(
        'box = "b1"\n', 'box = "b1"\nmqtt = { url = "tcp://broker.mall.example:1883" }\n'
    )
    path = write_text(tmp_path / "box.toml", text)
    failed_cleanly(
        invoke("config", "upgrade", path),
        "cannot be upgraded automatically; make these changes by hand",
        "change it to 'mqtt://broker.mall.example:1883'",
    )
    assert path.read_text() == text


def test_config_upgrade_leaves_removed_keys_to_a_person(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = config_upgrade.Removed("mqtt.qos", "every batch is sent at QoS 1", "0.2")
    monkeypatch.setattr(config_upgrade, "REMOVED", (gone,))
    text = OLD_CONFIG + "qos = 0\n"
    path = write_text(tmp_path / "box.toml", text)
    failed_cleanly(
        invoke("config", "upgrade", path),
        "change these by hand first",
        "mqtt.qos was removed in mallsense 0.2: every batch is sent at QoS 1",
    )
    assert path.read_text() == text


def test_the_demo_config_is_up_to_date() -> None:
    result = invoke("config", "upgrade", DEMO_CONFIG, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "is up to date" in result.stdout
