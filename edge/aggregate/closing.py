"""What the Wi-Fi windows get when they close: grouping confidence and people present.

Kept out of ``engine`` (the hot loop's module): this runs once per presence interval.
The people figure comes from ``edge.estimate.people`` (scan events per fingerprint
class, no linking), fed with the pseudonyms every zone's window heard.
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from typing import Any

from edge.aggregate.fixed import FixedDevices
from edge.aggregate.state import (
    DeviceState,
    Run,
    WindowState,
    count_inside,
    expire_runs,
    run_evidence,
    tally_window,
)
from edge.config.models import Config
from edge.estimate.people import FOLLOW_SPAN_S, PeopleEstimator
from edge.grouping import Grouper

__all__ = ["WindowCloser", "live_sessions"]


class WindowCloser:
    """Sets ``confidence`` and ``people`` on the Wi-Fi windows of an interval."""

    def __init__(self, config: Config, grouper: Grouper | None) -> None:
        agg = config.aggregation
        self._grouper = grouper
        self._fixed_macs = agg.fixed_devices
        self._rotation_s = config.privacy.key_rotation_s
        self._fixed: FixedDevices | None = None
        self._people: PeopleEstimator | None = None
        if grouper is not None:
            enter = {z.id: z.visitor_rssi_dbm for z in config.zones}
            self._people = PeopleEstimator(
                float(agg.presence_interval_s), agg.wifi_phone_share, agg.session_gap_s, enter
            )

    def close(
        self,
        windows: dict[str, WindowState],
        zones: list[str],
        start: float,
        end: float,
        fixed: Container[str],
    ) -> None:
        """Every zone gets a window (an empty one if nothing was heard), with its figures."""
        for zone in zones:
            if zone not in windows:
                windows[zone] = WindowState(start)
        for w in windows.values():
            w.confidence = self.confidence(w)
        if self._people is None or self._grouper is None:
            return
        est = self._people
        heard = {z: windows[z].raw for z in zones}
        inside = {z: count_inside(windows[z], fixed) for z in zones}
        ended: list[Run] = []
        tallies = tally_window(
            heard, zones, est.enter_dbm, fixed, self._grouper, est.runs, est.gap_s,
            FOLLOW_SPAN_S, ended,
        )  # fmt: skip
        expire_runs(est.runs, end, est.gap_s, ended)
        people = est.close(tallies, run_evidence(ended), inside)
        for zone, figure in people.items():
            windows[zone].people = figure

    def key_fixed_devices(self, key: bytes) -> None:
        """Turn the configured fixed devices into pseudonyms with the parsers' key."""
        if self._fixed_macs:
            self._fixed = FixedDevices(self._fixed_macs, key, self._rotation_s)

    def fixed_at(self, t: float) -> frozenset[str]:
        """The configured fixed devices' pseudonyms at ``t`` (empty before they are keyed)."""
        return self._fixed.at(t) if self._fixed is not None else frozenset()

    def confidence(self, w: WindowState) -> float | None:
        """Mean confidence of the window's Wi-Fi device groups (None without grouping)."""
        grouper = self._grouper
        if grouper is None:
            return None
        scores = [c for d in w.seen if (c := grouper.confidence(d)) is not None]
        return round(sum(scores) / len(scores), 4) if scores else (1.0 if not w.seen else None)

    def snapshot(self) -> dict[str, Any] | None:
        """For the checkpoint, serialized at once on this thread: the live runs, each
        turned into JSON as it is reached (``edge.checkpoint_json``), not copied first."""
        est = self._people
        if est is None:
            return None
        return est.snapshot() | {"runs": est.runs}

    def restore(self, snap: dict[str, Any] | None) -> None:
        est = self._people
        if est is not None and snap:
            est.restore(snap)
            est.runs = {d: Run(*r) for d, r in snap.get("runs", {}).items()}


def live_sessions(
    devices: Iterable[DeviceState], zone: str, t: float, window_s: float
) -> list[tuple[str, str, float]]:
    """(device, radio, smoothed RSSI) of the devices whose session in ``zone`` was live
    within ``window_s`` of ``t`` (``Aggregator.devices_at``); fixed devices left out."""
    out = []
    for dev in devices:
        s = dev.sessions.get(zone)
        if dev.fixed or s is None:
            continue
        if s.start - window_s <= t <= s.last + window_s:
            out.append((dev.device, dev.source, s.smoothed))
    return out
