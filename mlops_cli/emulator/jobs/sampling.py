"""Hyperparameter values for the trials of a tuning job, drawn from its ParameterRanges. Pure.

Simplifications (the emulator runs the trials for real, but does not model the search):
- `Random`, `Bayesian` and `Hyperband` are all random sampling; `Grid` walks the cartesian product of the
  categorical ranges in the order given (AWS accepts only categorical ranges with Grid, and so does this).
- Scaling `Auto` is `Linear`; `Logarithmic` samples uniformly in log space (the range must be positive);
  `ReverseLogarithmic` (continuous ranges in [0, 1) only) samples 1 - x with x log-uniform.
- The random generator is seeded with the tuning job's name, so the same job definition yields the same values.

Values are encoded as the SDK sends hyperparameters, as JSON text: integers `"7"`, continuous `"0.0123"`;
categorical values are passed on exactly as the request lists them.
"""

from __future__ import annotations

import itertools
import json
import math
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

GRID = "Grid"
_KINDS = ("Integer", "Continuous", "Categorical")


@dataclass(frozen=True)
class ParameterRange:
    name: str
    kind: str  # Integer | Continuous | Categorical
    low: float = 0.0
    high: float = 0.0
    scaling: str = "Linear"
    values: tuple[str, ...] = ()


def parse_ranges(ranges: Mapping[str, Any] | None) -> list[ParameterRange]:
    """The request's ParameterRanges as a list, checked as AWS checks them. Raises ValueError."""
    parsed: list[ParameterRange] = []
    for kind in _KINDS:
        for item in (ranges or {}).get(f"{kind}ParameterRanges") or []:
            parsed.append(_parse_range(kind, item))
    names = [item.name for item in parsed]
    if len(set(names)) != len(names):
        raise ValueError(f"a hyperparameter appears in more than one range: {sorted(names)}")
    return parsed


def _parse_range(kind: str, item: Mapping[str, Any]) -> ParameterRange:
    name = item["Name"]
    if kind == "Categorical":
        values = tuple(str(value) for value in item.get("Values") or [])
        if not values:
            raise ValueError(f"categorical range {name!r} has no values")
        return ParameterRange(name, kind, values=values)
    convert = int if kind == "Integer" else float
    try:
        low, high = convert(item["MinValue"]), convert(item["MaxValue"])
    except (KeyError, ValueError) as exc:
        raise ValueError(f"range {name!r}: MinValue and MaxValue must be {kind.lower()} numbers") from exc
    scaling = item.get("ScalingType") or "Auto"
    if low > high:
        raise ValueError(f"range {name!r}: MinValue {low} is greater than MaxValue {high}")
    if scaling == "Logarithmic" and low <= 0:
        raise ValueError(f"range {name!r}: logarithmic scaling needs MinValue greater than 0")
    if scaling == "ReverseLogarithmic" and (kind == "Integer" or not 0 <= low <= high < 1):
        raise ValueError(f"range {name!r}: reverse logarithmic scaling needs a continuous range within [0, 1)")
    return ParameterRange(name, kind, low, high, "Linear" if scaling == "Auto" else scaling)


def draw(parameter: ParameterRange, rng: random.Random) -> str:
    """One value of `parameter`, encoded as the trial's hyperparameter value."""
    if parameter.kind == "Categorical":
        return rng.choice(parameter.values)
    low, high = parameter.low, parameter.high
    if parameter.scaling == "Logarithmic":
        value = math.exp(rng.uniform(math.log(low), math.log(high)))
    elif parameter.scaling == "ReverseLogarithmic":
        value = 1 - math.exp(rng.uniform(math.log(1 - high), math.log(1 - low)))
    elif parameter.kind == "Integer":
        return json.dumps(rng.randint(int(low), int(high)))
    else:
        value = rng.uniform(low, high)
    value = min(max(value, low), high)  # rounding in exp/log may step just outside
    if parameter.kind == "Integer":
        return json.dumps(min(max(round(value), int(low)), int(high)))
    return json.dumps(value)


class Sampler:
    """The tuned hyperparameters of trial 1, 2, ... in turn."""

    def __init__(self, ranges: Mapping[str, Any] | None, strategy: str, seed: str) -> None:
        self.parameters = parse_ranges(ranges)
        self.strategy = strategy
        self._rng = random.Random(seed)
        if strategy == GRID:
            if any(parameter.kind != "Categorical" for parameter in self.parameters):
                raise ValueError("the Grid strategy accepts only categorical parameter ranges")
            self._grid: Iterator[tuple[str, ...]] = itertools.product(*(p.values for p in self.parameters))

    @property
    def grid_size(self) -> int | None:
        """How many combinations the grid has (None for random sampling, which has no end)."""
        if self.strategy != GRID:
            return None
        return math.prod(len(parameter.values) for parameter in self.parameters)

    def next(self) -> dict[str, str] | None:
        """The next trial's values; None when the grid is exhausted."""
        if self.strategy == GRID:
            combination = next(self._grid, None)
            if combination is None:
                return None
            return {parameter.name: value for parameter, value in zip(self.parameters, combination, strict=True)}
        return {parameter.name: draw(parameter, self._rng) for parameter in self.parameters}
