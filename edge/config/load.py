"""Reading, validating and explaining the TOML configuration file."""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from edge.config.models import DEFAULT_CONFIG_PATH, Config
from edge.config.upgrade import upgraded
from edge.errors import ConfigError

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "config_hash",
    "describe_errors",
    "load_config",
    "parse_config",
    "replay_defaults",
]

_FRIENDLY = {
    "string_pattern_mismatch": "expected lower-case letters, digits, '-' and '_' (an id used in"
    " MQTT topics), or see `mallsense config schema` for this key's pattern",
    "missing": "required key is missing",
}
_SECRET_KEYS = {"password", "key", "secret", "token", "pseudonymization_key"}


def load_config(path: str | Path | None = None) -> Config:
    """Read and validate a configuration file; ``ConfigError`` lists every problem."""
    file = Path(path) if path is not None else DEFAULT_CONFIG_PATH
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(
            f"configuration file {file} does not exist; check the path, or create it"
            " (`mallsense config schema` and docs/configuration.md describe every key)"
        ) from exc
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {file}: {exc.strerror}") from exc
    return parse_config(text, str(file))


def parse_config(text: str, origin: str = "<config>") -> Config:
    """Validate TOML text."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin} is not valid TOML: {exc}") from exc
    data = upgraded(data, origin)  # keys renamed or removed since the file was written
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        problems = describe_errors(exc, data)
        problems += [p for p in _reference_problems(data) if p not in problems]
        raise ConfigError(f"{origin} has {len(problems)} problem(s):", problems) from exc


def describe_errors(exc: ValidationError, data: dict[str, Any]) -> list[str]:
    """One line per error: key path, the bad value, what is expected."""
    lines = []
    for err in exc.errors(include_url=False):
        path = _key_path(err["loc"], data)
        leaf = str(err["loc"][-1]) if err["loc"] else ""
        if err["type"] == "extra_forbidden" and leaf.lower() in _SECRET_KEYS:
            lines.append(
                f"{path}: secrets are never read from the configuration file; use the"
                " MALLSENSE_KEY / MALLSENSE_MQTT_PASSWORD environment variables or a"
                " credentials file (privacy.key_file, mqtt.password_file)"
            )
            continue
        if err["type"] == "extra_forbidden":
            lines.append(f"{path}: unknown key (check the spelling; see `mallsense config schema`)")
            continue
        if not err["loc"]:
            lines.append(_expected(err["msg"]))
            continue
        value = err.get("input")
        shown = "" if isinstance(value, dict) else f" (got {value!r})"
        expected = _FRIENDLY.get(err["type"], err["msg"])
        lines.append(f"{path}{shown}: {_expected(expected)}")
    return lines


def _reference_problems(data: dict[str, Any]) -> list[str]:
    """Zone references checked on the raw data.

    The model checks them only once every field is valid; a technician fixing a
    file wants every problem in one pass.
    """
    zones = data.get("zones")
    sensors = data.get("sensors")
    if not isinstance(zones, list) or not isinstance(sensors, list):
        return []
    known = [z["id"] for z in zones if isinstance(z, dict) and isinstance(z.get("id"), str)]
    problems = []
    for index, sensor in enumerate(sensors):
        zone = sensor.get("zone") if isinstance(sensor, dict) else None
        if isinstance(zone, str) and zone not in known:
            problems.append(
                f"sensors[{index}].zone (got {zone!r}): expected the id of a zone defined in"
                f" [[zones]] (known: {', '.join(known) or 'none'})"
            )
    return problems


def _key_path(loc: tuple[int | str, ...], data: dict[str, Any]) -> str:
    """``sensors[0].zone`` from pydantic's location tuple (dropping union tags)."""
    parts: list[str] = []
    node: Any = data
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
            node = node[item] if isinstance(node, list) and item < len(node) else None
        elif isinstance(node, dict) and item in node:
            parts.append(f".{item}" if parts else item)
            node = node[item]
        elif isinstance(node, dict) and node.get("type") == item:
            continue  # the discriminated union's tag, not a key
        else:
            parts.append(f".{item}" if parts else str(item))
            node = None
    return "".join(parts) or "(top level)"


def _expected(msg: str) -> str:
    return msg.removeprefix("Value error, ")


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
