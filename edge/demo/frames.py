"""Building radiotap + 802.11 probe-request frames, for the simulator.

The tests check these frames against scapy's and tshark's dissectors, so the
simulator's recordings are ordinary captures any tool can read.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = ["PHONE_MODELS", "PhoneModel", "channel_freq", "ie", "probe_request"]

_RADIOTAP_PRESENT = (1 << 1) | (1 << 2) | (1 << 3) | (1 << 5) | (1 << 11)
_BROADCAST = b"\xff" * 6


def ie(eid: int, body: bytes) -> bytes:
    """One information element."""
    return bytes((eid, len(body))) + body


def channel_freq(channel: int) -> int:
    """Centre frequency (MHz) of a 2.4 or 5 GHz channel."""
    if channel == 14:
        return 2484
    if channel <= 13:
        return 2407 + 5 * channel
    return 5000 + 5 * channel


def _radiotap(rssi: int, channel: int) -> bytes:
    # flags u8, rate u8 (1 Mb/s), channel (freq u16, flags u16: 2 GHz + CCK),
    # dBm signal s8, antenna u8
    chan_flags = 0x00A0 if channel <= 14 else 0x0140
    fields = struct.pack("<BBHHbB", 0, 2, channel_freq(channel), chan_flags, rssi, 0)
    return struct.pack("<BBHI", 0, 0, 8 + len(fields), _RADIOTAP_PRESENT) + fields


def probe_request(
    mac: bytes, seq: int, rssi: int, channel: int, stable_ies: bytes, ssid: bytes = b""
) -> bytes:
    """A complete frame as a monitor-mode interface captures it (radiotap first)."""
    header = struct.pack("<BBH6s6s6sH", 0x40, 0, 0, _BROADCAST, mac, _BROADCAST, (seq & 0xFFF) << 4)
    body = ie(0, ssid) + stable_ies + ie(3, bytes((channel,)))
    return _radiotap(rssi, channel) + header + body


@dataclass(frozen=True)
class PhoneModel:
    """How one kind of phone probes (simplified from published measurements)."""

    name: str
    randomizes: bool
    """Uses a locally administered (random) MAC for probing."""
    mac_lifetime_s: float
    """A random MAC is kept this long before the phone picks a new one."""
    burst_every_s: tuple[float, float]
    """Range of the time between two scan bursts."""
    stable_ies: bytes
    oui: bytes = b""
    """Vendor OUI of the global MAC, for phones that do not randomize."""
    directed_ssids: tuple[bytes, ...] = ()


_RATES_B = ie(1, bytes((0x02, 0x04, 0x0B, 0x16)))
_RATES_BG = ie(1, bytes((0x02, 0x04, 0x0B, 0x16, 0x0C, 0x12, 0x18, 0x24)))
_EXT_RATES_G = ie(50, bytes((0x0C, 0x12, 0x18, 0x24, 0x30, 0x48, 0x60, 0x6C)))
_EXT_RATES_SHORT = ie(50, bytes((0x30, 0x48, 0x60, 0x6C)))


def _ht(cap: int, ampdu: int) -> bytes:
    return ie(45, struct.pack("<HB", cap, ampdu) + b"\xff\xff" + bytes(21))


PHONE_MODELS: dict[str, PhoneModel] = {
    "ios": PhoneModel(
        name="ios",
        randomizes=True,
        mac_lifetime_s=900.0,
        burst_every_s=(25.0, 70.0),
        stable_ies=_RATES_B
        + _EXT_RATES_G
        + _ht(0x402D, 0x17)
        + ie(127, bytes((0x04, 0x00, 0x0A, 0x02, 0x01, 0x40, 0x40, 0x00, 0x00, 0x01)))
        + ie(221, bytes((0x00, 0x17, 0xF2, 0x0A, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00)))
        + ie(221, bytes((0x00, 0x10, 0x18, 0x02, 0x00, 0x00, 0x1C, 0x00, 0x00))),
    ),
    "android": PhoneModel(
        name="android",
        randomizes=True,
        mac_lifetime_s=300.0,
        burst_every_s=(20.0, 60.0),
        stable_ies=_RATES_BG
        + _EXT_RATES_SHORT
        + _ht(0x01EF, 0x1B)
        + ie(127, bytes((0x00, 0x00, 0x0A, 0x02, 0x01, 0x40, 0x00, 0x40, 0x01)))
        + ie(221, bytes((0x00, 0x50, 0xF2, 0x08, 0x00, 0x23, 0x00))),
    ),
    "legacy": PhoneModel(
        name="legacy",
        randomizes=False,
        mac_lifetime_s=float("inf"),
        burst_every_s=(30.0, 90.0),
        stable_ies=_RATES_BG + _EXT_RATES_SHORT + _ht(0x112C, 0x03),
        oui=bytes((0x00, 0x16, 0x32)),
        directed_ssids=(b"HomeNet", b"Office-Guest"),
    ),
    "staff-scanner": PhoneModel(
        name="staff-scanner",
        randomizes=False,
        mac_lifetime_s=float("inf"),
        burst_every_s=(15.0, 30.0),
        stable_ies=_RATES_BG + _EXT_RATES_SHORT + _ht(0x000C, 0x02),
        oui=bytes((0x00, 0x23, 0x68)),
        directed_ssids=(b"Shop-Staff",),
    ),
}
