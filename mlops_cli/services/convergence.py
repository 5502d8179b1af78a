"""Converge resources to a desired state, one control at a time: read, compare, then create, update or leave alone.

The same controls serve `init` (converge) and `status` (inspect), so what is reported as drift is exactly what
`init` repairs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Action(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


class State(StrEnum):
    OK = "ok"
    DRIFT = "drift"
    MISSING = "missing"


@dataclass
class Control:
    """One setting of one resource. `read` returns the actual value in the same shape as `desired` (None when
    absent); `write` makes the actual value match. `desired` may be a callable when it depends on an earlier
    control (a key ARN known only once the key exists)."""

    name: str
    desired: Any
    read: Callable[[], Any] = field(repr=False)
    write: Callable[[], None] = field(repr=False)
    matches: Callable[[Any, Any], bool] = field(default=lambda actual, desired: actual == desired, repr=False)
    parent: str | None = None  # the resource this control is a setting of

    def expected(self) -> Any:
        return self.desired() if callable(self.desired) else self.desired


@dataclass
class ControlResult:
    name: str
    action: Action | None  # set by converge
    state: State  # the state found before any change
    expected: Any
    actual: Any


def inspect(controls: list[Control]) -> list[ControlResult]:
    """Compare every control with its desired value; change nothing."""
    results = []
    for control in controls:
        actual, expected = control.read(), control.expected()
        results.append(ControlResult(control.name, None, _state(control, actual, expected), expected, actual))
    return results


def converge(controls: list[Control]) -> list[ControlResult]:
    """Make every control match, in order, and report what each needed."""
    results: list[ControlResult] = []
    created: set[str] = set()
    for control in controls:
        actual, expected = control.read(), control.expected()
        state = _state(control, actual, expected)
        if state is not State.OK:
            control.write()
        if control.parent in created or (control.parent is None and actual is None):
            # a missing resource is created, and its settings with it; a missing setting of one that existed
            # is an update of that resource
            action = Action.CREATED
            created.add(control.name)
        else:
            action = Action.UNCHANGED if state is State.OK else Action.UPDATED
        results.append(ControlResult(control.name, action, state, expected, actual))
    return results


def _state(control: Control, actual: Any, expected: Any) -> State:
    if actual is None:
        return State.MISSING
    return State.OK if control.matches(actual, expected) else State.DRIFT


def canonical(document: Any) -> str:
    """A stable text form of a JSON document (policies), so key order and spacing never count as drift."""
    return json.dumps(_normalise(document), sort_keys=True, separators=(",", ":"))


def same_document(actual: Any, desired: Any) -> bool:
    """`Control.matches` for JSON documents: equal in their canonical form."""
    return canonical(actual) == canonical(desired)


def _normalise(value: Any) -> Any:
    # IAM treats a one-element list and the bare element alike, and statement order as irrelevant to meaning
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        items = [_normalise(v) for v in value]
        if len(items) == 1 and not isinstance(items[0], dict):
            return items[0]
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
    return value
