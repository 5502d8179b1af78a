"""How an UpdateEndpoint shifts traffic, from its DeploymentConfig (contract section 8). Pure.

Blue/green: the new fleet comes up next to the old one; traffic moves to it in steps (ALL_AT_ONCE: one step;
CANARY: CanarySize, then the rest; LINEAR: LinearStepSize at a time; a RollingUpdatePolicy: MaximumBatchSize at a
time), each step followed by a baking period of WaitIntervalInSeconds during which the AutoRollbackConfiguration
alarms are watched; the old fleet is stopped TerminationWaitInSeconds after the last step. Locally every wait is
capped (MAX_BAKE_SECONDS, MAX_TERMINATION_WAIT_SECONDS): the emulator must not keep a test waiting for minutes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

MAX_BAKE_SECONDS = 3.0
MAX_TERMINATION_WAIT_SECONDS = 2.0


@dataclass(frozen=True)
class Rollout:
    steps: tuple[float, ...] = (1.0,)  # the new fleet's share of traffic after each step; the last is 1.0
    bake_seconds: float = 0.0  # per step, already capped
    termination_wait_seconds: float = 0.0  # already capped
    alarms: tuple[str, ...] = field(default_factory=tuple)


def rollout_of(config: dict[str, Any] | None, new_capacity: int) -> Rollout:
    """The steps and waits of DeploymentConfig `config` for a new fleet of `new_capacity` instances."""
    if not config:
        return Rollout()
    alarms = tuple(alarm["AlarmName"] for alarm in (config.get("AutoRollbackConfiguration") or {}).get("Alarms") or [])
    blue_green = config.get("BlueGreenUpdatePolicy")
    rolling = config.get("RollingUpdatePolicy")
    if blue_green:
        routing = blue_green.get("TrafficRoutingConfiguration") or {}
        kind = routing.get("Type", "ALL_AT_ONCE")
        if kind == "CANARY":
            steps: tuple[float, ...] = (_share(routing.get("CanarySize"), new_capacity), 1.0)
        elif kind == "LINEAR":
            steps = _linear(_share(routing.get("LinearStepSize"), new_capacity))
        else:
            steps = (1.0,)
        wait = float(routing.get("WaitIntervalInSeconds") or 0)
        termination = float(blue_green.get("TerminationWaitInSeconds") or 0)
    elif rolling:
        steps = _linear(_share(rolling.get("MaximumBatchSize"), new_capacity))
        wait = float(rolling.get("WaitIntervalInSeconds") or 0)
        termination = 0.0
    else:
        steps, wait, termination = (1.0,), 0.0, 0.0
    return Rollout(
        steps=steps,
        bake_seconds=min(wait, MAX_BAKE_SECONDS),
        termination_wait_seconds=min(termination, MAX_TERMINATION_WAIT_SECONDS),
        alarms=alarms,
    )


def _share(size: dict[str, Any] | None, capacity: int) -> float:
    """A CapacitySize ({Type: INSTANCE_COUNT | CAPACITY_PERCENT, Value}) as a share of the new fleet, in (0, 1]."""
    if not size:
        return 1.0
    value = float(size.get("Value", 0))
    share = value / max(1, capacity) if size.get("Type") == "INSTANCE_COUNT" else value / 100
    return min(1.0, max(share, 0.01))


def _linear(step: float) -> tuple[float, ...]:
    count = max(1, math.ceil(1 / step - 1e-9))
    return (*(min(1.0, step * index) for index in range(1, count)), 1.0)
