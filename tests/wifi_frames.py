"""Shared helpers for the Wi-Fi tests: frames built by scapy or by hand, pcaps, tshark.

scapy is the independent implementation that builds the 802.11 frames and the
simple radiotap headers. Headers scapy cannot lay out (vendor namespaces, fields
after extended bitmaps) come from ``build_radiotap`` below, whose output the tests
check against tshark before trusting it.
"""

from __future__ import annotations

import hashlib
import hmac
import shutil
import struct
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from scapy.layers.dot11 import (
    Dot11,
    Dot11Elt,
    Dot11EltDSSSet,
    Dot11EltRates,
    Dot11EltVendorSpecific,
    Dot11FCS,
    Dot11ProbeReq,
    RadioTap,
    RadioTapExtendedPresenceMask,
)

from drivers.privacy import Pseudonymizer
from drivers.wifi.parse import WifiParser
from drivers.wifi.pcap import LINKTYPE_IEEE802_11_RADIOTAP, PcapWriter

__all__ = [
    "BROADCAST",
    "DAY",
    "DEFAULT_HT",
    "DEFAULT_RATES",
    "KEY",
    "RT_FIELDS",
    "SENSOR",
    "T0",
    "RtWord",
    "VendorWord",
    "block",
    "build_radiotap",
    "channel_field",
    "epb",
    "expected_pseudonym",
    "freq_to_channel",
    "idb",
    "intel_radiotap",
    "mac_bytes",
    "make_parser",
    "non_probe_frames",
    "pcap_bytes",
    "probe_body",
    "radiotap",
    "run_tshark",
    "shb",
    "signal_field",
    "tshark_path",
    "write_pcap",
    "xchannel_field",
]

BROADCAST = "ff:ff:ff:ff:ff:ff"
KEY = b"mallsense-test-key-0123456789abcdef"
SENSOR = "wifi-test"
DAY = 86_400
T0 = 19_675 * DAY + 3_600.25
"""2023-11-14 01:00:00.25 UTC: hours away from a rotation boundary."""

DEFAULT_RATES = (0x82, 0x84, 0x8B, 0x96, 0x0C, 0x12, 0x18, 0x24)
DEFAULT_HT = bytes.fromhex("ef0117ffff000000000000000000000000000000000000000000")
DEFAULT_EXT_CAP = bytes.fromhex("0400080000000040")
DEFAULT_VENDOR = ((0x0050F2, b"\x08\x00\x10\x00"), (0x001018, b"\x02\x00\x00\x1c\x00\x00"))

# (alignment, size) of radiotap-namespace fields, from radiotap.org and the Linux and
# Wireshark iterators (FHSS is 2-aligned there). Bit 18 is XChannel; Wireshark 4.0 does
# not know bit 25 (HE-MU-other-user).
RT_FIELDS: dict[int, tuple[int, int]] = {
    0: (8, 8),
    1: (1, 1),
    2: (1, 1),
    3: (2, 4),
    4: (2, 2),
    5: (1, 1),
    6: (1, 1),
    7: (2, 2),
    8: (2, 2),
    9: (2, 2),
    10: (1, 1),
    11: (1, 1),
    12: (1, 1),
    13: (1, 1),
    14: (2, 2),
    15: (2, 2),
    16: (1, 1),
    17: (1, 1),
    18: (4, 8),
    19: (1, 3),
    20: (4, 8),
    21: (2, 12),
    22: (8, 12),
    23: (2, 12),
    24: (2, 12),
    25: (2, 6),
    26: (1, 1),
    27: (2, 4),
}


def make_parser(key: bytes = KEY, rotation_s: int = DAY, sensor: str = SENSOR) -> WifiParser:
    """A parser with a fresh pseudonymizer."""
    return WifiParser(sensor, Pseudonymizer(key, rotation_s))


def mac_bytes(mac: str) -> bytes:
    """``"02:11:22:33:44:55"`` -> 6 bytes."""
    return bytes.fromhex(mac.replace(":", ""))


def expected_pseudonym(mac: bytes, t: float, key: bytes = KEY, rotation_s: int = DAY) -> str:
    """The pseudonym computed independently with the standard library's hmac."""
    period = int(t // rotation_s)
    period_key = hmac.new(key, b"mallsense-period:%d" % period, hashlib.sha256).digest()
    return hmac.new(period_key, mac, hashlib.sha256).digest()[:8].hex()


def freq_to_channel(freq: int) -> int | None:
    """Channel number of a centre frequency, written out per band (independent table)."""
    table = {2484: 14}
    table.update({2407 + 5 * ch: ch for ch in range(1, 14)})
    table.update({5000 + 5 * ch: ch for ch in range(1, 181)})
    table.update({5950 + 5 * ch: ch for ch in range(1, 234)})
    return table.get(freq)


def probe_body(
    mac: str = "02:11:22:33:44:55",
    seq: int = 0,
    ssid: bytes = b"",
    *,
    rates: Sequence[int] | None = DEFAULT_RATES,
    ds_channel: int | None = 6,
    ht_cap: bytes | None = DEFAULT_HT,
    ext_cap: bytes | None = DEFAULT_EXT_CAP,
    vendor: Sequence[tuple[int, bytes]] = DEFAULT_VENDOR,
    fcs: bool = False,
    fc_flags: int = 0,
) -> bytes:
    """A probe request (802.11 header and elements) built by scapy."""
    dot11 = Dot11FCS if fcs else Dot11
    pkt = (
        dot11(
            type=0,
            subtype=4,
            FCfield=fc_flags,
            addr1=BROADCAST,
            addr2=mac,
            addr3=BROADCAST,
            SC=seq << 4,
        )
        / Dot11ProbeReq()
    )
    pkt /= Dot11Elt(ID=0, info=ssid)
    if rates is not None:
        pkt /= Dot11EltRates(rates=list(rates))
    if ds_channel is not None:
        pkt /= Dot11EltDSSSet(channel=ds_channel)
    if ht_cap is not None:
        pkt /= Dot11Elt(ID=45, info=ht_cap)
    if ext_cap is not None:
        pkt /= Dot11Elt(ID=127, info=ext_cap)
    for oui, info in vendor:
        pkt /= Dot11EltVendorSpecific(oui=oui, info=info)
    return bytes(pkt)


def radiotap(
    *,
    rssi: int | None = -60,
    freq: int | None = 2437,
    flags: int | None = None,
    tsft: int | None = None,
    xchannel: tuple[int, int] | None = None,
) -> bytes:
    """A single-bitmap radiotap header built by scapy; ``xchannel`` is (freq, channel)."""
    present: list[str] = []
    values: dict[str, Any] = {}
    if tsft is not None:
        present.append("TSFT")
        values["mac_timestamp"] = tsft
    if flags is not None:
        present.append("Flags")
        values["Flags"] = flags
    if freq is not None:
        present.append("Channel")
        values.update(ChannelFrequency=freq, ChannelFlags=0xA0 if freq < 3000 else 0x140)
    if rssi is not None:
        present.append("dBm_AntSignal")
        values["dBm_AntSignal"] = rssi
    if xchannel is not None:
        present.append("ChannelPlus")
        values.update(
            ChannelPlusFlags=0x140, ChannelPlusFrequency=xchannel[0], ChannelPlusNumber=xchannel[1]
        )
    return bytes(RadioTap(present="+".join(present) or 0, **values))


def channel_field(freq: int) -> bytes:
    """Contents of the radiotap Channel field (bit 3): frequency and flags."""
    return struct.pack("<HH", freq, 0xA0 if freq < 3000 else 0x140)


def xchannel_field(freq: int, channel: int) -> bytes:
    """Contents of the XChannel field (bit 18): flags, frequency, channel, max power."""
    return struct.pack("<IHBB", 0x140, freq, channel, 20)


def signal_field(dbm: int) -> bytes:
    """Contents of a dBm antenna signal field (bit 5)."""
    return struct.pack("<b", dbm)


def intel_radiotap(rssi: int, antennas: Sequence[int], freq: int) -> bytes:
    """mac80211 with per-antenna signals (as iwlwifi): 0xa000402f, 0xa0000820..., 0x00000820."""
    mask = cast("Callable[..., Any]", RadioTapExtendedPresenceMask)
    ext = [mask(present="b5+b11+b29+Ext") for _ in antennas[:-1]] + [mask(present="b5+b11")]
    per_antenna = b"".join(struct.pack("<bB", sig, i) for i, sig in enumerate(antennas))
    return bytes(
        RadioTap(
            present="TSFT+Flags+Rate+Channel+dBm_AntSignal+RXFlags+RadiotapNS+Ext",
            Ext=ext,
            mac_timestamp=123_456_789,
            Flags=0,
            Rate=2,
            ChannelFrequency=freq,
            ChannelFlags=0xA0 if freq < 3000 else 0x140,
            dBm_AntSignal=rssi,
            RXFlags=0,
            notdecoded=per_antenna,
        )
    )


@dataclass
class RtWord:
    """One radiotap-namespace present word and the contents of its fields (by bit)."""

    fields: dict[int, bytes] = field(default_factory=dict)


@dataclass
class VendorWord:
    """One vendor-namespace present word: its header and the data skipped by its length."""

    data: bytes = b""
    bits: int = 0x1
    oui: int = 0x001122
    sub_namespace: int = 0


def build_radiotap(words: Sequence[RtWord | VendorWord], length: int | None = None) -> bytes:
    """Lay out a radiotap header the way radiotap.org describes it (first word: radiotap).

    Each word after the first starts a namespace: bit 29 (radiotap) or bit 30 (vendor)
    is set in the word before it, with bit 31. A vendor namespace's 6-byte header sits
    (2-aligned) after the fields of the word announcing it, followed by its data.
    """
    if not words or not isinstance(words[0], RtWord):
        raise ValueError("the first present word is in the radiotap namespace")
    bitmaps: list[int] = []
    body = bytearray()
    base = 4 + 4 * len(words)
    for i, word in enumerate(words):
        nxt = words[i + 1] if i + 1 < len(words) else None
        if isinstance(word, RtWord):
            bits = 0
            for bit in sorted(word.fields):
                alignment, size = RT_FIELDS[bit]
                content = word.fields[bit]
                if len(content) != size:
                    raise ValueError(f"field {bit} has {size} bytes, not {len(content)}")
                while (base + len(body)) % alignment:
                    body.append(0)
                body += content
                bits |= 1 << bit
        else:
            bits = word.bits
        if isinstance(nxt, VendorWord):
            bits |= 1 << 30 | 1 << 31
            while (base + len(body)) % 2:
                body.append(0)
            body += nxt.oui.to_bytes(3, "big") + bytes([nxt.sub_namespace])
            body += struct.pack("<H", len(nxt.data)) + nxt.data
        elif nxt is not None:
            bits |= 1 << 29 | 1 << 31
        bitmaps.append(bits)
    header_len = base + len(body) if length is None else length
    header = struct.pack("<BBH", 0, 0, header_len) + b"".join(struct.pack("<I", b) for b in bitmaps)
    return (header + bytes(body)).ljust(header_len, b"\0")[: max(header_len, 8)]


def non_probe_frames(mac: str = "02:aa:bb:cc:dd:ee") -> list[bytes]:
    """Well-formed 802.11 frames that are not probe requests (no radiotap)."""
    from scapy.layers.dot11 import (
        Dot11Ack,
        Dot11Auth,
        Dot11Beacon,
        Dot11Deauth,
        Dot11ProbeResp,
        Dot11QoS,
    )

    ap = "00:11:22:33:44:55"
    frames = [
        Dot11(type=0, subtype=8, addr1=BROADCAST, addr2=ap, addr3=ap)
        / Dot11Beacon()
        / Dot11Elt(ID=0, info=b"mall-wifi"),
        Dot11(type=0, subtype=5, addr1=mac, addr2=ap, addr3=ap)
        / Dot11ProbeResp()
        / Dot11Elt(ID=0, info=b"mall-wifi"),
        Dot11(type=0, subtype=11, addr1=ap, addr2=mac, addr3=ap) / Dot11Auth(),
        Dot11(type=0, subtype=12, addr1=mac, addr2=ap, addr3=ap) / Dot11Deauth(reason=7),
        Dot11(type=1, subtype=13, addr1=mac) / Dot11Ack(),
        Dot11(type=2, subtype=0, FCfield="to_DS", addr1=ap, addr2=mac, addr3=ap) / b"\xaa\xaa\x03",
        Dot11(type=2, subtype=8, addr1=ap, addr2=mac, addr3=ap) / Dot11QoS() / b"payload",
    ]
    return [bytes(f) for f in frames]


def write_pcap(
    path: Path, frames: Iterable[tuple[float, bytes]], linktype: int = LINKTYPE_IEEE802_11_RADIOTAP
) -> Path:
    """Write ``(time, frame)`` pairs with the project's ``PcapWriter``."""
    with path.open("wb") as f:
        writer = PcapWriter(f, linktype)
        for t, frame in frames:
            writer.write(t, frame)
    return path


def pcap_bytes(
    frames: Sequence[tuple[int, int, bytes]],
    *,
    endian: str = "<",
    nano: bool = False,
    linktype: int = LINKTYPE_IEEE802_11_RADIOTAP,
) -> bytes:
    """A classic pcap from (seconds, fraction, frame) records, written by hand."""
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, 65535, linktype)
    for sec, frac, frame in frames:
        out += struct.pack(endian + "IIII", sec, frac, len(frame), len(frame)) + frame
    return out


def block(btype: int, body: bytes, endian: str = "<") -> bytes:
    """One pcapng block, padded to 32 bits."""
    body += b"\0" * (-len(body) % 4)
    length = 12 + len(body)
    return struct.pack(endian + "II", btype, length) + body + struct.pack(endian + "I", length)


def shb(endian: str = "<") -> bytes:
    """A pcapng Section Header Block (28 bytes)."""
    return block(0x0A0D0D0A, struct.pack(endian + "IHHq", 0x1A2B3C4D, 1, 0, -1), endian)


def idb(linktype: int, endian: str = "<", tsresol: int | None = None) -> bytes:
    """A pcapng Interface Description Block, optionally with an if_tsresol option."""
    body = struct.pack(endian + "HHI", linktype, 0, 262144)
    if tsresol is not None:
        body += struct.pack(endian + "HHB3x", 9, 1, tsresol) + struct.pack(endian + "HH", 0, 0)
    return block(1, body, endian)


def epb(iface: int, ticks: int, frame: bytes, endian: str = "<") -> bytes:
    """A pcapng Enhanced Packet Block; ``ticks`` in the interface's time resolution."""
    head = struct.pack(
        endian + "IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, len(frame), len(frame)
    )
    return block(6, head + frame, endian)


def tshark_path() -> str | None:
    """The tshark binary, or None when it is not installed."""
    return shutil.which("tshark")


def run_tshark(
    path: Path, fields: Sequence[str], display_filter: str | None = None
) -> list[list[str]]:
    """One row of field values per (displayed) frame, tab-separated by tshark."""
    binary = tshark_path()
    if binary is None:
        raise RuntimeError("tshark is not installed")
    cmd = [binary, "-n", "-r", str(path), "-T", "fields"]
    if display_filter:
        cmd += ["-Y", display_filter]
    for name in fields:
        cmd += ["-e", name]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=120).stdout
    return [line.split("\t") for line in out.splitlines()]
