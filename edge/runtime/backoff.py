"""Capped exponential back-off with jitter, for every retry loop of the box.

The pause before the n-th retry in a row is drawn under a cap that doubles per
failure, ``min(maximum, initial * 2**n)`` (Marc Brooker, "Exponential Backoff And
Jitter", AWS Architecture Blog, 2015). Each caller says which jitter it needs:

- ``"full"``, ``uniform(0, cap)``: the least work and the widest spread when many
  clients compete for one server. The sync agent's reconnects use it: after a
  broker restart every box of a mall (and of the fleet) reconnects at once, and
  full jitter spreads them best.
- ``"equal"``, ``uniform(cap / 2, cap)``: half the cap is guaranteed, so a retry
  never comes almost at once. A sensor's restarts (``edge.runtime.supervise``) use
  it: nobody else competes for the device, and a failing radio or serial line must
  get a real pause each time rather than an occasional immediate hammering.

``sync`` imports this module (``sync`` may import ``edge``, never the reverse).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Literal

__all__ = ["Backoff", "Jitter"]

Jitter = Literal["full", "equal"]


class Backoff:
    """The pauses before retries: ``next_delay`` after a failure, ``reset`` after progress."""

    def __init__(
        self,
        initial: float = 1.0,
        maximum: float = 60.0,
        *,
        jitter: Jitter,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if initial <= 0 or maximum < initial:
            raise ValueError(f"back-off needs 0 < initial <= maximum (got {initial}, {maximum})")
        self.initial = initial
        self.maximum = maximum
        self.jitter: Jitter = jitter
        self.failures = 0
        """Failures in a row since the last ``reset``."""
        self._rng = rng

    def cap(self) -> float:
        """The longest pause the next failure may get."""
        # 2**62 already exceeds any cap; a longer exponent would only overflow.
        return min(self.maximum, self.initial * 2.0 ** min(self.failures, 62))

    def next_delay(self) -> float:
        """The pause before the next attempt; counts one more failure."""
        cap = self.cap()
        self.failures += 1
        if self.jitter == "equal":
            return cap / 2 + self._rng() * cap / 2
        return self._rng() * cap

    def reset(self) -> None:
        """After progress: the next failure waits at most ``initial`` again."""
        self.failures = 0
