"""A blocking call on a thread of its own, awaited from the event loop.

Sensor sources block for as long as they run (a capture loop, a serial read loop,
a camera's pipe). ``asyncio.to_thread`` runs them on the loop's default executor,
which has ``min(32, cores + 4)`` threads: on a 2-core box the seventh sensor never
started, and every flush and retention pass (also ``to_thread``) waited behind the
sources, so nothing was written. A source therefore gets its own thread, and the
default executor stays free for short jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["on_own_thread"]

T = TypeVar("T")


def on_own_thread(name: str, call: Callable[..., T], *args: Any) -> asyncio.Future[T]:
    """Start ``call(*args)`` on a new daemon thread named ``name``; its result (or
    exception) completes the returned future on the running loop."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(error: BaseException | None, result: Any) -> None:
        if future.done():  # cancelled by the loop meanwhile
            return
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)

    def target() -> None:
        error: BaseException | None = None
        result: Any = None
        try:
            result = call(*args)
        except BaseException as exc:  # handed to the awaiting task, as to_thread does
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody is waiting
            loop.call_soon_threadsafe(settle, error, result)

    threading.Thread(target=target, name=name, daemon=True).start()
    return future
