"""``mallsense ble decode|watch|record``, ``replay --ble`` and BLE in ``status``.

A live adapter is a fake BlueZ under bleak's real backend, chosen the way a
technician could: ``$MALLSENSE_BLE_BACKEND=ble_fakes:ShopBlueZ`` (tests/ble_fakes.py).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from cli_helpers import KEY, SHOP, failed_cleanly, invoke, json_lines, stored, write_text

from drivers.ble.decode import CONTRACT_FIELDS
from edge.demo.privacy_check import mac_forms
from edge.store import Store

SAMPLE = Path(__file__).resolve().parent.parent / "edge" / "demo" / "samples" / "ble.jsonl"
IBEACON = "0201061aff4c000215e2c56db5dffb48d2b060d0f5a71096e000010002c5"
FAKE_PHONE = "5A:11:22:33:44:55"


def test_decode_json_puts_the_contract_names_first() -> None:
    result = invoke("ble", "decode", IBEACON, "--json")
    assert result.exit_code == 0, result.output
    (out,) = json_lines(result.stdout)
    assert list(out)[: len(CONTRACT_FIELDS)] == list(CONTRACT_FIELDS)
    assert (out["kind"], out["major"], out["minor"], out["tx_power"]) == ("ibeacon", 1, 2, -59)
    assert out["uuid"] == "e2c56db5-dffb-48d2-b060-d0f5a71096e0"
    assert [s["name"] for s in out["structures"]] == ["flags", "manufacturer specific data"]


def test_decode_shows_the_structures_and_what_they_say() -> None:
    result = invoke("ble", "decode", "02 01 06 03 03 aa fe 17 16 aa fe 00 e3 12 34 56 78 90 12 34"
                    " 67 89 01 00 00 00 00 00 01 00 00")  # fmt: skip
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "service data (16-bit UUID)" in out and "0x16" in out
    assert "kind: eddystone_uid" in out and "namespace: 12345678901234678901" in out


@pytest.mark.parametrize("text", ["zz", "12346789010000000000010000", ""])
def test_decode_refuses_what_is_not_an_advertisement(text: str) -> None:
    result = invoke("ble", "decode", text)
    assert result.exit_code == 2
    assert "is not an advertisement" in result.stderr and "AD structure" in result.stderr


def test_watch_a_recording_shows_rates_classes_and_rssi() -> None:
    result = invoke("ble", "watch", "--file", SAMPLE, "--seconds", "2.5", "--json")
    assert result.exit_code == 0, result.output
    lines = json_lines(result.stdout)
    assert len(lines) >= 2
    last = lines[-1]
    assert last["sensor"] == "ble.jsonl" and last["adverts"] > 0
    assert set(last["by_class"]) <= {"phone", "wearable", "earbuds", "beacon", "unknown"}
    assert sum(last["rssi_histogram"].values()) == last["adverts"]
    assert last["scan_mode"] in ("passive", "active")


def test_watch_on_a_live_adapter_through_bleak(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLSENSE_BLE_BACKEND", "ble_fakes:ShopBlueZ")
    result = invoke("ble", "watch", "--adapter", "hci1", "--seconds", "1.2")
    assert result.exit_code == 0, result.output
    assert "BLE sensor hci1" in result.stdout and "passive on hci1" in result.stdout
    assert "phone: 2" in result.stdout and "beacon: 1" in result.stdout


def test_watch_without_bluez_says_what_to_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLSENSE_BLE_BACKEND", "ble_fakes:NoBlueZ")
    result = invoke("ble", "watch", "--seconds", "1")
    failed_cleanly(result, "hci0", "cannot reach BlueZ", "systemctl status bluetooth")


def test_record_help_warns_about_raw_addresses() -> None:
    result = invoke("ble", "record", "--help")
    assert result.exit_code == 0
    assert "raw Bluetooth addresses" in " ".join(result.stdout.split())


def test_record_writes_what_replay_reads_and_replay_keeps_no_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MALLSENSE_BLE_BACKEND", "ble_fakes:ShopBlueZ")
    out = tmp_path / "shop.jsonl"
    result = invoke("ble", "record", "--out", out, "--seconds", "1")
    assert result.exit_code == 0, result.output
    assert "raw Bluetooth addresses" in result.stderr and "recorded" in result.stderr
    lines = out.read_text().splitlines()
    assert json.loads(lines[0])["format"] == "mallsense-ble-jsonl/1" and len(lines) > 10
    assert FAKE_PHONE in out.read_text() and "Kim's iPhone" in out.read_text()  # raw, local
    db = tmp_path / "replay.db"
    replayed = invoke("replay", "--ble", out, "--db", db, "--json")
    assert replayed.exit_code == 0, replayed.output
    (summary,) = json_lines(replayed.stdout)
    assert summary["sensors"]["shop"]["counted_adverts"] > 0
    blobs = [p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("replay.db")]
    for address in (FAKE_PHONE, "C4:AA:BB:CC:DD:EE", "7B:01:02:03:04:05"):
        mac = bytes.fromhex(address.replace(":", ""))
        assert not [f for f in mac_forms(mac) for b in blobs if f in b], address
    assert not any(b"Kim" in b for b in blobs)


# -- replay --ble ----------------------------------------------------------------------------


def test_replay_ble_without_config(tmp_path: Path) -> None:
    db = tmp_path / "ble.db"
    result = invoke("replay", "--ble", SAMPLE, "--db", db)
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())
    assert "sensor ble (BLE): 1,685 advertisements" in out
    assert "counted 1,041 adverts of phone, wearable" in out
    assert "16 counted, 16 private, 6 grouped (38%): 10 devices" in out
    records = stored(db)
    assert {r["source"] for r in records} == {"ble"} and {
        r["zone"] for r in records if "zone" in r
    } == {"ble"}


def test_wifi_and_ble_recordings_named_alike_share_their_zone(tmp_path: Path) -> None:
    ble = tmp_path / "shop.jsonl"
    shutil.copy(SAMPLE, ble)
    db = tmp_path / "both.db"
    result = invoke("replay", "--wifi", SHOP, "--ble", ble, "--db", db, "--json")
    assert result.exit_code == 0, result.output
    (summary,) = json_lines(result.stdout)
    assert set(summary["sensors"]) == {"shop", "shop-ble"}
    assert summary["frames"] == 1802 + 1685
    presence = stored(db, "presence")
    assert {(r["zone"], r["source"]) for r in presence} == {("shop", "wifi"), ("shop", "ble")}
    with Store(db, create=False) as store:
        kinds = {s["sensor"]: s["kind"] for s in store.sensor_stats()}
    assert kinds == {"shop": "wifi", "shop-ble": "ble"}


def test_replay_needs_a_recording(tmp_path: Path) -> None:
    result = invoke("replay", "--db", tmp_path / "x.db")
    assert result.exit_code == 2 and "give at least one recording" in result.stderr


def test_replay_ble_for_a_sensor_the_config_lacks(tmp_path: Path) -> None:
    cfg = write_text(tmp_path / "box.toml", f"""mall = "m"\nbox = "b"\n[[zones]]\nid = "shop"
[[sensors]]\ntype = "ble"\nname = "ble1"\nzone = "shop"\n[store]\npath = "{tmp_path / "x.db"}"
""")  # fmt: skip
    result = invoke("replay", "--config", cfg, "--ble", f"door={SAMPLE}", key=KEY)
    failed_cleanly(result, "--ble door=", "no BLE sensor 'door'", "(sensors: ble1)")


def test_replay_a_file_that_is_not_a_ble_recording(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.jsonl"
    bogus.write_bytes(b"\x00\x01 not json\n")
    result = invoke("replay", "--ble", bogus, "--db", tmp_path / "x.db")
    failed_cleanly(result, "is not a BLE recording", "mallsense ble record")


def test_status_shows_the_ble_counters_and_the_watchdog(tmp_path: Path) -> None:
    db = tmp_path / "ble.db"
    assert invoke("replay", "--ble", SAMPLE, "--db", db).exit_code == 0
    with Store(db) as store:
        store.put_sensor_stats(
            "door", "ble",
            {"frames": 10, "state": "running", "scanner_restarts": 2, "adapter_resets": 1,
             "scan_mode": "active", "adapter": "hci1", "last_frame_at": time.time()},
            time.time(),
        )  # fmt: skip
    status = json_lines(invoke("status", "--db", db, "--json").stdout)[0]
    ble = {s["sensor"]: s for s in status["sensors"]}["ble"]
    assert ble["kind"] == "ble" and ble["grouped_share"] == 0.375 and ble["state"] == "replayed"
    table = " ".join(invoke("status", "--db", db).stdout.split())
    assert (
        "sensor door: 2 scanner restart(s), 1 adapter reset(s) (scanning active on hci1)" in table
    )
