"""Configuration: pydantic models (extra="forbid") in `models`, the YAML loader in `loader`.

Nothing is imported here, so that `mlops --help` does not pay for building the models."""
