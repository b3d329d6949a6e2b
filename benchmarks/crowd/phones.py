"""Phone models for the crowd simulator: how each kind of phone probes.

The numbers come from the probing-patterns captures in ``shared/data``
(Pintor et al. 2022's labelled probe-request dataset, eleven phones measured
here, see docs/grouping.md) and from the studies of MAC randomization
(Vanhoef et al. 2016, Martin et al. 2017, Fenske et al. 2021):

- modern iPhones (iOS 14+) use a new random MAC for every burst (3-7 MACs per
  scan) and a random sequence number with each MAC;
- older iPhones (iOS <= 13, the iPhone 7 capture) use one MAC per scan and let
  the sequence counter run on across MAC changes (steps of 1-15);
- modern Android phones (Galaxy S21, Oppo Find X3) use one MAC per scan with a
  random sequence number; BBK-family phones also send directed probes for the
  networks they know;
- some Android versions keep a random MAC for several minutes (counter runs on);
- a minority keep their global MAC (randomization off, old phones): one address
  all day, often with directed probes (Martin et al. 2017).

Several models share an IE fingerprint (the iPhone 11 and 12 captures do): the
grouping must not merge two people because they own the same phone.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass
from typing import Final

from fixtures.probe_frames import ie

__all__ = ["FAMILIES", "MODELS", "PhoneModel", "pick_model"]


@dataclass(frozen=True)
class PhoneModel:
    """One kind of phone (model + OS generation) and its probing behaviour."""

    name: str
    os: str
    """``ios`` or ``android``."""
    share: float
    """Share among the phones of its OS."""
    family: str
    """Key of its IE block in ``FAMILIES`` (models of one family share a fingerprint)."""
    mac_policy: str
    """``burst`` (new MAC per burst), ``scan`` (per scan), ``timed`` (kept ``mac_lifetime_s``)
    or ``global`` (never changes)."""
    seq_continues: bool
    """The sequence counter runs on across a MAC change (else: random on each new MAC)."""
    bursts_per_channel: tuple[int, int] = (1, 1)
    probes_per_burst: tuple[int, int] = (1, 2)
    mac_lifetime_s: float = 0.0
    pnl_share: float = 0.0
    """Share of these phones that send directed probes (for their known networks)."""


def _ht(cap: int, ampdu: int, mcs: bytes) -> bytes:
    return ie(45, struct.pack("<HB", cap, ampdu) + mcs.ljust(16, b"\0") + bytes(7))


def _ext(*octets: int) -> bytes:
    return ie(127, bytes(octets))


def _vendor(oui: bytes, kind: int, body: bytes = b"") -> bytes:
    return ie(221, oui + bytes((kind,)) + body)


_RATES_B: Final = ie(1, bytes((0x02, 0x04, 0x0B, 0x16)))
_RATES_BG: Final = ie(1, bytes((0x02, 0x04, 0x0B, 0x16, 0x0C, 0x12, 0x18, 0x24)))
_EXT_G: Final = ie(50, bytes((0x0C, 0x12, 0x18, 0x24, 0x30, 0x48, 0x60, 0x6C)))
_EXT_SHORT: Final = ie(50, bytes((0x30, 0x48, 0x60, 0x6C)))
_APPLE: Final = _vendor(b"\x00\x17\xf2", 0x0A, b"\x00\x01\x04\x00\x00\x00\x00")
_BROADCOM: Final = _vendor(b"\x00\x10\x18", 0x02, b"\x00\x00\x1c\x00\x00")
_WPS: Final = _vendor(b"\x00\x50\xf2", 0x04, b"\x10\x4a\x00\x01\x10")
_P2P: Final = _vendor(b"\x50\x6f\x9a", 0x09, b"\x02\x02\x00\x21\x00")
_MBO: Final = _vendor(b"\x50\x6f\x9a", 0x16, b"\x00\x00\x01\x00")


def _he(variant: int) -> bytes:
    return ie(255, bytes((35, 0x01, 0x08, variant, 0x02, 0x00, 0x00)) + bytes(10))


FAMILIES: Final[dict[str, bytes]] = {
    "ios-a": _RATES_B + _EXT_G + _ht(0x402D, 0x17, b"\xff") + _ext(4, 0, 0x0A, 2, 1, 0x40, 0x40)
    + _APPLE + _BROADCOM,
    "ios-b": _RATES_B + _EXT_G + _ht(0x006F, 0x17, b"\xff\xff") + _ext(4, 0, 0x0A, 2, 1, 0x40, 0x40,
    0, 0x21) + _he(0x03) + _APPLE + _BROADCOM,
    "ios-c": _RATES_B + _EXT_G + _ht(0x002D, 0x17, b"\xff") + _ext(4, 0, 0x0A, 2, 1, 0x40)
    + _APPLE + _BROADCOM,
    "ios-d": _RATES_B + _EXT_G + _ht(0x002C, 0x1B, b"\xff") + _ext(4, 0, 8, 2) + _APPLE,
    "and-samsung": _RATES_BG + _EXT_SHORT + _ht(0x01EF, 0x1B, b"\xff\xff") + _ext(0, 0, 0x0A, 2, 1,
    0x40, 0, 0x40, 0x21) + _he(0x02) + _MBO,
    "and-samsung-a": _RATES_BG + _EXT_SHORT + _ht(0x01AD, 0x17, b"\xff") + _ext(0, 0, 8, 2, 1)
    + _MBO,
    "and-pixel": _RATES_BG + _EXT_SHORT + _ht(0x09EF, 0x1F, b"\xff\xff") + _ext(0, 0, 0x0A, 2, 1,
    0x40, 0, 0x40) + _he(0x06) + _P2P,
    "and-bbk": _RATES_BG + _EXT_SHORT + _ht(0x11EE, 0x1B, b"\xff\xff") + _ext(0, 0, 8, 2, 0, 0x40)
    + _WPS,
    "and-old": _RATES_BG + _EXT_SHORT + _ht(0x012C, 0x03, b"\xff") + _ext(0, 0, 0, 2) + _WPS,
    "and-legacy": _RATES_B + _EXT_G + _ht(0x112C, 0x03, b"\xff"),
}  # fmt: skip
"""IE blocks (after the SSID element) per fingerprint family."""

MODELS: Final[tuple[PhoneModel, ...]] = (
    PhoneModel("iphone-11/12", "ios", 0.40, "ios-a", "burst", False, (1, 2), (1, 2)),
    PhoneModel("iphone-13/14", "ios", 0.30, "ios-b", "burst", False, (1, 2), (1, 2)),
    PhoneModel("iphone-xr", "ios", 0.15, "ios-c", "scan", False, (1, 1), (2, 4)),
    PhoneModel("iphone-7/8", "ios", 0.10, "ios-d", "scan", True, (1, 1), (2, 4)),
    PhoneModel("iphone-private-off", "ios", 0.05, "ios-a", "global", True, (1, 1), (2, 3)),
    PhoneModel("galaxy-s", "android", 0.30, "and-samsung", "scan", False, (1, 1), (1, 3)),
    PhoneModel("galaxy-a", "android", 0.20, "and-samsung-a", "scan", False, (1, 1), (1, 3)),
    PhoneModel("pixel", "android", 0.10, "and-pixel", "scan", False, (1, 1), (1, 2)),
    PhoneModel(
        "xiaomi/oppo", "android", 0.20, "and-bbk", "scan", False, (1, 1), (1, 2), pnl_share=0.4
    ),
    PhoneModel(
        "android-8/9", "android", 0.12, "and-old", "timed", True, (1, 1), (1, 2), 600.0, 0.3
    ),
    PhoneModel(
        "android-legacy", "android", 0.08, "and-legacy", "global", True, (1, 1), (1, 2),
        pnl_share=0.6,
    ),
)  # fmt: skip


def pick_model(rng: random.Random, ios_share: float) -> PhoneModel:
    """A phone model drawn from the OS shares and the model shares within each OS."""
    os_name = "ios" if rng.random() < ios_share else "android"
    models = [m for m in MODELS if m.os == os_name]
    r = rng.random() * sum(m.share for m in models)
    for m in models:
        r -= m.share
        if r < 0:
            return m
    return models[-1]
