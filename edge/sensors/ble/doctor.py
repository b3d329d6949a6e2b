"""Doctor's check of a BLE sensor: its adapter is present, not blocked, and powered.

Read from sysfs (``/sys/class/bluetooth``); whether it is powered from
``btmgmt`` (else ``bluetoothctl``), the tools the driver uses too.
"""

from __future__ import annotations

import re
from pathlib import Path

from edge.doctor.host import Host
from edge.doctor.result import Check
from edge.sensors.ble.config import BleSensorConfig

__all__ = ["adapter_powered", "check"]

_HCI_INDEX = re.compile(r"^hci(\d+)$")


def check(sensor: BleSensorConfig, host: Host) -> Check:
    """The sensor's adapter exists, is not blocked by rfkill, and is powered."""
    name, adapter = f"ble:{sensor.name}", sensor.adapter
    path = host.bluetooth_dir / adapter
    if not path.exists():
        present = _adapters(host.bluetooth_dir)
        seen = ", ".join(present) if present else "none"
        fix = (
            "plug the Bluetooth adapter in and check the kernel found it (`dmesg | grep -i"
            " bluetooth`, `lsusb`); with another adapter, name it in the sensor's adapter key"
        )
        detail = f"there is no Bluetooth adapter {adapter} (adapters here: {seen})"
        return Check(name, "fail", detail, fix, {"adapter": adapter, "adapters": present})
    blocked = _rfkill_block(path)
    facts: dict[str, object] = {"adapter": adapter, "rfkill": blocked}
    if blocked == "hard":
        fix = "a hardware switch or the firmware disabled the radio: switch it on (`rfkill list`)"
        return Check(name, "fail", f"{adapter} is blocked by a hardware switch", fix, facts)
    if blocked == "soft":
        fix = "`sudo rfkill unblock bluetooth`, then restart mallsense-edge"
        return Check(name, "fail", f"{adapter} is blocked by rfkill", fix, facts)
    powered = adapter_powered(adapter, host)
    facts["powered"] = powered
    if powered is None:
        detail = f"{adapter} is present; whether it is powered cannot be told"
        fix = "install bluez (btmgmt, bluetoothctl) and check that bluetoothd runs"
        return Check(name, "warn", detail, fix, facts)
    if not powered:
        fix = (
            f"`sudo btmgmt --index {_index(adapter)} power on` (or `bluetoothctl power on`);"
            " if it goes off again, check `journalctl -u bluetooth`"
        )
        return Check(name, "fail", f"{adapter} is present but powered off", fix, facts)
    return Check(name, "pass", f"{adapter} is present and powered", facts=facts)


def adapter_powered(adapter: str, host: Host) -> bool | None:
    """``btmgmt info``'s current settings for the adapter, else ``bluetoothctl show`` (hci0)."""
    result = host.run(["btmgmt", "--index", _index(adapter), "info"], host.timeout_s)
    if result is not None and result.returncode == 0:
        for line in result.stdout.splitlines():
            if "current settings:" in line:
                return "powered" in line.split(":", 1)[1].split()
    if adapter != "hci0":
        return None
    result = host.run(["bluetoothctl", "show"], host.timeout_s)
    if result is None or result.returncode != 0:
        return None
    for line in result.stdout.splitlines():
        key, _, value = line.strip().partition(":")
        if key == "Powered":
            return value.strip() == "yes"
    return None


def _index(adapter: str) -> str:
    match = _HCI_INDEX.match(adapter)
    return match.group(1) if match else "0"


def _rfkill_block(path: Path) -> str | None:
    """'hard', 'soft' or None, from the adapter's rfkill entries in sysfs."""
    for entry in sorted(path.glob("rfkill*")):
        for kind in ("hard", "soft"):
            try:
                if (entry / kind).read_text(encoding="utf-8").strip() == "1":
                    return kind
            except OSError:
                continue
    return None


def _adapters(bluetooth_dir: Path) -> list[str]:
    try:
        return sorted(p.name for p in bluetooth_dir.iterdir() if _HCI_INDEX.match(p.name))
    except OSError:
        return []
