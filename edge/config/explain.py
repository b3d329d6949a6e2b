"""Configuration errors in a technician's words.

pydantic says "Tuple should have at most 2 items after validation, not 3" and
"Input tag 'bluetooth' found using 'type' does not match any of the expected
tags". A technician needs the sensor or zone by its name, the key, what was
given, what is expected, and for a typo the key that was meant. Every error type
the configuration schema can raise has its sentence here (``SENTENCES``;
``tests/test_config_errors.py`` provokes each one and checks none of pydantic's
own wording gets through).
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Callable, Iterator
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

__all__ = ["SENTENCES", "describe_errors", "known_keys"]

_SHOWN_CHARS = 80
_SECRET_KEYS = {"password", "key", "secret", "token", "pseudonymization_key"}
_NAMED_TABLES = {"sensors": ("name", "sensor"), "zones": ("id", "zone")}
"""Array tables whose entries a technician knows by a name: (the naming key, the word)."""

Sentence = Callable[[dict[str, Any]], str]
"""pydantic's ``ctx`` of an error -> what is expected, in plain words."""


SENTENCES: dict[str, Sentence] = {
    "missing": lambda ctx: "required key is missing",
    "extra_forbidden": lambda ctx: (
        "unknown key (check the spelling; see `mallsense config schema`)"
    ),
    "string_type": lambda ctx: 'expected text in quotes, e.g. "entrance"',
    "string_too_short": lambda ctx: f"expected at least {ctx['min_length']} character(s)",
    "string_too_long": lambda ctx: f"expected at most {ctx['max_length']} characters",
    "string_pattern_mismatch": lambda ctx: (
        "expected lower-case letters, digits, '-' and '_' (an id used in MQTT topics)"
        if ctx.get("pattern", "").startswith("^[a-z0-9]")
        else f"expected text matching {ctx.get('pattern')} (see `mallsense config schema`)"
    ),
    "int_type": lambda ctx: "expected a whole number without quotes",
    "int_parsing": lambda ctx: "expected a whole number without quotes",
    "int_parsing_size": lambda ctx: "expected a whole number of sensible size",
    "int_from_float": lambda ctx: "expected a whole number, without a fraction",
    "float_type": lambda ctx: "expected a number without quotes",
    "float_parsing": lambda ctx: "expected a number without quotes",
    "finite_number": lambda ctx: "expected a finite number (not inf or nan)",
    "bool_type": lambda ctx: "expected true or false, without quotes",
    "bool_parsing": lambda ctx: "expected true or false, without quotes",
    "greater_than": lambda ctx: f"expected a number greater than {ctx['gt']}",
    "greater_than_equal": lambda ctx: f"expected a number of at least {ctx['ge']}",
    "less_than": lambda ctx: f"expected a number less than {ctx['lt']}",
    "less_than_equal": lambda ctx: f"expected a number of at most {ctx['le']}",
    "multiple_of": lambda ctx: f"expected a multiple of {ctx['multiple_of']}",
    "literal_error": lambda ctx: f"expected one of {ctx['expected']}",
    "enum": lambda ctx: f"expected one of {ctx['expected']}",
    "union_tag_invalid": lambda ctx: (
        f"{ctx['discriminator'].strip(chr(39))} {ctx['tag']!r} is not a kind this box knows;"
        f" expected one of {ctx['expected_tags']}"
    ),
    "union_tag_not_found": lambda ctx: (
        f"expected a {ctx['discriminator'].strip(chr(39))} key saying which kind this is"
    ),
    "list_type": lambda ctx: "expected a list in square brackets, e.g. [1, 6, 11]",
    "tuple_type": lambda ctx: "expected a list in square brackets, e.g. [0.5, 0.2]",
    "too_short": lambda ctx: f"expected at least {ctx['min_length']} item(s)",
    "too_long": lambda ctx: (
        f"expected at most {ctx['max_length']} item(s), not {ctx['actual_length']}"
    ),
    "dict_type": lambda ctx: "expected a table ([section] or { key = value })",
    "model_type": lambda ctx: "expected a table ([section] or { key = value })",
    "model_attributes_type": lambda ctx: "expected a table ([section] or { key = value })",
    "set_type": lambda ctx: "expected a list in square brackets",
    "frozen_set_type": lambda ctx: "expected a list in square brackets",
    "value_error": lambda ctx: str(ctx.get("error", "")),
    "assertion_error": lambda ctx: str(ctx.get("error", "")),
    "path_type": lambda ctx: 'expected a file path in quotes, e.g. "/etc/mallsense/key"',
    "path_not_file": lambda ctx: "expected the path of an existing file",
    "url_parsing": lambda ctx: "expected a URL such as mqtts://broker.example:8883",
    "url_scheme": lambda ctx: f"expected a URL whose scheme is {ctx.get('expected_schemes')}",
}


def describe_errors(exc: ValidationError, data: dict[str, Any], root: type[BaseModel]) -> list[str]:
    """One line per error: the sensor or zone by name, the key path, what was given,
    what is expected (or the key that was meant)."""
    lines = []
    for err in exc.errors(include_url=False):
        loc = err["loc"]
        where = _named(loc, data) + key_path(loc, data)
        leaf = str(loc[-1]) if loc else ""
        if err["type"] == "extra_forbidden":
            lines.append(f"{where}: {_unknown_key(leaf, loc, data, root)}")
            continue
        if not loc:
            lines.append(_sentence(err))
            continue
        value = err.get("input")
        shown = (
            "" if isinstance(value, dict) or err["type"] == "missing" else f" (got {short(value)})"
        )
        lines.append(f"{where}{shown}: {_sentence(err)}")
    return [printable(line) for line in lines]


def _sentence(err: Any) -> str:
    ctx = err.get("ctx") or {}
    sentence = SENTENCES.get(err["type"])
    try:
        text = sentence(ctx) if sentence else err["msg"]
    except (KeyError, TypeError):  # a context without the field this sentence shows
        text = err["msg"]
    return text.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def _unknown_key(
    key: str, loc: tuple[int | str, ...], data: dict[str, Any], root: type[BaseModel]
) -> str:
    if key.lower() in _SECRET_KEYS:
        return (
            "secrets are never read from the configuration file; use the MALLSENSE_KEY /"
            " MALLSENSE_MQTT_PASSWORD environment variables or a credentials file"
            " (privacy.key_file, mqtt.password_file)"
        )
    known = known_keys(root, loc[:-1], data)
    close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.75)
    if close:
        return f"unknown key; did you mean `{close[0]}`?"
    return SENTENCES["extra_forbidden"]({})


def known_keys(root: type[BaseModel], loc: tuple[int | str, ...], data: dict[str, Any]) -> set[str]:
    """The keys allowed at ``loc`` (a table's location as pydantic gives it)."""
    models: list[type[BaseModel]] = [root]
    for item in loc:
        if isinstance(item, int):
            continue  # an entry of a list: the same models
        fields = [m.model_fields[item] for m in models if item in m.model_fields]
        if fields:
            models = [m for f in fields for m in _models_in(f.annotation)]
        else:  # a discriminated union's tag: keep the member of that kind
            models = [m for m in models if _tag_of(m) == item] or models
    return {name for m in models for name in m.model_fields}


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    """The models an annotation holds (through list, tuple, Optional, unions, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    origin = get_origin(annotation)
    if origin is not None or isinstance(annotation, types.UnionType) or annotation is Union:
        for arg in get_args(annotation):
            yield from _models_in(arg)


def _tag_of(model: type[BaseModel]) -> object:
    field = model.model_fields.get("type")
    args = get_args(field.annotation) if field is not None else ()
    return args[0] if len(args) == 1 else None


def _named(loc: tuple[int | str, ...], data: dict[str, Any]) -> str:
    """``sensor 'door-cam': `` for an error inside a named entry of an array table."""
    if len(loc) < 2 or not isinstance(loc[1], int) or loc[0] not in _NAMED_TABLES:
        return ""
    naming, word = _NAMED_TABLES[str(loc[0])]
    entries = data.get(str(loc[0]))
    entry = entries[loc[1]] if isinstance(entries, list) and loc[1] < len(entries) else None
    name = entry.get(naming) if isinstance(entry, dict) else None
    return f"{word} {short(name)}: " if isinstance(name, str) else ""


def key_path(loc: tuple[int | str, ...], data: dict[str, Any]) -> str:
    """``sensors[0].zone`` from pydantic's location tuple (dropping union tags)."""
    parts: list[str] = []
    node: Any = data
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
            node = node[item] if isinstance(node, list) and item < len(node) else None
        elif isinstance(node, dict) and item in node:
            parts.append(f".{short_key(item)}" if parts else short_key(item))
            node = node[item]
        elif isinstance(node, dict) and node.get("type") == item:
            continue  # the discriminated union's tag, not a key
        else:
            parts.append(f".{short_key(str(item))}" if parts else short_key(str(item)))
            node = None
    return "".join(parts) or "(top level)"


def short(value: Any) -> str:
    """``repr(value)``, cut to ``_SHOWN_CHARS``: a problem line stays one readable line."""
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def short_key(key: str) -> str:
    """A key as written, cut like a value (a quoted TOML key may be any text)."""
    return key if len(key) <= _SHOWN_CHARS else key[: _SHOWN_CHARS - 3] + "..."


def printable(line: str) -> str:
    """Line breaks and other control characters (from quoted keys) as escapes."""
    if line.isprintable():
        return line
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in line)
