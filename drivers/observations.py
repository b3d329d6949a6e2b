"""What drivers hand to the aggregation: typed, timestamped, already pseudonymous.

Observations are NamedTuples because the Wi-Fi path creates hundreds of
thousands of them a second; a NamedTuple is the cheapest typed record Python has.
Nothing here holds a raw address, a device name or a rotating identifier.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Advert", "Probe", "Watermark"]


class Probe(NamedTuple):
    """One Wi-Fi probe request, as seen by one sensor."""

    t: float
    """Event time, seconds since the epoch (UTC), from the capture."""
    sensor: str
    device: str
    """Keyed pseudonym of the source MAC for the current rotation period."""
    randomized: bool
    """The source MAC is locally administered (a randomized MAC)."""
    rssi: int | None
    """dBm antenna signal, if the radio reported it."""
    channel: int | None
    seq: int
    """802.11 sequence number (12 bits)."""
    directed: bool
    """The probe names an SSID (False: wildcard probe)."""
    ssid_tag: str | None
    """Keyed tag of the SSID for directed probes (never the SSID itself)."""
    fingerprint: str
    """Hash of the stable information elements (same across a phone's random MACs)."""


class Advert(NamedTuple):
    """One Bluetooth LE advertisement, as seen by one sensor.

    Built from what bleak reports (``drivers.ble.advert_builder``); the address, the
    local name and every rotating identifier of the payload are left behind.
    """

    t: float
    """Event time, seconds since the epoch (UTC), from the source's clock."""
    sensor: str
    device: str
    """Keyed pseudonym of the advertiser's address (another input domain than MACs)."""
    address_kind: str
    """``public``, ``static``, ``resolvable``, ``non_resolvable`` or ``unknown``."""
    rssi: int | None
    """dBm, if the adapter reported it."""
    kind: str
    """Decoded format (``drivers.ble.KINDS``): ``ibeacon``, ``apple``, ``unknown``..."""
    device_class: str
    """Coarse guess (``drivers.ble.DEVICE_CLASSES``): ``phone``, ``wearable``..."""
    features: str
    """Hash of the stable payload features (the same across a device's rotating addresses)."""
    company_id: int | None
    beacon: str | None
    """``uuid:major:minor`` (iBeacon, AltBeacon) or ``namespace:instance`` (Eddystone-UID):
    matched against the configured fixed beacons and staff tags, never stored."""


class Watermark(NamedTuple):
    """A source's clock reading: no frame older than ``t`` will follow from ``sensor``.

    Live sources send one every second so that sessions close during silence.
    """

    t: float
    sensor: str
