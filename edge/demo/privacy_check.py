"""Proof that no raw MAC address left the parser: search bytes for every MAC of a recording.

A MAC is looked for in every form a careless program could write it: raw
bytes, and hex with ':', '-', '.' or no separator, in upper and lower case.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from drivers.wifi.pcap import LINKTYPE_IEEE802_11, open_capture

__all__ = ["addresses_in_ble_recording", "mac_forms", "macs_in_captures", "scan_for_macs"]

_SA = slice(10, 16)


def macs_in_captures(paths: Iterable[Path]) -> set[bytes]:
    """Every transmitter address of every 802.11 frame in the recordings."""
    macs: set[bytes] = set()
    for path in paths:
        for _t, linktype, frame in open_capture(path):
            start = 0 if linktype == LINKTYPE_IEEE802_11 else frame[2] | frame[3] << 8
            header = frame[start : start + 16]
            if len(header) == 16:
                macs.add(header[_SA])
    return macs


def addresses_in_ble_recording(path: Path) -> set[bytes]:
    """Every Bluetooth address of a BLE recording (JSON lines, ``"address": "AA:BB:..."``)."""
    found: set[bytes] = set()
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            address = json.loads(line).get("address")
            if isinstance(address, str) and len(address) == 17:
                found.add(bytes.fromhex(address.replace(":", "")))
    return found


def mac_forms(mac: bytes) -> list[bytes]:
    """The ways a MAC can appear in text or binary data."""
    hexes = [f"{b:02x}" for b in mac]
    forms = [mac]
    for sep in (":", "-", ""):
        text = sep.join(hexes)
        forms += [text.encode(), text.upper().encode()]
    dotted = ".".join("".join(hexes[i : i + 2]) for i in (0, 2, 4))  # Cisco style
    forms.append(dotted.encode())
    return forms


def scan_for_macs(macs: set[bytes], blobs: Iterable[bytes]) -> set[bytes]:
    """The MACs that occur, in any form, in any of the blobs."""
    found: set[bytes] = set()
    blobs = list(blobs)
    for mac in macs:
        if any(form in blob for blob in blobs for form in mac_forms(mac)):
            found.add(mac)
    return found
