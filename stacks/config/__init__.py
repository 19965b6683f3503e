"""Typed, validated stack configuration: one reader module per area, each returning its
component's own spec (see `stack` for the whole and `reader` for how values are read)."""

from stacks.config.reader import PROJECT, ConfigError
from stacks.config.stack import SECRET_KEYS, StackConfig, declared_config_keys, load, project_file

__all__ = ["PROJECT", "SECRET_KEYS", "ConfigError", "StackConfig", "declared_config_keys", "load", "project_file"]
