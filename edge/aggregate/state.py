"""The aggregation's mutable state: small slotted classes, serializable for checkpoints.

State is bounded by what is live: a device is forgotten when its visit ends,
a presence window when it is emitted. Nothing grows with the number of frames.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from edge.aggregate.idset import PseudonymSet
from edge.estimate.rates import GAP_CV2
from edge.grouping.grouper import Grouper

if TYPE_CHECKING:
    from edge.config.models import Config

__all__ = [
    "DeviceState", "Heard", "HourState", "Run", "SessionState", "WindowState", "ZoneRule",
    "ZoneTally", "count_inside", "expire_runs", "hear", "people_sums", "run_evidence",
    "tally_window", "zone_rule",
]  # fmt: skip

_SCAN_GAP_S = 1.0
"""Probes of one MAC further apart than this are two scan events (a scan lasts < 1.4 s)."""
MAX_SCAN_GAP_S: Final = 180.0
"""Longer gaps in a followed run count as this long in its squared gaps: a phone that
stepped out and came back within the session gap is not a phone scanning that rarely."""


@dataclass(slots=True)
class ZoneRule:
    """The thresholds of one zone, precomputed for the hot path."""

    zone: str
    enter_dbm: int
    """A session opens on a frame at or above this."""
    keep_dbm: float
    """An open session is kept alive while the smoothed RSSI stays at or above this."""


def zone_rule(config: Config, zone_id: str) -> ZoneRule:
    """The rule of one configured zone."""
    zone = config.zone(zone_id)
    keep = zone.visitor_rssi_dbm - config.aggregation.rssi_hysteresis_db
    return ZoneRule(zone.id, zone.visitor_rssi_dbm, keep)


@dataclass(slots=True)
class SessionState:
    """One device's dwell session in one zone."""

    start: float
    last: float
    samples: int
    rssi_max: int
    rssi_sum: int
    smoothed: float
    revision: int = 0
    """How many partial records were already emitted for this session."""
    supersedes: str | None = None

    def sample(self, t: float, rssi: int, alpha: float, keep_dbm: float) -> bool:
        """Fold one signal sample in; True if the smoothed RSSI keeps the session alive."""
        self.smoothed += alpha * (rssi - self.smoothed)
        if self.smoothed < keep_dbm:
            return False
        self.samples += 1
        self.rssi_sum += rssi
        self.rssi_max = max(self.rssi_max, rssi)
        self.last = max(self.last, t)
        return True

    def absorb(self, other: SessionState) -> None:
        """Take in the samples of the same device's session under another address."""
        self.samples += other.samples
        self.rssi_sum += other.rssi_sum
        self.rssi_max = max(self.rssi_max, other.rssi_max)
        self.last = max(self.last, other.last)
        self.smoothed = other.smoothed

    def to_json(self) -> list[Any]:
        return [
            self.start, self.last, self.samples, self.rssi_max, self.rssi_sum,
            self.smoothed, self.revision, self.supersedes,
        ]  # fmt: skip

    @classmethod
    def from_json(cls, data: list[Any]) -> SessionState:
        return cls(*data)


@dataclass(slots=True)
class DeviceState:
    """One device currently heard: its open sessions and the path of its visit so far."""

    device: str
    randomized: bool
    first: float
    """Start of its continuous presence (reset when its visit ends)."""
    last: float
    sessions: dict[str, SessionState] = field(default_factory=dict)
    path: list[tuple[str, float, float]] = field(default_factory=list)
    """Closed zone stops of the current visit: (zone, start, end)."""
    fixed: bool = False
    visit_revision: int = 0
    visit_supersedes: str | None = None
    source: str = "wifi"
    """The radio that heard it (``wifi`` or ``ble``; their pseudonyms never collide)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "randomized": self.randomized,
            "first": self.first,
            "last": self.last,
            "sessions": {z: s.to_json() for z, s in self.sessions.items()},
            "path": [list(stop) for stop in self.path],
            "fixed": self.fixed,
            "visit_revision": self.visit_revision,
            "visit_supersedes": self.visit_supersedes,
            "source": self.source,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DeviceState:
        return cls(
            device=data["device"],
            randomized=data["randomized"],
            first=data["first"],
            last=data["last"],
            sessions={z: SessionState.from_json(s) for z, s in data["sessions"].items()},
            path=[(z, a, b) for z, a, b in data["path"]],
            fixed=data["fixed"],
            visit_revision=data["visit_revision"],
            visit_supersedes=data["visit_supersedes"],
            source=data.get("source", "wifi"),
        )


@dataclass(slots=True)
class WindowState:
    """One zone's current presence interval."""

    start: float
    seen: dict[str, bool] = field(default_factory=dict)
    """Device (group id when grouping) -> randomized flag, for every device heard."""
    visitors: set[str] = field(default_factory=set)
    frames: int = 0
    revision: int = 0
    supersedes: str | None = None
    raw: dict[str, Heard] = field(default_factory=dict)
    """Pseudonyms heard, before grouping (empty when devices are not grouped): per
    pseudonym [first t, last t, loudest RSSI, scan events, fingerprint, randomized], what
    the rate estimator (``edge.estimate``) counts."""
    confidence: float | None = None
    """Mean confidence of the window's device groups, set when the window closes."""
    people: Any = None
    """The rate estimator's people present (``edge.estimate.people.WindowPeople``), set when
    the window closes (Wi-Fi). Untyped here: edge.estimate reads this module, not back."""

    def rename(self, old: str, new: str) -> None:
        """Device ``old`` turned out to be ``new`` (a rotated BLE address)."""
        flag = self.seen.pop(old, None)
        if flag is not None:
            self.seen.setdefault(new, flag)
        if old in self.visitors:
            self.visitors.discard(old)
            self.visitors.add(new)

    def to_json(self) -> dict[str, Any]:
        """For a checkpoint serialized at once (``edge.checkpoint_json``): the live ``seen``
        and ``raw`` go in as they are, each ``Heard`` turned into JSON as it is reached; a
        busy window's copy was 75,000 lists built and thrown away with every flush."""
        return {
            "start": self.start,
            "seen": self.seen,
            "visitors": sorted(self.visitors),
            "frames": self.frames,
            "revision": self.revision,
            "supersedes": self.supersedes,
            "raw": self.raw,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WindowState:
        return cls(
            start=data["start"],
            seen=dict(data["seen"]),
            visitors=set(data["visitors"]),
            frames=data["frames"],
            revision=data["revision"],
            supersedes=data["supersedes"],
            raw=_raw_from_json(data.get("raw", {})),
        )

    @classmethod
    def of_zones(cls, raw: dict[str, Any], zones: list[str]) -> dict[str, WindowState]:
        """Checkpointed windows of the zones still configured."""
        return {z: cls.from_json(w) for z, w in raw.items() if z in zones}


class Heard:
    """One pseudonym in one window: what the rate estimator (``edge.estimate``) counts. A
    plain class with typed attributes: compiled, it costs no boxing on the hot path."""

    __slots__ = ("events", "first", "fp", "last", "randomized", "rssi")

    def __init__(
        self, first: float, last: float, rssi: int, events: int, fp: str, randomized: bool
    ) -> None:
        self.first = first
        self.last = last
        self.rssi = rssi
        """The loudest RSSI heard."""
        self.events = events
        """Scan events: runs of probes less than ``_SCAN_GAP_S`` apart."""
        self.fp = fp
        self.randomized = randomized

    def to_json(self) -> list[Any]:
        return [self.first, self.last, self.rssi, self.events, self.fp, self.randomized]


def hear(
    raw: dict[str, Heard], mac: str, t: float, rssi: int | None, fp: str, randomized: bool
) -> None:
    """Fold one probe into a window's pseudonyms (``WindowState.raw``). On the hot path:
    called for every probe when grouping."""
    heard = raw.get(mac)
    if heard is None:
        raw[mac] = Heard(t, t, -127 if rssi is None else rssi, 1, fp, randomized)
        return
    if t - heard.last > _SCAN_GAP_S:
        heard.events += 1
    heard.last = max(heard.last, t)
    if rssi is not None and rssi > heard.rssi:
        heard.rssi = rssi


class Run:
    """A followed MAC's stay in one zone: the evidence for that zone's scan interval."""

    __slots__ = ("first", "last", "scans", "squares", "zone")

    def __init__(
        self, zone: str, first: float, last: float, scans: int, squares: float = 0.0
    ) -> None:
        self.zone = zone
        self.first = first
        self.last = last
        self.scans = scans
        self.squares = squares
        """Sum of its squared gaps between scans (s^2): how irregular its gaps are, which
        sets the time before a phone's first scan in a zone and after its last."""

    def to_json(self) -> list[Any]:
        return [self.zone, self.first, self.last, self.scans, self.squares]


class ZoneTally:
    """One zone's interval as the rate estimator counts it (``edge.estimate.people``)."""

    __slots__ = ("firsts", "followed", "followed_events", "global_events")

    def __init__(self) -> None:
        self.followed_events = 0
        """Scan events of followed MACs (heard across scans)."""
        self.global_events = 0
        """...of which global MACs: the turnover's sample."""
        self.followed: list[str] = []
        """The global MACs heard in the zone."""
        self.firsts: dict[str, list[float]] = {}
        """Fingerprint class -> first-heard times of its random MACs."""


def tally_window(
    heard: dict[str, dict[str, Heard]],
    zones: list[str],
    enter_dbm: dict[str, int],
    fixed: Container[str],
    grouper: Grouper,
    runs: dict[str, Run],
    gap_s: float,
    follow_span_s: float,
    ended: list[Run],
) -> dict[str, ZoneTally]:
    """Per zone, the interval's scan events (``edge.estimate.people`` makes people of them).

    Here, compiled, because it runs over every pseudonym of every interval. A pseudonym
    belongs to the zone whose sensor heard it loudest, if at that zone's visitor level; a
    MAC heard across scans for longer than ``follow_span_s`` is followed (its run in the
    zone goes on in ``runs``; runs that ended are appended to ``ended``). A global MAC
    heard once proves nothing: an anonymizer may clear the local bit of a random one."""
    tallies = {z: ZoneTally() for z in zones}
    only = next(iter(heard)) if len(heard) == 1 else ""  # one zone: nothing to compare
    best: dict[str, Heard] = heard[only] if only else {}
    where: dict[str, str] = {}
    if not only:
        _loudest(heard, best, where)
    for device, e in best.items():
        zone = only or where[device]
        tally = tallies.get(zone)
        if tally is None or device in fixed or e.rssi < enter_dbm.get(zone, -127):
            continue  # heard loudest here, but only as a passer-by
        if e.last - e.first <= follow_span_s and not grouper.heard_over(device, follow_span_s):
            firsts = tally.firsts.get(e.fp)
            if firsts is None:
                tally.firsts[e.fp] = [e.first]
            else:
                firsts.append(e.first)
            continue
        tally.followed_events += e.events
        if not e.randomized:
            tally.global_events += e.events
            tally.followed.append(device)
        _follow(runs, device, zone, e, gap_s, ended)
    return tallies


def _loudest(
    heard: dict[str, dict[str, Heard]], best: dict[str, Heard], where: dict[str, str]
) -> None:
    """Fill ``best`` and ``where``: each pseudonym's loudest hearing and its zone."""
    for zone, macs in heard.items():
        for device, e in macs.items():
            kept = best.get(device)
            if kept is None or e.rssi > kept.rssi:
                best[device] = e
                where[device] = zone


def _follow(
    runs: dict[str, Run], device: str, zone: str, e: Heard, gap_s: float, ended: list[Run]
) -> None:
    """A followed MAC heard in ``zone``: its run there goes on, or a new one starts."""
    run = runs.get(device)
    if run is not None and run.zone == zone and e.first - run.last <= gap_s:
        between = min(e.first - run.last, MAX_SCAN_GAP_S)
        if between > 0:
            run.squares += between * between
        run.squares += _inner_squares(e)
        run.last = max(run.last, e.last)
        run.scans += e.events
        return
    if run is not None:
        ended.append(run)
    runs[device] = Run(zone, e.first, e.last, e.events, _inner_squares(e))


def _inner_squares(e: Heard) -> float:
    """Squared gaps between a window's scan events of one MAC, taken as equal (a window
    holds one or two scans of most phones, so that is rarely an approximation)."""
    if e.events < 2:
        return 0.0
    gap = min((e.last - e.first) / (e.events - 1), MAX_SCAN_GAP_S)
    return (e.events - 1) * gap * gap


def count_inside(w: WindowState, fixed: Container[str]) -> int:
    """The window's grouped devices inside the zone (visitors), fixed ones left out."""
    n = 0
    for d in w.visitors:
        if d not in fixed:
            n += 1
    return n


def expire_runs(runs: dict[str, Run], now: float, gap_s: float, ended: list[Run]) -> None:
    """Move the runs unheard for ``gap_s`` to ``ended``."""
    gone = [d for d, r in runs.items() if now - r.last > gap_s]
    for device in gone:
        ended.append(runs.pop(device))


def run_evidence(ended: list[Run]) -> dict[str, list[float]]:
    """Per zone, the ended runs of two scans or more, summed: [scans, gaps, seconds from
    first scan to last, mean gaps (one per run), squared gaps] (``ScanRates.learn_runs``
    turns them into the scan interval and the irregularity of the gaps)."""
    out: dict[str, list[float]] = {}
    for run in ended:
        n = run.scans
        seconds = run.last - run.first
        if n < 2 or seconds <= 0:
            continue
        sums = out.get(run.zone)
        if sums is None:
            sums = out[run.zone] = [0.0, 0.0, 0.0, 0.0, 0.0]
        sums[0] += n
        sums[1] += n - 1
        sums[2] += seconds
        sums[3] += seconds / (n - 1)
        sums[4] += run.squares
    return out


def _raw_from_json(data: dict[str, Any] | list[str]) -> dict[str, Heard]:
    """A window's pseudonyms; a checkpoint from before the rate estimator kept only names."""
    if isinstance(data, list):
        return {d: Heard(0.0, 0.0, -127, 1, "", True) for d in data}
    return {d: Heard(*e) for d, e in data.items()}


_PEOPLE_SUMS: Final = 7


def _zero_sums() -> list[float]:
    return [0.0] * _PEOPLE_SUMS


def people_sums(data: list[float] | None) -> list[float]:
    """An hour's rate estimator sums from a checkpoint. One from before the unseen edges
    were learned has six: the seventh is what was assumed then, 1 + ``GAP_CV2`` scan
    intervals."""
    sums = list(data) if data else _zero_sums()
    if len(sums) < _PEOPLE_SUMS:
        sums.append((1.0 + GAP_CV2) * sums[5])
    return sums


@dataclass(slots=True)
class HourState:
    """One zone's devices over an hour, folded in from its presence windows as they close:
    devices are counted once per hour, however many intervals heard them."""

    start: float
    devices: PseudonymSet = field(default_factory=PseudonymSet)
    raw: PseudonymSet = field(default_factory=PseudonymSet)
    visitors: PseudonymSet = field(default_factory=PseudonymSet)
    confidence_sum: float = 0.0
    confidence_n: int = 0
    people: list[float] = field(default_factory=_zero_sums)
    """Rate estimator sums over the windows: [windows, people, count variance, shared
    relative variance, followed phones present, scan interval, unseen edges of a stay]
    (``edge.estimate.hourly``, ``edge.kpi.figures``)."""
    followed: set[str] = field(default_factory=set)
    """Device groups of the followed phones heard in the zone in the hour."""

    def fold(self, w: WindowState, fixed: dict[str, float]) -> None:
        """Add a closed window's devices (fixed ones left out)."""
        est = w.people
        if est is not None:
            sums = self.people
            sums[0] += 1
            sums[1] += est.people
            sums[2] += est.count_var
            sums[3] += est.sys_rel_var
            sums[4] += est.followed_present
            sums[5] += est.interval
            sums[6] += est.unseen
            self.followed.update(est.followed)
        devices = [d for d in w.seen if d not in fixed]
        self.devices.update(devices)
        self.visitors.update([d for d in devices if d in w.visitors])
        self.raw.update([d for d in w.raw if d not in fixed])
        if w.confidence is not None and w.seen:
            self.confidence_sum += w.confidence * len(w.seen)
            self.confidence_n += len(w.seen)

    def summary(self) -> dict[str, Any]:
        """Counts only: what the hourly traffic figures need."""
        devices = len(self.devices)
        return {
            "start": self.start,
            "devices": devices,
            "devices_raw": len(self.raw) or devices,
            "visitors": len(self.visitors),
            "grouping_confidence": (
                round(self.confidence_sum / self.confidence_n, 4) if self.confidence_n else None
            ),
            "people_sums": list(self.people),
            "followed": len(self.followed),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "devices": self.devices.to_json(),
            "raw": self.raw.to_json(),
            "visitors": self.visitors.to_json(),
            "confidence": [self.confidence_sum, self.confidence_n],
            "people": list(self.people),
            "followed": sorted(self.followed),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HourState:
        conf_sum, conf_n = data["confidence"]
        return cls(
            data["start"], PseudonymSet(data["devices"]), PseudonymSet(data["raw"]),
            PseudonymSet(data["visitors"]),
            conf_sum, conf_n, people_sums(data.get("people")), set(data.get("followed", ())),
        )  # fmt: skip
