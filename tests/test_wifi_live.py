"""The live capture pieces that run here: the BPF filter, channel hopping, interface checks."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
from fixtures.probe_frames import PHONE_MODELS, probe_request
from wifi_frames import non_probe_frames, probe_body, radiotap

from drivers.wifi.live import BPF_PROBE_REQUESTS, ChannelHopper, MonitorSocket, RadiotapRequired
from drivers.wifi.pcap import PcapWriter, open_capture

ROOT = Path(__file__).resolve().parent.parent


def mixed_capture(path: Path) -> int:
    """Probe requests among beacons, data and control frames; returns how many probes."""
    others = [radiotap() + frame for frame in non_probe_frames()]
    probes = [probe_request(bytes([2, 0, 0, 0, 0, i]), i, -60, 6, PHONE_MODELS["ios"].stable_ies)
              for i in range(5)]  # fmt: skip
    probes.append(radiotap() + probe_body())
    with path.open("wb") as f:
        writer = PcapWriter(f)
        for i, frame in enumerate(others * 3 + probes):
            writer.write(1_773_482_400 + i, frame)
    return len(probes)


def test_the_kernel_filter_keeps_exactly_the_probe_requests(tmp_path: Path) -> None:
    """tcpdump applies the same BPF expression with the same libpcap the live socket uses."""
    tcpdump = shutil.which("tcpdump") or shutil.which("tcpdump", path="/usr/sbin:/usr/bin")
    if tcpdump is None:
        pytest.skip("tcpdump is not installed (`make tools` installs it)")
    capture = tmp_path / "mixed.pcap"
    probes = mixed_capture(capture)
    filtered = tmp_path / "filtered.pcap"
    subprocess.run(
        [tcpdump, "-r", str(capture), "-w", str(filtered), BPF_PROBE_REQUESTS],
        check=True,
        capture_output=True,
    )
    frames = list(open_capture(filtered))
    assert len(frames) == probes
    assert all(frame[2][frame[2][2] :][0] == 0x40 for frame in frames)


def test_channel_hopping_drives_iw(tmp_path: Path) -> None:
    log = tmp_path / "iw.log"
    fake_iw = tmp_path / "iw"
    fake_iw.write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    fake_iw.chmod(0o755)

    def run(argv: list[str]) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([str(fake_iw), *argv[1:]], capture_output=True, check=False)

    hopper = ChannelHopper("wlan0mon", [1, 6, 11], dwell_s=0.05, run=run)
    hopper.start()
    time.sleep(0.4)
    hopper.stop()
    calls = log.read_text().splitlines()
    assert calls[0] == "dev wlan0mon set channel 1"
    assert {c.rsplit(" ", 1)[1] for c in calls} == {"1", "6", "11"}
    assert len(calls) >= 4


def test_a_failing_channel_switch_is_counted_not_fatal(tmp_path: Path) -> None:
    def fails(argv: list[str]) -> subprocess.CompletedProcess[bytes]:
        return subprocess.CompletedProcess(argv, 1, b"", b"command failed: Device or resource busy")

    hopper = ChannelHopper("wlan0mon", [1, 6], dwell_s=0.02, run=fails)
    hopper.start()
    time.sleep(0.2)
    hopper.stop()
    assert hopper.failures >= 3 and hopper.current is None


def test_an_interface_not_in_monitor_mode_is_explained() -> None:
    with pytest.raises(RadiotapRequired, match=r"lo is not in monitor mode \(it is loopback\)"):
        MonitorSocket("lo")


def test_a_missing_interface_is_explained() -> None:
    with pytest.raises(FileNotFoundError, match=r"wlan7mon does not exist.*iw dev"):
        MonitorSocket("wlan7mon")
