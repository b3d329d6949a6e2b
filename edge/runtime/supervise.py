"""One sensor's source, supervised: run on its own thread, watched for silence,
restarted with capped, jittered backoff when it fails or falls silent."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edge.config.base import SensorBase
from edge.runtime.backoff import Backoff
from edge.runtime.health import SupervisedSensor
from edge.runtime.threads import on_own_thread
from edge.sensors.plugin import Emit, SensorPlugin, Source

__all__ = ["SourceRun"]

log = logging.getLogger("mallsense.edge")
HEALTHY_RUN_S = 300.0
"""A run that lasted this long starts the backoff over."""
WATCHDOG_POLL_S = 1.0
START_GRACE_S = 10.0
"""Real seconds a new run may take to give its first frame before the silence timeout
(when shorter, the timeout itself) can end it: starting a camera process and loading a
model takes real time, which a clock sped up by ``--simulate-speed`` would count 300-fold."""


@dataclass
class SourceRun:
    """The supervision of one sensor's source (one task of the daemon's group)."""

    sensor: SensorBase
    plugin: SensorPlugin
    emit: Emit
    health: SupervisedSensor
    clock: Callable[[], float]

    async def supervise(self, source: Callable[[], Source], retired: asyncio.Event) -> None:
        """Run ``source()`` again and again until ``retired`` is set."""
        backoff = Backoff(jitter="equal")  # a failing device always gets a real pause
        name = self.sensor.name
        while not retired.is_set():
            started = time.monotonic()
            reason = await self._run_once(source(), retired)
            ran_s = time.monotonic() - started
            if retired.is_set():
                return
            # A silent radio is restarted at once; a failing one with growing pauses,
            # which start over once a run has lasted a while.
            silent = self.health.state == "silent"
            if silent or ran_s > HEALTHY_RUN_S:
                backoff.reset()
            delay = 1.0 if silent else backoff.next_delay()
            self.health.state = "restarting"
            self.health.restarts += 1
            self.health.restarts_by_reason["silence" if silent else "failure"] += 1
            self.health.last_error = reason
            log.warning(
                "sensor %s: %s; restarting in %.0f s", name, reason, delay,
                extra={"sensor": name, "reason": "silence" if silent else "failure"},
            )  # fmt: skip
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(retired.wait(), timeout=delay)

    async def _run_once(self, source: Source, retired: asyncio.Event) -> str:
        """Run the source until it fails, falls silent or is retired; why it ended."""
        sensor, plugin = self.sensor, self.plugin
        stop = threading.Event()
        thread = on_own_thread(f"sensor {sensor.name}", source.run, self.emit, stop)
        self.health.state = "waiting"  # "running" once it has given something
        started, started_wall = self.clock(), time.monotonic()
        reason = ""
        stopping = asyncio.create_task(retired.wait())
        either: set[asyncio.Future[Any]] = {thread, stopping}
        while not thread.done():
            await asyncio.wait(either, timeout=WATCHDOG_POLL_S, return_when="FIRST_COMPLETED")
            if retired.is_set():
                break
            last = max(source.last_frame_at or started, started)  # not a previous run's frame
            if last > started and self.health.state == "waiting":
                self.health.state = "running"
            silence = plugin.silence_timeout(sensor)
            if silence is not None and self._silent(last, silence, started_wall):
                reason = (
                    f"nothing received for {silence:.0f} s on {plugin.device(sensor)}"
                    " (device disconnected, driver stuck, or nobody around)"
                )
                self.health.state = "silent"
                break
        stop.set()
        stopping.cancel()
        try:
            await thread
        except OSError as exc:
            reason = f"{plugin.device(sensor)}: {exc}"
        except Exception as exc:
            log.exception(
                "sensor %s crashed", sensor.name, extra={"sensor": sensor.name, "reason": "crashed"}
            )
            reason = f"crashed: {exc!r}"
        return reason or "capture ended"

    def _silent(self, last: float, silence: float, started_wall: float) -> bool:
        """Nothing for ``silence`` seconds of the daemon's clock since ``last``, and the
        run has had its start-up grace in real time (on a real clock, the first implies
        the second)."""
        if self.clock() - last <= silence:
            return False
        return time.monotonic() - started_wall > min(silence, START_GRACE_S)
