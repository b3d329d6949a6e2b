"""Configured fixed devices (``aggregation.fixed_devices``) as the pseudonyms the parser makes.

The box never compares raw MACs: the configured addresses are turned into pseudonyms
with the same key and rotation as the parser's (``drivers.privacy.Pseudonymizer``),
once per key period, and the aggregator treats those pseudonyms as fixed from their
first frame (no dwell, no visit, out of every count but ``fixed``). The addresses
themselves stay in memory only, as the key does; nothing derived from them but the
period's pseudonyms leaves this object.
"""

from __future__ import annotations

from drivers.privacy import Pseudonymizer

__all__ = ["FixedDevices"]


class FixedDevices:
    """The period's pseudonyms of the configured fixed devices."""

    def __init__(self, macs: list[str], key: bytes, rotation_s: int) -> None:
        self._addresses = [bytes.fromhex(m.replace(":", "").replace("-", "")) for m in macs]
        self._pseudonymizer = Pseudonymizer(key, rotation_s)
        self._period: int | None = None
        self._now: frozenset[str] = frozenset()

    def __len__(self) -> int:
        return len(self._addresses)

    def at(self, t: float) -> frozenset[str]:
        """The pseudonyms of the fixed devices at event time ``t``."""
        period = self._pseudonymizer.period_of(t)
        if period != self._period:
            self._now = frozenset(self._pseudonymizer.pseudonym(a, t) for a in self._addresses)
            self._period = period
        return self._now
