"""``mallsense wifi watch``: is the antenna hearing phones?"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from rich.live import Live
from rich.table import Table

from drivers.observations import Probe
from drivers.privacy import Pseudonymizer
from drivers.wifi.live import MonitorSocket
from drivers.wifi.parse import WifiParser
from drivers.wifi.replay import RadioReplay
from drivers.wifi.source import LiveWifiSource
from edge.cli.common import console, fails_cleanly, json_option, print_json_line
from edge.cli.watch import Radio, collector, recording_option, seconds_option
from edge.config import load_config
from edge.config.models import WifiSensorConfig
from edge.errors import SensorError

__all__ = ["ProbeWindow", "register"]

_UNIQUE_WINDOW_S = 60.0


@dataclass
class ProbeWindow:
    """Rolling figures over the last minute of probes."""

    seen: deque[tuple[float, str, bool]] = field(default_factory=deque)
    radio: Radio = field(default_factory=Radio)
    channels: Counter[int] = field(default_factory=Counter)
    probes: int = 0

    def add(self, probe: Probe) -> None:
        self.probes += 1
        self.seen.append((probe.t, probe.device, probe.randomized))
        self.radio.heard(probe.rssi)
        if probe.channel is not None:
            self.channels[probe.channel] += 1

    def summary(self, now: float, frames: int) -> dict[str, Any]:
        while self.seen and self.seen[0][0] < now - _UNIQUE_WINDOW_S:
            self.seen.popleft()
        devices = {d: r for _, d, r in self.seen}
        return {
            "frames_per_s": self.radio.rate(now, frames),
            "probes": self.probes,
            "devices_last_min": len(devices),
            "randomized_share": round(sum(devices.values()) / len(devices), 3) if devices else 0,
            "rssi_histogram": self.radio.histogram(),
            "channels": dict(sorted(self.channels.items())),
        }


def _table(name: str, s: dict[str, Any], rejected: dict[str, int]) -> Table:
    table = Table(title=f"Wi-Fi sensor {name}", title_justify="left", show_header=False)
    table.add_row("frames/s", f"{s['frames_per_s']:.1f}")
    table.add_row("probe requests", f"{s['probes']:,}")
    table.add_row("devices (last minute)", str(s["devices_last_min"]))
    table.add_row("randomized MACs", f"{s['randomized_share']:.0%}")
    table.add_row("RSSI dBm", "  ".join(f"{k}: {v}" for k, v in s["rssi_histogram"].items()))
    table.add_row("channels", "  ".join(f"{k}: {v}" for k, v in s["channels"].items()))
    table.add_row("rejected", ", ".join(f"{k}: {v}" for k, v in rejected.items()) or "none")
    return table


@click.group("wifi")
def wifi_group() -> None:
    """Wi-Fi sensor tools for technicians.

    \b
    Example:
      mallsense wifi watch --interface wlan0mon
    """


@wifi_group.command("watch")
@click.option("--interface", help="Monitor-mode interface (default: the configured sensor's).")
@recording_option("capture", "pcap or pcapng")
@seconds_option()
@json_option()
@fails_cleanly
def watch(
    interface: str | None,
    capture: Path | None,
    config_path: Path | None,
    seconds: float | None,
    as_json: bool,
) -> None:
    """Show live frames per second, devices heard in the last minute and RSSI.

    Nothing is stored. Devices are counted by a throwaway pseudonym.

    \b
    Examples:
      mallsense wifi watch --interface wlan0mon
      mallsense wifi watch --file capture.pcap --seconds 30 --json
    """
    name, radio_factory = _radio(interface, capture, config_path)
    parser = WifiParser(name, Pseudonymizer(secrets.token_bytes(32)))
    source = LiveWifiSource(parser, name, [1], 1.0, radio_factory=radio_factory, hop=False)
    window = ProbeWindow()
    lock, emit = collector(window, Probe)

    stop = threading.Event()
    errors: list[BaseException] = []
    thread = threading.Thread(target=_capture, args=(source, emit, stop, errors), daemon=True)
    thread.start()
    try:
        _display(name, parser, window, lock, seconds, as_json, thread)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        thread.join(timeout=5)
    if errors:
        raise SensorError(str(errors[0])) from errors[0]


def _radio(
    interface: str | None, capture: Path | None, config_path: Path | None
) -> tuple[str, Any]:
    if capture is not None:
        return capture.name, lambda _name: RadioReplay(capture)
    if interface is None:
        if config_path is None:
            raise click.UsageError("give --interface IFACE, --file CAPTURE or --config FILE")
        wifi = [s for s in load_config(config_path).sensors if isinstance(s, WifiSensorConfig)]
        if not wifi:
            raise click.UsageError(f"{config_path} defines no Wi-Fi sensor")
        interface = wifi[0].interface
    radio: Any = MonitorSocket
    return interface, radio


def _capture(
    source: LiveWifiSource, emit: Any, stop: threading.Event, errors: list[BaseException]
) -> None:
    try:
        source.run(emit, stop)
    except OSError as exc:
        errors.append(exc)


def _display(
    name: str,
    parser: WifiParser,
    window: ProbeWindow,
    lock: threading.Lock,
    seconds: float | None,
    as_json: bool,
    thread: threading.Thread,
) -> None:
    end = time.monotonic() + seconds if seconds is not None else float("inf")
    live = None if as_json else Live(console=console, auto_refresh=False)
    with live or contextlib.nullcontext():
        while time.monotonic() < end and thread.is_alive():
            time.sleep(min(1.0, max(end - time.monotonic(), 0)))
            if not thread.is_alive():
                break  # the capture failed: its error is reported, not an empty line
            with lock:
                summary = window.summary(time.time(), parser.frames)
            if live is None:
                print_json_line({"sensor": name, **summary, "rejected": dict(parser.rejected)})
            else:
                live.update(_table(name, summary, dict(parser.rejected)), refresh=True)
    if live is not None and not console.is_terminal:
        console.print()  # rich leaves the cursor after the table when output is piped


def register(cli: click.Group) -> None:
    cli.add_command(wifi_group)
