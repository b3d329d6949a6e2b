"""The optional Prometheus endpoint (``[metrics]``): what the daemons already count, on
loopback HTTP.

Nothing is incremented for Prometheus in the hot paths. Each daemon registers a
collector in its own ``CollectorRegistry`` (not the library's global one, so a
test or a second daemon in one process sees only its own figures) and the
collector reads the counters the daemon keeps anyway, at scrape time: the
parsers' and sources' counters, the sensors' health, the pipeline's totals and,
through a read-only connection of its own, the database's outbox and drop
counters. The scrape runs on the HTTP server's thread; it only reads.

The one measurement added is the sync agent's publish latency (``LatencyHistogram``):
one ``observe`` per acknowledged batch, not per record.
"""

from __future__ import annotations

import bisect
import contextlib
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

import edge
from edge.config.metrics import ListenAddress, MetricsConfig, parse_listen
from edge.config.models import Config
from edge.errors import StoreError
from edge.runtime.health import SupervisedSensor
from edge.runtime.pipeline import Pipeline
from edge.sensors.descriptor import SensorUnavailable
from edge.sensors.plugin import SensorPlugin, Source
from edge.sensors.table import SENSOR_TYPES
from edge.store import Store

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

__all__ = [
    "EdgeCollector",
    "LatencyHistogram",
    "MetricsEndpoint",
    "SensorView",
    "StoreCollector",
    "edge_registry",
    "identity_metrics",
    "metric_value",
    "sensor_views",
]

log = logging.getLogger("mallsense.metrics")

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_OBSERVATIONS = ("probes", "adverts", "receipts")
"""The counter naming what a sensor's frames became, by sensor type."""
_RESTART_REASONS = ("silence", "failure")


class LatencyHistogram:
    """Fixed buckets, one writer thread; a scrape copies the counts."""

    def __init__(self, buckets: tuple[float, ...] = _LATENCY_BUCKETS) -> None:
        self.buckets = buckets
        self._counts = [0] * (len(buckets) + 1)
        self.count = 0
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self._counts[bisect.bisect_left(self.buckets, seconds)] += 1
        self.total += seconds
        self.count += 1

    def family(self, name: str, documentation: str) -> HistogramMetricFamily:
        counts = list(self._counts)
        cumulative, running = [], 0
        for bound, n in zip((*map(str, self.buckets), "+Inf"), counts, strict=True):
            running += n
            cumulative.append((bound, float(running)))
        return HistogramMetricFamily(name, documentation, buckets=cumulative, sum_value=self.total)


class MetricsEndpoint:
    """One daemon's HTTP endpoint; ``apply`` starts, moves or stops it to match the config."""

    def __init__(self, registry: CollectorRegistry, which: str) -> None:
        self.registry = registry
        self.which = which
        """``edge`` (metrics.listen) or ``sync`` (metrics.sync_listen)."""
        self.address: ListenAddress | None = None
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def wanted(self, config: MetricsConfig | None) -> ListenAddress | None:
        if config is None or not config.enabled:
            return None
        return parse_listen(config.listen if self.which == "edge" else config.sync_listen)

    def apply(self, config: MetricsConfig | None) -> None:
        """Serve at the configured address (or stop). A port in use is logged, not fatal:
        a box without its metrics still senses."""
        wanted = self.wanted(config)
        if wanted == self.address and (wanted is None or self._server is not None):
            return
        self.stop()
        if wanted is None:
            return
        try:
            self._server, self._thread = start_http_server(
                wanted.port, wanted.host, registry=self.registry
            )
        except OSError as exc:
            log.error(
                "metrics: cannot listen on %s: %s; running without the metrics endpoint (choose"
                " another port in metrics.%s)",
                wanted, exc.strerror or exc, "listen" if self.which == "edge" else "sync_listen",
            )  # fmt: skip
            return
        self.address = wanted
        log.info("metrics on http://%s/metrics", wanted)

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        self.address = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)


def identity_metrics(config_hash: str) -> Iterator[Metric]:
    """``mallsense_build_info`` and ``mallsense_config_info`` (the running config's hash)."""
    build = GaugeMetricFamily(
        "mallsense_build_info", "The running mallsense version.", labels=["version"]
    )
    build.add_metric([edge.__version__], 1)
    yield build
    config = GaugeMetricFamily(
        "mallsense_config_info", "Hash of the running configuration.", labels=["hash"]
    )
    config.add_metric([config_hash], 1)
    yield config


class StoreCollector:
    """The outbox and the drop counters, from a read-only connection opened per scrape.

    Both daemons serve these (they share the database): the edge's endpoint shows the
    backlog while the sync is down, and the sync's while the edge is.
    """

    def __init__(self, path: Path, clock: Callable[[], float]) -> None:
        self.path = path
        self._clock = clock

    def collect(self) -> Iterable[Metric]:
        try:
            with Store(self.path, readonly=True) as store:
                depth, oldest = store.outbox_depth()
                drops = store.drop_counts()
        except StoreError as exc:
            log.debug("metrics: cannot read %s: %s", self.path, exc)
            return
        now = self._clock()
        yield GaugeMetricFamily(
            "mallsense_outbox_depth", "Records waiting in the outbox.", value=depth
        )
        yield GaugeMetricFamily(
            "mallsense_outbox_oldest_age_seconds",
            "Age of the oldest record waiting in the outbox (0 when empty).",
            value=0.0 if oldest is None else max(now - oldest, 0.0),
        )
        dropped = CounterMetricFamily(
            "mallsense_records_dropped",
            "Records deleted or set aside before delivery, by reason (disk_budget, max_age,"
            " quarantined) and kind.",
            labels=["reason", "kind"],
        )
        for key, n in drops.items():
            reason, _, kind = key.partition(".")
            dropped.add_metric([reason, kind], n)
        yield dropped


class EdgeState(Protocol):
    """What the edge daemon (``edge.runtime.daemon.EdgeDaemon``) shows its metrics."""

    config: Config
    config_hash: str
    pipeline: Pipeline
    store: Store
    health: dict[str, SupervisedSensor]
    dropped_probes: int
    store_failures: int
    reloads: Counter[str]

    @property
    def records_lost(self) -> int: ...

    @property
    def records_unwritten(self) -> int: ...

    @property
    def queue_depth(self) -> int: ...

    @property
    def clock(self) -> Callable[[], float]: ...

    def unhealthy(self) -> str | None: ...

    def sensor_parts(self, name: str) -> tuple[SensorPlugin | None, Source | None]: ...


class EdgeCollector:
    """What the edge daemon counts: sensors, aggregation, records, its own health."""

    def __init__(self, daemon: EdgeState) -> None:
        self.daemon = daemon

    def collect(self) -> Iterable[Metric]:
        daemon = self.daemon
        yield from identity_metrics(daemon.config_hash)
        yield from self._sensors()
        time_rejected = CounterMetricFamily(
            "mallsense_sensor_time_rejected",
            "Observations left out for their event time (drivers.timegate), by reason:"
            " time_invalid (not between 2000 and 2100), time_jump (over an hour from the"
            " sensor's other frames, and not followed by 8 that agree with it).",
            labels=["sensor", "reason"],
        )
        for gate in list(daemon.pipeline.gates.values()):
            for reason in ("time_invalid", "time_jump"):
                time_rejected.add_metric([gate.sensor, reason], gate.rejected[reason])
        yield time_rejected
        stats = daemon.pipeline.stats
        records = CounterMetricFamily(
            "mallsense_records_written",
            "Records written to the database, by kind, origin (the POS or camera sensor, or"
            " the radio: wifi, ble) and zone.",
            labels=["kind", "origin", "zone"],
        )
        for (kind, origin, zone), n in list(stats.records_by_origin.items()):
            records.add_metric([kind, origin, zone], n)
        yield records
        yield _one_counter(
            "mallsense_observations_dropped",
            "Observations dropped before aggregation, by reason (queue_full: the box is"
            " overloaded).",
            "reason",
            {"queue_full": daemon.dropped_probes},
        )
        yield CounterMetricFamily(
            "mallsense_store_write_failures",
            "Flushes that could not write to the database (records kept and retried).",
            value=daemon.store_failures,
        )
        yield CounterMetricFamily(
            "mallsense_records_lost",
            "Records lost because the database could not be written (a full disk): the oldest"
            " dropped beyond the in-memory bound, or still waiting at stop.",
            value=daemon.records_lost,
        )
        yield GaugeMetricFamily(
            "mallsense_records_unwritten",
            "Records waiting in memory because the database cannot be written (a full disk).",
            value=daemon.records_unwritten,
        )
        yield GaugeMetricFamily(
            "mallsense_aggregation_queue_batches",
            "Batches waiting for the aggregation.",
            value=daemon.queue_depth,
        )
        yield GaugeMetricFamily(
            "mallsense_aggregation_open_devices",
            "Devices the aggregation currently tracks.",
            value=daemon.pipeline.aggregator.open_devices,
        )
        yield _one_counter(
            "mallsense_config_reloads",
            "SIGHUP reloads of the configuration, by result (ok, refused).",
            "result",
            {"ok": daemon.reloads["ok"], "refused": daemon.reloads["refused"]},
        )
        yield GaugeMetricFamily(
            "mallsense_edge_healthy",
            "1 while the daemon makes progress (what feeds the systemd watchdog).",
            value=0 if daemon.unhealthy() else 1,
        )

    def _sensors(self) -> Iterator[Metric]:
        labels = ["sensor", "type"]
        state = GaugeMetricFamily(
            "mallsense_sensor_state", "1 for the sensor's current state.", labels=[*labels, "state"]
        )
        frames = CounterMetricFamily(
            "mallsense_sensor_frames", "Frames (packets, adverts, video frames, bytes read"
            " chunks) received.", labels=labels,
        )  # fmt: skip
        observations = CounterMetricFamily(
            "mallsense_sensor_observations",
            "Observations the frames became (Wi-Fi probe requests, BLE adverts, receipts).",
            labels=labels,
        )
        rejected = CounterMetricFamily(
            "mallsense_sensor_rejected",
            "Frames the parser rejected, by reason.",
            labels=[*labels, "reason"],
        )
        restarts = CounterMetricFamily(
            "mallsense_sensor_restarts",
            "Restarts by the daemon's supervision: silence (the watchdog found no data for"
            " silence_timeout_s) or failure (the source failed or ended).",
            labels=[*labels, "reason"],
        )
        age = GaugeMetricFamily(
            "mallsense_sensor_last_frame_age_seconds",
            "Seconds since the sensor's last frame.",
            labels=labels,
        )
        views = sensor_views(self.daemon)
        for view in views:
            names = [view.name, view.type]
            state.add_metric([*names, view.health.state], 1)
            for reason in _RESTART_REASONS:
                restarts.add_metric([*names, reason], view.health.restarts_by_reason[reason])
            counters = view.counters
            frames.add_metric(names, metric_value(counters.get("frames")))
            made = _observations(counters)
            if made is not None:
                observations.add_metric(names, made)
            found = counters.get("rejected")
            if isinstance(found, dict):
                for reason, n in found.items():
                    rejected.add_metric([*names, str(reason)], metric_value(n))
            if view.last_frame_age is not None:
                age.add_metric(names, view.last_frame_age)
        yield from (state, frames, observations, rejected, restarts, age)
        yield from _type_metrics(views)


@dataclass(frozen=True)
class SensorView:
    """One sensor's figures."""

    name: str
    type: str
    health: SupervisedSensor
    counters: dict[str, object]
    last_frame_age: float | None


def sensor_views(daemon: EdgeState) -> list[SensorView]:
    """Every configured sensor's health and counters, read from the scrape's thread: a
    sensor whose counters cannot be read right now is shown without them."""
    views = []
    now = daemon.clock()
    for sensor in list(daemon.config.sensors):
        health = daemon.health.get(sensor.name)
        if health is None:
            continue
        plugin, source = daemon.sensor_parts(sensor.name)
        counters: dict[str, object] = {}
        if plugin is not None:
            try:
                counters = plugin.counters(sensor, daemon.pipeline, source)
            except Exception as exc:  # a scrape must never fail for one sensor
                log.debug("metrics: counters of sensor %s: %r", sensor.name, exc)
        last = getattr(source, "last_frame_at", None)
        age = None if last is None else max(now - last, 0.0)
        views.append(SensorView(sensor.name, sensor.type, health, counters, age))
    return views


def _type_metrics(views: list[SensorView]) -> Iterator[Metric]:
    """The figures only one sensor type has (a camera's inference time), from its plugin."""
    for kind in SENSOR_TYPES.values():
        counters = {v.name: v.counters for v in views if v.type == kind.type}
        if counters:
            with contextlib.suppress(SensorUnavailable):  # its sensors are shown as failed
                plugin = kind.plugin()
                if plugin.metrics is not None:
                    yield from plugin.metrics(counters)


def _observations(counters: dict[str, object]) -> float | None:
    """Probes (Wi-Fi), adverts (BLE) or receipts (POS: its decoder's counters)."""
    decoder = counters.get("decoder")
    for found in (counters, decoder if isinstance(decoder, dict) else {}):
        for key in _OBSERVATIONS:
            if key in found:
                return metric_value(found[key])
    return None


def _one_counter(name: str, doc: str, label: str, values: dict[str, int]) -> Metric:
    family = CounterMetricFamily(name, doc, labels=[label])
    for key, n in values.items():
        family.add_metric([key], n)
    return family


def metric_value(value: object) -> float:
    """A counter as a metric's value: numbers as they are, anything else 0."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def edge_registry(daemon: EdgeState) -> CollectorRegistry:
    """The edge daemon's registry: its own figures and the database's."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EdgeCollector(daemon))
    registry.register(StoreCollector(daemon.store.path, daemon.clock))
    return registry
