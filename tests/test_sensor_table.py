"""The table of sensor types agrees with everything derived from it and with the tree.

A sensor type is one package, ``edge/sensors/<type>/``, plus its line in
``edge.sensors.table``; this fails when a type is registered in one place and
missing in another.
"""

from __future__ import annotations

import importlib
import typing
from pathlib import Path

import pytest

from edge.config.models import Config
from edge.doctor import AREAS
from edge.records import RECORD_MODELS
from edge.sensors.descriptor import SensorType
from edge.sensors.plugin import SensorPlugin
from edge.sensors.table import SENSOR_TYPES

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ROOT / "edge" / "sensors"
MODULES = ("__init__.py", "config.py", "runtime.py", "doctor.py")
"""What every sensor type's package holds (edge.sensors.descriptor)."""
TYPES = list(SENSOR_TYPES.values())


def test_every_sensor_package_is_in_the_table_and_every_type_has_its_package() -> None:
    on_disk = {p.parent.name for p in PACKAGES.glob("*/__init__.py")}
    assert on_disk == set(SENSOR_TYPES)


@pytest.mark.parametrize("kind", TYPES, ids=lambda t: t.type)
def test_a_sensor_package_has_the_modules_every_package_has(kind: SensorType) -> None:
    folder = PACKAGES / kind.type
    assert kind.package == f"edge.sensors.{kind.type}"
    missing = [m for m in MODULES if not (folder / m).is_file()]
    assert not missing, f"{folder} lacks {missing}"


@pytest.mark.parametrize("kind", TYPES, ids=lambda t: t.type)
def test_the_config_model_is_keyed_by_the_type(kind: SensorType) -> None:
    annotation = kind.config.model_fields["type"].annotation
    assert typing.get_args(annotation) == (kind.type,)


def test_the_configuration_accepts_exactly_the_types_in_the_table() -> None:
    items = Config.model_json_schema()["properties"]["sensors"]["items"]
    assert set(items["discriminator"]["mapping"]) == set(SENSOR_TYPES)


@pytest.mark.parametrize("kind", TYPES, ids=lambda t: t.type)
def test_the_runtime_doctor_and_driver_load(kind: SensorType) -> None:
    assert isinstance(kind.plugin(), SensorPlugin)
    assert callable(kind.doctor())
    assert isinstance(kind.load_driver(), type)
    if kind.front is not None:  # named, loaded by the pipeline only
        module = importlib.import_module(kind.front.module)
        assert isinstance(getattr(module, kind.front.cls), type)


@pytest.mark.parametrize("kind", TYPES, ids=lambda t: t.type)
def test_the_record_kinds_a_type_feeds_exist(kind: SensorType) -> None:
    assert kind.records
    assert set(kind.records) <= set(RECORD_MODELS)


def test_doctor_checks_every_type_in_the_table_order() -> None:
    sensor_areas = [a for a in AREAS if a in SENSOR_TYPES]
    assert sensor_areas == list(SENSOR_TYPES)


@pytest.mark.parametrize("doc", ["configuration.md", "architecture.md"])
def test_the_documentation_names_every_type(doc: str) -> None:
    text = (ROOT / "docs" / doc).read_text(encoding="utf-8")
    missing = [t for t in SENSOR_TYPES if f"`{t}`" not in text]
    assert not missing, f"docs/{doc} does not name {missing}"
