"""Configuration: one TOML file, validated by pydantic; secrets from the environment."""

from edge.config.load import config_hash, load_config, parse_config, replay_defaults
from edge.config.models import Config

__all__ = ["Config", "config_hash", "load_config", "parse_config", "replay_defaults"]
