"""Keyed pseudonyms for radio addresses.

A MAC address (or BLE address) is replaced, inside the parser, by
``HMAC-SHA256(period_key, address)`` truncated to 64 bits. The period key is
derived from the mall-wide key and the rotation period index, so every box of
one mall gives a phone the same pseudonym on the same day, and nobody can link
two days without the key. The raw address never leaves this module's cache,
which is cleared at every rotation.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["MIN_KEY_BYTES", "Pseudonymizer"]

MIN_KEY_BYTES = 16
_CACHE_GENERATION = 16_384
"""Addresses per cache generation: a busy sensor hears about 650 new random MACs a
second, so two generations hold the last 25 s or more (a phone's burst, and the
global MACs that come back within a scan or two) in about 5 MB, where a cache
cleared only when full held 200,000 addresses (30 MB) per sensor."""
_BLOCK = 64  # SHA-256 block size, for the HMAC pads
_TAG_PREFIX = b"\x00ssid:"


class Pseudonymizer:
    """Turns an address into a 16-hex-digit pseudonym for its rotation period."""

    def __init__(self, key: bytes, rotation_s: int = 86_400) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(
                f"the pseudonymization key has {len(key)} bytes;"
                f" at least {MIN_KEY_BYTES} are needed"
            )
        if rotation_s <= 0:
            raise ValueError("the key rotation period must be positive")
        self._key = key
        self.rotation_s = rotation_s
        self._period: int | None = None  # None: no period key derived yet
        self._cache: dict[bytes, str] = {}
        self._older: dict[bytes, str] = {}
        self._inner = hashlib.sha256()
        self._outer = hashlib.sha256()

    def period_of(self, t: float) -> int:
        """The rotation period index of event time ``t`` (UTC-aligned)."""
        return int(t // self.rotation_s)

    def _rotate(self, period: int) -> None:
        period_key = hmac.new(self._key, b"mallsense-period:%d" % period, hashlib.sha256).digest()
        padded = period_key.ljust(_BLOCK, b"\0")
        # Precomputed HMAC pads: one copy() per address instead of a full hmac.new().
        self._inner = hashlib.sha256(bytes([b ^ 0x36 for b in padded]))
        self._outer = hashlib.sha256(bytes([b ^ 0x5C for b in padded]))
        self._cache = {}
        self._older = {}
        self._period = period

    def pseudonym(self, address: bytes, t: float) -> str:
        """The pseudonym of ``address`` at event time ``t``."""
        self._enter_period(t)
        cached = self._cache.get(address)
        if cached is not None:
            return cached
        value = self._older.get(address)
        if value is None:
            value = self._digest(address)
        if len(self._cache) >= _CACHE_GENERATION:
            self._older, self._cache = self._cache, {}
        self._cache[address] = value
        return value

    def pseudonym_uncached(self, address: bytes, t: float) -> str:
        """The same pseudonym, not cached: for callers that keep their own cache."""
        self._enter_period(t)
        return self._digest(address)

    def _enter_period(self, t: float) -> None:
        """Derive the period key of event time ``t`` if it is not the current one."""
        period = int(t // self.rotation_s)
        if period != self._period:
            self._rotate(period)

    def _digest(self, address: bytes) -> str:
        inner = self._inner.copy()
        inner.update(address)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()[:8].hex()

    def tag(self, data: bytes, t: float) -> str:
        """A short keyed tag for other identifying data (an SSID), same rotation.

        The prefix makes the input at least 7 bytes long, so a tag can never
        equal the pseudonym of a 6-byte address.
        """
        return self.pseudonym(_TAG_PREFIX + data, t)[:8]
