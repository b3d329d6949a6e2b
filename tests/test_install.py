"""``mallsense install`` into a temporary root, and the Debian package made from the same parts.

The root is seeded with minimal /etc/passwd, group, shadow and gshadow files; the
real ``systemd-sysusers --root`` adds the account, and owners are checked by the
numeric ids in the root's own files. Changing owners needs root, so these tests
run as root (as ``make test`` does on the box) and are skipped otherwise.

The package test builds a small .deb (the real tree, with a stand-in virtualenv
whose ``mallsense`` runs this checkout's), unpacks it into a root and runs its
postinst there with ``DPKG_ROOT``, as dpkg does for ``--root``. The full build
(``make deb``: pip, mypyc, xz) takes minutes and is not run here.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from cli_helpers import MALLSENSE, failed_cleanly, invoke

from edge.install.debpkg import build_deb
from edge.install.layout import UNITS

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="installing sets owners: needs root"),
    pytest.mark.skipif(
        shutil.which("systemd-sysusers") is None, reason="systemd-sysusers is missing"
    ),
]

PREFIX = "/opt/mallsense"


def seed(root: Path) -> Path:
    etc = root / "etc"
    etc.mkdir(parents=True)
    files = {
        "passwd": "root:x:0:0:root:/root:/bin/sh\n",
        "group": "root:x:0:\ndialout:x:20:\nvideo:x:44:\n",
        "shadow": "root:*:19000:0:99999:7:::\n",
        "gshadow": "root:*::\ndialout:*::\nvideo:*::\n",
    }
    for name, text in files.items():
        (etc / name).write_text(text)
        (etc / name).chmod(0o600 if "shadow" in name else 0o644)
    return root


@pytest.fixture
def target(tmp_path: Path) -> Path:
    """A root with the account files and an installed mallsense at /opt/mallsense."""
    root = seed(tmp_path / "root")
    for command in ("opt/mallsense/.venv/bin/mallsense", "bin/kill"):  # ExecStart=, ExecReload=
        executable = root / command
        executable.parent.mkdir(parents=True, exist_ok=True)
        executable.write_text("#!/bin/sh\n")
        executable.chmod(0o755)
    return root


def ids(root: Path, database: str, name: str) -> int:
    for line in (root / "etc" / database).read_text().splitlines():
        fields = line.split(":")
        if fields[0] == name:
            return int(fields[2])
    raise AssertionError(f"{name} not in {database}")


def owner_mode(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)


def snapshot(root: Path) -> dict[str, tuple[int, int, int, int, str]]:
    """Every path under ``root`` with its owner, mode, mtime and content."""
    found = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
        found[str(path.relative_to(root))] = (
            st.st_uid,
            st.st_gid,
            st.st_mode,
            st.st_mtime_ns,
            digest,
        )
    return found


def install(root: Path, *args: str) -> str:
    result = invoke("install", "--root", root, "--prefix", PREFIX, *args)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_dry_run_prints_every_step_and_touches_nothing(target: Path) -> None:
    before = snapshot(target)
    out = install(target, "--dry-run")
    assert snapshot(target) == before
    for step in (
        "would create  user mallsense, group mallsense, group bluetooth (systemd-sysusers)",
        "would create  /etc/mallsense (0750 root:mallsense)",
        "would create  /etc/mallsense/credentials (0700 root:root)",
        "would create  /var/lib/mallsense (0750 mallsense:mallsense)",
        "would create  /etc/mallsense/mallsense.toml (0640 root:mallsense)",
        "would generate /etc/mallsense/credentials/mallsense-key (0600 root:root)",
        *(f"would create  /etc/systemd/system/{unit} (0644 root:root)" for unit in UNITS),
    ):
        assert step in out
    assert "dry run: 10 change(s) listed, nothing was changed" in out


def test_install_twice_sets_owners_and_modes_then_changes_nothing(target: Path) -> None:
    first = install(target)
    assert "10 change(s) made" in first
    assert "a NEW pseudonymization key" in first
    uid, gid = ids(target, "passwd", "mallsense"), ids(target, "group", "mallsense")
    assert ids(target, "group", "bluetooth") > 0  # SupplementaryGroups= must resolve
    assert owner_mode(target / "etc/mallsense") == (0, gid, 0o750)
    assert owner_mode(target / "etc/mallsense/credentials") == (0, 0, 0o700)
    assert owner_mode(target / "var/lib/mallsense") == (uid, gid, 0o750)
    assert owner_mode(target / "etc/mallsense/mallsense.toml") == (0, gid, 0o640)
    key = target / "etc/mallsense/credentials/mallsense-key"
    assert owner_mode(key) == (0, 0, 0o600)
    assert len(bytes.fromhex(key.read_text().strip())) == 32
    for unit in UNITS:
        assert owner_mode(target / "etc/systemd/system" / unit) == (0, 0, 0o644)
    edge = (target / "etc/systemd/system/mallsense-edge.service").read_text()
    assert f"ExecStart={PREFIX}/.venv/bin/mallsense run --config" in edge
    template = (target / "etc/mallsense/mallsense.toml").read_text()
    assert 'path = "/var/lib/mallsense/mallsense.db"' in template

    before = snapshot(target)
    second = install(target)
    assert snapshot(target) == before
    assert "nothing changed: this box was already installed" in second
    assert "would" not in second and "created" not in second


def test_an_existing_key_is_kept_and_its_mode_repaired(target: Path) -> None:
    credentials = target / "etc/mallsense/credentials"
    credentials.mkdir(parents=True)
    key = credentials / "mallsense-key"
    key.write_text("ab" * 32 + "\n")
    key.chmod(0o644)
    out = install(target)
    assert key.read_text() == "ab" * 32 + "\n"
    assert owner_mode(key) == (0, 0, 0o600)
    assert "fixed         /etc/mallsense/credentials/mallsense-key: 0644 uid 0 gid 0" in out
    assert "a NEW pseudonymization key" not in out


def test_units_run_the_given_prefix(target: Path) -> None:
    executable = target / "srv/ms/.venv/bin/mallsense"
    executable.parent.mkdir(parents=True)
    shutil.copy2(target / "opt/mallsense/.venv/bin/mallsense", executable)
    result = invoke("install", "--root", target, "--prefix", "/srv/ms")
    assert result.exit_code == 0, result.output
    for unit in UNITS:
        text = (target / "etc/systemd/system" / unit).read_text()
        assert "/opt/mallsense/.venv" not in text, unit
    sync = (target / "etc/systemd/system/mallsense-sync.service").read_text()
    assert "ExecStart=/srv/ms/.venv/bin/mallsense sync --config" in sync


def test_a_missing_installation_is_refused(target: Path) -> None:
    failed_cleanly(
        invoke("install", "--root", target, "--prefix", "/nowhere"),
        "/nowhere/.venv/bin/mallsense does not exist, and the units run it",
    )
    assert not (target / "etc/mallsense").exists()


def test_optional_credentials_become_drop_ins_that_systemd_accepts(target: Path) -> None:
    credentials = target / "etc/mallsense/credentials"
    credentials.mkdir(parents=True, mode=0o700)
    for name in ("mqtt-password", "camera-door-password"):
        (credentials / name).write_text("secret\n")
    install(target)
    units = target / "etc/systemd/system"
    sync = (units / "mallsense-sync.service.d/50-credentials.conf").read_text()
    assert "LoadCredential=mqtt-password:/etc/mallsense/credentials/mqtt-password" in sync
    edge = (units / "mallsense-edge.service.d/50-credentials.conf").read_text()
    assert (
        "LoadCredential=camera-door-password:/etc/mallsense/credentials/camera-door-password"
        in edge
    )
    assert "mqtt-password" not in edge  # each service gets only its own secrets
    analyze = shutil.which("systemd-analyze")
    if analyze is not None and Path("/usr/lib/systemd/system").is_dir():
        shutil.copytree("/usr/lib/systemd/system", target / "usr/lib/systemd/system", symlinks=True)
        for unit in ("mallsense-edge.service", "mallsense-sync.service"):
            verify = subprocess.run(
                [analyze, "verify", f"--root={target}", unit],
                capture_output=True,
                text=True,
                check=False,
            )
            assert (verify.returncode, verify.stdout + verify.stderr) == (0, ""), unit

    (credentials / "mqtt-password").unlink()
    out = install(target)
    assert "removed       /etc/systemd/system/mallsense-sync.service.d/50-credentials.conf" in out
    assert (units / "mallsense-edge.service.d/50-credentials.conf").exists()


# -- the Debian package -----------------------------------------------------------------


def stand_in_venv(venv: Path) -> None:
    """A virtualenv whose mallsense is this checkout's (the real one takes minutes to build)."""
    (venv / "bin").mkdir(parents=True)
    script = venv / "bin" / "mallsense"
    script.write_text("#!/bin/sh\nexec " + " ".join(MALLSENSE) + ' "$@"\n')
    script.chmod(0o755)
    (venv / "pyvenv.cfg").write_text(f"home = /usr/bin\ncommand = python3 -m venv {venv}\n")


@pytest.fixture(scope="module")
def small_deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb is missing")
    work = tmp_path_factory.mktemp("deb")
    return build_deb(work / "out", work / "build", stand_in_venv, "3.11", compile_=False)


def dpkg_deb(*args: str | Path) -> str:
    return subprocess.run(
        ["dpkg-deb", *map(str, args)], capture_output=True, text=True, check=True
    ).stdout


def test_the_package_holds_the_venv_units_and_maintainer_scripts(small_deb: Path) -> None:
    contents = dpkg_deb("--contents", small_deb)
    paths = {line.split()[-1] for line in contents.splitlines()}
    owners = {line.split()[1] for line in contents.splitlines()}
    assert owners == {"root/root"}
    expected = {
        "./opt/mallsense/.venv/bin/mallsense",
        "./usr/lib/sysusers.d/mallsense.conf",
        "./usr/share/doc/mallsense/install.md",
        *(f"./lib/systemd/system/{unit}" for unit in UNITS),
        *(f"./opt/mallsense/.venv/share/mallsense/systemd/{unit}" for unit in UNITS),
    }
    assert expected <= paths
    assert dpkg_deb("--field", small_deb, "Package", "Depends").splitlines() == [
        "Package: mallsense",
        "Depends: python3.11, systemd",
    ]
    info = dpkg_deb("--info", small_deb)
    for script in ("postinst", "prerm", "postrm"):
        assert re.search(rf"\d+ bytes,\s+\d+ lines\s+\*\s+{script}\s+#!/bin/sh", info), script


def test_postinst_installs_into_dpkg_root_and_enables_the_units(
    small_deb: Path, tmp_path: Path
) -> None:
    root = seed(tmp_path / "root")
    subprocess.run(["dpkg-deb", "-x", str(small_deb), str(root)], check=True)
    control = tmp_path / "control"
    subprocess.run(["dpkg-deb", "-e", str(small_deb), str(control)], check=True)
    assert "/opt/mallsense/.venv" in (root / "opt/mallsense/.venv/pyvenv.cfg").read_text()
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    calls = tmp_path / "calls"
    for tool in ("deb-systemd-helper", "deb-systemd-invoke", "systemctl"):
        (stubs / tool).write_text(f'#!/bin/sh\necho "{tool} $*" >> {calls}\n')
        (stubs / tool).chmod(0o755)
    env = os.environ | {"DPKG_ROOT": str(root), "PATH": f"{stubs}:{os.environ['PATH']}"}

    def postinst(*args: str) -> str:
        run = subprocess.run(
            ["sh", str(control / "postinst"), *args],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert run.returncode == 0, run.stderr
        return run.stdout

    first = postinst("configure", "")
    assert "units from the package in /lib/systemd/system" in first
    assert not (root / "etc/systemd/system/mallsense-edge.service").exists()
    assert (root / "etc/mallsense/credentials/mallsense-key").is_file()
    assert ids(root, "passwd", "mallsense") > 0
    enabled = [c for c in calls.read_text().splitlines() if " enable " in f"{c} "]
    assert enabled == [
        f"deb-systemd-helper enable {u}"
        for u in ("mallsense-edge.service", "mallsense-sync.service", "mallsense-maintenance.timer")
    ]
    assert "deb-systemd-invoke" not in calls.read_text()  # not started inside another root
    upgrade = postinst("configure", "0.1.0")
    assert "nothing changed: this box was already installed" in upgrade


def test_an_image_without_a_prefix_gets_the_debs_prefix_and_a_note(tmp_path: Path) -> None:
    image = tmp_path / "image"
    image.mkdir()
    result = invoke("install", "--root", image, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "/opt/mallsense/.venv/bin/mallsense is not in" in result.stdout
    assert "install mallsense there before the image boots" in result.stdout
