"""Doctor's check of a Wi-Fi sensor: its interface exists, is up, and in monitor mode.

Read from sysfs (``/sys/class/net``), as the Wi-Fi source itself checks its
interface (``drivers.wifi.live``); whether a card can do monitor mode at all
comes from ``iw phy``. Whether scapy is installed is checked before, by the
runner, for every sensor type alike.
"""

from __future__ import annotations

from pathlib import Path

from drivers.wifi.live import RadiotapRequired, check_monitor_interface
from edge.doctor.host import Host
from edge.doctor.result import Check
from edge.sensors.wifi.config import WifiSensorConfig

__all__ = ["check", "monitor_support"]

_IFF_UP = 0x1


def check(sensor: WifiSensorConfig, host: Host) -> Check:
    """The sensor's interface exists, is a Wi-Fi card's, is up, and in monitor mode."""
    name, iface = f"wifi:{sensor.name}", sensor.interface
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
