"""The part shared by replay and the live daemon: parsers -> aggregator -> store.

Only the sources differ: replay reads capture files as fast as it can (or at a
chosen speed), the daemon reads radios. The records are the same for the same
frames because everything here runs on event time.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from drivers.ble.advert_builder import AdvertBuilder
from drivers.timegate import TimeGate
from drivers.wifi.parse import WifiParser
from edge.aggregate import Aggregator
from edge.checkpoint_json import dump_checkpoint
from edge.config.models import Config, WifiSensorConfig
from edge.kpi import KpiTracker
from edge.kpi.attribution import Attributor
from edge.records import Record
from edge.runtime.fronts import SensorFronts
from edge.store import Checkpoint, Store

__all__ = ["CHECKPOINT_NAME", "Pipeline", "PipelineStats"]

CHECKPOINT_NAME = "edge"
SLOW_CHECKPOINT_NAME = "edge-hours"
"""The hours' device sets and the day's visits: large (tens of thousands of pseudonyms in
a busy hour), so written only when the hours change (once per presence interval), not
with every flush; visits that arrive in between are re-written with the next change."""


@dataclass
class Aggregation:
    """What the pipeline builds anew when a reload changes what aggregation is made of
    (``_aggregation_inputs``); everything else of the pipeline is kept."""

    aggregator: Aggregator
    kpi: KpiTracker
    attributor: Attributor | None
    hours_written: int = -1
    """The aggregator's ``hours_version`` last written with a checkpoint."""

    @classmethod
    def build(cls, config: Config) -> Aggregation:
        attributor = Attributor(config) if config.privacy.attribution else None
        return cls(Aggregator(config), KpiTracker(config), attributor)


@dataclass
class PipelineStats:
    """Running totals, for progress views and the final summary."""

    records_written: int = 0
    records_added: int = 0
    """Records that were not in the database yet (a re-processed frame adds nothing)."""
    records_by_kind: Counter[str] = field(default_factory=Counter)
    records_by_origin: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    """(kind, origin, zone): origin is the sensor that made the record (POS, camera) or the
    radio whose observations the aggregation folded into it (wifi, ble)."""
    flushes: int = 0


class Pipeline:
    """One aggregator, a parser per Wi-Fi sensor and an advert builder per BLE sensor,
    writing to one store."""

    def __init__(self, config: Config, key: bytes, store: Store | None) -> None:
        self.config = config
        self.store = store
        # One key for all sensors: the same phone gets the same pseudonym in every zone,
        # which is what makes a visit's path possible (BLE addresses use it in another
        # input domain, drivers.ble.advert_builder).
        self.fronts = SensorFronts(config, key)
        self.aggregation = Aggregation.build(config)
        self.aggregator.key_fixed_devices(key)  # aggregation.fixed_devices, as pseudonyms
        self.stats = PipelineStats()
        self._extra: list[Record] = []
        """Records built outside the aggregator (transactions, camera counts)."""
        self.truncated: list[str] = []
        """Recordings that ended in the middle of a frame (replay only)."""
        self._carried: list[Record] = []
        """Records finished before a reload, already seen by the KPI tracker."""
        if store is not None:
            store.claim_identity(config.mall, config.box)

    @property
    def aggregator(self) -> Aggregator:
        return self.aggregation.aggregator

    @property
    def kpi(self) -> KpiTracker:
        return self.aggregation.kpi

    @property
    def parsers(self) -> dict[str, WifiParser]:
        """The Wi-Fi sensors' parsers, by sensor name."""
        return self.fronts.of_type("wifi")

    @property
    def ble(self) -> dict[str, AdvertBuilder]:
        """The BLE sensors' advert builders, by sensor name."""
        return self.fronts.of_type("ble")

    @property
    def gates(self) -> dict[str, TimeGate]:
        """Per radio sensor, the check of its event times (``drivers.timegate``)."""
        return self.fronts.gates

    def restore(self) -> bool:
        """Continue from the daemon's last checkpoint, if there is one."""
        if self.store is None:
            return False
        snap = self.store.load_checkpoint(CHECKPOINT_NAME)
        if snap is None:
            return False
        slow = self.store.load_checkpoint(SLOW_CHECKPOINT_NAME)
        if slow is not None:
            snap["hours"] = slow["hours"]
            if snap.get("kpi"):
                snap["kpi"]["visited"] = slow["visited"]
        self._resume(snap)
        return True

    def _resume(self, snap: dict[str, Any]) -> None:
        self.aggregator.restore(snap)
        self.kpi.restore(snap.get("kpi"))

    def reconfigure(self, config: Config, key: bytes) -> bool:
        """Take a new configuration (``SIGHUP``), on the thread that owns the aggregator.

        Parsers and advert builders of sensors that stay are kept (counters, pseudonym
        state); new sensors get theirs. When what the aggregation is built from changed,
        the aggregator and the KPI tracker are built anew and continue from a snapshot
        of the running ones: the state a checkpoint carries across a restart, so open
        sessions, visits and windows go on and nothing is emitted as partial (grouping
        of random MACs starts over, as after a restart). True if they were rebuilt.
        """
        self.fronts = SensorFronts(config, key, self.fronts)
        rebuild = _aggregation_inputs(self.config) != _aggregation_inputs(config)
        if rebuild:
            carried, _ = self.collect(checkpoint=False)
            snap = self.aggregator.snapshot() | {"kpi": self.kpi.snapshot()}  # what a restart reads
            self.aggregation = Aggregation.build(config)
            self.aggregator.key_fixed_devices(key)
            self._resume(snap)
            self._carried = carried
        self.config = config
        return rebuild

    def flush(self, *, checkpoint: bool = False, now: float | None = None) -> int:
        """Write finished records (and optionally the checkpoint) in one transaction."""
        records, rows = self.collect(checkpoint=checkpoint)
        self.persist(records, rows, now if now is not None else time.time())
        return len(records)

    def collect(self, *, checkpoint: bool) -> tuple[list[Record], list[Checkpoint] | None]:
        """Take finished records and, with ``checkpoint``, the checkpoint rows, serialized
        here from the live state (on the thread that owns the aggregator)."""
        agg = self.aggregator
        records = agg.drain()
        if self._extra:
            attributor = self.aggregation.attributor
            if attributor is not None:
                sales = [r for r in self._extra if r["kind"] == "transaction"]
                records += attributor.attribute(sales, agg)
            records += self._extra
            self._extra = []
        records += self.kpi.observe(records, agg.drain_hours(), agg.clock)
        if self._carried:
            records = self._carried + records
            self._carried = []
        rows: list[Checkpoint] | None = None
        if checkpoint and self.store is not None:
            # The day's visits are written with the hours (``SLOW_CHECKPOINT_NAME``) only.
            changed = agg.hours_version != self.aggregation.hours_written
            self.aggregation.hours_written = agg.hours_version
            state = agg.checkpoint_state() | {"kpi": self.kpi.snapshot(with_visited=changed)}
            state["_hours_changed"] = changed
            rows = [(name, dump_checkpoint(part)) for name, part in _checkpoint_rows(state)]
        return records, rows

    def admit(self, sensor: str, observations: list[Any]) -> list[Any]:
        """The observations of one radio sensor whose times are believed (its time gate);
        the rest are counted and may come back with a later call (a confirmed jump)."""
        gate = self.gates.get(sensor)
        return observations if gate is None else gate.admit(observations)

    def add_records(self, records: list[Record]) -> None:
        """Queue records made by a sensor handler; written with the next flush."""
        self._extra.extend(records)

    def persist(self, records: list[Record], rows: list[Checkpoint] | None, now: float) -> None:
        """Write what ``collect`` took (may run on a worker thread)."""
        if self.store is not None and (records or rows):
            checkpoint = rows[0] if rows else None
            more = rows[1:] if rows else []
            self.stats.records_added += self.store.write(records, now, checkpoint, more)
        self._count(records)

    def _count(self, records: list[Record]) -> None:
        self.stats.records_written += len(records)
        self.stats.records_by_kind.update(r["kind"] for r in records)
        self.stats.records_by_origin.update(
            (
                r["kind"],
                r.get("sensor") or r.get("camera") or r.get("source") or "",
                r.get("zone") or "",
            )
            for r in records
        )
        self.stats.flushes += 1

    def sensor_stats(self) -> dict[str, dict[str, object]]:
        """Per-sensor parser counters (Wi-Fi), builder and BLE-stage counters (BLE)."""
        stats = {name: parser.stats() for name, parser in self.parsers.items()}
        for name, builder in self.ble.items():
            stats[name] = builder.stats() | self.aggregator.ble_stats(name)
        for name, gate in self.gates.items():
            if name in stats:
                stats[name] = stats[name] | gate.stats()
        return stats

    def write_sensor_stats(self, extra: dict[str, dict[str, object]], now: float) -> None:
        """Persist per-sensor health for `mallsense status` (every sensor with figures)."""
        if self.store is None:
            return
        stats = self.sensor_stats()
        for sensor in self.config.sensors:
            if sensor.name in stats or sensor.name in extra:
                figures = stats.get(sensor.name, {}) | extra.get(sensor.name, {})
                self.store.put_sensor_stats(sensor.name, sensor.type, figures, now)


def _aggregation_inputs(config: Config) -> tuple[object, ...]:
    """What the aggregator and the KPI tracker are built from; a change rebuilds them.

    Wi-Fi sensors count by name and zone only (their interface, channels and silence
    timeout are the source's business); other sensor types whole (BLE identity rules,
    POS stores, camera lines), to be safe.
    """
    sensors = [(s.name, s.zone) if isinstance(s, WifiSensorConfig) else s for s in config.sensors]
    aggregation = config.aggregation.model_copy(update={"flush_interval_s": 1.0})
    return (
        config.mall, config.box, config.timezone, config.zones, aggregation, config.privacy,
        sensors,
    )  # fmt: skip


def _checkpoint_rows(snap: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The snapshot as checkpoint rows: the state of every flush, and the large, slow
    part (``SLOW_CHECKPOINT_NAME``) when it changed."""
    fast = dict(snap)
    changed = fast.pop("_hours_changed", True)
    hours = fast.pop("hours", [])
    kpi = dict(fast.get("kpi") or {})
    visited = kpi.pop("visited", [])
    if kpi:
        fast["kpi"] = kpi
    rows = [(CHECKPOINT_NAME, fast)]
    if changed:
        rows.append((SLOW_CHECKPOINT_NAME, {"hours": hours, "visited": visited}))
    return rows
