"""Configuration: pydantic models (extra="forbid") and the YAML loader."""

from mlops_cli.config.loader import LoadedConfig, load_config
from mlops_cli.config.models import Config

__all__ = ["Config", "LoadedConfig", "load_config"]
