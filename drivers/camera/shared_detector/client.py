"""The camera's side of the shared detector: a ``Detector`` that asks the service.

``detect(frame)`` letterboxes and normalizes the frame straight into the camera's
shared-memory slot (``ModelInput.prepare``), sends a ``Job`` and waits for the boxes:
the pipeline sees the same ``Detections`` an in-process ``OnnxDetector`` gives.

When the service is gone (killed, restarting) the socket closes or nobody listens:
the camera does not fail and does not skip the frame. It waits for the restarted
service, attaches its slot again and resends the same frame, so its frames keep their
order (``waits`` counts the jobs that had to wait, ``waited_s`` for how long). Only a
stop ends the wait (the frame then gets no detections: the tracker coasts, nothing counts).
A stop also ends the wait for an answer from a live but busy service: a camera asked to
hand over its counts must not sit behind other cameras' frames until the daemon's
deadline passes and kills it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from multiprocessing import AuthenticationError, shared_memory
from multiprocessing.connection import Client, Connection

import numpy as np
import numpy.typing as npt

from drivers.camera.capture import StopSignal
from drivers.camera.detect import Detections, DetectorConfig, ModelInput
from drivers.camera.shared_detector.protocol import (
    Answer,
    Attach,
    Bye,
    Job,
    Refusal,
    ServiceAddress,
    Welcome,
    create_slot,
    slot_tensor,
)

__all__ = ["SharedDetectorClient"]

log = logging.getLogger("mallsense.camera")

_RETRY_S = 0.2
"""Pause between attempts to reach a service that is not (yet) listening, and how often a
wait for an answer looks at the stop signal."""
_ANSWER_S = 30.0
"""An answer later than this means a service that hangs: connect again (one frame takes
about 25 ms). Longer than the daemon takes to kill a hung service (15 s), which closes
the connection: a camera should not leave a live service on its own, as the service then
unlinks the slot the camera goes on using."""


class _Lost(Exception):
    """The connection to the service broke or it did not answer."""


class _Stopped(Exception):
    """The camera was asked to stop while it waited for the service."""


class SharedDetectorClient:
    """A ``Detector`` whose model runs in the shared detector process."""

    def __init__(
        self,
        address: ServiceAddress,
        config: DetectorConfig,
        camera: str,
        stop: StopSignal | None = None,
        answer_timeout_s: float = _ANSWER_S,
    ) -> None:
        self.address = address
        self.config = config
        self.camera = camera
        self.answer_timeout_s = answer_timeout_s
        self.waits = 0
        """Jobs that waited for the service to come back (it died or hung)."""
        self.waited_s = 0.0
        self._stop: StopSignal = stop if stop is not None else threading.Event()  # never set
        self._conn: Connection | None = None
        self._slot: shared_memory.SharedMemory | None = None
        self._input: ModelInput | None = None
        self._seq = 0

    def detect(self, frame: npt.NDArray[np.uint8]) -> Detections:
        """People in one BGR frame, found by the shared service (waits while it restarts)."""
        self._seq += 1
        h, w = frame.shape[:2]
        lost_at: float | None = None
        while not self._stop.is_set():
            try:
                found = self._ask(frame, Job(self._seq, 0.0, w, h))
            except _Lost as exc:
                lost_at = self._lost(exc, lost_at)
                continue
            except _Stopped:
                self._disconnect()  # its answer would come as the reply to the next job
                break
            if lost_at is not None:
                self.waited_s += time.monotonic() - lost_at
                log.info("camera %s: the shared detector answers again", self.camera)
            return found
        return Detections.empty()

    def close(self) -> None:
        """Say goodbye and free the slot (the camera stops)."""
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.send(Bye())
            self._disconnect()
        self._free_slot()

    def _free_slot(self) -> None:
        if self._slot is not None:
            self._slot.close()
            with contextlib.suppress(FileNotFoundError):
                self._slot.unlink()
            self._slot = None

    def _ask(self, frame: npt.NDArray[np.uint8], job: Job) -> Detections:
        conn, model_input = self._connected()
        assert self._slot is not None  # attached by _connected
        _, scale = model_input.prepare(frame, out=slot_tensor(self._slot, model_input.size))
        reply = self._exchange(conn, job._replace(scale=scale))
        if isinstance(reply, Refusal):  # its slot is gone: the next connection gets a new one
            self._free_slot()
            raise _Lost(f"the shared detector refused the frame: {reply.error}")
        return Detections(reply.boxes, reply.scores)

    def _exchange(self, conn: Connection, job: Job) -> Answer | Refusal:
        try:
            conn.send(job)
            self._await(conn, "answer")
            reply = conn.recv()
        except (OSError, EOFError) as exc:
            raise _Lost("the shared detector closed the connection") from exc
        if not isinstance(reply, Answer | Refusal) or reply.seq != job.seq:
            raise _Lost(f"unexpected reply {type(reply).__name__}")
        return reply

    def _connected(self) -> tuple[Connection, ModelInput]:
        """The connection, made and the slot attached if there is none."""
        if self._conn is not None and self._input is not None:
            return self._conn, self._input
        try:
            conn = Client(self.address.address, family="AF_UNIX", authkey=self.address.authkey)
        except (OSError, EOFError, AuthenticationError) as exc:
            raise _Lost(f"the shared detector is not listening ({exc})") from exc
        self._conn = conn
        try:
            self._await(conn, "greeting")
            welcome = conn.recv()
            if not isinstance(welcome, Welcome):
                raise _Lost(f"unexpected greeting {type(welcome).__name__}")
            model_input = self._input = self._slot_for(welcome.size)
            conn.send(Attach(self.camera, self._slot.name if self._slot else ""))
        except (OSError, EOFError) as exc:
            raise _Lost("the shared detector closed the connection") from exc
        return conn, model_input

    def _await(self, conn: Connection, what: str) -> None:
        """Wait for the service's next message; _Lost after the answer timeout, _Stopped
        as soon as the camera is asked to stop."""
        deadline = time.monotonic() + self.answer_timeout_s
        while not conn.poll(min(_RETRY_S, self.answer_timeout_s)):
            if self._stop.is_set():
                raise _Stopped
            if time.monotonic() >= deadline:
                raise _Lost(f"no {what} within {self.answer_timeout_s:g} s")

    def _slot_for(self, size: int) -> ModelInput:
        """The model input of ``size``, with a slot that holds its tensor."""
        if self._slot is not None and self._input is not None and self._input.size == size:
            return self._input
        self._free_slot()
        self._slot = create_slot(self.camera, size)
        return ModelInput(self.config.kind, size)

    def _lost(self, why: _Lost, lost_at: float | None) -> float:
        """Forget the connection and pause; the first loss of a job is a wait, logged."""
        self._disconnect()
        if lost_at is None:
            self.waits += 1
            log.warning(
                "camera %s: %s; waiting for it to restart (the frame is kept)", self.camera, why
            )
            lost_at = time.monotonic()
        self._stop.wait(_RETRY_S)
        return lost_at

    def _disconnect(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.close()
        self._conn = None
