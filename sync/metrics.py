"""The sync daemon's Prometheus figures (``[metrics]``, ``metrics.sync_listen``).

Read at scrape time from the agent's run in progress (see ``edge.runtime.metrics``):
connection state, records acknowledged, batches in flight, the publish-to-PUBACK
latency of each batch, and the database's outbox and drop counters.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from edge.runtime.metrics import StoreCollector, identity_metrics
from sync.agent import SyncAgent

__all__ = ["SyncCollector", "sync_registry"]


class SyncCollector:
    """What the uplink counts."""

    def __init__(self, agent: SyncAgent) -> None:
        self.agent = agent

    def collect(self) -> Iterable[Metric]:
        agent = self.agent
        yield from identity_metrics(agent.settings.config_hash)
        reloads = CounterMetricFamily(
            "mallsense_config_reloads",
            "SIGHUP reloads of the configuration, by result (ok, refused).",
            labels=["result"],
        )
        for result in ("ok", "refused"):
            reloads.add_metric([result], agent.reloads[result])
        yield reloads
        run = agent.active
        if run is None:
            return
        yield GaugeMetricFamily(
            "mallsense_uplink_connected",
            "1 while connected to the broker.",
            value=0 if run.link is None else 1,
        )
        yield CounterMetricFamily(
            "mallsense_uplink_connections",
            "Successful connections to the broker since the daemon started.",
            value=run.connections,
        )
        yield CounterMetricFamily(
            "mallsense_uplink_records_sent",
            "Records the broker acknowledged (kept across restarts in the database).",
            value=run.records_sent,
        )
        yield GaugeMetricFamily(
            "mallsense_uplink_batches_in_flight",
            "Batches published and not yet acknowledged.",
            value=run.window.in_flight,
        )
        yield run.latency.family(
            "mallsense_uplink_publish_latency_seconds",
            "Seconds from publishing a data batch to its PUBACK.",
        )


def sync_registry(agent: SyncAgent) -> CollectorRegistry:
    """The sync daemon's registry: the uplink's figures and the database's."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SyncCollector(agent))
    registry.register(StoreCollector(agent.db_path, agent.clock))
    return registry
