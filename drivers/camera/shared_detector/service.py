"""The shared detector's process: one onnxruntime session for every camera of the daemon.

It listens on the ``ServiceAddress`` the daemon gave it; each camera process connects,
attaches its shared-memory slot and sends one ``Job`` per frame. The loop waits for
whichever cameras are ready and runs what they sent together: as one batch when the
model's batch dimension is dynamic, else one after another in the same session (the
bundled NanoDet-m takes [1, 3, 416, 416]: one after another, straight from each slot,
no copy). Detections are decoded here (``detections_from_outputs``, as the in-process
detector does) and only the boxes go back.

A camera that vanishes (killed) is a closed connection: its slot is unlinked and the
others go on. This process holds nothing a restart loses: a camera whose detector died
connects again and resends its job (``drivers.camera.shared_detector.client``).
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from dataclasses import dataclass
from multiprocessing import AuthenticationError, Pipe, shared_memory
from multiprocessing.connection import Connection, Listener, wait
from typing import Any

import numpy as np

from drivers.camera.child import name_this_process
from drivers.camera.detect import (
    DetectorConfig,
    ModelError,
    OnnxDetector,
    detections_from_outputs,
)
from drivers.camera.shared_detector.protocol import (
    Answer,
    Attach,
    Bye,
    FloatArray,
    Job,
    Refusal,
    ServiceAddress,
    Welcome,
    open_slot,
    slot_tensor,
)
from drivers.memory import tune_allocator

__all__ = ["DetectorServer", "run_service"]

_WAIT_S = 0.5


@dataclass
class _Camera:
    """One connected camera process."""

    conn: Connection
    name: str = "?"
    slot: shared_memory.SharedMemory | None = None
    leaving: bool = False
    """It said ``Bye``: it unlinks its slot itself."""


class DetectorServer:
    """Owns the session and the listening socket; ``serve`` answers cameras until stopped."""

    def __init__(self, address: ServiceAddress, config: DetectorConfig) -> None:
        self.detector = OnnxDetector(config)  # ModelError when the model is missing or bad
        self.size = self.detector.size
        session = self.detector.session
        self._input = session.get_inputs()[0].name
        self.batched = not isinstance(session.get_inputs()[0].shape[0], int)
        """The model takes a dynamic batch: ready cameras' frames run as one batch."""
        self._listener = Listener(address.address, family="AF_UNIX", authkey=address.authkey)
        self._wake_r, self._wake_w = _pipe()
        self._arrived: list[Connection] = []
        self._lock = threading.Lock()
        self._cameras: dict[Connection, _Camera] = {}
        self.jobs = 0
        self.runs = 0

    def serve(self, stop: threading.Event, beat: Any = None) -> None:
        """Answer cameras until ``stop``; ``beat.value`` (a shared double) gets the monotonic
        time of each turn of the loop, so the daemon can tell a hung service from a busy one."""
        threading.Thread(target=self._accept, name="detector-accept", daemon=True).start()
        while not stop.is_set():
            if beat is not None:
                beat.value = time.monotonic()
            ready = wait([self._wake_r, *self._cameras], timeout=_WAIT_S)
            if self._wake_r in ready:
                self._welcome_arrivals()
            jobs = [job for conn in ready if conn in self._cameras for job in self._read(conn)]
            if jobs:
                self._run(jobs)

    def _accept(self) -> None:
        """Accepts connections (authenticated) on its own thread and wakes the loop."""
        while True:
            try:
                conn = self._listener.accept()
            except (OSError, EOFError, AuthenticationError):  # a stranger, or one that hung up
                continue
            with self._lock:
                self._arrived.append(conn)
            self._wake_w.send_bytes(b"!")

    def _welcome_arrivals(self) -> None:
        while self._wake_r.poll():
            self._wake_r.recv_bytes()
        with self._lock:
            arrived, self._arrived = self._arrived, []
        for conn in arrived:
            self._cameras[conn] = _Camera(conn)
            self._send(self._cameras[conn], Welcome(self.size))

    def _read(self, conn: Connection) -> list[tuple[_Camera, Job]]:
        """Every message waiting on ``conn``; the jobs among them."""
        camera = self._cameras[conn]
        jobs: list[tuple[_Camera, Job]] = []
        try:
            while conn.poll():
                message = conn.recv()
                if isinstance(message, Job):
                    jobs.append((camera, message))
                elif isinstance(message, Attach):
                    self._attach(camera, message)
                elif isinstance(message, Bye):
                    camera.leaving = True
                    self._drop(camera)
                    return []
        except (EOFError, OSError):  # the camera process is gone
            self._drop(camera)
            return []
        return jobs

    def _attach(self, camera: _Camera, message: Attach) -> None:
        if camera.slot is not None:
            camera.slot.close()
        camera.name, camera.slot = message.camera, None
        with contextlib.suppress(OSError, ValueError):  # refused at its first job
            camera.slot = open_slot(message.slot, self.size)

    def _run(self, jobs: list[tuple[_Camera, Job]]) -> None:
        """Run the jobs of the cameras that were ready together; answer each.

        Views of a slot live only while the model reads them: a camera dropped meanwhile
        (its answer could not be sent) must be able to close its slot.
        """
        runnable = [(camera, job) for camera, job in jobs if self._has_slot(camera, job)]
        if self.batched and len(runnable) > 1:
            outputs = self._infer(np.concatenate([self._view(camera) for camera, _ in runnable]))
            for i, (camera, job) in enumerate(runnable):
                self._answer(camera, job, [o[i : i + 1] for o in outputs])
            return
        # One after another, each answered at once: that camera goes on meanwhile. (Running
        # two at once on a thread pool measured no steadier gain and cost 20 MB: not done.)
        for camera, job in runnable:
            if camera.slot is not None:
                self._answer(camera, job, self._infer_slot(camera))

    def _answer(self, camera: _Camera, job: Job, outputs: list[FloatArray]) -> None:
        found = detections_from_outputs(
            outputs, self.detector.config, self.size, job.scale, (job.width, job.height)
        )
        self._send(camera, Answer(job.seq, found.boxes, found.scores))
        self.jobs += 1

    def _infer(self, tensor: FloatArray) -> list[FloatArray]:
        self.runs += 1
        outputs: list[FloatArray] = self.detector.session.run(None, {self._input: tensor})
        return outputs

    def _infer_slot(self, camera: _Camera) -> list[FloatArray]:
        """Run on the camera's slot; the view ends with the call, so that the slot can be
        closed as soon as the answer is sent."""
        return self._infer(self._view(camera))

    def _view(self, camera: _Camera) -> FloatArray:
        assert camera.slot is not None  # checked by _has_slot
        return slot_tensor(camera.slot, self.size)

    def _has_slot(self, camera: _Camera, job: Job) -> bool:
        """Whether the job's input is there (a camera without a slot has the job refused)."""
        if camera.slot is not None:
            return True
        self._send(camera, Refusal(job.seq, "its shared-memory slot could not be attached"))
        return False

    def _send(self, camera: _Camera, message: Any) -> None:
        try:
            camera.conn.send(message)
        except OSError:  # it died between its job and our answer
            self._drop(camera)

    def _drop(self, camera: _Camera) -> None:
        """Forget a camera; unlink its slot unless it said goodbye (then it unlinks)."""
        self._cameras.pop(camera.conn, None)
        with contextlib.suppress(OSError):
            camera.conn.close()
        if camera.slot is not None:
            camera.slot.close()
            if not camera.leaving:
                with contextlib.suppress(OSError):
                    camera.slot.unlink()
            camera.slot = None


def _pipe() -> tuple[Connection, Connection]:
    reader, writer = Pipe(duplex=False)
    return reader, writer


def run_service(
    address: ServiceAddress, config: DetectorConfig, status: Connection, beat: Any = None
) -> None:
    """The service process's main: load the model, say ``ready`` (or why not), serve."""
    tune_allocator()  # before onnxruntime's threads: see drivers.memory
    name_this_process("detector")
    # Ctrl-C and systemd's stop signal reach the whole process group: the cameras may still
    # be finishing their last frames; the daemon ends this process after the last of them.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        server = DetectorServer(address, config)
    except (ModelError, OSError) as exc:
        status.send(("error", str(exc)))
        return
    status.send(("ready", server.size))
    status.close()
    server.serve(threading.Event(), beat)
