"""Online grouping of a phone's random MACs into one device group per visit.

``Grouper.assign_batch`` takes probe requests in event-time order (all the
sensors of a box, merged) and returns, for each, the id of its device group:
the first pseudonym the group was heard with, so the id never changes while
the group lives. A probe from a pseudonym already in a group takes the fast
path (two dict look-ups and a few attribute writes); only the first probe of
a new pseudonym runs the linker, which scores at most ``max_candidates``
groups of the same IE fingerprint, most recently heard first:

- ``seq``: the 802.11 sequence counter continues across the MAC change;
- ``ssid``: a directed probe names a network only this group asked for;
- ``burst``: the new MAC appears within the same scan as the group's last probe
  (phones that change MAC per burst use a handful of MACs per scan);
- ``timing``: across scans, with the fingerprint alone, the new MAC appears
  while the group is quiet and where the group was (RSSI per sensor).

Two phones of the same model share a fingerprint, so every rule but the
first two also checks the signal; a group whose counter is known to continue
refuses MACs whose counter does not. Memory is bounded by what was heard in
the last ``session_gap_s``: groups and pseudonyms are kept in ordered dicts by
last-heard time and swept once per second of event time (see docs/grouping.md).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable
from typing import Final, NamedTuple

from drivers.observations import Probe
from edge.grouping.rules import (
    LINK_KINDS,
    GroupingConfig,
    link_confidence,
    rssi_distance,
    seq_step,
)

__all__ = ["GroupSummary", "Grouper"]

_SWEEP_S: Final = 1.0
_RECENT_CLOSED: Final = 65_536
"""At most this many closed groups keep their confidence readable (for
``GroupingConfig.recent_s``): the aggregator asks when a presence interval ends, which
can be after the grouper, a batch ahead, has closed the group."""
_SEQ_PROVEN: Final = 2
"""Links by sequence number after which a group is known to continue its counter."""


class GroupSummary(NamedTuple):
    """A closed group: what the aggregator and the benchmark need of it."""

    group: str
    fingerprint: str
    first: float
    last: float
    pseudonyms: int
    probes: int
    confidence: float
    """Mean confidence of the links that built the group (1.0: a single pseudonym)."""


class _Group:
    """One phone, as far as the evidence goes."""

    def __init__(self, gid: str, fp: str, t: float, seq: int, stable: bool) -> None:
        self.gid = gid
        self.fp = fp
        self.first = t
        self.last = t
        self.seq = seq
        self.stable = stable
        """Started from a global MAC: a phone that keeps its address absorbs no other."""
        self.reuses = False
        """Kept a MAC across scans: it changes MAC rarely, so a new MAC near it is someone
        else unless the counter says otherwise (the ``timing`` rule does not apply)."""
        self.rssi: dict[str, int] = {}
        """Last RSSI heard by each sensor."""
        self.tags: set[str] = set()
        self.pseudonyms = 1
        self.probes = 0
        self.links = 0
        self.seq_links = 0
        self.conf_sum = 0.0
        self.open = True
        """False once closed: a pseudonym still pointing at it starts afresh (``_sweep``
        forgets pseudonyms in arrival order, which out-of-order times can leave behind)."""

    def confidence(self) -> float:
        return self.conf_sum / self.links if self.links else 1.0


class _Mac:
    """A pseudonym and the group it belongs to."""

    def __init__(self, group: _Group, t: float) -> None:
        self.group = group
        self.first = t
        self.last = t


class Grouper:
    """Assigns each probe to a device group; see the module docstring."""

    def __init__(self, config: GroupingConfig | None = None, keep_summaries: bool = False) -> None:
        self.config = config if config is not None else GroupingConfig()
        self._keep = keep_summaries
        self._macs: OrderedDict[str, _Mac] = OrderedDict()
        self._by_fp: dict[str, OrderedDict[str, _Group]] = {}
        self._groups: dict[str, _Group] = {}
        self._tags: dict[str, list[_Group]] = {}
        """fingerprint|ssid tag -> live groups that asked for it (unique: a link)."""
        self._closed: list[GroupSummary] = []
        self._recent: OrderedDict[str, tuple[float, float]] = OrderedDict()
        """Closed groups, oldest first: (confidence, time of the last probe)."""
        self._next_sweep = -math.inf
        self.probes = 0
        self.pseudonyms = 0
        """New pseudonyms registered (a pseudonym back after its group closed counts again)."""
        self.groups = 0
        self.links: dict[str, int] = dict.fromkeys(LINK_KINDS, 0)
        self.ambiguous = 0
        """New pseudonyms that several groups fitted equally by timing: left unlinked."""

    # -- the hot path -------------------------------------------------------------------

    def assign(self, p: Probe) -> str:
        """The group id of one probe."""
        return self.assign_batch((p,))[0]

    def assign_batch(self, probes: Iterable[Probe]) -> list[str]:
        """The group id of each probe, in order (probes in event-time order)."""
        out: list[str] = []
        append = out.append
        macs = self._macs
        move_mac = macs.move_to_end
        by_fp = self._by_fp
        next_sweep = self._next_sweep
        burst_window = self.config.burst_window_s
        count = 0
        for p in probes:
            count += 1
            t = p.t
            if t >= next_sweep:
                self._sweep(t)
                next_sweep = self._next_sweep
            m = macs.get(p.device)
            if m is not None and not m.group.open:
                del macs[p.device]  # its group closed: a pseudonym heard anew
                m = None
            if m is None:
                g = self._new_mac(p)
            else:
                g = m.group
                if t > m.last:
                    if t - m.last > burst_window:
                        g.reuses = True
                    m.last = t
                    move_mac(p.device)
                if t > g.last:
                    g.last = t
                    by_fp[g.fp].move_to_end(g.gid)
                g.seq = p.seq
            g.probes += 1
            if p.rssi is not None:
                g.rssi[p.sensor] = p.rssi
            if p.ssid_tag is not None and p.ssid_tag not in g.tags:
                self._add_tag(g, p.ssid_tag)
            append(g.gid)
        self.probes += count
        return out

    # -- linking a new pseudonym --------------------------------------------------------

    def _new_mac(self, p: Probe) -> _Group:
        self.pseudonyms += 1
        cfg = self.config
        stable = not p.randomized and cfg.trust_local_bit
        peers = self._by_fp.get(p.fingerprint)
        best: _Group | None = None
        best_kind = ""
        best_score = -math.inf
        runner_up = -math.inf
        passed = 0
        if peers is not None and not stable:
            examined = 0
            for g in reversed(peers.values()):
                if p.t - g.last > cfg.link_gap_s or examined >= cfg.max_candidates:
                    break
                examined += 1
                if g.stable and cfg.trust_local_bit:
                    continue
                kind, score = self._score(g, p)
                if kind:
                    passed += 1
                    if score > best_score:
                        runner_up = best_score
                        best, best_kind, best_score = g, kind, score
                    elif score > runner_up:
                        runner_up = score
        if best is None:
            return self._open(p, stable)
        if best_kind == "timing" and best_score - runner_up < cfg.ambiguity_margin:
            # Several phones of this model fit as well: a guess would swap people. A new
            # group, counted; the people figures do not rest on groups (edge.estimate).
            self.ambiguous += 1
            return self._open(p, stable)
        self._link(best, p, best_kind, passed - 1)
        return best

    def _score(self, g: _Group, p: Probe) -> tuple[str, float]:
        """(link kind, score) of new pseudonym ``p`` joining ``g``; kind "" if a gate fails."""
        cfg = self.config
        dt = abs(p.t - g.last)
        d = rssi_distance(g.rssi, p.sensor, p.rssi, cfg.missing_rssi_db)
        step = seq_step(g.seq, p.seq)
        seq_ok = 0 < step <= cfg.seq_max_step
        tag_ok = self._owns_tag(g, p)
        # Proven: most of its MAC changes continued the counter (1.6% do by chance).
        proven_seq = g.seq_links >= _SEQ_PROVEN and 2 * g.seq_links >= g.links
        score = -d / 4.0 - dt / cfg.link_gap_s
        if (seq_ok and proven_seq) or tag_ok:
            if d > cfg.seq_rssi_gate_db:
                return "", 0.0
            return ("seq" if seq_ok else "ssid"), score + 4.0 * seq_ok + 4.0 * tag_ok
        if (proven_seq or g.reuses) and not seq_ok:
            return "", 0.0  # this phone continues its counter (or keeps its MACs for long)
        if dt <= cfg.burst_window_s:
            gate, kind = cfg.burst_rssi_gate_db, "burst"
        else:
            gate = cfg.timing_rssi_gate_db + cfg.timing_rssi_drift_db_per_min * dt / 60.0
            kind = "timing"
        if d > gate:
            return "", 0.0
        # An unproven counter match is a hint, not proof: 64 of 4096 values match by chance.
        return ("seq" if seq_ok else kind), score + 2.0 * seq_ok + (kind == "burst")

    def _owns_tag(self, g: _Group, p: Probe) -> bool:
        if p.ssid_tag is None:
            return False
        owners = self._tags.get(p.fingerprint + "|" + p.ssid_tag)
        return owners is not None and len(owners) == 1 and owners[0] is g

    def _open(self, p: Probe, stable: bool) -> _Group:
        g = _Group(p.device, p.fingerprint, p.t, p.seq, stable)
        peers = self._by_fp.get(p.fingerprint)
        if peers is None:
            peers = self._by_fp[p.fingerprint] = OrderedDict()
        old = peers.pop(g.gid, None)  # the same id back after its group closed: a new group
        if old is not None:
            self._forget(old)
        peers[g.gid] = g
        self._groups[g.gid] = g
        self._macs[p.device] = _Mac(g, p.t)
        self.groups += 1
        return g

    def _link(self, g: _Group, p: Probe, kind: str, rivals: int) -> None:
        g.pseudonyms += 1
        g.links += 1
        g.conf_sum += link_confidence(kind, rivals)
        if kind == "seq":
            g.seq_links += 1
        self.links[kind] += 1
        g.seq = p.seq
        if p.t > g.last:
            g.last = p.t
            self._by_fp[g.fp].move_to_end(g.gid)
        self._macs[p.device] = _Mac(g, p.t)

    def _add_tag(self, g: _Group, tag: str) -> None:
        g.tags.add(tag)
        self._tags.setdefault(g.fp + "|" + tag, []).append(g)

    # -- time and memory ----------------------------------------------------------------

    def _sweep(self, t: float) -> None:
        """Close the groups and forget the pseudonyms unheard for a session gap."""
        cutoff = t - self.config.session_gap_s
        macs = self._macs
        while macs:
            device, m = next(iter(macs.items()))
            if m.last >= cutoff:
                break
            del macs[device]
        for fp in list(self._by_fp):
            peers = self._by_fp[fp]
            while peers:
                g = next(iter(peers.values()))
                if g.last >= cutoff:
                    break
                del peers[g.gid]
                self._forget(g)
            if not peers:
                del self._by_fp[fp]
        self._next_sweep = t + _SWEEP_S

    def _forget(self, g: _Group) -> None:
        g.open = False
        if self._groups.get(g.gid) is g:
            del self._groups[g.gid]
        self._remember_closed(g)
        for tag in g.tags:
            key = g.fp + "|" + tag
            owners = self._tags.get(key)
            if owners is not None:
                if g in owners:
                    owners.remove(g)
                if not owners:
                    del self._tags[key]
        if self._keep:
            self._closed.append(_summary(g))

    def _remember_closed(self, g: _Group) -> None:
        """Keep a closed group's confidence while a presence interval may still ask for it;
        a crowd closes thousands of groups an hour, and the count alone kept up to 65,536
        of them (10 MB, still growing hours after the start)."""
        recent = self._recent
        recent[g.gid] = (g.confidence(), g.last)
        recent.move_to_end(g.gid)
        horizon = g.last - self.config.recent_s
        while recent:
            oldest = next(iter(recent.values()))
            if oldest[1] >= horizon and len(recent) <= _RECENT_CLOSED:
                break
            recent.popitem(last=False)

    def close_all(self) -> None:
        """Close every open group (end of a recording); their summaries become drainable."""
        for peers in self._by_fp.values():
            for g in peers.values():
                self._forget(g)
        self._by_fp.clear()
        self._macs.clear()
        self._tags.clear()
        self._groups.clear()

    # -- reading ------------------------------------------------------------------------

    def drain(self) -> list[GroupSummary]:
        """Summaries of the groups closed since the last call (``keep_summaries`` only)."""
        out, self._closed = self._closed, []
        return out

    def confidence(self, group: str) -> float | None:
        """Confidence of an open or recently closed group, None if it is unknown."""
        g = self._groups.get(group)
        if g is not None:
            return g.confidence()
        closed = self._recent.get(group)
        return None if closed is None else closed[0]

    def span(self, device: str) -> tuple[float, str] | None:
        """(seconds pseudonym ``device`` has been heard over, its group id); None if it is
        not open. A MAC heard across scans is one the box can follow (``edge.estimate``)."""
        m = self._macs.get(device)
        if m is None or not m.group.open:
            return None
        return m.last - m.first, m.group.gid

    def heard_over(self, device: str, seconds: float) -> bool:
        """Whether pseudonym ``device`` (open) has been heard over more than ``seconds``:
        ``span`` without the tuple, for the rate estimator's loop over every pseudonym."""
        m = self._macs.get(device)
        return m is not None and m.group.open and m.last - m.first > seconds

    @property
    def open_groups(self) -> int:
        return len(self._groups)

    @property
    def open_pseudonyms(self) -> int:
        return len(self._macs)

    def stats(self) -> dict[str, object]:
        """Counters: probes, pseudonyms (raw devices), groups, links by rule, open state."""
        return {
            "probes": self.probes,
            "pseudonyms": self.pseudonyms,
            "groups": self.groups,
            "links": dict(self.links),
            "ambiguous": self.ambiguous,
            "open_groups": self.open_groups,
            "open_pseudonyms": self.open_pseudonyms,
        }


def _summary(g: _Group) -> GroupSummary:
    return GroupSummary(g.gid, g.fp, g.first, g.last, g.pseudonyms, g.probes, g.confidence())
