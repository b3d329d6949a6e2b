"""A fake BlueZ at the D-Bus property level, under bleak's real BlueZ backend.

``fake_bluez(script)`` subclasses bleak's ``BleakScannerBlueZDBus`` and replaces only
what talks to the system bus (``start``/``stop``): the adverts it "receives" are
``org.bluez.Device1`` property dicts, as BlueZ sends them in PropertiesChanged
signals, handed to bleak's own ``_handle_advertising_data``, which builds the real
``AdvertisementData`` and ``BLEDevice`` and calls the detection callbacks. So
bleak's constructor checks (passive mode needs or_patterns), its property
conversion and its callback machinery all run; our driver is never faked.

A script can refuse passive scanning (as BlueZ without ``--experimental`` does),
go silent after some adverts (the BlueZ bug the watchdog exists for) and come back
only once the adapter was powered on again (``resume_when``: a fake ``btmgmt``
wrote "power on" in its log), or fail to reach BlueZ at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bleak.backends.bluezdbus.scanner import BleakScannerBlueZDBus
from bleak.exc import BleakError

PASSIVE_REFUSED = (
    "passive scanning on Linux requires BlueZ >= 5.56 with --experimental enabled and"
    " Linux kernel >= 5.10"
)
IPHONE = bytes.fromhex("10061a1ea1b2c3d4")
MALL_BEACON = bytes.fromhex("02156d616c6c73656e73652d626561636f6e00010001c5")


def device1(
    address: str,
    rssi: int = -60,
    address_type: str = "random",
    manufacturer: dict[int, bytes] | None = None,
    service_data: dict[str, bytes] | None = None,
    uuids: list[str] | None = None,
    tx_power: int | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """The ``org.bluez.Device1`` properties BlueZ holds for one advertiser."""
    props: dict[str, Any] = {
        "Address": address,
        "AddressType": address_type,
        "Alias": name or address.replace(":", "-"),
        "RSSI": rssi,
        "ManufacturerData": dict(manufacturer or {}),
        "ServiceData": dict(service_data or {}),
        "UUIDs": list(uuids or []),
    }
    if name is not None:
        props["Name"] = name
    if tx_power is not None:
        props["TxPower"] = tx_power
    return props


@dataclass
class Script:
    """What the fake BlueZ does, and what bleak asked of it."""

    adverts: list[dict[str, Any]]
    interval_s: float = 0.01
    passive_supported: bool = True
    stall_after: int | None = None
    """Deliver nothing after this many adverts (until ``resume_when``)."""
    resume_when: Callable[[], bool] | None = None
    unreachable: bool = False
    """start() fails as bleak does without a system bus."""
    sent: int = 0
    starts: list[str] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def silent(self) -> bool:
        if self.stall_after is None or self.sent < self.stall_after:
            return False
        return self.resume_when is None or not self.resume_when()


def fake_bluez(script: Script) -> type[BleakScannerBlueZDBus]:
    """A bleak backend class (``BleakScanner(backend=...)``) playing ``script``."""

    class FakeBlueZ(BleakScannerBlueZDBus):
        _task: asyncio.Task[None] | None = None

        async def start(self) -> None:
            if script.unreachable:
                raise FileNotFoundError(2, "No such file or directory")
            if self._scanning_mode == "passive" and not script.passive_supported:
                raise BleakError(PASSIVE_REFUSED)
            script.starts.append(self._scanning_mode)
            script.requests.append(
                {"adapter": self._adapter, "or_patterns": self._or_patterns,
                 "filters": {k: v.value for k, v in self._filters.items()}}
            )  # fmt: skip
            self.seen_devices = {}
            self._task = asyncio.get_running_loop().create_task(self._feed())

        async def stop(self) -> None:
            task, self._task = self._task, None
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

        async def _feed(self) -> None:
            for props in itertools.cycle(script.adverts):
                while script.silent():
                    await asyncio.sleep(0.01)
                path = f"/org/bluez/{self._adapter}/dev_{props['Address'].replace(':', '_')}"
                script.sent += 1
                self._handle_advertising_data(path, dict(props))  # type: ignore[arg-type]
                await asyncio.sleep(script.interval_s)

    return FakeBlueZ


def fake_tool(folder: Path, name: str, log: Path, exit_code: int = 0) -> Path:
    """An executable ``name`` in ``folder`` that appends its arguments to ``log``."""
    folder.mkdir(parents=True, exist_ok=True)
    tool = folder / name
    tool.write_text(f'#!/bin/sh\necho "$@" >> {log}\nexit {exit_code}\n')
    tool.chmod(0o755)
    return tool


# For `mallsense ble watch/record` through $MALLSENSE_BLE_BACKEND (module:Class).
SHOP_SCRIPT = Script(
    [
        device1("5A:11:22:33:44:55", -58, manufacturer={76: IPHONE}, tx_power=12),
        device1("C4:AA:BB:CC:DD:EE", -71, manufacturer={76: MALL_BEACON}),
        device1("7B:01:02:03:04:05", -80, manufacturer={76: IPHONE}, name="Kim's iPhone"),
    ],
    interval_s=0.02,
)
ShopBlueZ = fake_bluez(SHOP_SCRIPT)
NoBlueZ = fake_bluez(Script([], unreachable=True))
