"""Which target gets the next request: round robin over the healthy targets of a target group, failing open to
every registered target when none is healthy (AWS: "If a target group contains only unhealthy registered targets,
the load balancer routes requests to all those targets, regardless of their health status"); and which target
group, for a weighted forward action. Pure apart from a lock."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Generic, TypeVar

from mlops_cli.emulator.balancing.health import HEALTHY, INITIAL, UNAVAILABLE, UNHEALTHY

T = TypeVar("T")

# States that may still receive traffic when nothing is healthy. `unused` (an instance that is stopped) and
# `draining` (deregistered) targets never do.
_FAIL_OPEN_STATES = (INITIAL, UNHEALTHY, UNAVAILABLE)


def eligible(targets: Sequence[tuple[T, str]]) -> list[T]:
    """The targets (with their states, in registration order) that may receive the next request."""
    healthy = [target for target, state in targets if state == HEALTHY]
    if healthy:
        return healthy
    return [target for target, state in targets if state in _FAIL_OPEN_STATES]


class RoundRobin(Generic[T]):
    """The next of the given candidates, in turn. The candidates may change between calls (a target turns
    unhealthy): the turn goes on from where it was."""

    def __init__(self) -> None:
        self._turn = 0
        self._lock = threading.Lock()

    def pick(self, candidates: Sequence[T]) -> T | None:
        if not candidates:
            return None
        with self._lock:
            chosen = candidates[self._turn % len(candidates)]
            self._turn += 1
        return chosen


class WeightedChoice(Generic[T]):
    """Smooth weighted round robin (as nginx does it): over any `sum(weights)` consecutive picks each item is
    chosen `weight` times, spread out. Weight 0 takes no traffic."""

    def __init__(self) -> None:
        self._current: dict[int, float] = {}
        self._lock = threading.Lock()

    def pick(self, weighted: Sequence[tuple[T, float]]) -> T | None:
        live = [(index, item, weight) for index, (item, weight) in enumerate(weighted) if weight > 0]
        if not live:
            return None
        total = sum(weight for _index, _item, weight in live)
        with self._lock:
            for index, _item, weight in live:
                self._current[index] = self._current.get(index, 0.0) + weight
            best_index, best_item, _weight = max(live, key=lambda entry: self._current[entry[0]])
            self._current[best_index] -= total
        return best_item
