"""All checks in order, each one guarded: a check that breaks is a failed line, not a traceback."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterator
from functools import partial
from pathlib import Path

from edge.config import Config
from edge.config.base import SensorBase
from edge.doctor.clock import check_clock
from edge.doctor.configuration import check_config, check_key
from edge.doctor.host import Host
from edge.doctor.result import Check
from edge.doctor.storage import check_database, check_disk
from edge.doctor.uplink import check_broker
from edge.sensors.descriptor import DriverUnavailable, SensorType
from edge.sensors.table import SENSOR_TYPES

__all__ = ["AREAS", "SKIPPABLE", "run_doctor"]

log = logging.getLogger("mallsense.doctor")

AREAS = ("config", "key", *SENSOR_TYPES, "broker", "clock", "disk", "database")
"""Every check's area, in the order they run: a sensor type's area is its ``type``."""
SKIPPABLE = AREAS[1:]
"""The configuration is always checked: everything else depends on it."""

_BOX_CHECKS: dict[str, Callable[[Config, Host], Check]] = {
    "key": check_key,
    "broker": check_broker,
    "disk": check_disk,
    "database": check_database,
}

Planned = tuple[str, Callable[[], Check]]


def run_doctor(
    config_path: Path, host: Host, skip: Collection[str] = (), broker: str | None = None
) -> Iterator[Check]:
    """Every check, yielded as it ends (a slow camera or broker shows progress); ``broker``
    checks another broker than the configuration's ``mqtt.url``."""
    config_check, config = check_config(config_path)
    if config is not None and broker is not None:
        mqtt = config.mqtt.model_copy(update={"url": broker})
        config = config.model_copy(update={"mqtt": mqtt})
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
        elif area in SENSOR_TYPES:
            yield from _sensor_plan(SENSOR_TYPES[area], config, host)
        else:
            yield area, partial(_BOX_CHECKS[area], config, host)


def _sensor_plan(kind: SensorType, config: Config, host: Host) -> Iterator[Planned]:
    sensors = [s for s in config.sensors if s.type == kind.type]
    if not sensors:
        yield kind.type, _skipped(kind.type, f"no {kind.label} sensor is configured")
    for sensor in sensors:
        yield f"{kind.type}:{sensor.name}", partial(_check_sensor, kind, sensor, host)


def _check_sensor(kind: SensorType, sensor: SensorBase, host: Host) -> Check:
    """The type's own check, once its device library is known to be installed."""
    try:
        kind.load_driver()
    except DriverUnavailable as exc:
        install = "install what it names, then restart mallsense-edge"
        return Check(f"{kind.type}:{sensor.name}", "fail", str(exc), install)
    check: Callable[[SensorBase, Host], Check] = kind.doctor()
    return check(sensor, host)


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
