"""glibc's allocator, set for processes that run for months with a few big buffers: the
edge daemon, its camera processes and the shared detector.

Two defaults of glibc malloc cost a busy box about a quarter of its memory:

- the threshold above which a block gets its own ``mmap`` (and goes back to the system
  when freed) rises with every large block freed, up to 32 MB. A checkpoint of a crowd
  is a string of tens of MB made and freed every flush: after the first one it lands
  in the heap, whose freed space stays with the process, fragmented. Fixing the
  threshold at 128 KiB keeps such blocks out of the heap. The whole-box recordings
  replayed offline with a checkpoint every 6 s: 249 MB resident, 189 MB with it fixed.
- each thread that allocates gets an arena of its own, up to eight per core, and each
  keeps its freed space; the daemon has a thread per sensor, a camera process a reader
  thread beside its counting. Two arenas are plenty when the GIL serializes most
  allocations anyway.

``mallopt`` is called once, at a process's start, before its threads; elsewhere (another
libc) this does nothing. Frames (a megabyte or more each) are then mapped and unmapped
one by one: some tens of microseconds a frame, at ten frames a second.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

__all__ = ["tune_allocator"]

log = logging.getLogger("mallsense")

_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
_MMAP_THRESHOLD_BYTES = 128 * 1024
_ARENAS = 2


def tune_allocator() -> bool:
    """Fix glibc's mmap threshold and arena count; False where it is not glibc."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    done: bool = mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES) == 1
    done = bool(mallopt(_M_ARENA_MAX, _ARENAS) == 1) and done
    if not done:
        log.debug("mallopt refused the allocator settings; glibc's defaults stay")
    return done
