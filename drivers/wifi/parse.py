"""Pure parser: captured frame bytes -> ``Probe`` (or None, counted).

Total by construction: every index is checked against the buffer length before
it is read, nothing raises on bad input, and the parser never reads a clock
(the time comes with the frame). Raw MAC addresses exist only in local
variables here and in the pseudonymizer's cache.

Speed comes from caching what repeats: radiotap layouts (a few per capture),
information-element summaries (a phone sends the same IE block from every
random MAC, per channel) and pseudonyms. See docs/performance.md.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections import defaultdict
from collections.abc import Iterable
from typing import Final, NamedTuple

from drivers.observations import Probe
from drivers.privacy import Pseudonymizer
from drivers.wifi.pcap import LINKTYPE_IEEE802_11, LINKTYPE_IEEE802_11_RADIOTAP
from drivers.wifi.radiotap import FLAG_BAD_FCS, FLAG_FCS_AT_END, NO_PSDU, Layout, RadiotapLayouts

__all__ = ["IeSummary", "WifiParser", "channel_of", "summarize_ies"]

_PROBE_REQUEST_FC0: Final = 0x40  # version 0, type management, subtype 4
_MGMT_HEADER: Final = 24
_RADIOTAP_HEAD: Final = struct.Struct("<BBHI").unpack_from
"""version, pad, length, first present bitmap"""
_MGMT_HEAD: Final = struct.Struct("<BB8x6s6xH").unpack_from
"""frame control (2 bytes), [duration, DA], SA, [BSSID], sequence control"""
_EXT_BIT: Final = 1 << 31
_ORDER_FLAG: Final = 0x80  # +HTC: 4 bytes of HT control after the header
_SIGNED: Final = tuple(b - 256 if b > 127 else b for b in range(256))

# Elements whose whole content is stable across a phone's random MACs
# (Vanhoef et al. 2016, table 2): supported rates, extended rates, HT and VHT
# capabilities, extended capabilities, RM enabled capabilities, interworking.
_STABLE_CONTENT: Final = frozenset({1, 45, 50, 70, 107, 127, 191})
_VENDOR: Final = 221
_EXTENSION: Final = 255
_STABLE_EXTENSIONS: Final = frozenset({35, 108})  # HE and EHT capabilities
_IE_CACHE_LIMIT: Final = 50_000
_DEVICE_GENERATION: Final = 16_384
"""Addresses per generation of the pseudonym cache (two generations: the last 25 s of a
busy sensor's new MACs, about 5 MB; see ``drivers.privacy``)."""


class IeSummary(NamedTuple):
    """What the parser keeps of an information-element block."""

    fingerprint: str
    ssid: bytes | None
    """The SSID for a directed probe, None for a wildcard probe."""


def channel_of(freq: int) -> int | None:
    """The 802.11 channel number of a centre frequency in MHz."""
    if freq == 2484:
        return 14
    if 2412 <= freq <= 2472:
        return (freq - 2407) // 5
    if 5000 < freq <= 5900:
        return (freq - 5000) // 5
    if freq == 5935:
        return 2  # 6 GHz channel 2, below the regular 6 GHz grid
    if 5950 < freq <= 7125:
        return (freq - 5950) // 5
    if 4910 <= freq <= 4980:
        return (freq - 4000) // 5  # 4.9 GHz public-safety band (channels 182-196)
    return None


_CHANNEL_BY_FREQ_BYTES: Final = tuple(
    tuple(channel_of(hi << 8 | lo) for lo in range(256)) for hi in range(256)
)
"""Channel of a little-endian frequency, indexed [high byte][low byte]: two list
lookups are cheaper than assembling the integer and hashing it."""


def summarize_ies(ies: bytes) -> IeSummary | None:
    """Fingerprint and SSID of an IE block; None if an element overruns the block."""
    material = bytearray()
    ssid: bytes | None = None
    pos = 0
    size = len(ies)
    while pos < size:
        if pos + 2 > size:
            return None
        eid = ies[pos]
        end = pos + 2 + ies[pos + 1]
        if end > size:
            return None
        material.append(eid)
        if eid == 0:
            if end > pos + 2:
                ssid = ies[pos + 2 : end]
        elif eid in _STABLE_CONTENT:
            material += ies[pos + 1 : end]
        elif eid == _VENDOR:
            material += ies[pos + 2 : min(end, pos + 6)]  # OUI + vendor type
        elif eid == _EXTENSION and end > pos + 2:
            material.append(ies[pos + 2])
            if ies[pos + 2] in _STABLE_EXTENSIONS:
                material += ies[pos + 1 : end]
        pos = end
    fingerprint = hashlib.blake2b(material, digest_size=8).hexdigest()
    return IeSummary(fingerprint, ssid)


class WifiParser:
    """Parses probe requests of one sensor; counts everything it does not keep."""

    def __init__(self, sensor: str, pseudonymizer: Pseudonymizer) -> None:
        self.sensor = sensor
        self._pseudo = pseudonymizer
        self._layouts = RadiotapLayouts()
        self._layout_cache: dict[int, Layout] = {}
        """Layouts of single-bitmap headers keyed by ``length << 32 | present``."""
        self._tails: dict[bytes, tuple[bool, str | None, str]] = {}
        """IE block -> the Probe's last three fields; cleared at each key rotation."""
        self._devices: dict[bytes, str] = {}
        self._older_devices: dict[bytes, str] = {}
        self._period_start = 0.0
        self._period_end = -1.0
        self.frames = 0
        self.probes = 0
        self.ignored = 0
        """Well-formed frames that are not probe requests (mixed captures)."""
        self.rejected: defaultdict[str, int] = defaultdict(int)
        """Frames skipped because they are broken, by reason."""

    def stats(self) -> dict[str, object]:
        """Counters for status and telemetry."""
        return {
            "frames": self.frames,
            "probes": self.probes,
            "ignored": self.ignored,
            "rejected": dict(self.rejected),
        }

    def _reject(self, reason: str) -> None:
        self.rejected[reason] += 1

    def parse(
        self, t: float, data: bytes, linktype: int = LINKTYPE_IEEE802_11_RADIOTAP
    ) -> Probe | None:
        """The probe request in one captured frame, or None (counted)."""
        probes = self.parse_batch(((t, linktype, data),))
        return probes[0] if probes else None

    def parse_batch(  # noqa: PLR0912, PLR0915 (one hot loop, on purpose: see the docstring)
        self, frames: Iterable[tuple[float, int, bytes]]
    ) -> list[Probe]:
        """The probe requests among ``(time, linktype, bytes)`` frames, in order.

        One long loop on purpose: it runs for every frame, and in CPython an
        attribute lookup or a call costs as much as the parsing itself, so
        everything the loop needs is bound to a local first (see
        docs/performance.md). The caches are only ever cleared in place, so
        the local names stay valid when a slow path resets them.
        """
        out: list[Probe] = []
        append = out.append
        sensor = self.sensor
        layout_cache = self._layout_cache
        tails = self._tails
        devices = self._devices
        rejected = self.rejected
        period_start, period_end = self._period_start, self._period_end
        count = ignored = 0
        for t, linktype, data in frames:
            count += 1
            size = len(data)
            rssi: int | None = None
            channel: int | None = None
            if linktype == LINKTYPE_IEEE802_11_RADIOTAP:
                if size < 8:
                    rejected["bad_radiotap_header"] += 1
                    continue
                version, _pad, off, present = _RADIOTAP_HEAD(data)
                if version or off < 8 or off > size:
                    rejected["bad_radiotap_header"] += 1
                    continue
                layout = layout_cache.get((off << 32) | present)
                if layout is None:
                    layout = self._slow_layout(data, off, present)
                    if layout is None:
                        continue
                flags_at, freq_at, signal_at = layout
                flags = data[flags_at] if flags_at >= 0 else 0
                if flags & FLAG_BAD_FCS:
                    rejected["bad_fcs"] += 1
                    continue
                end = size - 4 if flags & FLAG_FCS_AT_END else size
                if signal_at >= 0:
                    rssi = _SIGNED[data[signal_at]]
                if freq_at >= 0:
                    channel = _CHANNEL_BY_FREQ_BYTES[data[freq_at + 1]][data[freq_at]]
            elif linktype == LINKTYPE_IEEE802_11:
                off, end = 0, size
            else:
                rejected["unsupported_linktype"] += 1
                continue
            if end - off < _MGMT_HEADER:
                if end > off and data[off] != _PROBE_REQUEST_FC0:
                    ignored += 1
                else:
                    rejected["truncated_80211"] += 1
                continue
            fc0, fc1, mac, seq_ctl = _MGMT_HEAD(data, off)
            if fc0 != _PROBE_REQUEST_FC0:
                ignored += 1
                continue
            # A group (multicast) source address is invalid 802.11 but is kept: anonymized
            # research captures scramble that bit, and rejecting would hide real frames.
            ie_start = off + _MGMT_HEADER + (4 if fc1 & _ORDER_FLAG else 0)
            if ie_start > end:
                rejected["truncated_80211"] += 1  # +HTC frame cut inside its HT control field
                continue
            ies = data[ie_start:end]
            device = devices.get(mac) if period_start <= t < period_end else None
            if device is None:
                device = self._pseudonym(mac, t)
                if device is None:
                    continue
                period_start, period_end = self._period_start, self._period_end
            tail = tails.get(ies)
            if tail is None:
                tail = self._ie_tail(ies, t)
                if tail is None:
                    continue
            head = (t, sensor, device, mac[0] & 2 == 2, rssi, channel, seq_ctl >> 4)
            append(_new_tuple(Probe, head + tail))  # concatenation: faster than unpacking
        self.frames += count
        self.ignored += ignored
        self.probes += len(out)
        return out

    def _slow_layout(self, data: bytes, off: int, present: int) -> Layout | None:
        layout = self._layouts.get(data, off)
        if layout is None:
            self._reject("bad_radiotap_fields")
        elif layout is NO_PSDU:
            self.ignored += 1  # a radio report without a frame (0-length PSDU)
            return None
        elif not present & _EXT_BIT:
            self._layout_cache[(off << 32) | present] = layout
        return layout

    def _ie_tail(self, ies: bytes, t: float) -> tuple[bool, str | None, str] | None:
        """Slow path: summarize a new IE block (cached per rotation period)."""
        summary = summarize_ies(ies)
        if summary is None:
            self._reject("malformed_ies")
            return None
        ssid = summary.ssid
        tail = (
            ssid is not None,
            None if ssid is None else self._pseudo.tag(ssid, t),
            summary.fingerprint,
        )
        if len(self._tails) >= _IE_CACHE_LIMIT:
            self._tails.clear()
        self._tails[ies] = tail
        return tail

    def _pseudonym(self, mac: bytes, t: float) -> str | None:
        """Slow path: a new address, or a new rotation period (None: unusable time)."""
        if not math.isfinite(t):
            self._reject("bad_timestamp")
            return None
        pseudo = self._pseudo
        period = pseudo.period_of(t)
        if not self._period_start <= t < self._period_end:
            self._period_start = float(period * pseudo.rotation_s)
            self._period_end = self._period_start + pseudo.rotation_s
            self._devices.clear()
            self._older_devices.clear()
            self._tails.clear()  # SSID tags rotate with the pseudonyms
        device = self._older_devices.get(mac) or pseudo.pseudonym_uncached(mac, t)
        if len(self._devices) >= _DEVICE_GENERATION:
            self._older_devices = self._devices.copy()
            self._devices.clear()  # in place: the hot loop holds this dict
        self._devices[mac] = device
        return device


_new_tuple: Final = tuple.__new__
