"""Configuration keys that changed between versions, and what a box does about them.

A box is upgraded by apt, unattended; its configuration file was written for the
version before. So the loader applies the table below in memory: a renamed key
(or an old spelling of a value) still works, with a warning naming the key and
the change to make; a removed key is refused with an error naming the key and
its replacement, because guessing what it meant could change what the box
records. ``mallsense config upgrade FILE`` makes the same changes in the file
itself, keeping comments and layout, and the old file as ``FILE.bak``.

The table is append-only, like the database migrations.
"""

from __future__ import annotations

import copy
import logging
import re
import tomllib
from dataclasses import dataclass
from typing import Any

from edge.config.limits import check_data_depth, check_text_depth
from edge.errors import ConfigError

__all__ = [
    "REMOVED",
    "RENAMED",
    "RESCHEMED",
    "Finding",
    "Removed",
    "Renamed",
    "Rescheme",
    "Rewrite",
    "find_changes",
    "rewrite",
    "upgraded",
]

log = logging.getLogger("mallsense.config")


@dataclass(frozen=True)
class Renamed:
    """``old`` is now called ``new`` (same table: only the last part changes)."""

    old: str
    new: str
    since: str


@dataclass(frozen=True)
class Removed:
    """``key`` is gone; ``instead`` says what replaces it."""

    key: str
    instead: str
    since: str


@dataclass(frozen=True)
class Rescheme:
    """A string value starting with ``old`` is now written starting with ``new``."""

    key: str
    old: str
    new: str
    since: str


# Key paths are dotted; ``sensors[]`` means every [[sensors]] table.
RENAMED: tuple[Renamed, ...] = (
    Renamed("aggregation.session_gap", "aggregation.session_gap_s", "0.1"),
)
RESCHEMED: tuple[Rescheme, ...] = (
    # Paho's other clients and many brokers' docs write tcp:// and ssl://.
    Rescheme("mqtt.url", "tcp://", "mqtt://", "0.1"),
    Rescheme("mqtt.url", "ssl://", "mqtts://", "0.1"),
)
# None yet. An entry names the replacement in words a technician can act on, e.g.
# Removed("store.vacuum", "the daily mallsense-maintenance.timer vacuums the database", "0.2").
# (A secret such as mqtt.password is not "removed": it was never read, and the loader's
# own message for it points at the credential.)
REMOVED: tuple[Removed, ...] = ()


@dataclass(frozen=True)
class Finding:
    """One key of a file that must change: the exact key path and what to do."""

    key: str
    message: str
    refused: bool
    """True when the file must be changed by hand (a removed key)."""


def _locate(data: dict[str, Any], key: str) -> list[tuple[str, dict[str, Any], str]]:
    """Each (exact path, table holding the last part, last part) where ``key`` is set."""
    *parents, leaf = key.split(".")
    tables: list[tuple[str, dict[str, Any]]] = [("", data)]
    for part in parents:
        name = part.removesuffix("[]")
        found: list[tuple[str, dict[str, Any]]] = []
        for shown, table in tables:
            value = table.get(name)
            if part.endswith("[]") and isinstance(value, list):
                items = enumerate(value)
                found += [(f"{shown}{name}[{i}].", t) for i, t in items if isinstance(t, dict)]
            elif isinstance(value, dict):
                found.append((f"{shown}{name}.", value))
        tables = found
    return [(f"{shown}{leaf}", table, leaf) for shown, table in tables if leaf in table]


def _apply_renames(data: dict[str, Any], table: tuple[Renamed, ...]) -> list[Finding]:
    findings = []
    for change in table:
        new_leaf = change.new.rsplit(".", 1)[-1]
        for path, holder, leaf in _locate(data, change.old):
            new_path = path[: -len(leaf)] + new_leaf
            if new_leaf in holder:
                findings.append(
                    Finding(path, f"{path} and {new_path} are both set: delete {path}", True)
                )
                continue
            holder[new_leaf] = holder.pop(leaf)
            findings.append(
                Finding(path, f"{path} was renamed {new_path} in mallsense {change.since}", False)
            )
    return findings


def _apply_reschemes(data: dict[str, Any], table: tuple[Rescheme, ...]) -> list[Finding]:
    findings = []
    for change in table:
        for path, holder, leaf in _locate(data, change.key):
            value = holder[leaf]
            if isinstance(value, str) and value.startswith(change.old):
                fixed = change.new + value[len(change.old) :]
                holder[leaf] = fixed
                message = (
                    f"{path} (got {value!r}): {change.old} is written {change.new} since"
                    f" mallsense {change.since}; change it to {fixed!r}"
                )
                findings.append(Finding(path, message, False))
    return findings


def find_changes(data: dict[str, Any]) -> tuple[dict[str, Any], list[Finding]]:
    """The data as the current version reads it, and every finding (``data`` is kept)."""
    upgraded_data = copy.deepcopy(data)
    findings = []
    for gone in REMOVED:
        for path, _holder, _leaf in _locate(upgraded_data, gone.key):
            message = f"{path} was removed in mallsense {gone.since}: {gone.instead}"
            findings.append(Finding(path, message, True))
    findings += _apply_renames(upgraded_data, RENAMED)
    findings += _apply_reschemes(upgraded_data, RESCHEMED)
    return upgraded_data, findings


def upgraded(data: dict[str, Any], origin: str) -> dict[str, Any]:
    """What the loader validates: renames applied with a warning, removed keys refused."""
    result, findings = find_changes(data)
    refused = [f.message for f in findings if f.refused]
    if refused:
        raise ConfigError(f"{origin} has key(s) this version no longer reads:", refused)
    for finding in findings:
        log.warning(
            "%s: %s; change it in the file (`mallsense config upgrade %s` does it)",
            origin,
            finding.message,
            origin,
        )
    return result


# -- the file itself ---------------------------------------------------------------------

_KEY = r'(?:[A-Za-z0-9_-]+|"[^"]*")'
_KEY_LINE = re.compile(rf"^(\s*)({_KEY}(?:\s*\.\s*{_KEY})*)(\s*=\s*)(.*)$")
_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")


@dataclass(frozen=True)
class Rewrite:
    """The upgraded text of a configuration file and what changed in it."""

    text: str
    findings: list[Finding]


def rewrite(text: str, origin: str) -> Rewrite:
    """``text`` with renamed keys and old values changed in place (comments kept).

    ``ConfigError`` when a removed key needs a person, or when the result would not
    read back as exactly the upgraded configuration (an inline table, say): then
    the error lists the changes to make by hand.
    """
    check_text_depth(text, origin)  # tomllib recurses per level; find_changes copies
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin} is not valid TOML: {exc}") from exc
    check_data_depth(data, origin)
    expected, findings = find_changes(data)
    refused = [f.message for f in findings if f.refused]
    if refused:
        raise ConfigError(f"{origin}: change these by hand first, then upgrade again:", refused)
    if not findings:
        return Rewrite(text, [])
    new_text = _edit_lines(text, {f.key for f in findings})
    try:
        readable = tomllib.loads(new_text) == expected
    except tomllib.TOMLDecodeError:
        readable = False
    if not readable:
        raise ConfigError(
            f"{origin} cannot be upgraded automatically; make these changes by hand:",
            [f.message for f in findings],
        )
    return Rewrite(new_text, findings)


def _edit_lines(text: str, keys: set[str]) -> str:
    """Apply the renames and value changes to the lines that set one of ``keys``."""
    prefix = ""
    counts: dict[str, int] = {}
    lines = text.splitlines(keepends=True)
    for number, line in enumerate(lines):
        header = _HEADER.match(line)
        if header is not None:
            prefix = _table_prefix(header[1] == "[[", _parts(header[2]), counts)
            continue
        match = _KEY_LINE.match(line)
        if match is None:
            continue
        parts = _parts(match[2])
        path = prefix + ".".join(parts)
        if path not in keys:
            continue
        generic = re.sub(r"\[\d+\]", "[]", path)
        key_text, value = match[2], match[4]
        for rename in (r for r in RENAMED if r.old == generic):
            old_leaf, new_leaf = parts[-1], rename.new.rsplit(".", 1)[-1]
            if key_text.endswith(old_leaf):
                key_text = key_text[: -len(old_leaf)] + new_leaf
        for change in (c for c in RESCHEMED if c.key == generic):
            for quote in ('"', "'"):
                value = value.replace(quote + change.old, quote + change.new, 1)
        lines[number] = f"{match[1]}{key_text}{match[3]}{value}{line[match.end() :]}"
    return "".join(lines)


def _parts(dotted: str) -> list[str]:
    return [p.strip().strip('"') for p in re.findall(rf"{_KEY}", dotted)]


def _table_prefix(is_array: bool, parts: list[str], counts: dict[str, int]) -> str:
    """``sensors[2].`` for the third ``[[sensors]]``; ``aggregation.`` for ``[aggregation]``."""
    shown = []
    for depth, part in enumerate(parts):
        name = ".".join(parts[: depth + 1])
        last = depth == len(parts) - 1
        if last and is_array:
            counts[name] = counts.get(name, -1) + 1
        shown.append(f"{part}[{counts[name]}]" if name in counts else part)
    return ".".join(shown) + "."
