"""What one phone sends, learned from the phones the box can follow.

The rate estimator (``edge.estimate.people``) counts *scan events* per zone and
interval without linking random MACs, and divides by how many scan events one
phone makes in that time. Two numbers turn events into phones:

- the **scan interval** heard in a zone: learned from the phones that keep one MAC
  across scans (global MACs, MACs kept for minutes): their runs in the zone give the
  time they stayed over the scans heard, pooled over the zone's recent runs, shrunk
  towards the box-wide value when a zone has few;
- the **MACs per scan** of each fingerprint class: a phone that changes its MAC for
  every burst shows several new MACs within a fraction of a second. Among a class's
  new MACs, the share that follow another one within ``SIBLING_S`` is counted, less
  what chance alone gives at that rate (Poisson), in intervals quiet enough for the
  correction to be small: share ``f`` of siblings means ``1 / (1 - f)`` MACs per scan.

The same runs give how irregular the scan gaps are (their squared coefficient of
variation, from the runs' squared gaps): a stay lasts ``(1 + cv2)`` mean gaps beyond its
first and last heard scan, which both the scan interval above and the dwell figures
(``unseen``) need.

All state is a handful of floats per zone and class, with exponential forgetting
(``_FORGET``), so the figures follow a change of the crowd's phones over hours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Final

__all__ = ["GAP_CV2", "SIBLING_S", "ScanRates"]

SIBLING_S: Final = 0.4
"""New MACs of one class this close are one scan's bursts (real scans: 0.1-1.4 s)."""
_MAX_CHANCE: Final = 0.3
"""Learn MACs per scan only where chance explains at most this share of siblings."""
_PRIOR_INTERVAL_S: Final = 40.0
"""Before any phone was followed: between the screen-on (15 s) and screen-off (60 s)
medians of the probing-patterns captures (docs/grouping.md)."""
_PRIOR_WEIGHT: Final = 20.0
"""Scan gaps the prior is worth; a zone's own runs outweigh it after a few phones."""
_ZONE_SHRINK: Final = 40.0
"""Scan gaps of box-wide evidence a zone's own value is shrunk with."""
_FORGET: Final = 0.999
"""Weight kept per interval of old evidence (about 17 hours at 60 s intervals)."""
_MAX_SIBLING_SHARE: Final = 0.85
GAP_CV2: Final = 0.7
"""Before the gaps of followed phones are learned: the squared coefficient of variation
of a phone's scan gaps (log-normal sigma 0.6 and the mix of screen states). The two ends
of a stay add ``(1 + cv2)`` mean gaps to its first-to-last scans."""
_CV2_PRIOR_WEIGHT: Final = 100.0
"""Scan gaps the prior cv2 is worth (a squared gap's mean settles slowly), and the
box-wide value against a zone's own."""


@dataclass(slots=True)
class _Sums:
    gaps: float = 0.0
    """Scans heard (each stands for one scan interval of the stay)."""
    seconds: float = 0.0
    """Seconds stayed."""
    spaced: float = 0.0
    """Gaps between the scans of followed runs..."""
    spanned: float = 0.0
    """...their seconds..."""
    squares: float = 0.0
    """...and their squares: the irregularity of the gaps."""

    def add(self, gaps: float, seconds: float) -> None:
        self.gaps += gaps
        self.seconds += seconds

    def add_gaps(self, spaced: float, spanned: float, squares: float) -> None:
        self.spaced += spaced
        self.spanned += spanned
        self.squares += squares

    def cv2(self, prior: float) -> float:
        """The gaps' squared coefficient of variation, shrunk towards ``prior``."""
        if self.spaced <= 0 or self.spanned <= 0:
            return prior
        mean = self.spanned / self.spaced
        seen = max(self.squares / self.spaced / (mean * mean) - 1.0, 0.0)
        return (self.spaced * seen + _CV2_PRIOR_WEIGHT * prior) / (self.spaced + _CV2_PRIOR_WEIGHT)

    def decay(self) -> None:
        self.gaps *= _FORGET
        self.seconds *= _FORGET
        self.spaced *= _FORGET
        self.spanned *= _FORGET
        self.squares *= _FORGET

    def to_json(self) -> list[float]:
        return [self.gaps, self.seconds, self.spaced, self.spanned, self.squares]


@dataclass(slots=True)
class _Siblings:
    macs: float = 0.0
    close: float = 0.0
    chance: float = 0.0

    def decay(self) -> None:
        self.macs *= _FORGET
        self.close *= _FORGET
        self.chance *= _FORGET


@dataclass(slots=True)
class ScanRates:
    """Scan interval and gap irregularity per zone, MACs per scan per fingerprint class,
    learned online."""

    zones: dict[str, _Sums] = field(default_factory=dict)
    box: _Sums = field(default_factory=_Sums)
    classes: dict[str, _Siblings] = field(default_factory=dict)

    # -- learning -----------------------------------------------------------------------

    def learn_run(self, zone: str, scans: int, seconds: float) -> None:
        """A followed phone heard ``scans`` times in ``zone`` over ``seconds`` (first to last),
        its gaps unknown (``learn_runs`` has them)."""
        if scans >= 2 and seconds > 0:
            stayed = seconds + (1.0 + self.gap_cv2(zone)) * seconds / (scans - 1)
            self.learn_stays(zone, scans, stayed)

    def learn_runs(self, zone: str, sums: list[float]) -> None:
        """Followed phones' runs in ``zone`` that ended (``run_evidence``: scans, gaps,
        seconds first to last, mean gaps, squared gaps). Each phone stayed longer than
        from its first scan to its last: before the first and after the last lie
        ``1 + cv2`` of its mean gaps together (a forward and a backward recurrence time).
        Without that, short runs (a run needs two scans) make the interval look a third
        shorter than it is."""
        scans, spaced, spanned, mean_gaps, squares = sums
        self.zones.setdefault(zone, _Sums()).add_gaps(spaced, spanned, squares)
        self.box.add_gaps(spaced, spanned, squares)
        self.learn_stays(zone, scans, spanned + (1.0 + self.gap_cv2(zone)) * mean_gaps)

    def learn_stays(self, zone: str, scans: float, stayed_s: float) -> None:
        """Followed phones heard ``scans`` times in ``zone`` while they stayed ``stayed_s``."""
        self.zones.setdefault(zone, _Sums()).add(scans, stayed_s)
        self.box.add(scans, stayed_s)

    def learn_siblings(self, fp: str, firsts: list[float], interval_s: float) -> None:
        """The first-heard times of one class's new random MACs in one zone and interval."""
        n = len(firsts)
        if n < 2:
            return
        rate = n / interval_s
        chance = 1.0 - math.exp(-rate * SIBLING_S)
        if chance > _MAX_CHANCE:
            return
        firsts.sort()
        close = sum(1 for a, b in pairwise(firsts) if b - a <= SIBLING_S)
        s = self.classes.get(fp)
        if s is None:
            s = self.classes[fp] = _Siblings()
        s.macs += n
        s.close += close
        s.chance += n * chance

    def decay(self) -> None:
        """Once per interval: old evidence fades."""
        self.box.decay()
        for z in self.zones.values():
            z.decay()
        for c in self.classes.values():
            c.decay()

    # -- reading ------------------------------------------------------------------------

    def interval(self, zone: str) -> tuple[float, float]:
        """(mean scan interval heard in ``zone`` in seconds, its relative standard error)."""
        box_gaps = self.box.gaps + _PRIOR_WEIGHT
        box_interval = (self.box.seconds + _PRIOR_WEIGHT * _PRIOR_INTERVAL_S) / box_gaps
        own = self.zones.get(zone) or _Sums()
        shrink = min(_ZONE_SHRINK, box_gaps)
        gaps = own.gaps + shrink
        # Scan gaps vary about as much as their mean (log-normal, sigma 0.6, mixed screen
        # states): the mean of n of them is known to about 1/sqrt(n).
        return (own.seconds + shrink * box_interval) / gaps, 1.0 / math.sqrt(gaps)

    def gap_cv2(self, zone: str) -> float:
        """The squared coefficient of variation of the scan gaps heard in ``zone``: the
        zone's followed phones, shrunk towards the box's, shrunk towards ``GAP_CV2``."""
        own = self.zones.get(zone)
        box = self.box.cv2(GAP_CV2)
        return own.cv2(box) if own is not None else box

    def unseen(self, zone: str) -> float:
        """Seconds a stay in ``zone`` lasts beyond its first and last heard scan, on
        average: a forward and a backward recurrence time of the scans, ``(1 + cv2)``
        mean intervals. Regular scanners leave out one interval; bursty ones more."""
        return (1.0 + self.gap_cv2(zone)) * self.interval(zone)[0]

    def macs_per_scan(self, fp: str) -> tuple[float, float]:
        """(MACs a phone of class ``fp`` shows per scan, the relative standard error)."""
        s = self.classes.get(fp)
        if s is None or s.macs < 1:
            return 1.0, 0.5
        usable = max(s.macs - s.chance, 1.0)
        share = min(max((s.close - s.chance) / usable, 0.0), _MAX_SIBLING_SHARE)
        se = math.sqrt(share * (1 - share) / usable + 1.0 / usable)
        return 1.0 / (1.0 - share), min(se / (1.0 - share), 0.5)

    # -- checkpoints --------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "zones": {z: s.to_json() for z, s in self.zones.items()},
            "box": self.box.to_json(),
            "classes": {c: [s.macs, s.close, s.chance] for c, s in self.classes.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScanRates:
        return cls(
            zones={z: _Sums(*v) for z, v in data.get("zones", {}).items()},
            box=_Sums(*data.get("box", (0.0, 0.0))),
            classes={c: _Siblings(*v) for c, v in data.get("classes", {}).items()},
        )
