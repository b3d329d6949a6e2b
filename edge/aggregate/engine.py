"""Event-time aggregation: probes and adverts in, dwell / visit / presence records out.

Everything is driven by the time carried by the observations (and by source
watermarks in the live daemon), never by the wall clock, so a replay and the
live daemon produce the same records from the same frames.

- Dwell: a session per (device, zone) opens on the first frame at or above the
  zone's threshold and is kept alive by frames whose smoothed RSSI stays above
  the threshold minus a hysteresis; it closes ``session_gap_s`` after its last
  such frame.
- Visit: per device, the ordered zones it dwelt in; it ends when the device
  has been unheard for ``session_gap_s``.
- Presence: per zone, radio and interval, distinct devices, visitors and
  passers-by. A zone heard by Wi-Fi and BLE sensors gets one record per radio.
- Devices present longer than ``fixed_device_after_h`` are infrastructure or
  staff: they get no dwell or visit records (they would track employees) and
  are left out of presence figures except as a ``fixed`` count.

Devices are kept in an ``OrderedDict`` in order of their last frame: expiring the
quiet ones costs O(expired), not O(devices), per tick.

BLE adverts (``observe_adverts``) go through ``ble.BleIdentity`` (fixed beacons,
staff tags, class allowlist, rotating addresses), then the same session and window
steps as probes (``_fold``), marked ``source: ble``; their pseudonyms never collide
with Wi-Fi MACs. At each interval's end, ``closing`` adds grouping confidence and the
rate estimator's people figure (``edge.estimate``) to the Wi-Fi windows.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from drivers.observations import Advert, Probe
from edge.aggregate.ble import BleIdentity
from edge.aggregate.closing import WindowCloser, live_sessions
from edge.aggregate.emit import RecordFactory
from edge.aggregate.hours import HourBook
from edge.aggregate.ids import Record
from edge.aggregate.state import DeviceState, SessionState, WindowState, ZoneRule, zone_rule
from edge.aggregate.state import hear as hear_probe
from edge.checkpoint_json import plain_state
from edge.config.models import BleSensorConfig, Config
from edge.grouping import Grouper, GroupingConfig

__all__ = ["Aggregator"]

_TICK_S = 1.0
_SWEEP_S = 10.0  # how often sessions past their gap are looked for (_close_stale)
_MAX_EMPTY_FILL_S = 3600.0
"""A silence longer than this is the sensor being off, not an empty mall: no zero records."""
_FIXED_MEMORY_S = 2 * 86_400.0
_SNAPSHOT_VERSION = 1


class Aggregator:
    """Folds observations into records; call ``drain()`` to take the finished ones."""

    def __init__(self, config: Config) -> None:
        agg = config.aggregation
        self._factory = RecordFactory(config.mall, config.box)
        self._gap = agg.session_gap_s
        self._interval = float(agg.presence_interval_s)
        self._fixed_after = agg.fixed_device_after_h * 3600.0
        self._alpha = agg.rssi_smoothing
        # Wi-Fi devices are keyed by their group (a phone's random MACs linked into one):
        # see edge/grouping and docs/grouping.md.
        grouping = GroupingConfig.for_aggregation(self._gap, self._interval)
        self._grouper = Grouper(grouping) if agg.grouping else None
        self._closer = WindowCloser(config, self._grouper)
        self._rules: dict[str, ZoneRule] = {}
        for sensor in config.wifi_sensors():
            self._rules[sensor.name] = zone_rule(config, sensor.zone)
        ble = [s for s in config.sensors if isinstance(s, BleSensorConfig)]
        self._ble = BleIdentity(ble, self._gap) if ble else None
        self._ble_rules = {s.name: zone_rule(config, s.zone) for s in ble if s.publish_classes}
        ble_zones = {s.zone for s in ble if s.publish_classes}
        # Wi-Fi presence: every zone, as before BLE, except those only BLE sensors cover.
        wifi_zones = {s.zone for s in config.wifi_sensors()} | {
            z.id for z in config.zones if all(s.zone != z.id for s in ble)
        }
        self._zones = [z.id for z in config.zones if z.id in wifi_zones]
        self._ble_zones = [z.id for z in config.zones if z.id in ble_zones]
        self._devices: OrderedDict[str, DeviceState] = OrderedDict()
        self._windows: dict[str, WindowState] = {}
        self._ble_windows: dict[str, WindowState] = {}
        self._window_start = math.nan
        self._fixed: dict[str, float] = {}
        self._clock = -math.inf
        self._next_tick = self._next_sweep = -math.inf
        self._records: list[Record] = []
        self._hours = HourBook()
        self.unknown_sensor = 0
        self.suppressed_fixed = 0

    # -- the hot path -------------------------------------------------------------------

    def observe_batch(self, probes: Iterable[Probe]) -> None:
        """Fold probe requests in, in order.

        With grouping, the grouper assigns the probes of one presence interval at a
        time and the interval closes before the next one's are assigned: a window's
        grouping confidence then depends on the frames, not on how they were batched.
        """
        batch = probes if isinstance(probes, list) else list(probes)
        grouper = self._grouper
        if grouper is None:
            self._fold_probes(batch, [])
            return
        n = len(batch)
        start = 0
        while start < n:
            t = batch[start].t
            if t >= self._next_tick:
                self._tick(t)
            window_end = self._window_start + self._interval
            stop = start + 1
            while stop < n and batch[stop].t < window_end:
                stop += 1
            chunk = batch[start:stop] if start or stop < n else batch
            self._fold_probes(chunk, grouper.assign_batch(chunk))
            start = stop

    def _fold_probes(  # noqa: PLR0912, PLR0915 (one hot loop, on purpose: see the docstring)
        self, batch: list[Probe], ids: list[str]
    ) -> None:
        """The hot loop: ``ids`` are the probes' device groups (empty: no grouping).

        One long loop with everything bound to locals, for the same reason as
        ``WifiParser.parse_batch``. Containers are only cleared in place, so the
        locals stay valid across ticks.
        """
        rules = self._rules
        devices = self._devices
        windows = self._windows
        move_to_end = devices.move_to_end
        gap, alpha, fixed_after = self._gap, self._alpha, self._fixed_after
        next_tick = self._next_tick
        grouped = bool(ids)
        i = -1
        for p in batch:
            i += 1
            t, sensor, raw, randomized, rssi, _channel, _seq, _directed, _tag, _fp = p
            device = ids[i] if grouped else raw
            if t >= next_tick:
                self._tick(t)
                next_tick = self._next_tick
            rule = rules.get(sensor)
            if rule is None:
                self.unknown_sensor += 1
                continue
            zone = rule.zone
            dev = devices.get(device)
            if dev is None:
                dev = self._new_device(device, p)
            else:
                move_to_end(device)
                if t > dev.last:
                    dev.last = t
                    if t - dev.first > fixed_after and not dev.fixed:
                        self._mark_fixed(dev)
            sessions = dev.sessions
            s = sessions.get(zone)
            if sessions and (s is None or len(sessions) > 1):
                self._close_stale(dev, t, zone)
            qualified = False
            if s is not None and t - s.last > gap:
                self._close_session(dev, zone, s)
                s = None
            if rssi is None:
                pass
            elif s is None:
                if rssi >= rule.enter_dbm:
                    sessions[zone] = SessionState(t, t, 1, rssi, rssi, float(rssi))
                    qualified = True
            else:
                smoothed = s.smoothed + alpha * (rssi - s.smoothed)
                s.smoothed = smoothed
                if smoothed >= rule.keep_dbm:
                    qualified = True
                    s.samples += 1
                    s.rssi_sum += rssi
                    s.rssi_max = max(s.rssi_max, rssi)
                    s.last = max(s.last, t)
            w = windows.get(zone)
            if w is None:
                w = windows[zone] = WindowState(self._window_start)
            w.frames += 1
            w.seen[device] = randomized
            if grouped:  # the pseudonym's scan events, for the rate estimator
                hear_probe(w.raw, raw, t, rssi, _fp, randomized)
            if qualified:
                w.visitors.add(device)

    def _new_device(self, device: str, p: Probe) -> DeviceState:
        dev = DeviceState(device, p.randomized, p.t, p.t)
        if device in self._fixed:
            dev.fixed = True
        self._devices[device] = dev
        return dev

    # -- BLE ----------------------------------------------------------------------------

    def observe_adverts(self, adverts: Iterable[Advert]) -> None:
        """Fold BLE advertisements in, in order (see the module docstring)."""
        ble = self._ble
        for a in adverts:
            t = a.t
            if t >= self._next_tick:
                self._tick(t)
            if ble is None or not ble.knows(a.sensor):
                self.unknown_sensor += 1
                continue
            resolved = ble.resolve(a)
            if resolved is not None:
                device, randomized = resolved
                self._fold(t, self._ble_rules[a.sensor], device, a.device, randomized, a.rssi)

    def _fold(
        self, t: float, rule: ZoneRule, device: str, raw: str, randomized: bool, rssi: int | None
    ) -> None:
        """One BLE observation: the steps of ``observe_batch``'s loop, as a method."""
        zone = rule.zone
        dev = self._devices.get(device)
        if dev is None:
            dev = DeviceState(device, randomized, t, t, source="ble")
            dev.fixed = device in self._fixed
            self._devices[device] = dev
        else:
            self._devices.move_to_end(device)
            if t > dev.last:
                dev.last = t
                if t - dev.first > self._fixed_after and not dev.fixed:
                    self._mark_fixed(dev)
        sessions = dev.sessions
        s = sessions.get(zone)
        if sessions and (s is None or len(sessions) > 1):
            self._close_stale(dev, t, zone)
        if s is not None and t - s.last > self._gap:
            self._close_session(dev, zone, s)
            s = None
        qualified = False
        if rssi is not None and s is None:
            if rssi >= rule.enter_dbm:
                sessions[zone] = SessionState(t, t, 1, rssi, rssi, float(rssi))
                qualified = True
        elif rssi is not None and s is not None:
            qualified = s.sample(t, rssi, self._alpha, rule.keep_dbm)
        w = self._ble_windows.get(zone)
        if w is None:
            w = self._ble_windows[zone] = WindowState(self._window_start)
        w.frames += 1
        w.seen[device] = randomized
        hear_probe(w.raw, raw, t, None, "", randomized)
        if qualified:
            w.visitors.add(device)

    def _merge(self, src: str, dst: str) -> None:
        """Device ``src`` was ``dst`` under a new address: fold its state into ``dst``'s."""
        devices = self._devices
        moved, target = devices.get(src), devices.get(dst)
        if moved is None or target is None or moved is target:
            return
        del devices[src]
        for zone, s in moved.sessions.items():
            kept = target.sessions.get(zone)
            if kept is not None and s.start - kept.last > self._gap:
                self._close_session(target, zone, kept)
                kept = None
            if kept is None:
                target.sessions[zone] = s
            else:
                kept.absorb(s)
        target.path.extend(moved.path)
        if moved.last > target.last:
            target.last = moved.last
            devices.move_to_end(dst)
        for w in self._ble_windows.values():
            w.rename(src, dst)

    def devices_at(self, zone: str, t: float, window_s: float) -> list[tuple[str, str, float]]:
        """Devices whose session in ``zone`` was live within ``window_s`` of ``t``:
        (device, radio, smoothed RSSI). O(devices); for rare events such as receipts."""
        return live_sessions(self._devices.values(), zone, t, window_s)

    def ble_stats(self, sensor: str) -> dict[str, object]:
        """The BLE stage's counters of one sensor (roles, classes, grouping)."""
        return self._ble.stats(sensor) if self._ble is not None else {}

    # -- time ---------------------------------------------------------------------------

    def advance(self, t: float) -> None:
        """A source's watermark: close what ended before ``t`` even if nothing is heard."""
        if t >= self._next_tick:
            self._tick(t)

    def _tick(self, t: float) -> None:
        self._clock = max(self._clock, t)
        if math.isnan(self._window_start):
            self._window_start = math.floor(t / self._interval) * self._interval
        while t >= self._window_start + self._interval:
            self._roll_windows(t)
        if self._ble is not None:
            for src, dst in self._ble.tick(t):
                self._merge(src, dst)
        cutoff = t - self._gap
        devices = self._devices
        while devices:
            oldest = next(iter(devices.values()))
            if oldest.last >= cutoff:
                break
            self._expire(oldest)
        if t >= self._next_sweep:
            self._next_sweep = t + _SWEEP_S
            for dev in devices.values():
                self._close_stale(dev, t, "")
        self._next_tick = min(self._window_start + self._interval, t + _TICK_S)

    def _roll_windows(self, t: float) -> None:
        end = self._window_start + self._interval
        self._refresh_fixed(t)
        self._closer.close(self._windows, self._zones, self._window_start, end, self._fixed)
        for zone in self._zones:
            window = self._windows[zone]
            self._records.append(self._factory.presence(zone, window, end, self._fixed, False))
            self._hours.fold(zone, "wifi", window, self._fixed)
        for zone in self._ble_zones:
            window = self._ble_windows.get(zone) or WindowState(self._window_start)
            self._records.append(
                self._factory.presence(zone, window, end, self._fixed, False, "ble")
            )
            self._hours.fold(zone, "ble", window, self._fixed)
        self._windows.clear()
        self._ble_windows.clear()
        if t - end > _MAX_EMPTY_FILL_S:
            self._window_start = math.floor(t / self._interval) * self._interval
        else:
            self._window_start = end
        self._hours.finish(self._window_start)
        self._prune_fixed(t)

    # -- hours --------------------------------------------------------------------------

    @property
    def hours_version(self) -> int:
        """Bumped whenever the hours change (once per interval): the pipeline writes them
        to their own checkpoint row only then."""
        return self._hours.version

    def drain_hours(self) -> list[dict[str, Any]]:
        """Per (zone, radio), the device counts of each hour finished since the last call
        (``edge.aggregate.hours``); ``edge.kpi`` turns them into traffic records."""
        return self._hours.drain()

    def key_fixed_devices(self, key: bytes) -> None:
        """The configured fixed devices (``aggregation.fixed_devices``), keyed as the parsers
        key MACs; they are fixed from their first frame (``edge.aggregate.fixed``)."""
        self._closer.key_fixed_devices(key)

    def _refresh_fixed(self, t: float) -> None:
        for device in self._closer.fixed_at(t):
            self._fixed[device] = t
            dev = self._devices.get(device)
            if dev is not None:
                dev.fixed = True

    def _prune_fixed(self, t: float) -> None:
        stale = [d for d, seen in self._fixed.items() if t - seen > _FIXED_MEMORY_S]
        for device in stale:
            del self._fixed[device]

    # -- closing state ------------------------------------------------------------------

    def _mark_fixed(self, dev: DeviceState) -> None:
        dev.fixed = True
        self._fixed[dev.device] = dev.last

    def _close_stale(self, dev: DeviceState, t: float, current_zone: str) -> None:
        """Close sessions past their gap, but the one in ``current_zone`` ("": all). A phone
        that moved on, or went too faint to keep its session, is still heard and not
        expired: the sweep each ``_SWEEP_S`` ends its old session then, not minutes
        later on its next frame."""
        for zone, s in list(dev.sessions.items()):
            if zone != current_zone and t - s.last > self._gap:
                self._close_session(dev, zone, s)

    def _close_session(self, dev: DeviceState, zone: str, s: SessionState) -> None:
        del dev.sessions[zone]
        dev.path.append((zone, s.start, s.last))
        if dev.fixed:
            self.suppressed_fixed += 1
            return
        self._records.append(self._factory.dwell(dev, zone, s, partial=False))

    def _expire(self, dev: DeviceState) -> None:
        del self._devices[dev.device]
        for zone, s in list(dev.sessions.items()):
            self._close_session(dev, zone, s)
        if dev.fixed:
            self._fixed[dev.device] = dev.last
        elif dev.path:
            self._records.append(self._factory.visit(dev, dev.path, partial=False))

    def flush_partial(self) -> None:
        """Emit what is still open as ``partial`` records, keeping the state.

        Used at shutdown and at the end of a recording. If the state is later
        restored from a checkpoint and a session continues, its final record
        names the partial one in ``supersedes``.
        """
        for dev in self._devices.values():
            if dev.fixed:
                continue
            for zone, s in dev.sessions.items():
                record = self._factory.dwell(dev, zone, s, partial=True)
                self._records.append(record)
                s.revision += 1
                s.supersedes = record["id"]
            stops = dev.path + [(z, s.start, s.last) for z, s in dev.sessions.items()]
            if stops:
                visit = self._factory.visit(dev, stops, partial=True)
                self._records.append(visit)
                dev.visit_revision += 1
                dev.visit_supersedes = visit["id"]
        if not math.isnan(self._window_start) and (self._windows or self._ble_windows):
            end = max(self._clock, self._window_start)
            self._partial_windows(self._zones, self._windows, end, "wifi")
            self._partial_windows(self._ble_zones, self._ble_windows, end, "ble")
        self._hours.partial({"wifi": self._windows, "ble": self._ble_windows}, self._fixed)

    def _partial_windows(
        self, zones: list[str], windows: dict[str, WindowState], end: float, source: str
    ) -> None:
        for zone in zones:
            w = windows.setdefault(zone, WindowState(self._window_start))
            if source == "wifi":
                w.confidence = self._closer.confidence(w)
            record = self._factory.presence(zone, w, end, self._fixed, True, source)
            self._records.append(record)
            w.revision += 1
            w.supersedes = record["id"]

    # -- output and checkpoints ---------------------------------------------------------

    def drain(self) -> list[Record]:
        """The records finished since the last call."""
        out, self._records = self._records, []
        return out

    @property
    def pending(self) -> int:
        return len(self._records)  # finished and not yet drained

    @property
    def open_devices(self) -> int:
        return len(self._devices)  # bounded by the devices live in the last gap

    @property
    def clock(self) -> float:
        return self._clock  # the latest event time seen

    def snapshot(self) -> dict[str, Any]:
        """The state as plain JSON values, as a checkpoint holds it (a restart in the process)."""
        return plain_state(self.checkpoint_state())

    def checkpoint_state(self) -> dict[str, Any]:
        """``snapshot`` with the live devices and windows, for a checkpoint serialized at once
        on this thread (``edge.checkpoint_json``): a copy took 36 MB and most of a flush."""
        return {
            "version": _SNAPSHOT_VERSION,
            "clock": self._clock if math.isfinite(self._clock) else None,
            "window_start": None if math.isnan(self._window_start) else self._window_start,
            "devices": list(self._devices.values()),
            "windows": dict(self._windows),
            "ble_windows": dict(self._ble_windows),
            "ble": self._ble.snapshot() if self._ble is not None else None,
            "fixed": dict(self._fixed),
            "hours": self._hours.snapshot(),
            "people": self._closer.snapshot(),
        }

    def restore(self, snap: dict[str, Any]) -> None:
        """Continue from a checkpoint taken by ``snapshot``."""
        if snap.get("version") != _SNAPSHOT_VERSION:
            return
        self._clock = snap["clock"] if snap["clock"] is not None else -math.inf
        self._window_start = snap["window_start"] if snap["window_start"] is not None else math.nan
        self._devices = OrderedDict(
            (d["device"], DeviceState.from_json(d)) for d in snap["devices"]
        )
        self._windows = WindowState.of_zones(snap["windows"], self._zones)
        self._ble_windows = WindowState.of_zones(snap.get("ble_windows", {}), self._ble_zones)
        if self._ble is not None and snap.get("ble"):
            self._ble.restore(snap["ble"])
        self._fixed = dict(snap["fixed"])
        self._hours.restore(snap.get("hours", []))
        self._closer.restore(snap.get("people"))
        self._next_tick = self._next_sweep = -math.inf
