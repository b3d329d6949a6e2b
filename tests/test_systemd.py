"""The systemd units as shipped, checked by systemd's own tools, and the maintenance they run.

``systemd-analyze verify`` needs the command of ``ExecStart=`` to exist and the
units the services depend on (sysinit.target, ...): the test builds a root with
the host's unit directory, the units of ``systemd/`` in /etc/systemd/system and an
executable at /opt/mallsense/.venv/bin/mallsense, and verifies with ``--root``
(systemd 252). ``systemd-analyze security --offline=yes`` scores the hardening
without a running systemd; the scores are printed (``pytest -s``) and held under
the thresholds below.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from cli_helpers import ROOT, SHOP, failed_cleanly, invoke

from edge.install.layout import UNITS

UNIT_DIR = ROOT / "systemd"
HOST_UNITS = Path("/usr/lib/systemd/system")
THRESHOLDS = {
    # The edge needs raw packet sockets, two capabilities, devices and the network.
    "mallsense-edge.service": 3.0,
    "mallsense-sync.service": 2.0,
    "mallsense-maintenance.service": 1.0,
}

ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(
    ANALYZE is None, reason="systemd-analyze is missing (`make tools` installs systemd)"
)


def settings(unit: str) -> dict[str, list[str]]:
    """Every ``Key=value`` of a unit file (keys may repeat)."""
    found: dict[str, list[str]] = {}
    for line in (UNIT_DIR / unit).read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key, []).append(value)
    return found


@pytest.fixture(scope="module")
def system_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not HOST_UNITS.is_dir():
        pytest.skip(f"{HOST_UNITS} is missing: systemd is not installed here")
    root = tmp_path_factory.mktemp("root")
    shutil.copytree(HOST_UNITS, root / "usr/lib/systemd/system", symlinks=True)
    units = root / "etc/systemd/system"
    units.mkdir(parents=True)
    for unit in UNITS:
        shutil.copyfile(UNIT_DIR / unit, units / unit)
    for command in ("opt/mallsense/.venv/bin/mallsense", "bin/kill"):  # ExecStart=, ExecReload=
        executable = root / command
        executable.parent.mkdir(parents=True)
        executable.write_text("#!/bin/sh\n")
        executable.chmod(0o755)
    return root


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    return subprocess.run([ANALYZE, *args], capture_output=True, text=True, timeout=60, check=False)


@needs_analyze
@pytest.mark.parametrize("unit", UNITS)
def test_systemd_analyze_verify_accepts_the_unit(system_root: Path, unit: str) -> None:
    result = analyze("verify", f"--root={system_root}", unit)
    # verify exits 0 even for unknown keys; every complaint it prints is a failure here.
    assert result.returncode == 0, result.stderr
    assert result.stdout + result.stderr == ""


@needs_analyze
@pytest.mark.parametrize("unit", sorted(THRESHOLDS))
def test_exposure_score_is_under_its_threshold(system_root: Path, unit: str) -> None:
    result = analyze("security", "--offline=yes", f"--root={system_root}", unit)
    assert result.returncode == 0, result.stderr
    match = re.search(rf"Overall exposure level for {re.escape(unit)}: (\d+\.\d+)", result.stdout)
    assert match is not None, result.stdout
    score = float(match[1])
    print(f"\n{unit}: exposure {score} (threshold {THRESHOLDS[unit]})")
    assert score < THRESHOLDS[unit], result.stdout


def test_services_are_notify_with_a_watchdog_and_restart_with_backoff() -> None:
    for unit in ("mallsense-edge.service", "mallsense-sync.service"):
        s = settings(unit)
        assert s["Type"] == ["notify"] and s["NotifyAccess"] == ["main"], unit
        assert s["WatchdogSec"] == ["30"], unit
        assert s["ExecReload"] == ["/bin/kill -HUP $MAINPID"], unit  # tests/test_reload.py
        assert s["Restart"] == ["on-failure"] and s["RestartSec"] == ["5"], unit
        assert s["StartLimitIntervalSec"] and s["StartLimitBurst"], unit
        assert s["User"] == ["mallsense"] and s["Group"] == ["mallsense"], unit
        assert s["StateDirectory"] == ["mallsense"], unit
        assert s["ConfigurationDirectory"] == ["mallsense"], unit
        for key in (
            "ProtectSystem=strict",
            "ProtectHome=yes",
            "PrivateTmp=yes",
            "NoNewPrivileges=yes",
            "ProtectKernelTunables=yes",
            "ProtectKernelModules=yes",
            "ProtectKernelLogs=yes",
            "ProtectControlGroups=yes",
            "RestrictNamespaces=yes",
            "RestrictRealtime=yes",
            "LockPersonality=yes",
            "MemoryDenyWriteExecute=yes",
            "SystemCallArchitectures=native",
        ):
            name, value = key.split("=")
            assert s[name] == [value], (unit, key)
        assert "@system-service" in s["SystemCallFilter"], unit


def test_edge_privileges_are_capture_devices_and_groups_only() -> None:
    s = settings("mallsense-edge.service")
    assert s["CapabilityBoundingSet"] == ["CAP_NET_RAW CAP_NET_ADMIN"]
    assert s["AmbientCapabilities"] == ["CAP_NET_RAW CAP_NET_ADMIN"]
    assert s["SupplementaryGroups"] == ["dialout video bluetooth"]
    assert s["DevicePolicy"] == ["closed"]
    assert {d.split()[0] for d in s["DeviceAllow"]} >= {
        "char-ttyUSB",
        "char-ttyACM",
        "char-video4linux",
    }
    families = set(s["RestrictAddressFamilies"][0].split())
    assert families == {"AF_UNIX", "AF_INET", "AF_INET6", "AF_PACKET", "AF_NETLINK", "AF_BLUETOOTH"}
    assert s["LoadCredential"] == ["mallsense-key:/etc/mallsense/credentials/mallsense-key"]


def test_sync_has_no_capability_no_device_and_ip_only() -> None:
    s = settings("mallsense-sync.service")
    assert s["CapabilityBoundingSet"] == [""]
    assert "AmbientCapabilities" not in s
    assert "SupplementaryGroups" not in s
    assert s["PrivateDevices"] == ["yes"]
    assert s["RestrictAddressFamilies"] == ["AF_UNIX AF_INET AF_INET6"]
    assert "LoadCredential" not in s  # the key is not the sync's; the password is a drop-in


def test_the_timer_runs_maintenance_daily() -> None:
    timer = settings("mallsense-maintenance.timer")
    assert timer["OnCalendar"] == ["*-*-* 03:30:00"]
    assert timer["Persistent"] == ["yes"]
    service = settings("mallsense-maintenance.service")
    assert service["Type"] == ["oneshot"]
    assert " maintenance --config /etc/mallsense/mallsense.toml" in service["ExecStart"][0]
    assert service["PrivateNetwork"] == ["yes"]


# -- mallsense maintenance ----------------------------------------------------------------


def replayed_db(tmp_path: Path) -> Path:
    db = tmp_path / "box.db"
    result = invoke("replay", "--wifi", SHOP, "--db", db)
    assert result.exit_code == 0, result.output
    return db


def test_maintenance_vacuums_when_free_pages_are_worth_it(tmp_path: Path) -> None:
    db = replayed_db(tmp_path)
    with sqlite3.connect(db) as conn:  # delivered and expired: most pages become free
        conn.execute("DELETE FROM outbox")
        conn.execute("DELETE FROM records")
    before = db.stat().st_size
    result = invoke("maintenance", "--db", db, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["integrity"] == "ok"
    assert report["vacuumed"] is True
    assert report["free_bytes"] >= 0.2 * report["file_bytes"]
    assert report["file_bytes_after"] < report["file_bytes"]
    assert db.stat().st_size < before


def test_maintenance_skips_vacuum_when_little_is_free(tmp_path: Path) -> None:
    db = replayed_db(tmp_path)
    result = invoke("maintenance", "--db", db)
    assert result.exit_code == 0, result.output
    assert "integrity  ok (PRAGMA quick_check)" in result.stdout
    assert "no VACUUM: 0 MB free pages (0%), below 20% and 64 MB" in result.stdout


def test_maintenance_names_a_damaged_database_and_the_way_out(tmp_path: Path) -> None:
    db = replayed_db(tmp_path)
    with sqlite3.connect(db) as conn:
        index_page = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'idx_records_kind_start'"
        ).fetchone()[0]
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    with db.open("r+b") as raw:  # garbage over the cell pointers of an index page
        raw.seek((index_page - 1) * page_size + 8)
        raw.write(b"\xff" * 64)
    failed_cleanly(
        invoke("maintenance", "--db", db),
        f"database {db} is damaged (PRAGMA quick_check:",
        "restore the newest box.db.bak-* backup",
    )


def test_maintenance_without_a_database_has_nothing_to_do(tmp_path: Path) -> None:
    result = invoke("maintenance", "--db", tmp_path / "none.db")
    assert result.exit_code == 0
    assert "nothing to maintain" in result.stdout
