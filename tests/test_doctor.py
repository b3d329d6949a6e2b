"""``mallsense doctor`` against real local services, and against missing or broken ones.

Real: a Mosquitto with TLS (a throwaway CA) and a password file, a pseudo-terminal
as the POS line's serial port, a small video file as the camera, SQLite files, key
files with real modes and owners. Missing: a closed port, a serial port and a video
that do not exist, a damaged database, a key every user can read, no Wi-Fi card and
no Bluetooth adapter (this machine has neither). Only the radios' sysfs directories
and the tools that read them (iw, btmgmt, timedatectl, chronyc) are stood in for,
to cover the states of hardware this machine does not have.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import pytest
import serial  # type: ignore[import-untyped]
from broker import Broker, free_port, running_broker
from camera_helpers import write_video
from cli_helpers import KEY, ROOT, invoke, json_lines, run_mallsense
from pki import Pki
from pos_pty import PtyPair, pty_pairs

from edge.config import Config, parse_config
from edge.doctor import Host, run_doctor
from edge.doctor.clock import check_clock
from edge.doctor.configuration import check_key
from edge.doctor.host import Runner, ToolResult
from edge.doctor.storage import check_database, check_disk
from edge.doctor.uplink import check_broker
from edge.sensors.ble.config import BleSensorConfig
from edge.sensors.ble.doctor import check as check_ble
from edge.sensors.camera.config import CameraSensorConfig
from edge.sensors.camera.doctor import check as check_camera
from edge.sensors.pos.config import PosSensorConfig
from edge.sensors.pos.doctor import check as check_pos
from edge.sensors.wifi.config import WifiSensorConfig
from edge.sensors.wifi.doctor import check as check_wifi
from edge.store import Store

MALL, BOX, USER, PASSWORD = "doctor-mall", "box-7", "box-7", "s3cret"
S = TypeVar("S")
ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="changes file owners (needs root)")
NO_CREDENTIALS = Path("/nonexistent-credentials")


@pytest.fixture(autouse=True)
def _without_secrets_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The doctor looks where the services look; a developer's shell must not change that."""
    for name in ("MALLSENSE_KEY", "MALLSENSE_MQTT_PASSWORD", "CREDENTIALS_DIRECTORY"):
        monkeypatch.delenv(name, raising=False)


def installed_here() -> None:
    """The command checks /etc/mallsense/credentials: skip where a real box keeps its own."""
    if Path("/etc/mallsense/credentials").exists():
        pytest.skip("mallsense is installed on this machine: the doctor would check its key")


# -- the real services ----------------------------------------------------------------------


@dataclass(frozen=True)
class TlsBroker:
    """A running Mosquitto that speaks only TLS, and the CA that signed its certificate."""

    broker: Broker
    ca: Path

    @property
    def url(self) -> str:
        return f"mqtts://127.0.0.1:{self.broker.port}"


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsBroker]:
    """Mosquitto speaking only TLS (a certificate for 127.0.0.1), wanting box-7's password."""
    work = tmp_path_factory.mktemp("doctor-broker")
    pki = Pki(work / "pki")
    authority = pki.authority("mall-ca")
    server = pki.server(authority, "broker", ips=("127.0.0.1",))
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        pytest.skip("mosquitto_passwd is not installed (package mosquitto)")
    passwords = work / "passwords"
    passwords.write_text("", encoding="utf-8")
    passwords.chmod(0o600)
    subprocess.run([tool, "-b", str(passwords), USER, PASSWORD], check=True, capture_output=True)
    extra = "\n".join(
        [
            f"certfile {server.cert}",
            f"keyfile {server.key}",
            "allow_anonymous false",
            f"password_file {passwords}",
        ]
    )
    with running_broker(work / "mq", extra_config=extra) as broker:
        yield TlsBroker(broker, authority.cert)


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_video(tmp_path_factory.mktemp("doctor-video") / "door.mp4", frames=10)


@pytest.fixture
def pty() -> Iterator[PtyPair]:
    with pty_pairs(1) as (pair,):
        yield pair


def key_file(path: Path, mode: int = 0o600, text: str = KEY) -> Path:
    path.write_text(text + "\n", encoding="utf-8")
    path.chmod(mode)
    return path


def database(path: Path) -> Path:
    Store(path).close()  # a real, migrated mallsense database
    return path


def box_config(
    directory: Path,
    *,
    url: str,
    db: Path,
    key: Path | None,
    ca: Path | None = None,
    password: str | None = PASSWORD,
    camera: Path | None = None,
    port: str | None = None,
    radios: bool = False,
    max_mb: float = 64,
) -> Path:
    """A box's configuration file naming the services under test."""
    lines = [f'mall = "{MALL}"', f'box = "{BOX}"', "", "[[zones]]", 'id = "shop"', ""]
    if camera is not None:
        lines += ["[[sensors]]", 'type = "camera"', 'name = "door"', 'zone = "shop"']
        lines += [f'url = "{camera}"', ""]
    if port is not None:
        lines += ["[[sensors]]", 'type = "pos"', 'name = "till"', 'zone = "shop"']
        lines += ['store = "shop-12"', f'port = "{port}"', ""]
    if radios:
        lines += ["[[sensors]]", 'type = "wifi"', 'name = "entrance"', 'zone = "shop"']
        lines += ['interface = "wlan9mon"', ""]
        lines += ["[[sensors]]", 'type = "ble"', 'name = "beacons"', 'zone = "shop"']
        lines += ['adapter = "hci7"', ""]
    lines += ["[store]", f'path = "{db}"', f"max_mb = {max_mb}", ""]
    lines += ["[mqtt]", f'url = "{url}"']
    if password is not None:
        secret = directory / "mqtt-password"
        secret.write_text(password + "\n", encoding="utf-8")
        secret.chmod(0o600)  # a password file others can read is refused
        lines += [f'username = "{USER}"', f'password_file = "{secret}"']
    if ca is not None:
        lines.append(f'ca_file = "{ca}"')
    if key is not None:
        lines += ["", "[privacy]", f'key_file = "{key}"']
    path = directory / "mallsense.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def me() -> str:
    import pwd

    return pwd.getpwuid(os.geteuid()).pw_name


@pytest.fixture
def healthy(tmp_path: Path, tls_broker: TlsBroker, video: Path, pty: PtyPair) -> Path:
    """Every service of the box there and working."""
    installed_here()
    return box_config(
        tmp_path,
        url=tls_broker.url,
        ca=tls_broker.ca,
        db=database(tmp_path / "mallsense.db"),
        key=key_file(tmp_path / "mallsense-key"),
        camera=video,
        port=pty.path,
    )


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    """Every service missing or damaged."""
    installed_here()
    db = tmp_path / "mallsense.db"
    db.write_bytes(b"this is not a database, it was a log file once\n" * 100)
    return box_config(
        tmp_path,
        url=f"mqtt://127.0.0.1:{free_port()}",
        db=db,
        key=key_file(tmp_path / "mallsense-key", mode=0o644),
        camera=tmp_path / "no-such-video.mp4",
        port=str(tmp_path / "ttyUSB9"),
        radios=True,
    )


def by_name(lines: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {line["check"]: line for line in lines}


def line_of(output: str, name: str) -> str:
    """The human output's line for check ``name``."""
    found = [line for line in output.splitlines() if line[2:].startswith(f"{name} ")]
    assert len(found) == 1, output
    return found[0]


# -- the whole command ----------------------------------------------------------------------


@pytest.mark.broker
def test_doctor_passes_against_real_services(healthy: Path) -> None:
    result = invoke("doctor", "--config", healthy, "--user", me(), "--skip", "clock")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for name in ("config", "key", "camera:door", "pos:till", "broker", "disk", "database"):
        assert line_of(out, name).startswith("✓ "), out
    assert "mall doctor-mall, box box-7" in line_of(out, "config")
    assert "a valid key, mode 0600, readable only by" in line_of(out, "key")
    assert "a 160x120 picture" in line_of(out, "camera:door")
    assert "opened (baud rate auto)" in line_of(out, "pos:till")
    broker = line_of(out, "broker")
    assert "TLSv1.3, the broker's certificate verified" in broker
    assert "user 'box-7' (with a password) logged in, subscribed and published" in broker
    assert "PRAGMA quick_check ok" in line_of(out, "database")
    assert line_of(out, "clock").startswith("- clock")
    assert "left out (--skip clock)" in out
    assert line_of(out, "wifi").startswith("- wifi") and "no Wi-Fi sensor" in out
    assert "fix:" not in out
    assert out.splitlines()[-1] == ("11 checks: 7 passed, 4 skipped; nothing failed")


@pytest.mark.broker
def test_doctor_json_against_real_services(healthy: Path) -> None:
    """The real console script, as a technician's remote support would run it."""
    done = run_mallsense(
        "doctor", "--config", healthy, "--json", "--user", me(), "--skip", "clock", cwd=ROOT
    )
    assert done.returncode == 0, done.stdout + done.stderr
    checks = by_name(json_lines(done.stdout))
    assert list(checks) == [
        "config", "key", "wifi", "ble", "camera:door", "pos:till", "counter", "broker", "clock",
        "disk", "database",
    ]  # fmt: skip
    statuses = {name: c["status"] for name, c in checks.items()}
    assert statuses == {
        "config": "pass", "key": "pass", "wifi": "skip", "ble": "skip", "camera:door": "pass",
        "pos:till": "pass", "counter": "skip", "broker": "pass", "clock": "skip", "disk": "pass",
        "database": "pass",
    }  # fmt: skip
    camera = checks["camera:door"]
    assert camera["area"] == "camera" and camera["fix"] is None
    assert (camera["facts"]["width"], camera["facts"]["height"]) == (160, 120)
    steps = checks["broker"]["facts"]["steps"]
    assert [s["status"] for s in steps] == ["pass"] * 6
    assert checks["key"]["facts"]["mode"] == "0600"


def test_doctor_fails_with_the_fix_when_services_are_missing(broken: Path) -> None:
    result = invoke("doctor", "--config", broken, "--user", me(), "--timeout", "2")
    assert result.exit_code == 1, result.output
    out = result.stdout
    expected = {
        "key": ("is mode 0644: every user of the box may read", "fix: `chmod 600 "),
        "wifi:entrance": ("there is no network interface wlan9mon", "iw phy PHY interface add"),
        "ble:beacons": ("there is no Bluetooth adapter hci7", "plug the Bluetooth adapter in"),
        "camera:door": ("no such video file", "check the path in the sensor's url key"),
        "pos:till": ("ttyUSB9 does not exist — fix: plug", "plug the USB serial adapter in"),
        "broker": ("connection refused", "check the port in mqtt.url"),
        "database": ("is damaged (PRAGMA quick_check: file is not a database)", "move it away"),
    }
    for name, (detail, fix) in expected.items():
        line = line_of(out, name)
        assert line.startswith("✗ "), line
        assert detail in line and fix in line, line
        assert line.index(detail) < line.index(" — fix: ") < line.index(fix), line
    assert line_of(out, "config").startswith("✓ ")
    assert "; fix the failed checks above" in out.splitlines()[-1]


def test_doctor_json_when_services_are_missing(broken: Path) -> None:
    result = invoke("doctor", "--config", broken, "--json", "--skip", "clock", "--timeout", "2")
    assert result.exit_code == 1
    checks = by_name(json_lines(result.stdout))
    failed = {name for name, c in checks.items() if c["status"] == "fail"}
    assert failed == {
        "key", "wifi:entrance", "ble:beacons", "camera:door", "pos:till", "broker", "database",
    }  # fmt: skip
    for name in failed:
        assert checks[name]["detail"] and checks[name]["fix"], checks[name]
    assert checks["broker"]["facts"]["steps"][1]["step"] == "tcp"
    assert checks["disk"]["status"] == "pass"  # a damaged file still has a size
    assert checks["database"]["facts"]["quick_check"] == ["file is not a database"]


def test_an_invalid_configuration_skips_what_depends_on_it(tmp_path: Path) -> None:
    config = tmp_path / "mallsense.toml"
    config.write_text('mall = "Westfield 3"\nbox = "b"\nzones = []\n', encoding="utf-8")
    result = invoke("doctor", "--config", config, "--json")
    assert result.exit_code == 1
    checks = by_name(json_lines(result.stdout))
    assert checks["config"]["status"] == "fail"
    assert "mall (got 'Westfield 3')" in checks["config"]["detail"]
    assert "mallsense config validate" in checks["config"]["fix"]
    assert checks["config"]["facts"]["problems"]
    others = {n: c["status"] for n, c in checks.items() if n not in ("config", "clock")}
    assert set(others.values()) == {"skip"}, others
    assert checks["clock"]["status"] in ("pass", "fail", "warn")


def test_a_missing_configuration_says_how_to_make_one(tmp_path: Path) -> None:
    result = invoke("doctor", "--config", tmp_path / "nowhere.toml", "--skip", "clock")
    assert result.exit_code == 1
    line = line_of(result.stdout, "config")
    assert "does not exist" in line and "`sudo mallsense install`" in line


def test_doctor_help_and_bad_skip() -> None:
    result = invoke("doctor", "--help")
    assert result.exit_code == 0
    assert "Examples:" in result.stdout and "sudo mallsense doctor --json" in result.stdout
    assert "doctor" in invoke("--help").stdout
    bad = invoke("doctor", "--skip", "config")
    assert bad.exit_code == 2
    assert "expected one of key, wifi" in bad.stderr


# -- the broker -----------------------------------------------------------------------------


@pytest.mark.broker
def test_a_wrong_password_is_a_failed_login(tmp_path: Path, tls_broker: TlsBroker) -> None:
    path = box_config(
        tmp_path, url=tls_broker.url, ca=tls_broker.ca, db=tmp_path / "m.db", key=None,
        password="wrong",
    )  # fmt: skip
    config = load(path)
    check = check_broker(config, Host(timeout_s=3))
    assert check.status == "fail"
    assert "MQTT login failed: the broker refused the connection: Not authorized" in check.detail
    assert check.fix is not None and "check mqtt.username ('box-7') and the password" in check.fix


@pytest.mark.broker
def test_a_broker_with_an_unknown_certificate_fails_at_tls(
    tmp_path: Path, tls_broker: TlsBroker
) -> None:
    config = load(box_config(tmp_path, url=tls_broker.url, db=tmp_path / "m.db", key=None))
    check = check_broker(config, Host(timeout_s=3))
    assert check.status == "fail"
    assert check.detail.startswith(f"{tls_broker.url}: TLS failed:")
    assert check.fix is not None and "mqtt.ca_file" in check.fix


@pytest.mark.broker
def test_a_broker_without_tls_is_a_warning(tmp_path: Path, broker: Broker) -> None:
    config = load(box_config(tmp_path, url=broker.url, db=tmp_path / "m.db", key=None))
    check = check_broker(config, Host(timeout_s=3))
    assert check.status == "warn"
    assert "logged in, subscribed and published, without TLS" in check.detail
    assert check.fix is not None and "use mqtts://" in check.fix


@pytest.mark.broker
def test_the_broker_password_comes_from_the_installed_credential(
    tmp_path: Path, tls_broker: TlsBroker
) -> None:
    """A technician's shell has no $CREDENTIALS_DIRECTORY: the file the unit loads is read."""
    path = box_config(
        tmp_path, url=tls_broker.url, ca=tls_broker.ca, db=tmp_path / "m.db", key=None,
        password=None,
    )  # fmt: skip
    text = path.read_text(encoding="utf-8")
    config = parse_config(text.replace("[mqtt]\n", f'[mqtt]\nusername = "{USER}"\n'))
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    host = Host(timeout_s=3, credentials_dir=credentials)
    assert check_broker(config, host).status == "fail"
    (credentials / "mqtt-password").write_text(PASSWORD + "\n", encoding="utf-8")
    assert check_broker(config, host).status == "pass"


def load(path: Path) -> Config:
    return parse_config(path.read_text(encoding="utf-8"), str(path))


# -- the key --------------------------------------------------------------------------------


def key_config(tmp_path: Path, key: Path | None) -> Config:
    return load(box_config(tmp_path, url="mqtt://127.0.0.1:1", db=tmp_path / "m.db", key=key))


def test_key_file_modes(tmp_path: Path) -> None:
    host = Host(service_user=me(), credentials_dir=NO_CREDENTIALS)
    key = key_file(tmp_path / "key", mode=0o600)
    assert check_key(key_config(tmp_path, key), host).status == "pass"
    key.chmod(0o400)
    assert check_key(key_config(tmp_path, key), host).status == "pass"
    key.chmod(0o640)
    check = check_key(key_config(tmp_path, key), host)
    assert check.status == "fail"
    assert check.detail == f"{key} is mode 0640: its group may read the pseudonymization key"
    assert check.fix is not None and check.fix.startswith(f"`chmod 600 {key}`")
    assert check.facts["mode"] == "0640"


def test_a_key_file_the_service_user_cannot_own(tmp_path: Path) -> None:
    key = key_file(tmp_path / "key")
    config = key_config(tmp_path, key)
    nobody = Host(service_user="no-such-user-here", credentials_dir=NO_CREDENTIALS)
    check = check_key(config, nobody)
    assert check.status == "warn"
    assert "there is no user no-such-user-here" in check.detail
    assert check.fix is not None and "--user" in check.fix


@ROOT_ONLY
def test_a_key_file_owned_by_another_user(tmp_path: Path) -> None:
    key = key_file(tmp_path / "key")
    os.chown(key, 4242, -1)
    check = check_key(
        key_config(tmp_path, key), Host(service_user="root", credentials_dir=NO_CREDENTIALS)
    )
    assert check.status == "fail"
    assert "belongs to uid 4242, not to root (uid 0): the edge service cannot read it" in (
        check.detail
    )
    assert check.fix is not None and check.fix.startswith(f"`chown root {key}`")


@ROOT_ONLY
def test_the_installed_credential_wins_and_must_be_roots(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir(mode=0o700)
    installed = key_file(credentials / "mallsense-key")
    config = key_config(tmp_path, key_file(tmp_path / "key", mode=0o644))  # not used
    host = Host(credentials_dir=credentials)
    check = check_key(config, host)
    assert check.status == "pass", check
    assert check.detail.endswith("readable only by root (systemd hands the edge service a copy)")
    os.chown(installed, 4242, -1)
    check = check_key(config, host)
    assert check.status == "fail"
    assert check.fix == f"`chown root:root {installed}`"


def test_a_key_that_is_not_a_key(tmp_path: Path) -> None:
    key = key_file(tmp_path / "key", text="not hex at all")
    check = check_key(
        key_config(tmp_path, key), Host(service_user=me(), credentials_dir=NO_CREDENTIALS)
    )
    assert check.status == "fail"
    assert "is not hexadecimal" in check.detail


def test_no_key_and_a_key_only_in_the_shell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = Host(credentials_dir=tmp_path / "credentials")
    config = key_config(tmp_path, None)
    missing = check_key(config, host)
    assert missing.status == "fail"
    assert missing.fix is not None and "`sudo mallsense install`" in missing.fix
    monkeypatch.setenv("MALLSENSE_KEY", KEY)
    shell = check_key(config, host)
    assert shell.status == "warn"
    assert "only in $MALLSENSE_KEY of this shell; the services do not see it" in shell.detail


# -- devices --------------------------------------------------------------------------------


def sensor_of(path: Path, kind: type[S]) -> S:
    """The one sensor of type ``kind`` in the configuration file ``path``."""
    found = [sensor for sensor in load(path).sensors if isinstance(sensor, kind)]
    assert len(found) == 1, found
    return found[0]


def sensors(tmp_path: Path, kind: type[S], **kwargs: Any) -> S:
    return sensor_of(
        box_config(tmp_path, url="mqtt://x:1", db=tmp_path / "m.db", key=None, **kwargs), kind
    )


def test_a_camera_that_is_not_a_video(tmp_path: Path) -> None:
    fake = tmp_path / "door.mp4"
    fake.write_bytes(b"\x00" * 4096)
    check = check_camera(sensors(tmp_path, CameraSensorConfig, camera=fake), Host(timeout_s=2))
    assert check.status == "fail"
    assert "cannot be opened" in check.detail or "sent no picture" in check.detail


def test_a_serial_port_in_use(tmp_path: Path, pty: PtyPair) -> None:
    sensor = sensors(tmp_path, PosSensorConfig, port=pty.path)
    holder = serial.Serial(pty.path, exclusive=True)
    try:
        check = check_pos(sensor, Host(run=no_tools))
        assert check.status == "fail"
        assert check.detail == f"port {pty.path} is in use by another program"
        assert check.fix is not None and check.fix.startswith("stop the program holding it")
        edge_up = Host(run=tools({"systemctl": ToolResult(0, "", "")}))
        check = check_pos(sensor, edge_up)
        assert check.status == "warn"
        assert "most likely by the running mallsense-edge" in check.detail
    finally:
        holder.close()
    assert check_pos(sensor, Host(run=no_tools)).status == "pass"


# -- radios (sysfs and tools stood in for: this machine has no Wi-Fi card, no adapter) -----


def no_tools(argv: list[str], timeout: float) -> ToolResult | None:
    return None


def tools(answers: dict[str, ToolResult]) -> Runner:
    def run(argv: list[str], timeout: float) -> ToolResult | None:
        return answers.get(argv[0])

    return run


def interface(net: Path, name: str, *, kind: int, flags: str = "0x1003", phy: str | None) -> None:
    path = net / name
    path.mkdir(parents=True)
    (path / "type").write_text(f"{kind}\n", encoding="utf-8")
    (path / "flags").write_text(f"{flags}\n", encoding="utf-8")
    if phy is not None:
        (path / "phy80211").mkdir()
        (path / "phy80211" / "name").write_text(f"{phy}\n", encoding="utf-8")


IW_MONITOR = ToolResult(0, "Wiphy phy0\n\tSupported interface modes:\n\t\t * managed\n"
                        "\t\t * monitor\n\tBand 1:\n", "")  # fmt: skip
IW_MANAGED_ONLY = ToolResult(0, "Wiphy phy0\n\tSupported interface modes:\n\t\t * managed\n"
                             "\t\t * AP\n\tBand 1:\n", "")  # fmt: skip


def test_wifi_interface_states(tmp_path: Path) -> None:
    wifi = sensors(tmp_path, WifiSensorConfig, radios=True)
    net = tmp_path / "net"
    interface(net, "eth0", kind=1, phy=None)
    host = Host(net_dir=net, run=tools({"iw": IW_MONITOR}))
    missing = check_wifi(wifi, host)
    assert missing.status == "fail"
    assert missing.detail == "there is no network interface wlan9mon (Wi-Fi interfaces here: none)"
    interface(net, "wlan9mon", kind=1, phy="phy0")
    managed = check_wifi(wifi, host)
    assert (managed.status, managed.detail) == ("fail", "wlan9mon is not in monitor mode")
    assert managed.fix is not None and "sudo iw dev wlan9mon set type monitor" in managed.fix
    incapable = check_wifi(wifi, replace(host, run=tools({"iw": IW_MANAGED_ONLY})))
    assert incapable.detail == (
        "wlan9mon is not in monitor mode, and its card (phy0) does not support it"
    )
    unknown = check_wifi(wifi, replace(host, run=no_tools))
    assert "install iw to tell whether the card supports it" in unknown.detail
    (net / "wlan9mon" / "type").write_text("803\n", encoding="utf-8")
    up = check_wifi(wifi, host)
    assert up.status == "pass"
    assert up.detail == "wlan9mon is up in monitor mode (radiotap) on phy0; channels [1, 6, 11]"
    (net / "wlan9mon" / "flags").write_text("0x1002\n", encoding="utf-8")
    down = check_wifi(wifi, host)
    assert (down.status, down.detail) == ("fail", "wlan9mon is in monitor mode but down")
    assert down.fix is not None and down.fix.startswith("`sudo ip link set wlan9mon up`")


def test_wifi_on_this_machine_reports_the_missing_card(tmp_path: Path) -> None:
    wifi = sensors(tmp_path, WifiSensorConfig, radios=True)
    check = check_wifi(wifi, Host())
    assert check.status == "fail" and "there is no network interface wlan9mon" in check.detail


def btmgmt(settings: str) -> ToolResult:
    return ToolResult(
        0,
        "hci7:\tPrimary controller\n\taddr 00:1A:7D:DA:71:13 version 9\n"
        "\tsupported settings: powered connectable bondable le\n"
        f"\tcurrent settings: {settings}\n\tname box\n",
        "",
    )


def test_bluetooth_adapter_states(tmp_path: Path) -> None:
    ble = sensors(tmp_path, BleSensorConfig, radios=True)
    sys_bt = tmp_path / "bluetooth"
    sys_bt.mkdir()
    host = Host(bluetooth_dir=sys_bt, run=tools({"btmgmt": btmgmt("powered bondable le")}))
    missing = check_ble(ble, host)
    assert (missing.status, missing.detail) == (
        "fail", "there is no Bluetooth adapter hci7 (adapters here: none)"
    )  # fmt: skip
    (sys_bt / "hci7" / "rfkill3").mkdir(parents=True)
    (sys_bt / "hci7" / "rfkill3" / "hard").write_text("0\n", encoding="utf-8")
    (sys_bt / "hci7" / "rfkill3" / "soft").write_text("1\n", encoding="utf-8")
    blocked = check_ble(ble, host)
    assert (blocked.status, blocked.fix) == (
        "fail", "`sudo rfkill unblock bluetooth`, then restart mallsense-edge"
    )  # fmt: skip
    (sys_bt / "hci7" / "rfkill3" / "soft").write_text("0\n", encoding="utf-8")
    assert check_ble(ble, host).detail == "hci7 is present and powered"
    off = check_ble(ble, replace(host, run=tools({"btmgmt": btmgmt("bondable le")})))
    assert (off.status, off.detail) == ("fail", "hci7 is present but powered off")
    assert off.fix is not None and off.fix.startswith("`sudo btmgmt --index 7 power on`")
    unknown = check_ble(ble, replace(host, run=no_tools))
    assert unknown.status == "warn" and "install bluez" in (unknown.fix or "")


def test_bluetooth_on_this_machine_reports_the_missing_adapter(tmp_path: Path) -> None:
    ble = sensors(tmp_path, BleSensorConfig, radios=True)
    check = check_ble(ble, Host())
    assert check.status == "fail" and "there is no Bluetooth adapter hci7" in check.detail


# -- clock ----------------------------------------------------------------------------------


def test_clock_sources_in_turn() -> None:
    def timedatectl(out: str) -> Host:
        return Host(run=tools({"timedatectl": ToolResult(0, out, "")}))

    assert check_clock(timedatectl("NTP=yes\nNTPSynchronized=yes\n")).status == "pass"
    off = check_clock(timedatectl("NTP=no\nNTPSynchronized=no\n"))
    assert (off.status, off.fix) == ("fail", "`sudo timedatectl set-ntp true`")
    waiting = check_clock(timedatectl("NTP=yes\nNTPSynchronized=no\n"))
    assert waiting.status == "fail" and "UDP port 123" in (waiting.fix or "")
    chrony = Host(run=tools({
        "timedatectl": ToolResult(1, "", "System has not been booted with systemd"),
        "chronyc": ToolResult(0, "Reference ID    : C0A80101 (ntp)\nSystem time     : 0.000012"
                              " seconds fast of NTP time\nLeap status     : Normal\n", ""),
    }))  # fmt: skip
    assert check_clock(chrony).detail.startswith("synchronized (chrony: 0.000012 seconds fast")
    nothing = Host(run=no_tools)
    assert check_clock(nothing, kernel=lambda: (True, 1500)).detail == (
        "synchronized (kernel: estimated error 1.5 ms)"
    )
    assert check_clock(nothing, kernel=lambda: (False, 16_000_000)).status == "fail"
    unknown = check_clock(nothing, kernel=lambda: None)
    assert unknown.status == "warn" and unknown.detail.startswith("unknown:")


def test_clock_on_this_machine_gives_an_answer() -> None:
    check = check_clock(Host())
    assert check.status in ("pass", "fail", "warn")
    assert check.status == "pass" or check.fix


# -- disk and database ----------------------------------------------------------------------


def store_config(tmp_path: Path, db: Path, max_mb: float) -> Config:
    return load(box_config(tmp_path, url="mqtt://x:1", db=db, key=None, max_mb=max_mb))


def test_a_budget_larger_than_the_disk(tmp_path: Path) -> None:
    db = database(tmp_path / "m.db")
    check = check_disk(store_config(tmp_path, db, max_mb=2**40), Host())
    assert check.status == "fail"
    assert check.detail.startswith("store.max_mb = 1.09951e+12 MB does not fit")
    assert check.fix is not None and check.fix.startswith("lower store.max_mb to ")


def test_a_database_over_its_budget(tmp_path: Path) -> None:
    db = database(tmp_path / "m.db")
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE filler (x BLOB)")
        conn.executemany("INSERT INTO filler VALUES (?)", [(os.urandom(4000),)] * 50)
        conn.execute("INSERT INTO kv VALUES ('drops.disk_budget.presence', '12')")
    check = check_disk(store_config(tmp_path, db, max_mb=0.1), Host())
    assert check.status == "warn"
    assert check.detail.startswith("over budget: database 0.")
    assert "12 unsent records dropped to keep within it so far" in check.detail
    assert check.facts["dropped_for_budget"] == 12


def test_a_database_with_a_damaged_page(tmp_path: Path) -> None:
    db = database(tmp_path / "m.db")
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA journal_mode = DELETE")
        conn.execute("CREATE TABLE filler (x TEXT)")
        conn.executemany("INSERT INTO filler VALUES (?)", [("y" * 500,)] * 200)
    backup = tmp_path / "m.db.bak-0004_receipt_texts"
    shutil.copy(db, backup)
    page_size = 4096
    with db.open("r+b") as f:
        f.seek(page_size * 12)
        f.write(b"\xff" * page_size)
    config = store_config(tmp_path, db, max_mb=64)
    check = check_database(config, Host())
    assert check.status == "fail", check
    assert check.detail.startswith(f"{db} is damaged (PRAGMA quick_check: ")
    assert check.fix is not None and f"copy the newest backup ({backup}) to {db}" in check.fix
    assert check_disk(config, Host()).status == "pass"
    missing = check_database(store_config(tmp_path, tmp_path / "none.db", 64), Host())
    assert missing.status == "skip" and "mallsense-edge creates it" in missing.detail


def test_the_database_is_opened_read_only(tmp_path: Path) -> None:
    """A database of an older schema is checked, not migrated: nothing is written."""
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE records (seq INTEGER PRIMARY KEY)")
    before = db.read_bytes()
    path = box_config(tmp_path, url="mqtt://x:1", db=db, key=None)
    skip = ("key", "broker", "clock")
    checks = {c.name: c for c in run_doctor(path, Host(run=no_tools), skip)}
    assert checks["database"].status == "pass"
    assert checks["disk"].status == "pass"
    assert checks["disk"].facts["database_bytes"] == len(before)
    assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "mallsense.toml",
        "mqtt-password",
        "old.db",
    ]


def test_a_key_handed_over_by_systemd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run inside a unit (ExecStartPre=): the private copy in $CREDENTIALS_DIRECTORY is used."""
    runtime = tmp_path / "run-credentials"
    runtime.mkdir()
    key_file(runtime / "mallsense-key", mode=0o440)  # systemd's own choice of mode
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(runtime))
    check = check_key(key_config(tmp_path, None), Host(credentials_dir=NO_CREDENTIALS))
    assert (check.status, check.detail) == (
        "pass",
        f"{runtime / 'mallsense-key'}: a valid key, handed over by systemd",
    )


def test_a_camera_without_its_password_or_its_model(tmp_path: Path, video: Path) -> None:
    path = box_config(tmp_path, url="mqtt://x:1", db=tmp_path / "m.db", key=None, camera=video)
    text = path.read_text(encoding="utf-8")
    with_user = text.replace('name = "door"', 'name = "door"\nusername = "counter"')
    path.write_text(with_user, encoding="utf-8")
    host = Host(timeout_s=2, credentials_dir=NO_CREDENTIALS)
    check = check_camera(sensor_of(path, CameraSensorConfig), host)
    assert check.status == "fail"
    assert check.detail.endswith(": no password for user counter")
    assert check.fix is not None and "credentials/camera-door-password" in check.fix
    no_model = text.replace('name = "door"', f'name = "door"\nmodel = "{tmp_path / "x.onnx"}"')
    path.write_text(no_model, encoding="utf-8")
    check = check_camera(sensor_of(path, CameraSensorConfig), host)
    assert check.status == "fail"
    assert "gives pictures, but: camera model" in check.detail and "does not exist" in check.detail


def test_doctor_checks_the_broker_given_with_broker(tmp_path: Path) -> None:
    config = tmp_path / "mallsense.toml"
    config.write_text(
        'mall = "m1"\nbox = "b1"\n[[zones]]\nid = "shop"\n[mqtt]\nurl = "mqtt://127.0.0.1:1"\n'
        f'[store]\npath = "{tmp_path / "box.db"}"\n',
        encoding="utf-8",
    )
    other = f"mqtt://127.0.0.1:{free_port()}"
    skip = [a for area in ("key", "clock", "disk", "database") for a in ("--skip", area)]
    result = invoke("doctor", "--config", config, "--broker", other, "--timeout", "1", *skip)
    assert other in result.stdout and "127.0.0.1:1 " not in result.stdout
