"""The shared detector in the daemon: started once, restarted when it dies, stopped last.

``DetectorService`` runs the service process (``service.run_service``, spawned) and a
watcher thread that starts it again after it died, with a doubling pause (1 s up to
30 s; back to 1 s after it ran for a minute). The cameras are not told: their clients
wait and reconnect to the same address. ``DetectorHub`` hands each camera of the daemon
the address of the service for its model, starting that service with the first camera
and stopping it after the last one let go, so it outlives every camera that uses it.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import multiprocessing as mp
import os
import threading
import time
from multiprocessing.process import BaseProcess

from drivers.camera.child import ChildProcess
from drivers.camera.detect import DetectorConfig, ModelError, check_model_file
from drivers.camera.shared_detector.protocol import ServiceAddress
from drivers.camera.shared_detector.service import run_service

__all__ = ["DetectorHub", "DetectorService"]

log = logging.getLogger("mallsense.camera")

_ids = itertools.count(1)
_HEALTHY_S = 60.0
"""A service that ran this long before it died starts the backoff again from the first pause."""
_READY_S = 30.0
"""How long a service may take to load its model (``start`` waits that long at most)."""
_HUNG_S = 15.0
"""A service whose loop gave no sign of life for this long hangs: it is killed and started
again (its loop turns at least every half second, a frame takes about 25 ms)."""


class DetectorService(ChildProcess):
    """One shared detector process for ``config``, kept running until ``stop``."""

    def __init__(
        self,
        config: DetectorConfig,
        backoff_s: float = 1.0,
        backoff_max_s: float = 30.0,
        hung_s: float = _HUNG_S,
    ) -> None:
        self.config = config
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.hung_s = hung_s
        self.address = ServiceAddress(
            f"\0mallsense-detector-{os.getpid()}-{next(_ids)}", os.urandom(32)
        )
        self.restarts = 0
        """How many times the service was started again after it died."""
        self.last_error: str | None = None
        self._ctx = mp.get_context("spawn")
        self._beat = self._ctx.Value("d", 0.0, lock=False)
        """Monotonic time of the service loop's last turn (written by the service)."""
        self._process: BaseProcess | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        """Held while a process is started or ``stop`` takes it: none starts after a stop."""
        self._watcher: threading.Thread | None = None

    def start(self, wait_ready: bool = True) -> None:
        """Start the service and its watcher; by default wait until the model is loaded.

        Raises ``ModelError`` (naming the file) when the model is missing or altered.
        """
        check_model_file(self.config)
        self._launch(wait_ready)
        if wait_ready and self.last_error is not None:  # onnxruntime refused the model
            self.stop()  # it is ending by itself
            raise ModelError(self.last_error)
        self._watcher = threading.Thread(
            target=self._watch, name="shared-detector-watch", daemon=True
        )
        self._watcher.start()

    def stop(self, timeout: float = 5.0) -> None:
        """End the service (after the cameras that used it). It keeps nothing worth saving
        and ignores SIGTERM (systemd's stop reaches the whole group): it is killed."""
        with self._lock:
            self._stopping.set()
            process = self._process
        if process is not None and process.is_alive():
            process.kill()
            process.join(timeout)
        if self._watcher is not None:
            self._watcher.join(timeout)

    def _launch(self, wait_ready: bool) -> None:
        reader, writer = self._ctx.Pipe(duplex=False)
        self._beat.value = time.monotonic() + _READY_S  # loading the model is no hang
        self._process = self._ctx.Process(
            target=run_service,
            args=(self.address, self.config, writer, self._beat),
            name="shared-detector",
            daemon=True,
        )
        self._process.start()
        writer.close()
        if wait_ready:
            self._await_ready(reader)
        else:
            threading.Thread(target=self._await_ready, args=(reader,), daemon=True).start()

    def _await_ready(self, reader: mp.connection.Connection) -> None:
        """Log why a service did not come up (its model could not be loaded)."""
        with contextlib.suppress(EOFError, OSError), reader:
            if not reader.poll(_READY_S):
                return
            kind, detail = reader.recv()
            if kind == "error":
                self.last_error = str(detail)
                log.error("the shared camera detector cannot start: %s", detail)

    def _watch(self) -> None:
        """Start the service again each time it dies, with a growing pause."""
        failures = 0
        while not self._stopping.is_set():
            process = self._process
            assert process is not None
            started = time.monotonic()
            self._wait_for_end(process)
            if self._stopping.is_set():
                return
            if time.monotonic() - started >= _HEALTHY_S:
                failures = 0
            pause = min(self.backoff_max_s, self.backoff_s * 2**failures)
            failures += 1
            log.warning(
                "the shared camera detector died (exit code %s); starting it again in %g s,"
                " the cameras wait for it",
                process.exitcode, pause,
            )  # fmt: skip
            if self._stopping.wait(pause):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                self.restarts += 1
                self._launch(wait_ready=False)

    def _wait_for_end(self, process: BaseProcess) -> None:
        """Until ``process`` ends or we stop; a service that hangs is killed."""
        while not self._stopping.is_set():
            process.join(1.0)
            if not process.is_alive():
                return
            if time.monotonic() - self._beat.value > self.hung_s:
                log.warning(
                    "the shared camera detector hangs (no sign of life for %g s); killing it",
                    self.hung_s,
                )
                process.kill()
                process.join()
                return


class DetectorHub:
    """The daemon's shared detectors, one per model configuration, shared by its cameras."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._services: dict[DetectorConfig, DetectorService] = {}
        self._users: dict[DetectorConfig, int] = {}

    def acquire(self, config: DetectorConfig) -> ServiceAddress:
        """The address of the service for ``config`` (started by its first camera)."""
        with self._lock:
            service = self._services.get(config)
            if service is None:
                service = DetectorService(config)
                service.start()
                self._services[config] = service
            self._users[config] = self._users.get(config, 0) + 1
            return service.address

    def release(self, config: DetectorConfig) -> None:
        """A camera stopped using it; the last one stops the service."""
        with self._lock:
            users = self._users.get(config, 0) - 1
            if users > 0:
                self._users[config] = users
                return
            self._users.pop(config, None)
            service = self._services.pop(config, None)
        if service is not None:
            service.stop()

    def restarts(self, config: DetectorConfig) -> int:
        """How often the service for ``config`` was started again (0: none running)."""
        with self._lock:
            service = self._services.get(config)
        return 0 if service is None else service.restarts

    def services(self) -> list[DetectorService]:
        with self._lock:
            return list(self._services.values())
