"""The live BLE source: bleak's ``BleakScanner`` on one adapter -> adverts for the runtime.

Runs its own asyncio loop on the source's thread (the daemon runs every source on a
thread). Every advertisement bleak reports, duplicates included (BlueZ's
``DuplicateData`` filter off: presence needs each advertisement's RSSI, not one per
device), becomes an ``Advert`` through the sensor's ``AdvertBuilder``; adverts are
handed over in small batches (every 50 ms or 256) with a ``Watermark`` every second,
as the Wi-Fi source does.

Passive scanning (no scan requests: the box stays silent, and phones are not asked
for their names) needs BlueZ's advertisement monitor API (BlueZ >= 5.56 with
``--experimental``, Linux >= 5.10), which bleak drives with "or patterns": only
advertisements matching one of ``PASSIVE_PATTERNS`` are reported (flags values,
Apple/Microsoft/Google company ids and the Eddystone/Fast Pair/Exposure Notification
service data that this box decodes). Where BlueZ refuses, the scanner falls back to
active scanning with one log line.

Watchdog: BlueZ scans are known to stop after hours without any error (Home
Assistant core #76544, #90307; bluez #1126). When no advertisement arrived for
``silence_timeout_s``, the scanner is stopped and started again; when
``reset_after_restarts`` restarts in a row did not help, the adapter is powered off
and on (``AdapterReset``: ``btmgmt``, else ``bluetoothctl``) before the next start.
Each step is logged and counted (``stats``), and ``mallsense status`` shows it. The
daemon's own watchdog (a longer silence) restarts the whole source as the outer ring.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Final, Literal

from bleak import BleakScanner
from bleak.args.bluez import BlueZScannerArgs, OrPattern
from bleak.assigned_numbers import AdvertisementDataType
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.exc import BleakError

from drivers.ble.advert_builder import AdvertBuilder
from drivers.observations import Advert, Watermark

__all__ = [
    "PASSIVE_PATTERNS",
    "AdapterReset",
    "BleAdapterError",
    "BleScannerSource",
    "CommandRunner",
    "Emit",
    "Tap",
]

log = logging.getLogger("mallsense.ble")

Emit = Callable[[list[Advert | Watermark]], None]
Tap = Callable[[float, BLEDevice, AdvertisementData], None]
"""Sees every raw report with its time (``mallsense ble record``); never used by the daemon."""
CommandRunner = Callable[[list[str]], "subprocess.CompletedProcess[str]"]

_FLAGS: Final = AdvertisementDataType.FLAGS
_MANUFACTURER: Final = AdvertisementDataType.MANUFACTURER_SPECIFIC_DATA
_SERVICE_DATA: Final = AdvertisementDataType.SERVICE_DATA_UUID16
PASSIVE_PATTERNS: Final = [
    # LE flags of phones, watches, earbuds and beacons: general/limited discoverable,
    # with or without BR/EDR (0x1a, 0x1e, 0x18 are Apple's and Android's usual values).
    *(OrPattern(0, _FLAGS, bytes([f])) for f in (0x02, 0x04, 0x05, 0x06, 0x0A, 0x18, 0x1A, 0x1E)),
    # Non-connectable advertisements often carry no flags: match their vendor data.
    OrPattern(0, _MANUFACTURER, b"\x4c\x00"),  # Apple (Continuity, iBeacon, Find My)
    OrPattern(0, _MANUFACTURER, b"\x06\x00"),  # Microsoft CDP
    OrPattern(0, _MANUFACTURER, b"\xe0\x00"),  # Google
    OrPattern(0, _SERVICE_DATA, b"\xaa\xfe"),  # Eddystone
    OrPattern(0, _SERVICE_DATA, b"\x2c\xfe"),  # Google Fast Pair
    OrPattern(0, _SERVICE_DATA, b"\x6f\xfd"),  # Exposure Notification
]
_BATCH_S: Final = 0.05
_BATCH_MAX: Final = 256
_WATERMARK_S: Final = 1.0
_POLL_S: Final = 0.05
_SETTLE_S: Final = 2.0
_COMMAND_TIMEOUT_S: Final = 15.0


class BleAdapterError(OSError):
    """The adapter cannot scan (missing, blocked, BlueZ not running); says what to check."""


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=_COMMAND_TIMEOUT_S, check=False
    )


class AdapterReset:
    """Powers one adapter off and on: ``btmgmt --index N power off|on`` (package bluez).

    ``btmgmt`` names the adapter by index, so it resets exactly the configured one.
    Without it, ``bluetoothctl power off|on`` is used, which acts on the default
    adapter only, so only for ``hci0``. Both need CAP_NET_ADMIN (root or the
    service's capabilities).
    """

    def __init__(
        self,
        adapter: str,
        runner: CommandRunner = _run,
        which: Callable[[str], str | None] = shutil.which,
    ) -> None:
        self.adapter = adapter
        self._runner = runner
        self._which = which

    def commands(self) -> list[list[str]] | str:
        """The commands to run, or why there are none."""
        btmgmt = self._which("btmgmt")
        if btmgmt is not None:
            index = self.adapter.removeprefix("hci")
            return [[btmgmt, "--index", index, "power", state] for state in ("off", "on")]
        bluetoothctl = self._which("bluetoothctl")
        if bluetoothctl is not None and self.adapter == "hci0":
            return [[bluetoothctl, "power", state] for state in ("off", "on")]
        return (
            "neither btmgmt nor bluetoothctl (for hci0 only) is installed (apt: bluez)"
            if bluetoothctl is None
            else f"bluetoothctl resets only the default adapter, not {self.adapter}; install btmgmt"
        )

    def __call__(self) -> str | None:
        """Reset the adapter; None on success, else what went wrong (blocking)."""
        commands = self.commands()
        if isinstance(commands, str):
            return commands
        for argv in commands:
            try:
                done = self._runner(argv)
            except (OSError, subprocess.SubprocessError) as exc:
                return f"{' '.join(argv)}: {exc}"
            if done.returncode != 0:
                output = (done.stderr or done.stdout or "").strip().splitlines()
                why = output[-1] if output else f"exit status {done.returncode}"
                return f"{' '.join(argv)}: {why}"
        return None


class BleScannerSource:
    """One Bluetooth adapter scanning into one ``AdvertBuilder``."""

    def __init__(
        self,
        builder: AdvertBuilder,
        adapter: str = "hci0",
        passive: bool = True,
        silence_timeout_s: float = 90.0,
        reset_after_restarts: int = 2,
        clock: Callable[[], float] = time.time,
        backend: type[BaseBleakScanner] | None = None,
        reset: Callable[[], str | None] | None = None,
        tap: Tap | None = None,
        settle_s: float = _SETTLE_S,
    ) -> None:
        self.builder = builder
        self.adapter = adapter
        self.passive = passive
        self.silence_timeout_s = silence_timeout_s
        self.reset_after_restarts = reset_after_restarts
        self._clock = clock
        self._backend = backend
        """A bleak backend class instead of the platform's (a recording played as an
        adapter, or the tests' fake BlueZ)."""
        self._reset = reset if reset is not None else AdapterReset(adapter)
        self._tap = tap
        self._settle_s = settle_s
        self.last_frame_at: float | None = None
        self.started_at: float | None = None
        self.mode = ""
        """``passive`` or ``active``: what the scanner actually does."""
        self.scanner_restarts = 0
        self.adapter_resets = 0
        self.adapter_reset_failures = 0
        self.restarts_in_row = 0
        self._passive_refused = False
        self._recovering = False
        self._scanner: BleakScanner | None = None
        self._alive_since = 0.0
        self._batch: list[Advert | Watermark] = []

    @property
    def name(self) -> str:
        return self.builder.sensor

    def stats(self) -> dict[str, object]:
        """Watchdog counters for `mallsense status` (the daemon counts its own restarts)."""
        return {
            "adapter": self.adapter,
            "scan_mode": self.mode or "stopped",
            "scanner_restarts": self.scanner_restarts,
            "adapter_resets": self.adapter_resets,
            "adapter_reset_failures": self.adapter_reset_failures,
            "silent_restarts_in_row": self.restarts_in_row,
        }

    def run(self, emit: Emit, stop: threading.Event) -> None:
        """Scan until ``stop`` is set; ``BleAdapterError`` when the adapter cannot scan."""
        self.started_at = self._clock()
        asyncio.run(self._main(emit, stop))

    async def _main(self, emit: Emit, stop: threading.Event) -> None:
        self._batch = []
        await self._start()
        try:
            await self._loop(emit, stop)
        finally:
            await self._stop_scanner()
            if self._batch:
                emit(self._batch)
                self._batch = []

    async def _loop(self, emit: Emit, stop: threading.Event) -> None:
        clock = self._clock
        flush_at = clock() + _BATCH_S
        mark_at = clock() + _WATERMARK_S
        while not stop.is_set():
            await asyncio.sleep(_POLL_S)
            now = clock()
            if now >= mark_at:
                self._batch.append(Watermark(now, self.name))
                mark_at = now + _WATERMARK_S
            if self._batch and (len(self._batch) >= _BATCH_MAX or now >= flush_at):
                emit(self._batch)
                self._batch = []
                flush_at = now + _BATCH_S
            heard = max(self.last_frame_at or self._alive_since, self._alive_since)
            if now - heard > self.silence_timeout_s and not stop.is_set():
                await self._recover(now - heard)

    def _on_advert(self, device: BLEDevice, adv: AdvertisementData) -> None:
        """bleak's detection callback (on this source's loop)."""
        t = self._clock()
        self.last_frame_at = t
        if self._recovering:
            self._recovering = False
            self.restarts_in_row = 0
            log.info(
                "sensor %s: advertisements again on %s (%d scanner restart(s), %d adapter"
                " reset(s) since the start)",
                self.name, self.adapter, self.scanner_restarts, self.adapter_resets,
            )  # fmt: skip
        if self._tap is not None:
            self._tap(t, device, adv)
        advert = self.builder.from_bleak(t, device, adv)
        if advert is not None:
            self._batch.append(advert)

    # -- starting, stopping, recovering -------------------------------------------------

    def _new_scanner(self, mode: Literal["active", "passive"]) -> BleakScanner:
        bluez: BlueZScannerArgs = {
            "adapter": self.adapter,
            "filters": {"DuplicateData": False},
            "or_patterns": list(PASSIVE_PATTERNS),
        }
        return BleakScanner(self._on_advert, None, mode, bluez=bluez, backend=self._backend)

    async def _start(self) -> None:
        """Start scanning: passive if asked and BlueZ allows, else active."""
        if self.passive and not self._passive_refused:
            scanner = self._new_scanner("passive")
            try:
                await scanner.start()
            except BleakError as exc:
                passive_error = exc
            except (TimeoutError, OSError) as exc:  # BlueZ unreachable: active would fail too
                raise BleAdapterError(self._explain(exc, None)) from exc
            else:
                self._started(scanner, "passive")
                return
            await self._start_active(passive_error)
            self._passive_refused = True
            log.warning(
                "sensor %s: passive scanning is not available on %s (%s); scanning actively"
                " instead: the adapter sends scan requests",
                self.name, self.adapter, passive_error,
                extra={"sensor": self.name, "reason": "passive_refused"},
            )  # fmt: skip
            return
        await self._start_active(None)

    async def _start_active(self, passive_error: BleakError | None) -> None:
        scanner = self._new_scanner("active")
        try:
            await scanner.start()
        except (TimeoutError, BleakError, OSError) as exc:
            raise BleAdapterError(self._explain(exc, passive_error)) from exc
        self._started(scanner, "active")

    def _started(self, scanner: BleakScanner, mode: str) -> None:
        self._scanner = scanner
        self.mode = mode
        self._alive_since = self._clock()
        log.info("sensor %s: scanning %s on %s", self.name, mode, self.adapter)

    def _explain(self, exc: BaseException, passive_error: BleakError | None) -> str:
        if isinstance(exc, FileNotFoundError | ConnectionError):
            what = "cannot reach BlueZ on the system D-Bus"
        else:
            what = str(exc) or type(exc).__name__
        also = f" (passive scanning failed first: {passive_error})" if passive_error else ""
        return (
            f"Bluetooth adapter {self.adapter}: {what}{also}; check that bluetoothd runs"
            " (systemctl status bluetooth), that the adapter exists (bluetoothctl list) and"
            " is not blocked (rfkill list)"
        )

    async def _stop_scanner(self) -> None:
        scanner, self._scanner = self._scanner, None
        self.mode = ""
        if scanner is None:
            return
        try:
            await scanner.stop()
        except (TimeoutError, BleakError, OSError) as exc:
            log.warning(
                "sensor %s: stopping the scanner on %s: %s", self.name, self.adapter, exc,
                extra={"sensor": self.name, "reason": "stop_failed"},
            )  # fmt: skip

    async def _recover(self, silent_s: float) -> None:
        """No advertisement for too long: restart the scanner, or reset the adapter first."""
        self._recovering = True
        if self.restarts_in_row >= self.reset_after_restarts:
            await self._reset_adapter()
        else:
            self.restarts_in_row += 1
            self.scanner_restarts += 1
            log.warning(
                "sensor %s: no advertisement for %.1f s on %s; restarting the scanner"
                " (restart %d in a row; BlueZ scans can stop without an error)",
                self.name, silent_s, self.adapter, self.restarts_in_row,
                extra={"sensor": self.name, "reason": "silence"},
            )  # fmt: skip
        await self._stop_scanner()
        await self._start()

    async def _reset_adapter(self) -> None:
        log.error(
            "sensor %s: %d scanner restart(s) in a row did not bring advertisements back;"
            " resetting adapter %s (power off and on)",
            self.name, self.restarts_in_row, self.adapter,
            extra={"sensor": self.name, "reason": "adapter_reset"},
        )  # fmt: skip
        await self._stop_scanner()
        problem = await asyncio.to_thread(self._reset)
        self.restarts_in_row = 0
        if problem is None:
            self.adapter_resets += 1
            log.warning(
                "sensor %s: adapter %s was reset", self.name, self.adapter,
                extra={"sensor": self.name, "reason": "adapter_reset"},
            )  # fmt: skip
            await asyncio.sleep(self._settle_s)  # BlueZ re-registers the powered adapter
        else:
            self.adapter_reset_failures += 1
            log.error(
                "sensor %s: cannot reset adapter %s: %s; reset it by hand (sudo btmgmt"
                " --index %s power off; sudo btmgmt --index %s power on) or replug it",
                self.name, self.adapter, problem, self.adapter[3:], self.adapter[3:],
                extra={"sensor": self.name, "reason": "adapter_reset_failed"},
            )  # fmt: skip
