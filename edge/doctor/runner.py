"""All checks in order, each one guarded: a check that breaks is a failed line, not a traceback."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterator
from functools import partial
from pathlib import Path

from edge.config import Config
from edge.config.sensors import (
    BleSensorConfig,
    CameraSensorConfig,
    PosSensorConfig,
    WifiSensorConfig,
)
from edge.doctor.clock import check_clock
from edge.doctor.configuration import check_config, check_key
from edge.doctor.devices import check_camera, check_pos
from edge.doctor.host import Host
from edge.doctor.radios import check_ble, check_wifi
from edge.doctor.result import Check
from edge.doctor.storage import check_database, check_disk
from edge.doctor.uplink import check_broker

__all__ = ["AREAS", "SKIPPABLE", "run_doctor"]

log = logging.getLogger("mallsense.doctor")

AREAS = ("config", "key", "wifi", "ble", "camera", "pos", "broker", "clock", "disk", "database")
"""Every check's area, in the order they run."""
SKIPPABLE = AREAS[1:]
"""The configuration is always checked: everything else depends on it."""

_SENSOR_AREAS: dict[str, tuple[type, str]] = {
    "wifi": (WifiSensorConfig, "Wi-Fi"),
    "ble": (BleSensorConfig, "Bluetooth"),
    "camera": (CameraSensorConfig, "camera"),
    "pos": (PosSensorConfig, "POS"),
}
_SENSOR_CHECKS: dict[str, Callable[..., Check]] = {
    "wifi": check_wifi,
    "ble": check_ble,
    "camera": check_camera,
    "pos": check_pos,
}
_BOX_CHECKS: dict[str, Callable[[Config, Host], Check]] = {
    "key": check_key,
    "broker": check_broker,
    "disk": check_disk,
    "database": check_database,
}

Planned = tuple[str, Callable[[], Check]]


def run_doctor(config_path: Path, host: Host, skip: Collection[str] = ()) -> Iterator[Check]:
    """Every check, yielded as it ends (a slow camera or broker shows progress)."""
    config_check, config = check_config(config_path)
    yield config_check
    for name, run in _plan(config, host):
        if name.partition(":")[0] in skip:
            yield Check(name, "skip", f"left out (--skip {name.partition(':')[0]})")
        else:
            yield _guarded(name, run)


def _plan(config: Config | None, host: Host) -> Iterator[Planned]:
    for area in AREAS[1:]:
        if area == "clock":
            yield area, partial(check_clock, host)
        elif config is None:
            yield area, _skipped(area, "needs a valid configuration (see the config check)")
        elif area in _SENSOR_AREAS:
            yield from _sensor_plan(area, config, host)
        else:
            yield area, partial(_BOX_CHECKS[area], config, host)


def _sensor_plan(area: str, config: Config, host: Host) -> Iterator[Planned]:
    kind, words = _SENSOR_AREAS[area]
    sensors = [s for s in config.sensors if isinstance(s, kind)]
    if not sensors:
        yield area, _skipped(area, f"no {words} sensor is configured")
    for sensor in sensors:
        yield f"{area}:{sensor.name}", partial(_SENSOR_CHECKS[area], sensor, host)


def _skipped(name: str, why: str) -> Callable[[], Check]:
    return partial(Check, name, "skip", why)


def _guarded(name: str, run: Callable[[], Check]) -> Check:
    try:
        return run()
    except Exception as exc:  # a bug in a check must not hide the other checks
        log.debug("check %s failed", name, exc_info=True)
        return Check(
            name,
            "fail",
            f"the check itself failed: {type(exc).__name__}: {exc}",
            "report this to the mallsense developers with the output of `mallsense doctor --json`",
        )
