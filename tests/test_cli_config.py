"""The ``mallsense`` command line: Help, `config validate`, `config schema` and `keygen`.

Most tests call the click group in this process (CliRunner keeps stdout and
stderr apart); databases are real SQLite files under tmp_path and recordings are
the bundled samples. Shared fixtures are in conftest.py, helpers in cli_helpers.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cli_helpers import (
    DEMO_CONFIG,
    failed_cleanly,
    invoke,
    problem_line,
    write_text,
)

# -- 1. help ------------------------------------------------------------------------------

HELP = [
    pytest.param([], id="mallsense"),
    pytest.param(["config", "validate"], id="config-validate"),
    pytest.param(["config", "schema"], id="config-schema"),
    pytest.param(["keygen"], id="keygen"),
    pytest.param(["replay"], id="replay"),
    pytest.param(["records"], id="records"),
    pytest.param(["status"], id="status"),
    pytest.param(["run"], id="run"),
    pytest.param(["sync"], id="sync"),
    pytest.param(["wifi", "watch"], id="wifi-watch"),
    pytest.param(["demo"], id="demo"),
    pytest.param(["config"], id="config-group"),
    pytest.param(["wifi"], id="wifi-group"),
]


@pytest.mark.parametrize("command", HELP)
def test_help_exits_0_and_shows_an_example(command: list[str]) -> None:
    result = invoke(*command, "--help")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(" ".join(["Usage: mallsense", *command]))
    assert re.search(r"^\s+Examples?:\n\s+mallsense ", result.stdout, re.M), result.stdout
    assert result.stderr == ""


def test_short_help_option_and_version() -> None:
    assert invoke("replay", "-h").stdout == invoke("replay", "--help").stdout
    version = invoke("--version")
    assert version.exit_code == 0
    assert re.fullmatch(r"mallsense, version \d+\.\d+\.\d+\S*\n", version.stdout)


# -- 2. config validate -------------------------------------------------------------------

BAD_FIELDS = """\
mall = "demo-mall"
box = "Shop 12!"
colour = "blue"

[[zones]]
id = "entrance"
visitor_rssi_dbm = 20

[[sensors]]
type = "wifi"
name = "entrance"
zone = "{zone}"

[mqtt]
url = "http://x"
password = "hunter2"
"""
UNKNOWN_ZONE = """\
mall = "demo-mall"
box = "shop-12"

[[zones]]
id = "entrance"

[[sensors]]
type = "wifi"
name = "entrance"
zone = "nowhere"
"""


def test_validate_the_demo_config() -> None:
    result = invoke("config", "validate", DEMO_CONFIG)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    out = result.stdout
    assert f"valid: {DEMO_CONFIG}" in out
    assert "mall demo-mall, box shop-12" in out
    assert "zones: entrance, shop" in out
    assert "sensors: entrance (wifi, zone entrance), shop (wifi, zone shop)" in out


def test_validate_lists_every_field_problem_with_path_value_and_expectation(
    tmp_path: Path,
) -> None:
    config = write_text(tmp_path / "bad.toml", BAD_FIELDS.format(zone="entrance"))
    stderr = failed_cleanly(invoke("config", "validate", config), f"{config} has 5 problem(s)")
    box = problem_line(stderr, "box")
    assert "(got 'Shop 12!')" in box
    assert "expected lower-case letters, digits, '-' and '_'" in box
    rssi = problem_line(stderr, "zones[0].visitor_rssi_dbm")
    assert "(got 20)" in rssi
    assert "expected a number of at most 0" in rssi
    url = problem_line(stderr, "mqtt.url")
    assert "(got 'http://x')" in url
    assert "scheme 'http'" in url
    assert "expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT]" in url
    password = problem_line(stderr, "mqtt.password")
    assert "secrets are never read from the configuration file" in password
    assert "MALLSENSE_MQTT_PASSWORD" in password
    assert "mqtt.password_file" in password
    assert "hunter2" not in stderr  # a secret is not echoed back
    assert "unknown key" in problem_line(stderr, "colour")


def test_validate_names_an_unknown_zone_reference(tmp_path: Path) -> None:
    config = write_text(tmp_path / "zone.toml", UNKNOWN_ZONE)
    stderr = failed_cleanly(invoke("config", "validate", config))
    line = problem_line(stderr, "sensors[0].zone")
    assert "(got 'nowhere')" in line
    assert "expected the id of a zone" in line
    assert "(known: entrance)" in line


def test_validate_lists_an_unknown_zone_together_with_field_problems(tmp_path: Path) -> None:
    config = write_text(tmp_path / "bad.toml", BAD_FIELDS.format(zone="nowhere"))
    stderr = failed_cleanly(invoke("config", "validate", config))
    assert "(got 'nowhere')" in problem_line(stderr, "sensors[0].zone")


def test_validate_message_shows_the_zones_table_name(tmp_path: Path) -> None:
    config = write_text(tmp_path / "zone.toml", UNKNOWN_ZONE)
    stderr = failed_cleanly(invoke("config", "validate", config))
    assert "defined in [[zones]]" in stderr


def test_validate_bad_toml_syntax(tmp_path: Path) -> None:
    config = write_text(tmp_path / "syntax.toml", 'mall = "demo\nbox = "x"\n')
    failed_cleanly(invoke("config", "validate", config), f"{config} is not valid TOML", "line 1")


def test_validate_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    failed_cleanly(invoke("config", "validate", missing), f"{missing} does not exist")


def test_validate_missing_file_does_not_suggest_an_option_it_lacks(tmp_path: Path) -> None:
    stderr = failed_cleanly(invoke("config", "validate", tmp_path / "missing.toml"))
    assert "--config" not in stderr


# -- 3. config schema, keygen ------------------------------------------------------------


def test_schema_is_a_json_schema_of_the_config_file() -> None:
    result = invoke("config", "schema")
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert {"mall", "box", "zones"} <= set(schema["required"])
    props = schema["properties"]
    expected = {"mall", "box", "zones", "sensors", "aggregation", "store", "mqtt", "privacy"}
    assert expected <= set(props)
    for name, definition in schema["$defs"].items():
        for field, spec in definition.get("properties", {}).items():
            assert "description" in spec or "$ref" in spec, f"{name}.{field} has no description"
    refs = re.findall(r'"#/\$defs/([^"]+)"', result.stdout)
    assert refs
    assert set(refs) <= set(schema["$defs"])


def test_keygen_prints_a_new_32_byte_hex_key_each_time() -> None:
    first, second = invoke("keygen"), invoke("keygen")
    for result in (first, second):
        assert result.exit_code == 0
        assert re.fullmatch(r"[0-9a-f]{64}\n", result.stdout)
    assert first.stdout != second.stdout
