"""A pipeline definition (format 2020-12-01): checked on CreatePipeline/UpdatePipeline, and flattened into the steps
an execution runs, each with its dependencies (DependsOn, "Steps.X" references, and the condition step that holds a
branch step)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

VERSION = "2020-12-01"
STEP_TYPES = ("Processing", "Training", "Condition", "Fail", "RegisterModel")
KNOWN_TYPES = (*STEP_TYPES, "Model", "Transform", "Lambda", "Callback", "Tuning", "CreateModel", "EMR", "ClarifyCheck")
_STEP_REF = re.compile(r"^Steps\.([^.\[]+)")


class DefinitionError(ValueError):
    """The definition cannot run; the message says why."""


@dataclass
class Step:
    name: str
    type: str
    arguments: dict[str, Any]
    raw: dict[str, Any]
    depends_on: set[str] = field(default_factory=set)
    branch_of: tuple[str, bool] | None = None  # (condition step, True for IfSteps)


@dataclass
class Definition:
    parameters: dict[str, dict[str, Any]]
    steps: dict[str, Step]  # in definition order, branch steps after their condition

    def defaults(self) -> dict[str, Any]:
        return {name: spec.get("DefaultValue") for name, spec in self.parameters.items()}


def references(value: Any) -> list[str]:
    """Every `{"Get": "..."}` string inside `value`."""
    found: list[str] = []
    if isinstance(value, dict):
        if isinstance(value.get("Get"), str) and len(value) == 1:
            found.append(value["Get"])
        for item in value.values():
            found.extend(references(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(references(item))
    return found


def parse(text: str) -> Definition:
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise DefinitionError(f"PipelineDefinition is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise DefinitionError("PipelineDefinition must be a JSON object")
    if document.get("Version") != VERSION:
        raise DefinitionError(f"PipelineDefinition Version must be {VERSION!r}, not {document.get('Version')!r}")
    parameters: dict[str, dict[str, Any]] = {}
    for spec in document.get("Parameters") or []:
        name = spec.get("Name") if isinstance(spec, dict) else None
        if not name:
            raise DefinitionError(f"a pipeline parameter has no Name: {spec!r}")
        if spec.get("Type", "String") not in ("String", "Integer", "Float", "Boolean"):
            raise DefinitionError(f"parameter {name!r} has an unknown Type {spec.get('Type')!r}")
        parameters[name] = spec
    steps: dict[str, Step] = {}
    top = document.get("Steps")
    if not isinstance(top, list) or not top:
        raise DefinitionError("PipelineDefinition has no Steps")
    _collect(top, steps, None)
    definition = Definition(parameters, steps)
    _check_references(definition)
    _order(definition)  # raises for a cycle
    return definition


def _collect(raw_steps: list[Any], steps: dict[str, Step], branch_of: tuple[str, bool] | None) -> None:
    for raw in raw_steps:
        if not isinstance(raw, dict) or not raw.get("Name"):
            raise DefinitionError(f"a step has no Name: {raw!r}")
        name, kind = raw["Name"], raw.get("Type")
        if name in steps:
            raise DefinitionError(f"step name {name!r} is used twice; step names must be unique")
        if kind not in KNOWN_TYPES:
            raise DefinitionError(f"step {name!r} has an unknown Type {kind!r} (known: {', '.join(KNOWN_TYPES)})")
        arguments = raw.get("Arguments") or {}
        if not isinstance(arguments, dict):
            raise DefinitionError(f"step {name!r}: Arguments must be an object")
        step = Step(name, kind, arguments, raw, set(raw.get("DependsOn") or []), branch_of)
        if branch_of is not None:
            step.depends_on.add(branch_of[0])
        for reference in references(arguments) + references(raw.get("PropertyFiles") or []):
            if match := _STEP_REF.match(reference):
                step.depends_on.add(match.group(1))
        steps[name] = step
        if kind == "Condition":
            _collect(arguments.get("IfSteps") or [], steps, (name, True))
            _collect(arguments.get("ElseSteps") or [], steps, (name, False))


def _check_references(definition: Definition) -> None:
    for step in definition.steps.values():
        for dependency in sorted(step.depends_on):
            if dependency not in definition.steps:
                raise DefinitionError(f"step {step.name!r} depends on step {dependency!r}, which does not exist")
        for reference in references(_own_arguments(step)):
            if reference.startswith("Parameters."):
                parameter = reference.split(".", 1)[1]
                if parameter not in definition.parameters:
                    raise DefinitionError(f"step {step.name!r} refers to undefined parameter {parameter!r}")
            elif not reference.startswith(("Steps.", "Execution.")):
                raise DefinitionError(f"step {step.name!r} has an unknown reference {reference!r}")


def _own_arguments(step: Step) -> dict[str, Any]:
    if step.type != "Condition":
        return step.arguments
    return {key: value for key, value in step.arguments.items() if key not in ("IfSteps", "ElseSteps")}


def _order(definition: Definition) -> list[str]:
    """Step names in an order that respects every dependency (definition order among independent steps)."""
    done: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in done:
            return
        if name in visiting:
            raise DefinitionError(f"the steps' dependencies form a cycle through {name!r}")
        visiting.add(name)
        for dependency in sorted(definition.steps[name].depends_on):
            visit(dependency)
        visiting.discard(name)
        done.append(name)

    for name in definition.steps:
        visit(name)
    return done


def order(definition: Definition) -> list[str]:
    return _order(definition)
