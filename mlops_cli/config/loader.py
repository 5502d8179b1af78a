"""Load a config: YAML with line tracking, `extends:` overlays, `${VAR}` interpolation, `--set` overrides, then
validation. Every problem is collected and reported at once, each with file, line and field."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from mlops_cli.config.models import Config
from mlops_cli.errors import ConfigError

Location = tuple[str, int]  # (file, 1-based line)
KeyPath = tuple[str | int, ...]

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_MAX_EXTENDS_DEPTH = 8


@dataclass
class LoadedConfig:
    config: Config
    path: Path
    raw: dict[str, Any]
    locations: dict[KeyPath, Location] = field(default_factory=dict)


@dataclass
class _Document:
    data: dict[str, Any]
    locations: dict[KeyPath, Location]


def load_config(path: str | Path, overrides: list[str] | None = None) -> LoadedConfig:
    """Read, resolve and validate a config. Raises ConfigError (exit 2) listing every problem."""
    path = Path(path)
    problems: list[str] = []
    doc = _read_with_extends(path, problems, depth=0)
    if doc is None:
        raise ConfigError(problems)
    _interpolate(doc, problems)
    for override in overrides or []:
        _apply_override(doc, override, problems)
    _default_region_from_env(doc)
    if problems:  # validating half-resolved data would only add noise
        raise ConfigError(problems)
    try:
        config = Config.model_validate(doc.data)
    except ValidationError as exc:
        raise ConfigError([_describe(err, doc, path) for err in exc.errors()]) from None
    return LoadedConfig(config=config, path=path, raw=doc.data, locations=doc.locations)


def _read_with_extends(path: Path, problems: list[str], depth: int) -> _Document | None:
    doc = _read_yaml(path, problems)
    if doc is None:
        return None
    base_name = doc.data.get("extends")
    if base_name is None:
        return doc
    where = _fmt(doc.locations.get(("extends",), (str(path), 1)))
    if not isinstance(base_name, str):
        problems.append(f"{where} extends: must be a file path")
        return None
    if depth >= _MAX_EXTENDS_DEPTH:
        problems.append(f"{where} extends: more than {_MAX_EXTENDS_DEPTH} levels (a cycle?)")
        return None
    base_path = (path.parent / base_name).resolve()
    base = _read_with_extends(base_path, problems, depth + 1)
    if base is None:
        return None
    doc.data.pop("extends")
    base.data.pop("extends", None)
    return _Document(_deep_merge(base.data, doc.data), {**base.locations, **doc.locations})


def _read_yaml(path: Path, problems: list[str]) -> _Document | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        problems.append(f"{path}: no such config file")
        return None
    except OSError as exc:
        problems.append(f"{path}: cannot read ({exc.strerror})")
        return None
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else {}
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        problems.append(f"{path}:{line} invalid YAML: {exc.problem or exc.context}")
        return None
    except yaml.YAMLError as exc:
        problems.append(f"{path}: invalid YAML: {exc}")
        return None
    if not isinstance(data, dict):
        problems.append(f"{path}:1 the file must hold a mapping of settings, not {type(data).__name__}")
        return None
    locations: dict[KeyPath, Location] = {}
    if node is not None:
        duplicates: list[str] = []
        _record_lines(node, (), str(path), locations, duplicates)
        if duplicates:  # YAML would silently keep only the last one, dropping settings
            problems.extend(duplicates)
            return None
    return _Document(data, locations)


def _record_lines(
    node: yaml.Node, prefix: KeyPath, file: str, out: dict[KeyPath, Location], duplicates: list[str]
) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = (*prefix, str(key_node.value))
            line = key_node.start_mark.line + 1
            if key in out:
                duplicates.append(
                    f"{file}:{line} {_dotted(key)}: duplicate key (first at line {out[key][1]}); merge the two"
                )
            out[key] = (file, line)
            _record_lines(value_node, key, file, out, duplicates)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            key = (*prefix, index)
            out[key] = (file, item.start_mark.line + 1)
            _record_lines(item, key, file, out, duplicates)


def _deep_merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """Mappings merge key by key; anything else in the overlay replaces the base's value."""
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _interpolate(doc: _Document, problems: list[str]) -> None:
    def substitute(value: Any, key_path: KeyPath) -> Any:
        if isinstance(value, dict):
            return {k: substitute(v, (*key_path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [substitute(v, (*key_path, i)) for i, v in enumerate(value)]
        if not isinstance(value, str) or "$" not in value:
            return value

        def replace(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            name, default = match.group(1), match.group(2)
            env_value = os.environ.get(name)
            if env_value is not None and (env_value != "" or default is None):
                return env_value
            if default is not None:
                return default
            where = _fmt(_nearest(doc.locations, key_path))
            problems.append(
                f"{where} {_dotted(key_path)}: environment variable {name} is not set (use ${{{name}:-default}})"
            )
            return ""

        return _VAR.sub(replace, value)

    doc.data = substitute(doc.data, ())


def _apply_override(doc: _Document, override: str, problems: list[str]) -> None:
    key, sep, raw_value = override.partition("=")
    if not sep or not key or any(not part for part in key.split(".")):
        problems.append(f"--set {override}: expected key.path=value")
        return
    try:
        value = yaml.safe_load(raw_value) if raw_value else ""
    except yaml.YAMLError:
        value = raw_value
    parts = key.split(".")
    node: Any = doc.data
    for part in parts[:-1]:
        child = node.get(part) if isinstance(node, dict) else None
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            problems.append(f"--set {override}: '{part}' is not a mapping")
            return
        node = child
    node[parts[-1]] = value
    doc.locations[tuple(parts)] = (f"--set {key}", 0)


def _default_region_from_env(doc: _Document) -> None:
    aws = doc.data.get("aws")
    if isinstance(aws, dict) and not aws.get("region"):
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if region:
            aws["region"] = region


def _describe(error: Any, doc: _Document, path: Path) -> str:
    loc: KeyPath = tuple(error["loc"])
    # pydantic puts a union's or a validator's branch name in loc; keep the parts that are real keys
    field_path = tuple(
        part for part in loc if not (isinstance(part, str) and ("[" in part or part.startswith("function-")))
    )
    if not field_path:  # the whole-config checks are about names derived from the project
        field_path = ("project",)
    where = _fmt(_nearest(doc.locations, field_path, default=(str(path), 1)))
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = f"unknown setting '{field_path[-1]}' (see `mlops config schema` for the allowed keys)"
    elif error["type"] == "missing":
        message = "required setting is missing"
        if field_path == ("aws", "region"):
            message += " (set aws.region in the config, or AWS_REGION in the environment)"
    elif error["type"] in ("string_pattern_mismatch",):
        message = f"{error.get('input')!r} does not match the rule {error['ctx']['pattern']}"
    return f"{where} {_dotted(field_path)}: {message}"


def _nearest(locations: dict[KeyPath, Location], key_path: KeyPath, default: Location | None = None) -> Location:
    for end in range(len(key_path), 0, -1):
        if key_path[:end] in locations:
            return locations[key_path[:end]]
    return default or next(iter(locations.values()), ("<config>", 1))


def _fmt(location: Location) -> str:
    file, line = location
    return f"{file}:{line}" if line else file


def _dotted(key_path: KeyPath) -> str:
    return ".".join(str(part) for part in key_path)
