"""Typed configuration: `load_config()` parses conf/*.yaml once; the result is passed down."""

from conf.settings import Config, ConfigError, load_config

__all__ = ["Config", "ConfigError", "load_config"]
