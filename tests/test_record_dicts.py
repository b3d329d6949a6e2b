"""The records' TypedDicts (edge/record_dicts.py) are what the models generate, and the
records the pipeline builds by hand have exactly their keys; mypy holds a literal to them."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest
from cli_helpers import BLE_SAMPLE, DEMO_CONFIG, ENTRANCE, ROOT, SHOP
from mypy import api as mypy_api

import edge.record_dicts
from edge.config import load_config
from edge.contract_typeddicts import MODULE_PATH, dict_name, main, typeddicts_source
from edge.records import RECORD_SPECS
from edge.runtime.replay import replay
from edge.store import Store


def test_committed_module_is_what_the_models_generate() -> None:
    committed = MODULE_PATH.read_text(encoding="utf-8")
    assert committed == typeddicts_source(), "run: python -m edge.contract_typeddicts"
    assert main(["--check"]) == 0


@pytest.mark.parametrize("kind", sorted(RECORD_SPECS))
def test_each_kind_has_its_wire_names_as_keys(kind: str) -> None:
    model = RECORD_SPECS[kind].model
    typed = getattr(edge.record_dicts, dict_name(model))
    wire = {f.alias or name for name, f in model.model_fields.items()}
    assert set(typed.__required_keys__) == wire
    kind_type = typing.get_type_hints(typed)["kind"]
    assert typing.get_args(kind_type) == (kind,)


def test_replayed_records_have_exactly_their_kinds_keys(tmp_path: Path) -> None:
    """The hand-built dwell, visit, presence and traffic records, through the real
    pipeline: the keys mypy checked are the keys that are stored."""
    with Store(tmp_path / "box.db") as store:
        replay(
            load_config(DEMO_CONFIG),
            {"entrance": ENTRANCE, "shop": SHOP},
            b"k" * 32,
            store,
            ble={"shop-ble": BLE_SAMPLE},
        )
        records = list(store.records())
    kinds = {r["kind"] for r in records}
    assert {"dwell", "visit", "presence", "traffic"} <= kinds
    for record in records:
        typed = getattr(edge.record_dicts, dict_name(RECORD_SPECS[record["kind"]].model))
        assert set(record) == set(typed.__required_keys__), record["kind"]


def test_mypy_refuses_a_misspelled_key_and_a_wrong_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    snippet = tmp_path / "built_by_hand.py"
    snippet.write_text(
        "from edge.record_dicts import FootfallDict\n\n"
        "record: FootfallDict = {\n"
        '    "id": "x", "kind": "footfall", "schema": "footfall/1", "mall": "m", "box": "b",\n'
        '    "supersedes": None, "camera": "c", "line": "l", "zone": "z", "start": "s",\n'
        '    "end": "e", "in": 1, "out": "2", "partial": False, "inn": 3,\n'
        "}\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(ROOT)  # mypy finds ``edge`` from the checkout
    report, _, status = mypy_api.run(
        ["--strict", "--no-incremental", "--follow-imports=silent", str(snippet)]
    )
    assert status == 1
    assert 'Extra key "inn" for TypedDict "FootfallDict"' in report
    assert 'TypedDict item "out" has type "int"' in report
