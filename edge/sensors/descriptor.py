"""What a sensor type is, in one line of the table (``edge.sensors.table``).

A sensor type lives in one package, ``edge.sensors.<type>``, with the same
module names in every package, so a reader knows where to look:

- ``__init__.py``: ``SENSOR``, this descriptor (cheap to import: config model only);
- ``config.py``: the pydantic model of its ``[[sensors]]`` table;
- ``runtime.py``: ``PLUGIN`` (``edge.sensors.plugin.SensorPlugin``): how the daemon builds
  its live source, folds what the source emits into the pipeline, and counts it;
- ``doctor.py``: ``check(sensor, host) -> Check``, what ``mallsense doctor`` says about it.

The parsing of the device's bytes lives in ``drivers/<type>/`` when it is big
enough to deserve its own room (Wi-Fi, BLE, camera, POS); a small sensor may keep
its source next to its runtime. ``runtime`` and ``doctor`` are imported lazily:
a sensor type whose library is missing is left out with a clear message and the
other sensors run, as bleak selects its backends.
"""

from __future__ import annotations

import builtins
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from edge.config.base import SensorBase

if TYPE_CHECKING:
    from edge.sensors.plugin import SensorPlugin

__all__ = ["Driver", "DriverUnavailable", "Front", "SensorType", "SensorUnavailable"]


class SensorUnavailable(RuntimeError):
    """The sensor type is unknown to this version, or its library is not installed."""


class DriverUnavailable(ImportError):
    """A sensor type's device library is not installed."""


@dataclass(frozen=True)
class Driver:
    """Where a sensor type's live source class lives, and what it needs installed."""

    module: str
    cls: str
    needs: str
    """What to install when it is missing, in the technician's words."""


@dataclass(frozen=True)
class Front:
    """What turns a radio sensor's frames into observations, in the pipeline. Named, not
    imported: the table is read with every configuration, the parsers only by a pipeline."""

    module: str
    cls: str
    """The parser or builder class: ``cls(sensor name, its pseudonymizer)``."""
    unit: str
    """What its time gate counts ("probe", "advert")."""

    def make(self, sensor: str, pseudonymizer: Any) -> Any:
        return getattr(importlib.import_module(self.module), self.cls)(sensor, pseudonymizer)


def _never(_sensor: Any) -> bool:
    return False


@dataclass(frozen=True)
class SensorType:
    """One sensor type: everything the rest of the box derives from the table."""

    type: str
    """The ``type`` key of its ``[[sensors]]`` tables."""
    label: str
    """Its name in doctor's and status's sentences ("no Wi-Fi sensor is configured")."""
    package: str
    """``edge.sensors.<type>``: holds ``config``, ``runtime`` and ``doctor``."""
    config: builtins.type[SensorBase]
    driver: Driver
    records: tuple[str, ...]
    """The record kinds its observations end up in."""
    front: Front | None = None
    """A radio's front (``edge.runtime.fronts``); None when the source makes observations
    itself (a camera's process, a POS line)."""
    counts_entries: Callable[[Any], bool] = _never
    """Whether a sensor of this type counts the people who enter its zone (camera lines,
    a door counter): the ``kpi`` records' conversion is then made from its footfall."""

    def plugin(self) -> SensorPlugin:
        """Its runtime plugin, or ``SensorUnavailable`` saying what is missing."""
        try:
            module = importlib.import_module(f"{self.package}.runtime")
        except ImportError as exc:
            raise SensorUnavailable(
                f"sensor type {self.type!r} is not available in this installation: {exc}"
            ) from exc
        plugin: SensorPlugin = module.PLUGIN
        return plugin

    def doctor(self) -> Any:
        """Its doctor check: ``check(sensor, host) -> Check``."""
        return importlib.import_module(f"{self.package}.doctor").check

    def load_driver(self) -> Any:
        """The live source class, or ``DriverUnavailable`` naming what to install."""
        try:
            module = importlib.import_module(self.driver.module)
        except ImportError as exc:
            raise DriverUnavailable(
                f"sensor type {self.type!r} cannot start: {exc}; it needs {self.driver.needs}"
            ) from exc
        return getattr(module, self.driver.cls)
