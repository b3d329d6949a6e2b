"""bleak's parsed form of an advertisement, normalized for decoding (pure, total).

bleak (``AdvertisementData``), the replay JSON lines and ``ad_structures.parse_ad`` all describe
an advertisement by the same five things: manufacturer data by company id, service
data by UUID string, the service UUID list, the local name and the TX power level.
``normalize_fields`` turns any of them into one canonical ``Fields`` value, so that
the raw and the parsed form of one advertisement decode alike:

- company ids that are not ints in 0..0xFFFF, non-bytes values and non-string
  UUIDs are dropped;
- UUIDs are written the bleak way (``ad_structures.canonical_uuid``); if two keys name the same
  UUID the later one wins, as a later AD structure does in bleak and BlueZ;
- the name only counts as present or absent (it is personal: "Anna's iPhone").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple

from drivers.ble.decode.ad_structures import AdStructures, canonical_uuid

__all__ = ["Fields", "fields_from_ad", "normalize_fields"]

_BYTES_LIKE = (bytes, bytearray, memoryview)


class Fields(NamedTuple):
    """The canonical input of the decoders."""

    manufacturer_data: dict[int, bytes]
    service_data: dict[str, bytes]
    """By canonical 128-bit UUID string."""
    service_uuids: frozenset[str]
    tx_power: int | None
    has_name: bool


def normalize_fields(
    manufacturer_data: Mapping[int, bytes],
    service_data: Mapping[str, bytes],
    service_uuids: Iterable[str],
    local_name: str | None = None,
    tx_power: int | None = None,
) -> Fields:
    """The canonical form of bleak's fields; never raises on well-typed containers."""
    md: dict[int, bytes] = {}
    for company, payload in manufacturer_data.items():
        if _is_company(company) and isinstance(payload, _BYTES_LIKE):
            md[company] = bytes(payload)
    sd: dict[str, bytes] = {}
    for key, data in service_data.items():
        if isinstance(key, str) and isinstance(data, _BYTES_LIKE):
            sd[canonical_uuid(key)] = bytes(data)
    uuids = frozenset(canonical_uuid(u) for u in service_uuids if isinstance(u, str))
    power = tx_power if isinstance(tx_power, int) and not isinstance(tx_power, bool) else None
    return Fields(md, sd, uuids, power, bool(local_name))


def _is_company(key: object) -> bool:
    return isinstance(key, int) and not isinstance(key, bool) and 0 <= key <= 0xFFFF


def fields_from_ad(ad: AdStructures) -> Fields:
    """The canonical fields of parsed AD structures (what bleak would report)."""
    return normalize_fields(
        ad.manufacturer_data, ad.service_data, ad.service_uuids, ad.local_name, ad.tx_power
    )
