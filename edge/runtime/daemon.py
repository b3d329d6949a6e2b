"""The edge daemon: sensors in threads, aggregation and storage on one asyncio loop.

Layout (one ``TaskGroup``, named tasks):

- ``sensor:<name>``: supervises one source thread; restarts it with capped,
  jittered backoff when it fails or falls silent (the silence watchdog).
- ``aggregate``: folds probe batches from a bounded queue into the aggregator.
  Sources never block: when the queue is full a batch is dropped and counted.
- ``flush``: every ``flush_interval_s`` writes finished records, the
  aggregation checkpoint and sensor health in one transaction.
- ``retention``: keeps the database inside its disk budget and age.
- ``watchdog``: under systemd, pings its watchdog while the loop is healthy (a
  flush finished recently, the aggregation keeps up) and refreshes the status
  line; a hang stops the pings and systemd restarts the service.
- ``reload``: on ``SIGHUP``, reads the configuration file again and applies it
  without a restart (``edge.runtime.reload``): only the sensors whose section
  changed are restarted, and open sessions go on.

On stop, open sessions are written as ``partial`` records and the checkpoint
keeps them, so after a restart they continue and nothing is counted twice.
After a kill -9, the last checkpoint (at most one flush interval old) is
restored the same way.

When the database cannot be written (a full disk), records wait in memory, bounded,
and sensing goes on; at stop they are written or reported lost (``edge.runtime.backlog``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from drivers.wifi.live import Radio
from edge.config.load import config_hash
from edge.config.models import Config
from edge.errors import StoreError
from edge.runtime.backlog import Backlog
from edge.runtime.health import SupervisedSensor
from edge.runtime.metrics import MetricsEndpoint, edge_registry
from edge.runtime.pipeline import CHECKPOINT_NAME, SLOW_CHECKPOINT_NAME, Pipeline
from edge.runtime.reload import Reload, applied_message, read_again
from edge.runtime.sdnotify import Notifier, feed_watchdog
from edge.runtime.supervise import SourceRun
from edge.sensors.descriptor import SensorUnavailable
from edge.sensors.plugin import Emit, SensorPlugin, Source
from edge.sensors.table import SensorConfig as AnySensor
from edge.sensors.table import plugin_for
from edge.store import Checkpoint, Store
from edge.store.retention import enforce

__all__ = ["EdgeDaemon", "SupervisedSensor", "flush_pause"]

log = logging.getLogger("mallsense.edge")
_QUEUE_BATCHES = 2048
_BAD_SNAPSHOT = (LookupError, TypeError, ValueError, AttributeError, OverflowError)
"""What restoring a checkpoint that is valid JSON but not a snapshot of ours raises."""
_RETENTION_GRACE_S = 600.0
"""A retention pass (which holds the store and so delays flushes) may run this long
before the systemd watchdog treats the waiting flushes as a hang."""
_FLUSH_CPU_SHARE = 0.1
"""At most this share of the CPU goes to flushing: a flush that took 0.3 s of CPU (a
checkpoint of tens of thousands of phones) waits 2.7 s before the next one."""
_MAX_FLUSH_PERIOD_S = 5.0
"""But records wait at most this long (the one-hour soak's records reached the outbox
16 s after they were due, p50, when the period followed a flush's wall time)."""


def flush_pause(interval: float, cpu: float, wall: float | None = None) -> tuple[float, float]:
    """(period, pause before the next flush) after a flush that took ``cpu`` seconds of CPU
    and ``wall`` seconds in all (default: the same): the configured interval between
    flushes, stretched so that flushing takes at most ``_FLUSH_CPU_SHARE`` of the CPU, up
    to ``_MAX_FLUSH_PERIOD_S``. On a saturated core a flush waits for the core far longer
    than it uses it; its CPU time, not its wall time, is what it takes from the sensors."""
    period = max(interval, min(cpu / _FLUSH_CPU_SHARE, _MAX_FLUSH_PERIOD_S))
    took = cpu if wall is None else wall
    return period, max(period - min(took, period - interval), 0.0)


class EdgeDaemon:
    """Runs every configured sensor into one pipeline until stopped."""

    def __init__(
        self,
        config: Config,
        key: bytes,
        store: Store,
        radios: dict[str, Callable[[str], Radio]] | None = None,
        clock: Callable[[], float] = time.time,
        notifier: Notifier | None = None,
        loader: Callable[[], Config] | None = None,
    ) -> None:
        """``radios`` replaces the radio of some sensors (by name): a recording played
        in real time, for testing a whole box without phones around. ``notifier``
        talks to systemd (default: from ``$NOTIFY_SOCKET``, a no-op outside systemd).
        ``loader`` reads the configuration again for ``reload`` (SIGHUP)."""
        self.config = config
        self.loader = loader
        self._key = key
        self.pipeline = Pipeline(config, key, store)
        self.store = store
        self._radios = radios or {}
        self._clock = clock
        self.health = {s.name: SupervisedSensor() for s in config.sensors}
        self.dropped_batches = 0
        self.dropped_probes = 0
        self._queue: asyncio.Queue[tuple[Emit, list[Any]]] = asyncio.Queue(_QUEUE_BATCHES)
        self._sources: dict[str, Source] = {}
        self._plugins: dict[str, SensorPlugin] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._retired: dict[str, asyncio.Event] = {}
        """Per sensor: set to end its task (a reload that changes or removes it, or stop)."""
        self._forget: set[str] = set()
        """Removed sensors whose status rows the next flush deletes."""
        self._group: asyncio.TaskGroup | None = None
        self._reload_wanted = asyncio.Event()
        self.reloads: Counter[str] = Counter()
        """Reloads by result: ``ok`` or ``refused``."""
        self._stop = asyncio.Event()
        self.backlog = Backlog()
        """Records waiting in memory while the database cannot be written (edge.runtime.backlog)."""
        self.store_failures = 0
        self._store_lock = threading.Lock()
        """The SQLite connection is used by one worker thread at a time."""
        self._notifier = notifier or Notifier.from_environment()
        self._flushed_at = self._consumed_at = time.monotonic()
        self._flush_period = config.aggregation.flush_interval_s
        """Time from one flush's start to the next's (longer than flush_interval_s when a
        flush is costly: ``_flush_loop``)."""
        self._retention_since: float | None = None
        self.config_hash = config_hash(config)
        self.metrics = MetricsEndpoint(edge_registry(self), "edge")

    def stop(self) -> None:
        """Ask the daemon to finish (safe from a signal handler on the loop)."""
        self._stop.set()
        for retired in self._retired.values():
            retired.set()

    def request_reload(self) -> None:
        """Read the configuration again (SIGHUP; safe from a signal handler on the loop)."""
        self._reload_wanted.set()

    @property
    def notifier(self) -> Notifier:
        return self._notifier

    @property
    def key(self) -> bytes:
        return self._key

    async def run(self) -> None:
        """Until ``stop()``; then write partial records and the checkpoint."""
        self._restore()
        self.metrics.apply(self.config.metrics)
        try:
            await self._run_tasks()
        finally:
            self.metrics.stop()

    def _restore(self) -> None:
        """Continue from the last checkpoint; one that is not a snapshot of ours is set aside."""
        try:
            if self.pipeline.restore():
                log.info("continuing open sessions from the last checkpoint")
        except _BAD_SNAPSHOT as exc:
            reason = f"not a snapshot this version can restore ({type(exc).__name__}: {exc})"
            for name in (CHECKPOINT_NAME, SLOW_CHECKPOINT_NAME):
                self.store.set_aside_checkpoint(name, reason[:300])
            self.pipeline = Pipeline(self.config, self._key, self.store)  # nothing half-restored

    @property
    def records_unwritten(self) -> int:
        """Records waiting in memory for the database to take them."""
        return len(self.backlog)

    @property
    def records_lost(self) -> int:
        """Records lost because the database could not be written (a full disk)."""
        return self.backlog.lost

    async def _run_tasks(self) -> None:
        async with asyncio.TaskGroup() as group:
            self._group = group
            self.start_sensors(self.config.sensors)
            consumer = group.create_task(self._consume(), name="aggregate")
            flusher = group.create_task(self._flush_loop(), name="flush")
            keeper = group.create_task(self._retention_loop(), name="retention")
            watchdog = group.create_task(
                feed_watchdog(self._notifier, self._unhealthy, self.summary), name="watchdog"
            )
            reloader = group.create_task(self._reload_loop(), name="reload")
            self._notifier.ready(self.summary())
            await self._stop.wait()
            self._notifier.stopping("stopping: writing open sessions as partial records")
            flusher.cancel()
            keeper.cancel()
            watchdog.cancel()
            reloader.cancel()
            # Each source thread ends within a poll interval.
            await asyncio.gather(*self._tasks.values())
            await asyncio.sleep(0)  # batches handed over by the threads reach the queue
            consumer.cancel()
        self._drain_queue()
        self.pipeline.aggregator.flush_partial()
        await self._flush()
        await asyncio.to_thread(self._write_at_exit)
        log.info("stopped; open sessions written as partial records")

    # -- sensors ------------------------------------------------------------------------

    def _runnable_sensors(self, sensors: list[AnySensor]) -> list[AnySensor]:
        """The sensors whose type this installation can run; the others are named once."""
        runnable = []
        for sensor in sensors:
            try:
                self._plugins[sensor.name] = plugin_for(sensor.type)
            except SensorUnavailable as exc:
                health = self.health.setdefault(sensor.name, SupervisedSensor())
                health.state, health.last_error = "unavailable", str(exc)
                log.error(
                    "sensor %s: %s; it is left out (the other sensors run)", sensor.name, exc,
                    extra={"sensor": sensor.name, "reason": "unavailable"},
                )  # fmt: skip
                continue
            runnable.append(sensor)
        return runnable

    def _emitter(self, loop: asyncio.AbstractEventLoop, name: str, handler: Emit) -> Emit:
        """The thread-safe hand-over from a source thread to ``handler`` on the loop."""

        def offer(batch: list[Any]) -> None:
            try:
                self._queue.put_nowait((handler, batch))
            except asyncio.QueueFull:
                self.dropped_batches += 1
                self.dropped_probes += len(batch)
                if self.dropped_batches in (1, 10, 100) or self.dropped_batches % 1000 == 0:
                    log.warning(
                        "aggregation is behind: %d batches dropped so far (the box is"
                        " overloaded; reduce sensors or check CPU)", self.dropped_batches,
                        extra={"sensor": name, "reason": "queue_full"},
                    )  # fmt: skip

        def emit(batch: list[Any]) -> None:
            loop.call_soon_threadsafe(offer, batch)

        return emit

    def start_sensors(self, sensors: list[AnySensor]) -> None:
        """A supervising task per sensor (those this installation can run), on the loop."""
        assert self._group is not None
        loop = asyncio.get_running_loop()
        for sensor in self._runnable_sensors(sensors):
            self.health.setdefault(sensor.name, SupervisedSensor())
            retired = self._retired[sensor.name] = asyncio.Event()
            if self._stop.is_set():
                retired.set()
            self._tasks[sensor.name] = self._group.create_task(
                self._supervise(sensor, loop, retired), name=f"sensor:{sensor.name}"
            )

    async def retire_sensors(self, names: list[str]) -> None:
        """End these sensors' tasks (their source threads stop within a poll interval)."""
        for name in names:
            if name in self._retired:
                self._retired.pop(name).set()
        await asyncio.gather(*(self._tasks.pop(n) for n in names if n in self._tasks))
        for name in names:
            self._sources.pop(name, None)
            self._plugins.pop(name, None)

    def forget_sensors(self, names: list[str]) -> None:
        """Sensors gone from the configuration: their status rows go with the next flush."""
        for name in names:
            self.health.pop(name, None)
            self._forget.add(name)

    async def _supervise(
        self, sensor: AnySensor, loop: asyncio.AbstractEventLoop, retired: asyncio.Event
    ) -> None:
        plugin = self._plugins[sensor.name]
        emit = self._emitter(loop, sensor.name, plugin.make_handler(sensor, self.pipeline))

        def source() -> Source:  # kept across restarts of its run (its counters, its state)
            found = self._sources.get(sensor.name)
            if found is None:
                override = self._radios.get(sensor.name)
                found = plugin.make_source(sensor, self.pipeline, self._clock, override)
                self._sources[sensor.name] = found
            return found

        run = SourceRun(sensor, plugin, emit, self.health[sensor.name], self._clock)
        await run.supervise(source, retired)

    # -- aggregation and storage --------------------------------------------------------

    async def _consume(self) -> None:
        while True:
            handler, batch = await self._queue.get()
            handler(batch)
            self._consumed_at = time.monotonic()

    def _drain_queue(self) -> None:
        while not self._queue.empty():
            handler, batch = self._queue.get_nowait()
            handler(batch)

    async def _flush_loop(self) -> None:
        """Flush every ``flush_interval_s``, or less often when a flush is costly: the
        checkpoint of a crowd of tens of thousands of phones takes a noticeable share of
        a second, and the box's core is for the sensors (``_FLUSH_CPU_SHARE``)."""
        cpu = wall = 0.0
        while True:
            interval = self.config.aggregation.flush_interval_s  # a reload may change it
            self._flush_period, pause = flush_pause(interval, cpu, wall)
            await asyncio.sleep(pause)
            started = time.monotonic()
            cpu = await self._flush()
            self._flushed_at = time.monotonic()
            wall = self._flushed_at - started

    async def _retention_loop(self) -> None:
        """Keep the database inside its disk budget and age (see edge.store.retention)."""
        while True:
            await asyncio.sleep(self.config.store.retention_interval_s)
            self._retention_since = time.monotonic()
            try:
                await asyncio.to_thread(self._enforce_retention)
            except StoreError as exc:
                log.error("%s; retrying in %.0f s", exc, self.config.store.retention_interval_s)
            finally:
                self._retention_since = None

    async def _reload_loop(self) -> None:
        while True:
            await self._reload_wanted.wait()
            self._reload_wanted.clear()
            await self.reload()

    async def reload(self) -> bool:
        """Read the configuration file again and apply it whole (``edge.runtime.reload``);
        False if it was refused."""
        if self.loader is None:
            log.warning("SIGHUP: nothing to reload (the daemon was started without a config file)")
            return False
        self.notifier.reloading()
        try:
            update = await read_again(self.config, self.loader)
            if update is not None and update.change.empty:
                log.info("config reloaded: nothing changed (config %s)", self.config_hash)
            elif update is not None:
                rebuilt = await self._apply(update)
                log.info("%s", applied_message(update.change, rebuilt, self.config_hash))
        finally:
            self.notifier.ready(self.summary())
        self.reloads["ok" if update is not None else "refused"] += 1
        return update is not None

    async def _apply(self, update: Reload) -> bool:
        """Stop what changed, carry the aggregation over, start what is new; True if the
        aggregation was rebuilt. Nothing awaits between taking the new configuration and
        starting the sensors, so a flush sees either the old or the new one."""
        new, change = update.config, update.change
        await self.retire_sensors(change.removed + change.changed)
        rebuilt = self.pipeline.reconfigure(new, self._key)
        self.config, self.config_hash = new, config_hash(new)
        self.forget_sensors(change.removed)
        sensors = {s.name: s for s in new.sensors}
        restarted = [sensors[name] for name in change.changed + change.added]
        for sensor in restarted:
            if sensor.name in self.health:
                self.health[sensor.name].state = "starting"
        self.start_sensors(restarted)
        self.metrics.apply(new.metrics)
        return rebuilt

    # -- systemd --------------------------------------------------------------------------

    def _unhealthy(self, period: float) -> str | None:
        """Why the daemon is not making progress, or None.

        A flush must have finished (written, or failed and kept its records) within
        two flush periods, or since the last ping when that is longer; a retention
        pass holding the store excuses waiting flushes for a while.
        """
        now = time.monotonic()
        limit = max(2 * self.config.aggregation.flush_interval_s, 2 * self._flush_period, period)
        retaining = self._retention_since is not None and (
            now - self._retention_since < _RETENTION_GRACE_S
        )
        if now - self._flushed_at > limit and not retaining:
            return (
                f"no flush finished for {now - self._flushed_at:.0f} s: writing to the"
                f" database {self.store.path} hangs (disk, or a process holding it)"
            )
        if not self._queue.empty() and now - self._consumed_at > limit:
            return f"aggregation stuck with {self._queue.qsize()} batches waiting"
        return None

    def unhealthy(self) -> str | None:
        """Why the daemon is not making progress, or None (for the metrics endpoint)."""
        return self._unhealthy(self._notifier.period)

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    @property
    def clock(self) -> Callable[[], float]:
        return self._clock

    def sensor_parts(self, name: str) -> tuple[SensorPlugin | None, Source | None]:
        """A sensor's plugin and its current source (either may be missing)."""
        return self._plugins.get(name), self._sources.get(name)

    def summary(self) -> str:
        """The one-line status ``systemctl status mallsense-edge`` shows."""
        states = ", ".join(f"{name} {h.state}" for name, h in self.health.items()) or "none"
        return (
            f"sensors: {states}; {self.pipeline.stats.records_written} records written;"
            f" {self.dropped_batches} batches dropped"
        )

    def _enforce_retention(self) -> None:
        with self._store_lock:
            enforce(self.store, self.config.store, self._clock())

    async def _flush(self) -> float:
        """Take the records and serialize the checkpoint on the loop (it owns the aggregator),
        write on a worker thread; the CPU seconds both took.

        A failed write (disk full, database locked) wrote nothing, so its records
        are kept and retried with the next flush, up to ``max_unwritten``.
        """
        started = time.thread_time()
        now = self._clock()
        records, checkpoints = self.pipeline.collect(checkpoint=True)
        records = self.backlog.records + records
        health = self._health_report(now)
        forget, self._forget = sorted(self._forget), set()
        cpu = time.thread_time() - started
        try:
            cpu += await asyncio.to_thread(self._write, records, checkpoints, health, now, forget)
        except StoreError as exc:
            self.store_failures += 1
            self._forget.update(forget)
            self.backlog.failed(records, exc, stopping=self._stop.is_set())
        else:
            self.backlog.records = []
        return cpu

    def _write(
        self,
        records: list[Any],
        checkpoints: list[Checkpoint] | None,
        health: dict[str, dict[str, object]],
        now: float,
        forget: list[str],
    ) -> float:
        """Write on a worker thread; the CPU seconds it took there."""
        with self._store_lock:
            started = time.thread_time()
            self.pipeline.persist(records, checkpoints, now)
            self.backlog.count_losses(self.store)
            self.pipeline.write_sensor_stats(health, now)
            if forget:
                self.store.forget_sensor_stats(forget)
            return time.thread_time() - started

    def _write_at_exit(self) -> None:
        """At stop: what the last flush could not write, in parts; the rest reported lost."""
        now = self._clock()
        with self._store_lock:
            self.backlog.write_at_exit(
                lambda part: self.pipeline.persist(part, None, now), self.store
            )

    def _health_report(self, now: float) -> dict[str, dict[str, object]]:
        report: dict[str, dict[str, object]] = {}
        for sensor in self.config.sensors:
            plugin = self._plugins.get(sensor.name)
            source = self._sources.get(sensor.name)
            counters = plugin.counters(sensor, self.pipeline, source) if plugin else {}
            last_frame_at = getattr(source, "last_frame_at", None)
            report[sensor.name] = self.health[sensor.name].report(
                counters, now, last_frame_at, self.dropped_batches
            )
        return report
