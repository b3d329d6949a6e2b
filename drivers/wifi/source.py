"""The live Wi-Fi source: radio -> parser -> batches handed to the runtime.

Runs in its own thread (the radio blocks). Probes are handed over in small
batches (every 50 ms or 256 probes) to keep the cross-thread cost low, and a
``Watermark`` every second tells the aggregation what time it is even when
nobody is around, so sessions close on time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from drivers.observations import Probe, Watermark
from drivers.wifi.live import ChannelHopper, MonitorSocket, Radio
from drivers.wifi.parse import WifiParser
from drivers.wifi.pcap import LINKTYPE_IEEE802_11_RADIOTAP

__all__ = ["Emit", "LiveWifiSource"]

Emit = Callable[[list[Probe | Watermark]], None]
_BATCH_S = 0.05
_BATCH_MAX = 256
_WATERMARK_S = 1.0
_POLL_S = 0.1


class LiveWifiSource:
    """One monitor-mode interface feeding one parser."""

    def __init__(
        self,
        parser: WifiParser,
        interface: str,
        channels: list[int],
        hop_dwell_s: float,
        radio_factory: Callable[[str], Radio] = MonitorSocket,
        clock: Callable[[], float] = time.time,
        hop: bool = True,
    ) -> None:
        self.parser = parser
        self.interface = interface
        self.channels = channels
        self.hop_dwell_s = hop_dwell_s
        self._radio_factory = radio_factory
        self._clock = clock
        self.last_frame_at: float | None = None
        self.started_at: float | None = None
        self.hop = hop
        """Drive the channel with `iw` (off when the radio is a recording)."""
        self.hopper: ChannelHopper | None = None

    @property
    def name(self) -> str:
        return self.parser.sensor

    def run(self, emit: Emit, stop: threading.Event) -> None:
        """Capture until ``stop`` is set; OSError from the radio propagates."""
        radio = self._radio_factory(self.interface)
        self.started_at = self._clock()
        hopper = self.hopper = ChannelHopper(self.interface, self.channels, self.hop_dwell_s)
        if self.hop:
            hopper.start()
        try:
            self._loop(radio, emit, stop)
        finally:
            hopper.stop()
            radio.close()

    def _loop(self, radio: Radio, emit: Emit, stop: threading.Event) -> None:
        parse = self.parser.parse
        batch: list[Probe | Watermark] = []
        clock = self._clock
        flush_at = clock() + _BATCH_S
        mark_at = clock() + _WATERMARK_S
        while not stop.is_set():
            if radio.wait(_POLL_S):
                got = radio.recv()
                if got is not None:
                    data, ts = got
                    t = ts if ts is not None else clock()
                    self.last_frame_at = t
                    probe = parse(t, data, LINKTYPE_IEEE802_11_RADIOTAP)
                    if probe is not None:
                        batch.append(probe)
            now = clock()
            if now >= mark_at:
                batch.append(Watermark(now, self.name))
                mark_at = now + _WATERMARK_S
            if batch and (len(batch) >= _BATCH_MAX or now >= flush_at):
                emit(batch)
                batch = []
                flush_at = now + _BATCH_S
        if batch:
            emit(batch)
