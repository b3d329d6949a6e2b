"""Each record kind is described once (edge.records.RECORD_SPECS): the description names
only fields its model has, under the names the wire uses."""

from __future__ import annotations

import typing

import pytest

from edge.messages import ON_WIRE
from edge.records import RECORD_SPECS, RecordSpec


def wire_names(spec: RecordSpec) -> set[str]:
    return {f.alias or name for name, f in spec.model.model_fields.items()}


@pytest.mark.parametrize("kind", sorted(RECORD_SPECS))
def test_a_spec_is_keyed_by_its_models_kind(kind: str) -> None:
    annotation = RECORD_SPECS[kind].model.model_fields["kind"].annotation
    assert typing.get_args(annotation) == (kind,)


@pytest.mark.parametrize("kind", sorted(RECORD_SPECS))
def test_natural_keys_and_columns_are_fields_of_the_model(kind: str) -> None:
    spec = RECORD_SPECS[kind]
    names = wire_names(spec)
    assert set(spec.natural_key) <= names, set(spec.natural_key) - names
    assert set(spec.columns) <= names, set(spec.columns) - names
    assert "start" in spec.columns


@pytest.mark.parametrize("kind", sorted(RECORD_SPECS))
def test_each_kind_gets_its_wire_model_from_its_spec(kind: str) -> None:
    spec = RECORD_SPECS[kind]
    on_wire = ON_WIRE[kind]
    assert spec.model in on_wire.__mro__
    assert on_wire.__name__ == f"{spec.model.__name__}OnWire"
    assert "historical" in on_wire.model_fields
    assert on_wire.added_in == spec.added_in
    assert set(spec.added_in) <= wire_names(spec)
