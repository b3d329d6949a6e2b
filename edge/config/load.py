"""Reading, validating and explaining the TOML configuration file."""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from edge.config.explain import describe_errors, printable, short, short_key
from edge.config.limits import (
    check_data_depth,
    check_text_depth,
    decode_config,
    read_config_bytes,
)
from edge.config.models import DEFAULT_CONFIG_PATH, Config
from edge.config.secrets import file_problems
from edge.config.upgrade import upgraded
from edge.errors import ConfigError

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "config_hash",
    "describe_errors",
    "load_config",
    "parse_config",
    "read_config_text",
    "replay_defaults",
]

_MAX_PROBLEMS = 50
_SHOWN_ZONES = 20


def load_config(path: str | Path | None = None, *, check_files: bool = False) -> Config:
    """Read and validate a configuration file; ``ConfigError`` lists every problem.

    Whatever the file holds, the only exception is ``ConfigError``, with a one-line
    head naming the file (see ``edge.config.limits``). ``check_files`` also checks
    the files the configuration names (key, password, certificates: see
    ``edge.config.secrets.file_problems``), as the services need them.
    """
    file = Path(path) if path is not None else DEFAULT_CONFIG_PATH
    config = parse_config(read_config_text(file), str(file))
    if check_files:
        problems = file_problems(config)
        if problems:
            raise ConfigError(f"{file} has {len(problems)} problem(s):", problems)
    return config


def read_config_text(file: Path) -> str:
    """The text of a configuration file: at most 1 MiB of UTF-8, else ``ConfigError``."""
    return decode_config(read_config_bytes(file), str(file))


def parse_config(text: str, origin: str = "<config>") -> Config:
    """Validate TOML text."""
    check_text_depth(text, origin)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin} is not valid TOML: {_one_line(str(exc))}") from exc
    except RecursionError:  # the depth check should have caught it; never a traceback
        raise ConfigError(f"{origin} nests arrays or tables too deep for the parser") from None
    check_data_depth(data, origin)
    data = upgraded(data, origin)  # keys renamed or removed since the file was written
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        problems = describe_errors(exc, data, Config)
        problems = _with_references(problems, _reference_problems(data))
        raise ConfigError(f"{origin} has {len(problems)} problem(s):", _capped(problems)) from exc


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _capped(problems: list[str]) -> list[str]:
    """At most ``_MAX_PROBLEMS`` lines: a file with thousands of bad entries is one mistake."""
    if len(problems) <= _MAX_PROBLEMS:
        return problems
    more = len(problems) - _MAX_PROBLEMS
    return [*problems[:_MAX_PROBLEMS], f"... and {more} more (fix these first)"]


def _with_references(problems: list[str], references: list[tuple[str, str]]) -> list[str]:
    """``problems`` and each (plain, named) zone reference problem once, by its sensor's name
    (the model's own check, when it ran, said the plain one)."""
    problems = list(problems)
    for plain, named in references:
        if plain in problems:
            problems[problems.index(plain)] = named
        elif named not in problems:
            problems.append(named)
    return problems


def _reference_problems(data: dict[str, Any]) -> list[tuple[str, str]]:
    """Zone references checked on the raw data.

    The model checks them only once every field is valid; a technician fixing a
    file wants every problem in one pass.
    """
    zones = data.get("zones")
    sensors = data.get("sensors")
    if not isinstance(zones, list) or not isinstance(sensors, list):
        return []
    known = [z["id"] for z in zones if isinstance(z, dict) and isinstance(z.get("id"), str)]
    listed = ", ".join(short_key(k) for k in known[:_SHOWN_ZONES]) or "none"
    if len(known) > _SHOWN_ZONES:
        listed += f", and {len(known) - _SHOWN_ZONES} more"
    problems = []
    for index, sensor in enumerate(sensors):
        zone = sensor.get("zone") if isinstance(sensor, dict) else None
        if isinstance(zone, str) and zone not in known:
            plain = printable(
                f"sensors[{index}].zone (got {short(zone)}): expected the id of a zone defined"
                f" in [[zones]] (known: {listed})"
            )
            problems.append((plain, printable(_sensor_name(sensor)) + plain))
    return problems


def _sensor_name(sensor: dict[str, Any]) -> str:
    name = sensor.get("name")
    return f"sensor {short(name)}: " if isinstance(name, str) else ""


def config_hash(config: Config) -> str:
    """A short stable hash of the effective configuration (reported in status)."""
    canonical = json.dumps(config.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def replay_defaults(sensor_names: list[str], db: Path) -> Config:
    """The built-in configuration of ``mallsense replay`` without ``--config``.

    Mall ``demo``, box ``replay``, one zone per sensor named after it, visitor
    threshold -70 dBm, session gap 5 minutes.
    """
    return Config.model_validate(
        {
            "mall": "demo",
            "box": "replay",
            "zones": [{"id": n, "name": n, "visitor_rssi_dbm": -70} for n in sensor_names],
            "sensors": [{"type": "wifi", "name": n, "zone": n} for n in sensor_names],
            "aggregation": {"session_gap_s": 300},
            "store": {"path": str(db)},
        }
    )
