"""The kind of a Bluetooth LE device address (Core v5.4, Vol 6, Part B, §1.3).

A public address is the device's IEEE address. A random address is static (the
two most significant bits 0b11, §1.3.2.1), resolvable private (0b01, §1.3.2.2: it
rotates, about every 15 minutes on phones) or non-resolvable private (0b00,
§1.3.2.2). bleak on Linux reports the type in BlueZ's ``AddressType`` property
("public" or "random"); on macOS it reports no address at all, only a UUID.
"""

from __future__ import annotations

from typing import Final

__all__ = ["ADDRESS_KINDS", "address_kind"]

ADDRESS_KINDS: Final = ("public", "static", "resolvable", "non_resolvable", "unknown")
_RANDOM_KIND: Final = ("non_resolvable", "resolvable", "unknown", "static")
_HEX: Final = frozenset("0123456789abcdefABCDEF")


def address_kind(address: str, address_type: str | None) -> str:
    """``public``, ``static``, ``resolvable``, ``non_resolvable`` or ``unknown``."""
    if address_type == "public":
        return "public"
    if address_type != "random" or len(address) < 2 or not _HEX.issuperset(address[:2]):
        return "unknown"
    return _RANDOM_KIND[int(address[:2], 16) >> 6]
