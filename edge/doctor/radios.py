"""The radios: each Wi-Fi interface up in monitor mode, each Bluetooth adapter present and powered.

Both are read from sysfs (``/sys/class/net``, ``/sys/class/bluetooth``), as the
Wi-Fi source itself checks its interface (``drivers.wifi.live``); whether a card
can do monitor mode at all comes from ``iw phy``, whether an adapter is powered
from ``btmgmt`` (else ``bluetoothctl``), the tools the drivers use too.
"""

from __future__ import annotations

import re
from pathlib import Path

from drivers.registry import DriverUnavailable, load_driver
from drivers.wifi.live import RadiotapRequired, check_monitor_interface
from edge.config.sensors import BleSensorConfig, WifiSensorConfig
from edge.doctor.host import Host
from edge.doctor.result import Check

__all__ = ["check_ble", "check_wifi", "monitor_support"]

_IFF_UP = 0x1
_HCI_INDEX = re.compile(r"^hci(\d+)$")


def check_wifi(sensor: WifiSensorConfig, host: Host) -> Check:
    """The sensor's interface exists, is a Wi-Fi card's, is up, and in monitor mode."""
    name, iface = f"wifi:{sensor.name}", sensor.interface
    try:
        load_driver("wifi")
    except DriverUnavailable as exc:
        return Check(name, "fail", str(exc), "install what it names, then restart mallsense-edge")
    try:
        check_monitor_interface(iface, host.net_dir)
    except FileNotFoundError:
        return _no_interface(name, iface, host)
    except RadiotapRequired:
        return _not_monitor(name, iface, host)
    except (OSError, ValueError) as exc:
        return Check(name, "fail", f"cannot read the state of {iface}: {exc}", "see `ip link`")
    phy = _phy(host.net_dir / iface)
    facts = {"interface": iface, "phy": phy, "channels": sensor.channels}
    if not _is_up(host.net_dir / iface):
        fix = f"`sudo ip link set {iface} up` (and find out what took it down: `journalctl -k`)"
        return Check(name, "fail", f"{iface} is in monitor mode but down", fix, facts)
    on = f" on {phy}" if phy else ""
    detail = f"{iface} is up in monitor mode (radiotap){on}; channels {sensor.channels}"
    return Check(name, "pass", detail, facts=facts)


def _no_interface(name: str, iface: str, host: Host) -> Check:
    wireless = _wireless_interfaces(host.net_dir)
    seen = ", ".join(wireless) if wireless else "none"
    fix = (
        "plug the Wi-Fi adapter in (`lsusb`, `dmesg | tail`); then create the monitor"
        f" interface: `sudo iw phy PHY interface add {iface} type monitor` and"
        f" `sudo ip link set {iface} up`"
    )
    if wireless:
        fix = (
            f"create it on one of the cards here: `sudo iw phy PHY interface add {iface} type"
            f" monitor` and `sudo ip link set {iface} up` (`iw dev` shows each card's PHY), or"
            " name an existing monitor interface in the sensor's interface key"
        )
    detail = f"there is no network interface {iface} (Wi-Fi interfaces here: {seen})"
    return Check(name, "fail", detail, fix, {"interface": iface, "wireless": wireless})


def _not_monitor(name: str, iface: str, host: Host) -> Check:
    path = host.net_dir / iface
    phy = _phy(path)
    facts: dict[str, object] = {"interface": iface, "phy": phy}
    if phy is None:
        detail = f"{iface} is not a Wi-Fi interface"
        fix = "name the Wi-Fi adapter's monitor interface in the sensor's interface key (`iw dev`)"
        return Check(name, "fail", detail, fix, facts)
    support = monitor_support(phy, host)
    facts["monitor_supported"] = support
    if support is False:
        detail = f"{iface} is not in monitor mode, and its card ({phy}) does not support it"
        fix = "use a Wi-Fi adapter whose driver supports monitor mode (`iw phy` lists 'monitor')"
        return Check(name, "fail", detail, fix, facts)
    unknown = " (install iw to tell whether the card supports it)" if support is None else ""
    detail = f"{iface} is not in monitor mode{unknown}"
    fix = (
        f"`sudo ip link set {iface} down; sudo iw dev {iface} set type monitor;"
        f" sudo ip link set {iface} up`, or add a monitor interface: `sudo iw phy {phy}"
        " interface add mon0 type monitor` and name it in the sensor's interface key"
    )
    return Check(name, "fail", detail, fix, facts)


def monitor_support(phy: str, host: Host) -> bool | None:
    """Whether ``iw phy PHY info`` lists monitor among the supported modes (None: no iw)."""
    result = host.run(["iw", "phy", phy, "info"], host.timeout_s)
    if result is None or result.returncode != 0:
        return None
    modes: list[str] = []
    in_modes = False
    for line in result.stdout.splitlines():
        if "Supported interface modes" in line:
            in_modes = True
            continue
        stripped = line.strip()
        if in_modes and stripped.startswith("*"):
            modes.append(stripped.lstrip("* ").strip().lower())
        elif in_modes:
            break
    return "monitor" in modes


def _phy(path: Path) -> str | None:
    try:
        return (path / "phy80211" / "name").read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def _is_up(path: Path) -> bool:
    try:
        return bool(int((path / "flags").read_text(encoding="utf-8").strip(), 16) & _IFF_UP)
    except (OSError, ValueError):
        return True  # cannot tell: the capture's own errors will say more


def _wireless_interfaces(net_dir: Path) -> list[str]:
    try:
        entries = sorted(net_dir.iterdir())
    except OSError:
        return []
    return [p.name for p in entries if (p / "phy80211").exists() or (p / "wireless").exists()]


# -- Bluetooth ---------------------------------------------------------------------------


def check_ble(sensor: BleSensorConfig, host: Host) -> Check:
    """The sensor's adapter exists, is not blocked by rfkill, and is powered."""
    name, adapter = f"ble:{sensor.name}", sensor.adapter
    try:
        load_driver("ble")
    except DriverUnavailable as exc:
        return Check(name, "fail", str(exc), "install what it names, then restart mallsense-edge")
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
