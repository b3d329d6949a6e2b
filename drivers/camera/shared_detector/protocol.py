"""What a camera process and the shared detector say to each other, and where the frame is.

Each camera process has one slot: a ``multiprocessing.shared_memory`` block holding the
model's input tensor for its current frame, already letterboxed and normalized by the
camera (``drivers.camera.detect.ModelInput``), so the frame crosses no pipe and is copied
once. The messages go over a ``multiprocessing.connection`` (an abstract Unix socket,
authenticated with a key the daemon draws): small pickled tuples, never a picture.

A conversation: the service says ``Welcome`` (its input size) on connect; the camera
creates its slot if it has none of that size and says ``Attach``; then, per frame, a
``Job`` answered by an ``Answer`` (the boxes) or a ``Refusal``; ``Bye`` when the camera
stops cleanly. Only the camera creates its slot; the camera unlinks it after ``Bye``, the
service when the camera vanished without one (killed), so exactly one side unlinks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from multiprocessing import shared_memory
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from drivers.camera.detect import DetectorConfig

__all__ = [
    "SHAREABLE_KINDS",
    "Answer",
    "Attach",
    "Bye",
    "Job",
    "Refusal",
    "ServiceAddress",
    "Welcome",
    "create_slot",
    "open_slot",
    "shareable",
    "slot_tensor",
]

FloatArray = npt.NDArray[np.float32]

SHAREABLE_KINDS = ("nanodet", "yolo")
"""Model kinds whose input is one NCHW float32 tensor (``ModelInput``): the others keep a
session in each camera process."""


def shareable(config: DetectorConfig) -> bool:
    """Whether cameras with this detector can use the shared detector."""
    return config.kind in SHAREABLE_KINDS


@dataclass(frozen=True)
class ServiceAddress:
    """Where a shared detector listens (picklable: handed to each camera process)."""

    address: str
    """An abstract Unix socket name (starts with NUL: no file to clean up, and a restarted
    service binds it again as soon as the dead one's socket is gone)."""
    authkey: bytes


class Welcome(NamedTuple):
    """Service -> camera, on connect: the model takes ``size`` x ``size`` tensors."""

    size: int


class Attach(NamedTuple):
    """Camera -> service: the camera's name and the shared-memory block of its tensor."""

    camera: str
    slot: str


class Job(NamedTuple):
    """Camera -> service: detect on the tensor now in the slot."""

    seq: int
    scale: float
    """Model pixels per frame pixel (the letterbox's)."""
    width: int
    height: int


class Answer(NamedTuple):
    """Service -> camera: the people of job ``seq``, in the frame's pixels."""

    seq: int
    boxes: FloatArray
    scores: FloatArray


class Refusal(NamedTuple):
    """Service -> camera: job ``seq`` cannot be run (its slot is missing or the wrong size)."""

    seq: int
    error: str


class Bye(NamedTuple):
    """Camera -> service: stopping cleanly; the camera unlinks its slot itself."""


def slot_bytes(size: int) -> int:
    return 3 * size * size * np.dtype(np.float32).itemsize


def slot_tensor(block: shared_memory.SharedMemory, size: int) -> FloatArray:
    """The [1, 3, size, size] float32 view of a slot (no copy)."""
    return np.ndarray((1, 3, size, size), np.float32, buffer=block.buf)


def create_slot(camera: str, size: int) -> shared_memory.SharedMemory:
    """A new slot for this camera process (its pid in the name: a restarted camera process
    never meets the block of the one before it)."""
    name = f"mallsense-detector-{camera}-{os.getpid()}"
    return shared_memory.SharedMemory(name=name, create=True, size=slot_bytes(size))


def open_slot(name: str, size: int) -> shared_memory.SharedMemory:
    """Attach a camera's slot; ValueError when it is smaller than the model's tensor."""
    block = shared_memory.SharedMemory(name=name)
    if block.size < slot_bytes(size):
        block.close()
        raise ValueError(f"slot {name} holds {block.size} bytes, not {slot_bytes(size)}")
    return block
