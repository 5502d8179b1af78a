"""A Condition step's `Conditions`, their values already resolved: all must hold."""

from __future__ import annotations

from typing import Any

_COMPARISONS = {
    "GreaterThan": lambda left, right: left > right,
    "GreaterThanOrEqualTo": lambda left, right: left >= right,
    "LessThan": lambda left, right: left < right,
    "LessThanOrEqualTo": lambda left, right: left <= right,
}


class ConditionError(ValueError):
    pass


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise ConditionError(f"{value!r} is not a number") from exc


def _same(left: Any, right: Any) -> bool:
    if left == right:
        return True
    try:
        return _number(left) == _number(right)
    except ConditionError:
        return str(left).lower() == str(right).lower() if isinstance(left, bool) or isinstance(right, bool) else False


def holds(condition: dict[str, Any]) -> bool:
    kind = condition.get("Type")
    if kind == "Equals":
        return _same(condition.get("LeftValue"), condition.get("RightValue"))
    if kind in _COMPARISONS:
        return bool(_COMPARISONS[kind](_number(condition.get("LeftValue")), _number(condition.get("RightValue"))))
    if kind == "In":
        return any(_same(condition.get("QueryValue"), value) for value in condition.get("Values") or [])
    if kind == "Not":
        return not holds(condition.get("Condition") or {})
    if kind == "Or":
        return any(holds(item) for item in condition.get("Conditions") or [])
    raise ConditionError(f"unknown condition Type {kind!r}")


def all_hold(conditions: list[dict[str, Any]]) -> bool:
    return all(holds(condition) for condition in conditions)
