"""Hourly mall figures at the edge: ``traffic`` per zone and radio, ``kpi`` per store.

The tracker watches the record stream (dwell, visit, footfall, transaction) and
the aggregator's hourly device counts, in event time. An hour is closed once the
event clock has passed its end by a grace period (a dwell session ending at 10:59
is only emitted when it has been quiet for the session gap), and then:

- ``traffic``: per zone and radio, devices raw and grouped, visitors, passers-by,
  capture rate, dwell median and p90, repeat visits within the key period, and,
  where calibrated by a camera, the people estimate (``edge.kpi.calibration``);
- ``kpi``: per store with a POS line, receipts, net sales, average ticket, items
  per ticket, entries (camera line, else the zone's Wi-Fi estimate) and conversion.

At a stop the open hours are emitted as ``partial`` records; the hour's final
record names the last partial one in ``supersedes``, like the other kinds.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo

from edge.aggregate.ids import Record, iso, record_id
from edge.config.models import Config
from edge.estimate.dwell import MIN_SURE
from edge.estimate.hourly import Turnover
from edge.kpi.calibration import Calibration, DwellPool
from edge.kpi.figures import hour_estimates, store_figures, traffic_figures
from edge.kpi.hours import HOUR_S, HourBucket, Inside, Sale, epoch, hour_of
from edge.kpi.seen import SeenPairs
from edge.record_dicts import HourFiguresDict, KpiDict, TrafficDict, TrafficEstimateDict
from edge.records import Radio
from edge.sensors.pos.config import PosSensorConfig
from edge.sensors.table import SENSOR_TYPES

__all__ = ["KpiTracker"]

_GRACE_EXTRA_S = 60.0
_COUNTED_RECEIPTS = frozenset({None, "sale", "refund"})
"""Receipt kinds that are sales (None: a record from before receipt_kind); a reprint, void,
pre-bill or kitchen ticket is not one (docs/pos.md)."""
_SNAPSHOT_VERSION = 1
EntriesSource = Literal["camera", "wifi-estimate", "wifi", "ble"]
_SURE_MIN_S = 2.0
"""A dwell session shorter than this is one scan: no stay measured."""


class KpiTracker:
    """Folds records into hours and makes the hourly ``traffic`` and ``kpi`` records."""

    def __init__(self, config: Config) -> None:
        agg = config.aggregation
        self._mall, self._box = config.mall, config.box
        self._tz = ZoneInfo(config.timezone)
        self._grace = agg.session_gap_s + agg.presence_interval_s + _GRACE_EXTRA_S
        self._key_period = float(config.privacy.key_rotation_s)
        stores: dict[str, str] = {}
        for s in config.sensors:
            if isinstance(s, PosSensorConfig):
                stores.setdefault(s.store, s.zone)
        self._stores = stores
        self._camera_zones = {
            s.zone for s in config.sensors if SENSOR_TYPES[s.type].counts_entries(s)
        }
        """Zones whose entries are counted (camera lines, door counters): their footfall."""
        self._buckets: dict[float, HourBucket] = {}
        self.calibration = Calibration()
        self.dwell_pool = DwellPool()
        """Recent sure dwell sessions per zone and radio: the shape Little's law needs."""
        self.turnover = Turnover()
        self._visited = SeenPairs()
        self._period = -1
        self._footfall: dict[str, list[Any]] = {}
        """Footfall record id -> [hour, zone, in] while its hour is open (for supersedes)."""
        self._revisions: dict[str, list[Any]] = {}
        """Natural key -> [partial records emitted, id of the last one]."""
        self._clock = -math.inf
        self._inside = Inside()
        """People inside each camera zone when the next hour to close began."""

    # -- input --------------------------------------------------------------------------

    def observe(
        self, records: list[Record], hours: list[dict[str, Any]], clock: float
    ) -> list[Record]:
        """Fold a flush's records and hour counts in; return the hourly records now due."""
        partial = [h for h in hours if h["partial"]]
        for h in hours:
            if not h["partial"]:
                key = f"{h['zone']}|{h['source']}"
                self._bucket(h["start"]).zone_hours[key] = h
                self._clock = max(self._clock, h["start"] + HOUR_S)
        for r in records:
            self._fold(r)
        if math.isfinite(clock):
            self._clock = max(self._clock, clock)
        out = self._close_due()
        if partial:
            out += self._emit_partial(partial)
        return out

    def _fold(self, r: Record) -> None:
        kind = r["kind"]
        if kind == "dwell" and not r["partial"]:
            key = f"{r['zone']}|{r['source']}"
            bucket = self._bucket(hour_of(epoch(r["end"])))
            bucket.dwells.setdefault(key, []).append(r["duration_s"])
            if _sure(r):
                bucket.sure_dwells.setdefault(key, []).append(r["duration_s"])
        elif kind == "visit" and not r["partial"]:
            self._fold_visit(r)
        elif kind == "footfall":
            self._fold_footfall(r)
        elif kind == "transaction" and r.get("receipt_kind") in _COUNTED_RECEIPTS:
            sale = Sale(r["total"], r["items"], r["refund"], r["currency"])
            self._bucket(hour_of(epoch(r["start"]))).sales.setdefault(r["store"], []).append(sale)
            self._clock = max(self._clock, epoch(r["end"]))

    def _fold_visit(self, r: Record) -> None:
        """A return to a zone by the same pseudonymous device within the key period."""
        end = epoch(r["end"])
        period = int(end // self._key_period)
        if period != self._period:
            self._period, self._visited = period, SeenPairs()
        repeats = self._bucket(hour_of(end)).repeats
        for zone in dict.fromkeys(stop["zone"] for stop in r["path"]):
            if self._visited.seen_before(f"{r['device']}|{zone}"):
                key = f"{zone}|{r['source']}"
                repeats[key] = repeats.get(key, 0) + 1

    def _fold_footfall(self, r: Record) -> None:
        old = self._footfall.pop(r["supersedes"], None) if r.get("supersedes") else None
        if old is not None:
            hour, zone, count, *out = old  # [hour, zone, in] before exits were kept
            bucket = self._buckets.get(hour)
            if bucket is not None:
                bucket.entries[zone] = bucket.entries.get(zone, 0) - count
                bucket.exits[zone] = bucket.exits.get(zone, 0) - (out[0] if out else 0)
        hour = hour_of(epoch(r["start"]))
        bucket = self._bucket(hour)
        bucket.entries[r["zone"]] = bucket.entries.get(r["zone"], 0) + r["in"]
        bucket.exits[r["zone"]] = bucket.exits.get(r["zone"], 0) + r["out"]
        self._footfall[r["id"]] = [hour, r["zone"], r["in"], r["out"]]
        self._clock = max(self._clock, epoch(r["end"]))

    def _bucket(self, start: float) -> HourBucket:
        bucket = self._buckets.get(start)
        if bucket is None:
            bucket = self._buckets[start] = HourBucket(start)
        return bucket

    # -- output -------------------------------------------------------------------------

    def _close_due(self) -> list[Record]:
        out: list[Record] = []
        for start in sorted(self._buckets):
            if start + HOUR_S + self._grace > self._clock:
                break
            bucket = self._buckets.pop(start)
            out += self._records(bucket, start + HOUR_S, None, partial=False)
            self._inside.close_hour(bucket, self._day_of(start))
            self._footfall = {k: v for k, v in self._footfall.items() if v[0] != start}
        return out

    def _emit_partial(self, open_hours: list[dict[str, Any]]) -> list[Record]:
        """The hours not closed yet, as partial records (the state stays)."""
        for h in open_hours:
            self._bucket(h["start"])
        end = self._clock
        out: list[Record] = []
        for start in sorted(self._buckets):
            bucket = self._buckets[start]
            extra = {
                f"{h['zone']}|{h['source']}": h
                for h in open_hours
                if h["start"] == start and f"{h['zone']}|{h['source']}" not in bucket.zone_hours
            }
            out += self._records(bucket, min(start + HOUR_S, max(end, start)), extra, partial=True)
        return out

    def _records(
        self,
        bucket: HourBucket,
        end: float,
        extra: dict[str, dict[str, Any]] | None,
        partial: bool,
    ) -> list[Record]:
        zone_hours = bucket.zone_hours | (extra or {})
        traffic = {key: self._traffic_fields(bucket, key, zh) for key, zh in zone_hours.items()}
        if not partial:
            self._learn(bucket, zone_hours)
        out = [
            self._traffic(bucket.start, end, partial, key, *parts)
            for key, parts in sorted(traffic.items())
        ]
        figures = {key: parts[0] for key, parts in traffic.items()}
        for store, zone in sorted(self._stores.items()):
            out.append(self._kpi(bucket, end, partial, store, zone, figures))
        return out

    def _traffic_fields(
        self, bucket: HourBucket, key: str, zh: dict[str, Any]
    ) -> tuple[HourFiguresDict, TrafficEstimateDict]:
        zone, source = key.split("|")
        people = bucket.entries.get(zone, 0) if zone in self._camera_zones else None
        ratio = self.calibration.ratio(zone, source, self._hour_of_day(bucket.start))
        dwells = bucket.dwells.get(key, [])
        fields = traffic_figures(zh, dwells, bucket.repeats.get(key, 0), people, ratio)
        sure = bucket.sure_dwells.get(key, [])
        pooled, prior = self.dwell_pool.get(key), self.turnover.prior(key)
        counted = None
        if people is not None:
            inside, crossings = self._inside.at(
                zone, bucket.start, self._day_of(bucket.start), self._buckets
            )
            counted = (inside, float(people), crossings)
        box = self.dwell_pool.box(key) if len(pooled) < MIN_SURE else []
        return hour_estimates(zh, fields, sure, (pooled, box), prior, counted)

    def _learn(self, bucket: HourBucket, zone_hours: dict[str, dict[str, Any]]) -> None:
        """After the hour's estimates are made: fold its camera counts into the ratios."""
        hour = self._hour_of_day(bucket.start)
        for key, zh in zone_hours.items():
            self.dwell_pool.add(key, bucket.sure_dwells.get(key, []))
            sums = zh.get("people_sums")
            if sums and sums[0] > 0:
                self.turnover.learn(key, zh["followed"], sums[4] / sums[0])
            zone, source = key.split("|")
            if zone in self._camera_zones:
                people = bucket.entries.get(zone, 0)
                self.calibration.learn(zone, source, hour, zh["visitors"], people)

    def _entries(
        self, bucket: HourBucket, zone: str, traffic: dict[str, HourFiguresDict]
    ) -> tuple[float | None, EntriesSource | None]:
        """People who entered a store: camera, else the Wi-Fi estimate, else devices."""
        if zone in self._camera_zones:
            return float(bucket.entries.get(zone, 0)), "camera"
        wifi = traffic.get(f"{zone}|wifi")
        if wifi is not None and wifi["people_estimate"] is not None:
            return wifi["people_estimate"], "wifi-estimate"
        if wifi is not None:
            return float(wifi["visitors"]), "wifi"
        ble = traffic.get(f"{zone}|ble")
        if ble is not None:
            return float(ble["visitors"]), "ble"
        return None, None

    def _day_of(self, start: float) -> str:
        """The mall's local date: a door's running count starts again each day."""
        return datetime.fromtimestamp(start, UTC).astimezone(self._tz).date().isoformat()

    def _hour_of_day(self, start: float) -> int:
        """The mall's hour of the day: opening and rush hours follow local time, daylight
        saving included."""
        return datetime.fromtimestamp(start, UTC).astimezone(self._tz).hour

    def _traffic(
        self,
        start: float,
        end: float,
        partial: bool,
        key: str,
        figures: HourFiguresDict,
        estimates: TrafficEstimateDict,
    ) -> Record:
        zone, source = key.split("|")
        rid, supersedes = self._revise("traffic", start, partial, key)
        record: TrafficDict = {
            "id": rid,
            "kind": "traffic",
            "schema": "traffic/1",
            "mall": self._mall,
            "box": self._box,
            "supersedes": supersedes,
            "zone": zone,
            "source": cast(Radio, source),  # the key is made of a presence record's radio
            **figures,
            **estimates,
            "start": iso(start),
            "end": iso(end),
            "partial": partial,
        }
        return cast(Record, record)

    def _kpi(
        self,
        bucket: HourBucket,
        end: float,
        partial: bool,
        store: str,
        zone: str,
        traffic: dict[str, HourFiguresDict],
    ) -> Record:
        entries, source = self._entries(bucket, zone, traffic)
        rid, supersedes = self._revise("kpi", bucket.start, partial, store)
        record: KpiDict = {
            "id": rid,
            "kind": "kpi",
            "schema": "kpi/1",
            "mall": self._mall,
            "box": self._box,
            "supersedes": supersedes,
            "store": store,
            "zone": zone,
            "entries": entries,
            "entries_source": source,
            **store_figures(bucket.sales.get(store, []), entries),
            "start": iso(bucket.start),
            "end": iso(end),
            "partial": partial,
        }
        return cast(Record, record)

    def _revise(self, kind: str, start: float, partial: bool, key: str) -> tuple[str, str | None]:
        """The id of this revision of an hour's record and the id of the one it supersedes:
        a partial record counts a revision, the final one closes the series."""
        natural = f"{self._mall}\x1f{self._box}\x1f{kind}\x1f{key}\x1f{start!r}"
        revision, supersedes = self._revisions.get(natural, [0, None])
        rid = record_id(start, f"{natural}\x1f{revision}")
        if partial:
            self._revisions[natural] = [revision + 1, rid]
        else:
            self._revisions.pop(natural, None)
        return rid, supersedes

    # -- checkpoints --------------------------------------------------------------------

    def snapshot(self, with_visited: bool = True) -> dict[str, Any]:
        """The state for a checkpoint; ``with_visited=False`` leaves out the day's visits
        (a 1 MiB filter, ``edge.kpi.seen``), for the checkpoints of every flush."""
        snap: dict[str, Any] = {
            "version": _SNAPSHOT_VERSION,
            "clock": self._clock if math.isfinite(self._clock) else None,
            "buckets": [b.to_json() for b in self._buckets.values()],
            "calibration": self.calibration.to_json(),
            "turnover": self.turnover.to_json(),
            "dwell_pool": self.dwell_pool.to_json(),
            "period": self._period,
            "footfall": dict(self._footfall),
            "revisions": dict(self._revisions),
            "inside": self._inside.to_json(),
        }
        if with_visited:
            snap["visited"] = self._visited.to_json()
        return snap

    def restore(self, snap: dict[str, Any] | None) -> None:
        if not snap or snap.get("version") != _SNAPSHOT_VERSION:
            return
        self._clock = snap["clock"] if snap["clock"] is not None else -math.inf
        self._buckets = {b["start"]: HourBucket.from_json(b) for b in snap["buckets"]}
        self.calibration = Calibration.from_json(snap["calibration"])
        self.turnover = Turnover.from_json(snap.get("turnover"))
        self.dwell_pool = DwellPool.from_json(snap.get("dwell_pool"))
        self._period = snap["period"]
        self._visited = SeenPairs.from_json(snap.get("visited"))
        self._footfall = dict(snap["footfall"])
        self._revisions = dict(snap["revisions"])
        self._inside = Inside.from_json(snap.get("inside"))


def _sure(dwell: Record) -> bool:
    """A session of one phone for sure: a global MAC heard across scans (a global MAC heard
    once may be an anonymizer's rewrite of a random one, and says nothing of a stay)."""
    return dwell.get("randomized") is False and dwell["duration_s"] > _SURE_MIN_S
