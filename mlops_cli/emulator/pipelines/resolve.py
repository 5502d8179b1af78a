"""Pipeline expressions: `{"Get": ...}` references, `Std:Join` and `Std:JsonGet`, resolved against an execution's
state; and the paths into Describe* output (`ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri`)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")
_LIST_KEYS = ("OutputName", "InputName", "ChannelName", "Name", "PropertyFileName")


class ResolveError(ValueError):
    pass


@dataclass
class Context:
    parameters: dict[str, Any]
    execution: dict[str, Any]  # PipelineExecutionId, StartDateTime, PipelineName, PipelineExecutionArn
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)  # step name -> its Describe* output
    # (step name, property file name) -> the file's parsed JSON
    property_file: Callable[[str, str], Any] = lambda step, name: _missing_file(step, name)


def _missing_file(step: str, name: str) -> Any:
    raise ResolveError(f"property file {name!r} of step {step!r} is not available")


def path_tokens(path: str) -> list[str | int]:
    tokens: list[str | int] = []
    position = 0
    while position < len(path):
        if path[position] == ".":
            position += 1
            continue
        match = _TOKEN.match(path, position)
        if not match:
            raise ResolveError(f"cannot parse the path {path!r} at {path[position:]!r}")
        name, index, quoted, double = match.groups()
        tokens.append(int(index) if index is not None else (name or quoted or double or ""))
        position = match.end()
    return tokens


def walk(value: Any, path: str) -> Any:
    """Follow `path` into `value`; `[n]` indexes a list, `['x']` picks the list item whose name is x."""
    for token in path_tokens(path):
        if isinstance(token, int):
            if not isinstance(value, list) or token >= len(value):
                raise ResolveError(f"{path!r}: no item [{token}]")
            value = value[token]
        elif isinstance(value, dict) and token in value:
            value = value[token]
        elif isinstance(value, list):
            matches = [item for item in value if isinstance(item, dict) and token in (item.get(k) for k in _LIST_KEYS)]
            if not matches:
                raise ResolveError(f"{path!r}: no item named {token!r}")
            value = matches[0]
        else:
            raise ResolveError(f"{path!r}: no {token!r}")
    return value


def resolve(value: Any, context: Context) -> Any:
    """`value` with every expression replaced by its value."""
    if isinstance(value, list):
        return [resolve(item, context) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((key, argument),) = value.items()
        if key == "Get" and isinstance(argument, str):
            return get(argument, context)
        if key == "Std:Join":
            values = resolve(argument.get("Values") or [], context)
            return str(argument.get("On", "")).join(_text(item) for item in values)
        if key == "Std:JsonGet":
            return json_get(argument, context)
    return {key: resolve(item, context) for key, item in value.items()}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def get(reference: str, context: Context) -> Any:
    head, _, rest = reference.partition(".")
    if head == "Parameters":
        if rest not in context.parameters:
            raise ResolveError(f"undefined parameter {rest!r}")
        return context.parameters[rest]
    if head == "Execution":
        if rest not in context.execution:
            raise ResolveError(f"unknown execution variable {rest!r}")
        return context.execution[rest]
    if head == "Steps":
        step, _, path = rest.partition(".")
        if step not in context.steps:
            raise ResolveError(f"step {step!r} has not run")
        if path.startswith("PropertyFiles."):
            return {"PropertyFile": (step, path.split(".", 1)[1])}
        return walk(context.steps[step], path)
    raise ResolveError(f"unknown reference {reference!r}")


def json_get(argument: dict[str, Any], context: Context) -> Any:
    holder = resolve(argument.get("PropertyFile"), context)
    if not (isinstance(holder, dict) and isinstance(holder.get("PropertyFile"), tuple)):
        raise ResolveError(f"Std:JsonGet needs a PropertyFile reference, not {argument.get('PropertyFile')!r}")
    step, name = holder["PropertyFile"]
    document = context.property_file(step, name)
    return walk(document, str(resolve(argument.get("Path"), context)))


def parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ResolveError(f"the property file is not JSON: {exc}") from exc
