"""What changed between the running configuration and the file (``SIGHUP``), in words.

Both daemons reload their configuration on ``SIGHUP`` (``systemctl reload``). A
new file is taken whole or not at all: an invalid one, or one changing a key that
only a restart can apply (``RESTART_KEYS``), is refused and the running
configuration stays. This module compares; the daemons apply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edge.config.models import Config
from edge.errors import ConfigError

__all__ = [
    "EDGE_RESTART_KEYS",
    "SYNC_RESTART_KEYS",
    "ConfigChange",
    "compare",
    "refusal",
]

SYNC_RESTART_KEYS = ("mall", "box", "store.path")
"""The identity under which records are published, and the database itself."""
EDGE_RESTART_KEYS = (*SYNC_RESTART_KEYS, "privacy")
"""And the pseudonymization (key file, rotation): pseudonyms must not change mid-day."""
_SHOWN = 8


@dataclass(frozen=True)
class ConfigChange:
    """The differences, as key paths (``zones[shop].visitor_rssi_dbm``)."""

    paths: list[str]
    restart_needed: list[str]
    """Key paths that only a restart can apply, with their old and new values."""
    added: list[str]
    removed: list[str]
    changed: list[str]
    """Sensors by name: new, gone, and configured differently."""

    @property
    def empty(self) -> bool:
        return not self.paths

    def sections(self) -> set[str]:
        """Top-level keys that changed (``zones``, ``sensors``, ``mqtt``, ...)."""
        return {p.split(".", 1)[0].split("[", 1)[0] for p in self.paths}

    def describe(self) -> str:
        """``zones[shop].visitor_rssi_dbm, sensors (restarted: shop; added: door)``."""
        other = [p for p in self.paths if not p.startswith("sensors")]
        shown = other[:_SHOWN] + ([f"{len(other) - _SHOWN} more"] if len(other) > _SHOWN else [])
        sensors = "; ".join(
            f"{what}: {', '.join(names)}"
            for what, names in (
                ("restarted", self.changed),
                ("added", self.added),
                ("removed", self.removed),
            )
            if names
        )
        if sensors:
            shown.append(f"sensors ({sensors})")
        return ", ".join(shown) or "nothing"


def compare(old: Config, new: Config, restart_keys: tuple[str, ...]) -> ConfigChange:
    """Every difference between ``old`` and ``new``; which of them need a restart."""
    before, after = old.model_dump(mode="json"), new.model_dump(mode="json")
    paths = [p for key in before if key != "sensors" for p in _diff(key, before[key], after[key])]
    old_sensors = {s.name: s for s in old.sensors}
    new_sensors = {s.name: s for s in new.sensors}
    added = [n for n in new_sensors if n not in old_sensors]
    removed = [n for n in old_sensors if n not in new_sensors]
    changed = [n for n in new_sensors if n in old_sensors and new_sensors[n] != old_sensors[n]]
    if added or removed or changed:
        paths.append("sensors")
    restart = []
    for key in restart_keys:
        was, now = _lookup(before, key), _lookup(after, key)
        if was != now:
            restart.append(f"{key} (from {_short(was)} to {_short(now)})")
    return ConfigChange(paths, restart, added, removed, changed)


def refusal(error: ConfigError | ConfigChange, service: str) -> str:
    """The log line of a refused reload: the problems with their key paths."""
    if isinstance(error, ConfigChange):
        keys = ", ".join(error.restart_needed)
        verb = "needs" if len(error.restart_needed) == 1 else "need"
        why = f"{keys} {verb} a restart (systemctl restart {service})"
    else:
        head = str(error.args[0]) if error.args else "invalid configuration"
        why = "; ".join([head.rstrip(":"), *error.problems]) if error.problems else head
    return f"config refused: {why}; keeping the running config"


def _diff(path: str, before: Any, after: Any) -> list[str]:
    if before == after:
        return []
    if isinstance(before, dict) and isinstance(after, dict):
        keys = list(before) + [k for k in after if k not in before]
        return [p for k in keys for p in _diff(f"{path}.{k}", before.get(k), after.get(k))]
    if isinstance(before, list) and isinstance(after, list):
        old, new = _by_id(before), _by_id(after)
        if old is not None and new is not None:  # zones: by id, not by position
            ids = list(old) + [i for i in new if i not in old]
            return [p for i in ids for p in _diff(f"{path}[{i}]", old.get(i), new.get(i))]
    return [path]


def _by_id(items: list[Any]) -> dict[str, Any] | None:
    if not all(isinstance(i, dict) and isinstance(i.get("id"), str) for i in items):
        return None
    return {i["id"]: i for i in items}


def _lookup(data: dict[str, Any], key: str) -> Any:
    node: Any = data
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
