"""The records in wire form as TypedDicts, generated from the pydantic models.

``edge.records`` is the single source of the record contract. Its models check a
record at run time; the hot path cannot afford that (a validated model costs five
times a dict literal, ``edge.aggregate.emit``), so it builds records as dict
literals. This module turns each model into a ``TypedDict`` of its wire form
(field names as the wire spells them, ``schema`` and ``in`` included; times as
the strings they are on the wire), written to ``edge/record_dicts.py``: a dict
literal annotated with one of them is checked by mypy, key by key and value by
value, at no cost at run time.

    python -m edge.contract_typeddicts          # rewrite edge/record_dicts.py
    python -m edge.contract_typeddicts --check  # exit 1 if it is not what the models give

``tests/test_record_dicts.py`` fails when the committed module differs from what
the models generate, as the contract tests do for the JSON Schemas.
"""

from __future__ import annotations

import argparse
import json
import keyword
import sys
import types
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from edge.estimate.fields import PresenceEstimate, TrafficEstimate
from edge.records import RECORD_SPECS, Kpi, Traffic

__all__ = ["MODULE_PATH", "dict_name", "main", "typeddicts_source"]

MODULE_PATH = Path(__file__).with_name("record_dicts.py")


@dataclass(frozen=True, slots=True)
class _Part:
    """Some fields of a model that one function fills as a piece: a TypedDict of its own,
    which the record's literal takes with ``**``."""

    name: str
    model: type[BaseModel]
    fields: tuple[str, ...] | None
    """In the record's order; None: all of the model's."""
    doc: str | None = None
    """Its docstring; None: the model's."""


_PARTS = (
    _Part("PresenceEstimateDict", PresenceEstimate, None),
    _Part("TrafficEstimateDict", TrafficEstimate, None),
    _Part(
        "HourFiguresDict", Traffic,
        ("devices", "devices_raw", "grouping_confidence", "visitors", "passersby",
         "capture_rate", "dwell_sessions", "dwell_median_s", "dwell_p90_s", "repeat_visits",
         "people_counted", "devices_per_person", "ratio_source", "people_estimate",
         "people_method"),
        "What an hour's counts make of a traffic record (``edge.kpi.figures``).",
    ),
    _Part(
        "StoreFiguresDict", Kpi,
        ("transactions", "refunds", "sales", "currency", "average_ticket", "items_per_ticket",
         "conversion", "expected_contribution", "unread_receipts"),
        "What a store's receipts make of a kpi record (``edge.kpi.figures``).",
    ),
)  # fmt: skip
"""The pieces: the estimate fields their estimators fill (``edge.estimate.fields``), and
the hourly figures."""
_PLAIN = {str: "str", int: "int", float: "float", bool: "bool", type(None): "None"}

_HEADER = '''"""The records in wire form, as TypedDicts: one per record kind of ``edge.records``.

Generated from the pydantic models by ``python -m edge.contract_typeddicts``; do not
edit. A record built by hand (the hot path cannot afford a model per record) is a
dict literal annotated with its kind's TypedDict, so mypy checks its keys and values
against the contract. Times are the wire's strings (``edge.aggregate.ids.iso``).
"""

from __future__ import annotations

from typing import Literal, TypedDict
'''


def dict_name(model: type[BaseModel]) -> str:
    """The TypedDict's name for a model: ``Dwell`` -> ``DwellDict``."""
    return f"{model.__name__}Dict"


def _wire_type(annotation: Any, nested: list[type[BaseModel]]) -> str:
    """The type of a field's JSON value (``model_dump(mode="json")``) as Python source;
    a model met on the way is added to ``nested`` (its TypedDict is written first)."""
    if annotation in _PLAIN:
        return _PLAIN[annotation]
    if annotation is datetime:
        return "str"  # UtcTime: serialized as the contract's ISO 8601 string
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation not in nested:
            nested.append(annotation)
        return dict_name(annotation)
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return f"Literal[{', '.join(json.dumps(a) for a in args)}]"
    if origin in (Union, types.UnionType):
        return " | ".join(_wire_type(a, nested) for a in args)
    if origin in (list, dict):
        return f"{origin.__name__}[{', '.join(_wire_type(a, nested) for a in args)}]"
    raise TypeError(f"no wire type for {annotation!r}: teach edge.contract_typeddicts this type")


def _typeddict(
    name: str, model: type[BaseModel], nested: list[type[BaseModel]], part: _Part | None = None
) -> str:
    """Class syntax, unless a wire name is no identifier (``in``): then the functional one."""
    by_wire = {(f.alias or n): f for n, f in model.model_fields.items()}
    wires = part.fields if part is not None and part.fields is not None else tuple(by_wire)
    fields = [(wire, _wire_type(by_wire[wire].annotation, nested)) for wire in wires]
    text = part.doc if part is not None and part.doc is not None else model.__doc__ or ""
    doc = f'"""{text.strip().splitlines()[0]}"""'
    if all(wire.isidentifier() and not keyword.iskeyword(wire) for wire, _ in fields):
        body = "".join(f"    {wire}: {type_}\n" for wire, type_ in fields)
        return f"class {name}(TypedDict):\n    {doc}\n\n{body}"
    items = "".join(f'        "{wire}": {type_},\n' for wire, type_ in fields)
    return f'{name} = TypedDict(\n    "{name}",\n    {{\n{items}    }},\n)\n{doc}\n'


def typeddicts_source() -> str:
    """The text of ``edge/record_dicts.py``: nested models' TypedDicts first, then the
    parts, then one per record kind in ``RECORD_SPECS`` order."""
    nested: list[type[BaseModel]] = []
    written = [_typeddict(part.name, part.model, nested, part) for part in _PARTS]
    models = [spec.model for spec in RECORD_SPECS.values()]
    written += [_typeddict(dict_name(model), model, nested) for model in models]
    done: list[type[BaseModel]] = []
    while len(done) < len(nested):  # a nested model may nest another: write it first too
        model = next(m for m in nested if m not in done)
        written.insert(0, _typeddict(dict_name(model), model, nested))
        done.append(model)
    names = sorted([*(dict_name(m) for m in [*nested, *models]), *(p.name for p in _PARTS)])
    exports = "".join(f'    "{name}",\n' for name in names)
    body = "\n\n".join(written)
    return f"{_HEADER}\n__all__ = [\n{exports}]\n\n\n{body}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge.contract_typeddicts")
    parser.add_argument("--check", action="store_true", help="only say whether it is stale")
    args = parser.parse_args(argv)
    text = typeddicts_source()
    if args.check:
        current = MODULE_PATH.read_text(encoding="utf-8") if MODULE_PATH.is_file() else ""
        if current != text:
            print(f"{MODULE_PATH} is stale: run python -m edge.contract_typeddicts")
            return 1
        return 0
    MODULE_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {MODULE_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
