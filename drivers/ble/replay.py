"""A recording played as a Bluetooth adapter: a bleak scanner backend.

``mallsense ble watch --file`` and ``mallsense run --simulate SENSOR=FILE.jsonl`` run
the real ``BleScannerSource`` on a real ``bleak.BleakScanner`` whose backend (bleak's
own extension point, ``BleakScanner(backend=...)``) plays a JSON lines recording at
its recorded pace: the lowest layer is replaced, everything above it is what runs on
a box. Each line becomes a real ``AdvertisementData`` and ``BLEDevice`` delivered
through bleak's callback machinery, with BlueZ-shaped details (``AddressType``).

Time follows a ``Timeline`` as the Wi-Fi ``RadioReplay`` does: the first line happens
when the timeline starts, and a looped recording starts again one second after its
last line. A scanner restarted by the watchdog continues where the last one stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any, ClassVar, Final

from bleak.backends.scanner import (
    AdvertisementData,
    AdvertisementDataCallback,
    BaseBleakScanner,
)

from drivers.ble.recording import BleRecord, RecordingReader
from drivers.timegate import TimeGate
from drivers.timeline import Timeline

__all__ = ["Playback", "ScannerReplay", "recording_backend"]

_LOOP_PAUSE_S: Final = 1.0
_NO_RSSI: Final = -127


class Playback:
    """The position in one recording, shared by every scanner playing it."""

    def __init__(self, path: Path, timeline: Timeline, loop: bool) -> None:
        self.path = path
        self.timeline = timeline
        self.loop = loop
        self.exhausted = False
        self.played = 0
        self._records: Iterator[BleRecord] = iter(())
        self._next: BleRecord | None = None
        self._shift = 0.0
        self.gate = TimeGate(path.stem, str(path), "record")
        """Lines left out for their time: one dated 2090 would hold the playback until then."""
        self._rewind(timeline.start)

    def _rewind(self, at: float) -> None:
        self._records = _believed(self.path, self.gate)
        first = next(self._records, None)
        self._next = first
        if first is None:
            self.exhausted = True
            return
        self._shift = at - first.t

    def peek(self) -> tuple[float, BleRecord] | None:
        """The next record and its event time on the timeline, or None at the end."""
        if self._next is None:
            return None
        return self._next.t + self._shift, self._next

    def advance(self) -> None:
        """Step past the record ``peek`` gave."""
        if self._next is None:
            return
        event_time = self._next.t + self._shift
        self.played += 1
        self._next = next(self._records, None)
        if self._next is None:
            if self.loop:
                self._rewind(event_time + _LOOP_PAUSE_S)
            else:
                self.exhausted = True


class ScannerReplay(BaseBleakScanner):
    """A bleak backend that plays ``playback`` (use ``recording_backend`` to make one)."""

    playback: ClassVar[Playback]

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self.scanning_mode = scanning_mode
        self.adapter = kwargs.get("bluez", {}).get("adapter", "hci0")
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.seen_devices = {}
        self._task = asyncio.get_running_loop().create_task(self._play(), name="ble-playback")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _play(self) -> None:
        playback = self.playback
        timeline = playback.timeline
        while True:
            upcoming = playback.peek()
            if upcoming is None:
                await asyncio.sleep(0.2)
                continue
            event_time, record = upcoming
            delay = timeline.wall_delay(event_time)
            if delay > 0.001:
                await asyncio.sleep(delay)
            playback.advance()
            self._deliver(record)

    def _deliver(self, r: BleRecord) -> None:
        adv = AdvertisementData(
            local_name=r.local_name,
            manufacturer_data=dict(r.manufacturer_data),
            service_data=dict(r.service_data),
            service_uuids=list(r.service_uuids),
            tx_power=r.tx_power,
            rssi=r.rssi if r.rssi is not None else _NO_RSSI,
            platform_data=(),
        )
        path = f"/org/bluez/{self.adapter}/dev_{r.address.replace(':', '_')}"
        props: dict[str, Any] = {"Address": r.address}
        if r.address_type is not None:
            props["AddressType"] = r.address_type
        details = {"path": path, "props": props}
        device = self.create_or_update_device(path, r.address, r.local_name, details, adv)
        self.call_detection_callbacks(device, adv)


def recording_backend(
    path: str | Path, timeline: Timeline | None = None, loop: bool = False
) -> type[ScannerReplay]:
    """A backend class for ``BleakScanner(backend=...)`` playing ``path`` on ``timeline``."""
    shared = Playback(Path(path), timeline or Timeline(), loop)

    class Backend(ScannerReplay):
        playback = shared

    return Backend


def _believed(path: Path, gate: TimeGate, batch: int = 64) -> Iterator[BleRecord]:
    """The recording's records whose times the gate believes (a new pass: a new start)."""
    gate.restart()
    records = iter(RecordingReader(path))
    while chunk := list(islice(records, batch)):
        yield from gate.admit(chunk)
    yield from gate.finish()
