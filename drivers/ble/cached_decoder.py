"""Cached, counted decoding for the scanner and the replay (one per sensor).

A device repeats the same payload many times a second and changes it every few
seconds to minutes (a TLM counter, a Continuity state, a rotating identifier), so
the decoder keeps each payload's ``Decoded`` and a repeat costs one dictionary
lookup. Results depend on the payload alone and never go stale; the caches are
bounded and cleared when full. Rejected payloads are remembered with their reason
so that every rejected advertisement is counted, not only the first.

Counters (``stats``): ``adverts`` seen, ``rejected`` by reason (``empty``: no AD
structure; ``malformed``: the first structure runs past the end; ``not_bytes``),
``damaged``: kept, but a structure was skipped (``decode.ad_structures.parse_ad``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping
from typing import Final, TypeVar

from drivers.ble.decode.ad_structures import parse_ad
from drivers.ble.decode.advertisement import AdvertisementLike, decode_normalized
from drivers.ble.decode.decoded import Decoded
from drivers.ble.decode.normalize import fields_from_ad, normalize_fields

__all__ = ["CACHE_LIMIT", "BleDecoder"]

CACHE_LIMIT: Final = 8_192
"""Payloads kept per cache: a mall's few hundred devices in range repeat far fewer distinct
payloads than this between clears. A decoded payload holds about 690 bytes, so 50,000 (the
limit before) made the cache the daemon's largest swing: 0 to 34 MB with every clear, where
a crowd's rotating payloads rarely repeat (2026-12 soak probe)."""
_K = TypeVar("_K", bound=Hashable)
_V = TypeVar("_V")


class BleDecoder:
    """Decodes advertisements of one sensor, caching per identical payload."""

    def __init__(self, cache_limit: int = CACHE_LIMIT) -> None:
        self._limit = max(1, cache_limit)
        self._clean: dict[bytes, Decoded] = {}
        self._damaged: dict[bytes, Decoded] = {}
        self._rejects: dict[bytes, str] = {}
        self._by_fields: dict[Hashable, Decoded] = {}
        self.adverts = 0
        self.damaged = 0
        self.rejected: defaultdict[str, int] = defaultdict(int)

    def stats(self) -> dict[str, object]:
        """Counters for status and telemetry."""
        return {
            "adverts": self.adverts,
            "damaged": self.damaged,
            "rejected": dict(self.rejected),
            "cached": len(self._clean) + len(self._damaged) + len(self._by_fields),
        }

    def decode(self, data: bytes) -> Decoded | None:
        """Raw advertising data (AD structures) -> Decoded, or None (counted)."""
        self.adverts += 1
        try:
            cached = self._clean.get(data)
        except TypeError:  # bytearray or memoryview are unhashable
            return self._not_bytes(data)
        if cached is not None:
            return cached
        return self._slow(data)

    def decode_batch(self, adverts: Iterable[bytes]) -> list[Decoded | None]:
        """``decode`` of many payloads, in order (one loop, for replays)."""
        clean_get = self._clean.get
        slow = self._slow
        out: list[Decoded | None] = []
        append = out.append
        count = 0
        for data in adverts:
            count += 1
            try:
                cached = clean_get(data)
            except TypeError:
                append(self._not_bytes(data))
                continue
            append(cached if cached is not None else slow(data))
        self.adverts += count
        return out

    def decode_fields(
        self,
        manufacturer_data: Mapping[int, bytes],
        service_data: Mapping[str, bytes],
        service_uuids: Iterable[str],
        local_name: str | None = None,
        tx_power: int | None = None,
    ) -> Decoded:
        """bleak's parsed form -> Decoded (equal to ``decode`` of the raw form)."""
        self.adverts += 1
        uuids = tuple(service_uuids)
        key: Hashable | None = (
            tuple(manufacturer_data.items()),
            tuple(service_data.items()),
            uuids,
            tx_power,
            not local_name,
        )
        try:
            cached = self._by_fields.get(key)
        except TypeError:  # unhashable values: decode without the cache
            cached = None
            key = None
        if cached is not None:
            return cached
        fields = normalize_fields(manufacturer_data, service_data, uuids, local_name, tx_power)
        result = decode_normalized(fields)
        if key is not None:
            self._store(self._by_fields, key, result)
        return result

    def decode_advertisement(self, adv: AdvertisementLike) -> Decoded:
        """A bleak ``AdvertisementData`` -> Decoded."""
        return self.decode_fields(
            adv.manufacturer_data, adv.service_data, adv.service_uuids, adv.local_name, adv.tx_power
        )

    def _slow(self, data: object) -> Decoded | None:
        if not isinstance(data, bytes):  # hashable but not bytes (None, str ...)
            return self._not_bytes(data)
        damaged = self._damaged.get(data)
        if damaged is not None:
            self.damaged += 1
            return damaged
        reason = self._rejects.get(data)
        if reason is not None:
            self.rejected[reason] += 1
            return None
        ad = parse_ad(data)
        if not ad.structures:
            reason = "malformed" if ad.errors else "empty"
            self.rejected[reason] += 1
            self._store(self._rejects, data, reason)
            return None
        result = decode_normalized(fields_from_ad(ad))
        if ad.errors:
            self.damaged += 1
            self._store(self._damaged, data, result)
        else:
            self._store(self._clean, data, result)
        return result

    def _not_bytes(self, data: object) -> Decoded | None:
        if isinstance(data, (bytearray, memoryview)):
            frozen = bytes(data)
            cached = self._clean.get(frozen)
            return cached if cached is not None else self._slow(frozen)
        self.rejected["not_bytes"] += 1
        return None

    def _store(self, cache: dict[_K, _V], key: _K, value: _V) -> None:
        if len(cache) >= self._limit:
            cache.clear()  # cleared in place: hot loops may hold its bound methods
        cache[key] = value
