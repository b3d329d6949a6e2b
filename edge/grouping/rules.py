"""The evidence that two random MACs belong to one phone, as small pure functions.

A phone that changes its MAC keeps everything else it cannot easily change:
the information elements of its probe requests (its fingerprint), its 802.11
sequence counter (on many models), the moment it scans, the networks it asks
for by name, and where it is (the signal each sensor hears). Vanhoef et al.
2016 ("Why MAC address randomization is not enough") measured the first four;
the fifth is physics. Each function here scores one of them, so the linker in
``grouper`` stays a loop over candidates and the rules can be tested alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "LINK_KINDS",
    "SEQ_MODULO",
    "GroupingConfig",
    "link_confidence",
    "rssi_distance",
    "seq_step",
]

SEQ_MODULO: Final = 4096
"""802.11 sequence numbers are 12 bits: they wrap at 4096."""

LINK_KINDS: Final = ("seq", "ssid", "burst", "timing")
"""Why a new pseudonym joined a group, strongest evidence first."""


@dataclass(frozen=True, slots=True)
class GroupingConfig:
    """Tuning of the linker: windows from the probing-patterns captures, gates tuned on the
    crowd simulator (see docs/grouping.md)."""

    session_gap_s: float = 300.0
    """A group unheard this long is closed and forgotten (the aggregator's session gap)."""
    recent_s: float = 21_600.0
    """How long after its last probe a closed group's confidence stays readable: it is
    asked when a presence interval that heard the group ends (``for_aggregation``; this
    default covers the longest interval and session gap the configuration allows)."""

    link_gap_s: float = 150.0
    """A new MAC may continue a group heard at most this long ago (inter-scan gaps of
    real phones reach several minutes: probing-patterns quartiles 8-270 s)."""
    burst_window_s: float = 1.0
    """Probes this close belong to one scan (real scans last 0.1-1.4 s)."""
    seq_max_step: int = 64
    """A continued counter moves by 1-15 across a MAC change when all channels are heard
    (iPhone 7 capture); a sensor on one channel misses the probes sent on the others."""
    seq_rssi_gate_db: float = 30.0
    """Sequence or SSID evidence still needs the signal to be roughly where the group was."""
    burst_rssi_gate_db: float = 10.0
    """Within one scan the phone has not moved: only radio noise separates the probes."""
    timing_rssi_gate_db: float = 8.5
    """Across scans, with the fingerprint alone, the signal must match closely..."""
    timing_rssi_drift_db_per_min: float = 2.0
    """...allowing for the walk between two scans."""
    missing_rssi_db: float = 6.0
    """Distance charged when the group was never heard by this probe's sensor."""
    max_candidates: int = 24
    """Same-fingerprint groups examined per new MAC, most recently heard first (bounds cost)."""
    ambiguity_margin: float = 0.1
    """A timing link needs a score this far above the next candidate's (0.1: 0.4 dB of
    signal, or 15 s of silence); closer, the MAC is left unlinked and counted as ambiguous."""
    trust_local_bit: bool = True
    """A globally administered MAC is a stable identity: never link it by timing. Turn off
    for anonymized captures whose anonymizer scrambled the local/global bit."""

    @classmethod
    def for_aggregation(cls, session_gap_s: float, presence_interval_s: float) -> GroupingConfig:
        """The aggregator's grouping: its session gap, and closed groups kept for twice an
        interval and a gap, room enough for windows that close late."""
        recent_s = 2.0 * (presence_interval_s + session_gap_s)
        return cls(session_gap_s=session_gap_s, recent_s=recent_s)


_CONFIDENCE: Final = {"seq": 0.95, "ssid": 0.9, "burst": 0.85, "timing": 0.6}


def seq_step(previous: int, current: int) -> int:
    """How far the sequence counter moved from ``previous`` to ``current``, modulo 4096."""
    return (current - previous) % SEQ_MODULO


def rssi_distance(heard: dict[str, int], sensor: str, rssi: int | None, missing_db: float) -> float:
    """dB between a probe and what its sensor last heard of a group.

    A group not yet heard by this sensor (or a probe without RSSI) costs
    ``missing_db``: not a veto, because a phone walking into range is normal.
    """
    if rssi is None:
        return missing_db
    last = heard.get(sensor)
    if last is None:
        return missing_db
    return float(abs(rssi - last))


def link_confidence(kind: str, rivals: int) -> float:
    """Confidence of one link of ``kind`` when ``rivals`` other groups also passed the gates.

    Timing links are the weak ones: with rivals, the linker had to guess between
    phones of the same model, so their confidence is shared out.
    """
    base = _CONFIDENCE.get(kind, 0.5)
    if kind == "timing":
        return base / (1 + rivals)
    return base * (0.9 if rivals else 1.0)
