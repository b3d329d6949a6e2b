"""Configuration: one TOML file, validated by pydantic; secrets from the environment.

The names below load on first use (PEP 562): the sensor types' own config models
(``edge.sensors.<type>.config``) build on ``edge.config.base``, and the root model
is made of them, so importing the package must not import the root model.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edge.config.load import config_hash, load_config, parse_config, replay_defaults
    from edge.config.models import Config

__all__ = ["Config", "config_hash", "load_config", "parse_config", "replay_defaults"]

_HOMES = {
    "Config": "edge.config.models",
    "config_hash": "edge.config.load",
    "load_config": "edge.config.load",
    "parse_config": "edge.config.load",
    "replay_defaults": "edge.config.load",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'edge.config' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
