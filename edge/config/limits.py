"""What the loader checks before a configuration file reaches the TOML parser.

A configuration file is hostile input like any other: a daemon reading it on
``SIGHUP`` must refuse a bad one with one line and keep running. ``tomllib``
reads the whole text into memory and recurses once per nested array or inline
table, and the loader later copies the parsed data recursively; so the size is
bounded before the file is read, the bytes are checked to be UTF-8 text, and the
nesting is bounded both in the text (before parsing) and in the parsed data
(dotted keys nest tables without brackets).
"""

from __future__ import annotations

import codecs
import re
import stat
from pathlib import Path
from typing import Any

from edge.errors import ConfigError

__all__ = [
    "MAX_CONFIG_BYTES",
    "MAX_DEPTH",
    "MAX_KEY_PARTS",
    "check_data_depth",
    "check_text_depth",
    "decode_config",
    "read_config_bytes",
]

MAX_CONFIG_BYTES = 1024 * 1024
"""A real configuration is a few KB; a larger file is the wrong file."""
MAX_DEPTH = 32
"""Nested arrays, inline tables and tables: a real configuration needs four."""
MAX_KEY_PARTS = 16
"""Parts of one dotted key (``a.b.c`` has three): the parser's work grows with their square."""

_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
"""Bytes no TOML text holds anywhere (tab, newline and carriage return aside)."""

# What ends each state of the nesting scan (see ``check_text_depth``).
_NORMAL = re.compile(r"\"\"\"|'''|[\"'#\[\]{}.=,\n]")
_ENDS = {
    '"': re.compile(r'\\.|"|\n', re.S),
    '"""': re.compile(r'\\.|"""', re.S),
    "'": re.compile(r"'|\n"),
    "'''": re.compile(r"'''"),
    "#": re.compile(r"\n"),
}


def read_config_bytes(file: Path) -> bytes:
    """The file's bytes; ``ConfigError`` if it is missing, not a file, or too large."""
    try:
        info = file.stat()  # before opening: opening a FIFO would block
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(
                f"configuration file {file} is not a regular file; give the path of the TOML file"
            )
        if info.st_size > MAX_CONFIG_BYTES:
            raise ConfigError(_too_large(file, info.st_size))
        with file.open("rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)  # it may have grown since
    except FileNotFoundError as exc:
        raise ConfigError(
            f"configuration file {file} does not exist; check the path, or create it"
            " (`mallsense config schema` and docs/configuration.md describe every key)"
        ) from exc
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {file}: {exc.strerror}") from exc
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(_too_large(file, len(data)))
    return data


def _too_large(file: Path, size: int) -> str:
    return (
        f"configuration file {file} is {size:,} bytes; a configuration file is at most"
        f" {MAX_CONFIG_BYTES // 1024} KiB: check that it is the right file"
    )


def decode_config(data: bytes, origin: str) -> str:
    """UTF-8 text (a leading byte-order mark dropped), or ``ConfigError`` naming the byte."""
    control = _CONTROL.search(data)
    if control is not None:
        raise ConfigError(
            f"{origin} is not a text file (control byte 0x{data[control.start()]:02x} at byte"
            f" {control.start()}): give the TOML configuration file"
        )
    body = data.removeprefix(codecs.BOM_UTF8)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        at = exc.start + len(data) - len(body)
        raise ConfigError(
            f"{origin} is not UTF-8 at byte {at}: save the file as UTF-8"
        ) from None  # the codec's own message repeats the bytes: not for a technician


def check_text_depth(text: str, origin: str) -> None:
    """``ConfigError`` if brackets or braces nest deeper than ``MAX_DEPTH``, or a dotted
    key has more than ``MAX_KEY_PARTS`` parts.

    A small scanner skips strings and comments, so ``"[[["`` in a value does not
    count; it need not be exact where the text is invalid TOML, because the parser
    stops at the first error and recurses no deeper than what comes before it. Dots
    are counted between separators: a value has at most one (``1.5``).
    """
    depth = dots = 0
    pos, end = 0, len(text)
    while pos < end:
        found = _NORMAL.search(text, pos)
        if found is None:
            break
        token, pos = found.group(), found.end()
        if token == ".":
            dots += 1
            if dots >= MAX_KEY_PARTS:
                raise ConfigError(
                    f"{origin} has a dotted key of more than {MAX_KEY_PARTS} parts"
                    f" ({_line(text, pos)}): check that it is the right file"
                )
            continue
        dots = 0
        if token in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise ConfigError(_too_deep(origin, _line(text, pos)))
        elif token in "]}":
            depth = max(depth - 1, 0)
        elif token not in "=,\n":
            pos = _skip(text, pos, token)


def _line(text: str, pos: int) -> str:
    return f"line {text.count(chr(10), 0, pos) + 1}"


def _skip(text: str, pos: int, opener: str) -> int:
    """The position after the string or comment that ``opener`` started."""
    ends = _ENDS[opener]
    while True:
        found = ends.search(text, pos)
        if found is None:
            return len(text)
        pos = found.end()
        if not found.group().startswith("\\"):
            return pos


def check_data_depth(data: dict[str, Any], origin: str) -> None:
    """``ConfigError`` if the parsed tables and arrays nest deeper than ``MAX_DEPTH``."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ConfigError(_too_deep(origin, "a dotted key or table name"))
        children = node.values() if isinstance(node, dict) else node
        stack += [(c, depth + 1) for c in children if isinstance(c, dict | list)]


def _too_deep(origin: str, where: str) -> str:
    return (
        f"{origin} nests arrays or tables more than {MAX_DEPTH} deep ({where}); a"
        " configuration needs only a few levels: check that it is the right file"
    )
