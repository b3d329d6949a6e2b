"""Capped exponential back-off with full jitter.

Full jitter (a random delay between zero and the current cap) spreads the
reconnects of every box in a mall after a broker restart, instead of having
them all knock at the same second.
"""

from __future__ import annotations

import random
from collections.abc import Callable

__all__ = ["Backoff"]


class Backoff:
    """Delays of ``uniform(0, min(maximum, initial * 2**n))`` for the n-th failure in a row."""

    def __init__(
        self, initial: float, maximum: float, rng: Callable[[], float] = random.random
    ) -> None:
        if initial <= 0 or maximum < initial:
            raise ValueError(f"back-off needs 0 < initial <= maximum (got {initial}, {maximum})")
        self.initial = initial
        self.maximum = maximum
        self.failures = 0
        self._rng = rng

    def next_delay(self) -> float:
        """The delay before the next attempt; counts one more failure."""
        cap = min(self.maximum, self.initial * 2.0 ** min(self.failures, 62))
        self.failures += 1
        return self._rng() * cap

    def reset(self) -> None:
        """After progress: the next failure waits at most ``initial`` again."""
        self.failures = 0
