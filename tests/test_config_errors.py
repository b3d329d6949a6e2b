"""Configuration errors in a technician's words (edge/config/explain.py).

Every error type the schema raises must have its own sentence: a test provokes the
types by hand, and a Hypothesis walk puts values of every TOML type in every key of
the demo configuration and checks no pydantic wording gets through.
"""

from __future__ import annotations

import copy
import tomllib
from typing import Any

import pytest
from cli_helpers import DEMO_CONFIG
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from edge.config import Config, parse_config
from edge.config.explain import SENTENCES, describe_errors, known_keys
from edge.errors import ConfigError

DEMO = tomllib.loads(DEMO_CONFIG.read_text())
PYDANTIC_WORDING = (
    "Input should",
    "after validation",
    "Input tag",
    "Value error",
    "Field required",
)


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as raised:
        Config.model_validate(data)
    for err in raised.value.errors():
        assert err["type"] in SENTENCES, f"no sentence for {err['type']}: {err['msg']}"
    return describe_errors(raised.value, data, Config)


def with_change(path: list[str | int], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(DEMO)
    node: Any = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return data


def first_sensor(kind: str) -> int:
    return next(i for i, s in enumerate(DEMO["sensors"]) if s["type"] == kind)


def test_a_typo_gets_the_key_that_was_meant_by_the_entry_name() -> None:
    zone = DEMO["zones"][0]
    data = with_change(["zones", 0, "visitor_rsi_dbm"], -70)
    (line,) = problems(data)
    assert line == (
        f"zone '{zone['id']}': zones[0].visitor_rsi_dbm: unknown key; did you mean"
        " `visitor_rssi_dbm`?"
    )


def test_an_unknown_sensor_type_names_the_sensor_and_the_known_kinds() -> None:
    index = first_sensor("wifi")
    (line,) = problems(with_change(["sensors", index, "type"], "bluetooth"))
    name = DEMO["sensors"][index]["name"]
    assert line.startswith(f"sensor '{name}': sensors[{index}]: type 'bluetooth' is not a kind")
    assert "'wifi'" in line and "'ble'" in line


def test_a_point_with_three_numbers_says_how_many_are_expected() -> None:
    zone = DEMO["zones"][0]["id"]
    camera = {"type": "camera", "name": "door", "zone": zone, "url": "file:///x.mp4"}
    camera["lines"] = [{"name": "door", "start": [0.1, 0.2, 0.3], "end": [0.5, 0.5]}]
    data = with_change(["sensors"], [camera])
    lines = problems(data)
    assert any("start (got [0.1, 0.2, 0.3]): expected at most 2 item(s), not 3" in s for s in lines)


def test_a_coordinate_in_quotes_is_refused_not_guessed() -> None:
    zone = DEMO["zones"][0]["id"]
    camera = {"type": "camera", "name": "door", "zone": zone, "url": "file:///x.mp4"}
    camera["lines"] = [{"name": "door", "start": [0, "300"], "end": [5, 300]}]
    (line,) = problems(with_change(["sensors"], [camera]))
    assert line.endswith("lines[0].start[1] (got '300'): expected a number without quotes")


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (["mqtt", "keepalive_s"], -3, "(got -3): expected a number of at least"),
        (["mqtt", "keepalive_s"], "ten", "(got 'ten'): expected a whole number without quotes"),
        (["mqtt", "keepalive_s"], 1.5, "expected a whole number, without a fraction"),
        (["mall"], 7, "mall (got 7): expected text in quotes"),
        (["mall"], "Mall One", "expected lower-case letters, digits"),
        (["zones"], {"id": "x"}, "zones: expected a list in square brackets"),
        (["mqtt"], "mqtt://x", "mqtt (got 'mqtt://x'): expected a table"),
        (["box"], None, "box (got None): expected text in quotes"),
    ],
)
def test_each_kind_of_mistake_in_plain_words(path: list[str], value: Any, expected: str) -> None:
    lines = problems(with_change(list(path), value))
    assert any(expected in line for line in lines), lines
    assert not any(word in line for line in lines for word in PYDANTIC_WORDING), lines


def test_the_keys_known_at_a_location_follow_the_sensor_kind() -> None:
    wifi = known_keys(Config, ("sensors", 0, "wifi"), {})
    camera = known_keys(Config, ("sensors", 0, "camera"), {})
    assert "channels" in wifi and "channels" not in camera and "lines" in camera
    assert "visitor_rssi_dbm" in known_keys(Config, ("zones", 3), {})


def test_the_file_loader_says_it_with_the_file_name() -> None:
    text = DEMO_CONFIG.read_text().replace("visitor_rssi_dbm", "visitor_rsi_dbm", 1)
    with pytest.raises(ConfigError) as raised:
        parse_config(text, "box.toml")
    assert "did you mean `visitor_rssi_dbm`?" in "\n".join(raised.value.problems)


# -- the walk: any TOML value in any key ------------------------------------------------------

TOML_VALUES = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=20),
    st.lists(st.one_of(st.integers(-5, 5), st.floats(-2, 2), st.text(max_size=3)), max_size=4),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def _paths(node: Any, prefix: list[str | int]) -> list[list[str | int]]:
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in [[*prefix, k], *_paths(v, [*prefix, k])]]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _paths(v, [*prefix, i])]
    return []


PATHS = _paths(DEMO, [])


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PATHS), TOML_VALUES)
def test_any_value_in_any_key_is_explained_without_pydantic_words(
    path: list[str | int], value: Any
) -> None:
    data = with_change(path, value)
    try:
        Config.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            assert err["type"] in SENTENCES, f"no sentence for {err['type']}: {err['msg']}"
        lines = describe_errors(exc, data, Config)
        assert lines and all("\n" not in line for line in lines)
        assert not any(word in line for line in lines for word in PYDANTIC_WORDING), lines
