"""Bringing fleets up, in a thread per CreateEndpoint / UpdateEndpoint so the API answers at once.

- create: Creating → the fleet answers /ping → InService; or → Failed with the fleet's FailureReason.
- update: the endpoint stays Updating (and serving) while the new fleet comes up; traffic moves to it as its
  `Rollout` says, baking after each step while the rollback alarms are watched; then the old fleet is drained and
  stopped and the endpoint is InService on the new config. A new fleet that cannot start, or an alarm in ALARM
  while baking, rolls back: RollingBack, all traffic on the old fleet, the new one stopped, InService on the old
  config with FailureReason saying why.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable

from mlops_cli.emulator import alarms
from mlops_cli.emulator.jobs.runtime import announce
from mlops_cli.emulator.serving.endpoint import Endpoint, Route
from mlops_cli.emulator.serving.errors import FleetFailure
from mlops_cli.emulator.serving.fleet import Fleet
from mlops_cli.emulator.serving.rollout import Rollout

ALARM_POLL_SECONDS = 0.2


class Abandoned(Exception):
    """The endpoint was deleted or the emulator reset meanwhile: the deployment ends quietly."""


def start_thread(endpoint: Endpoint, target: Callable[..., None], *args: object) -> threading.Thread:
    def main() -> None:
        try:
            target(endpoint, *args)
        except Abandoned:
            pass
        except Exception:  # a bug of the emulator: say so in its log, never kill the server
            announce(f"endpoint {endpoint.name}: the deployment failed:\n{traceback.format_exc()}")

    thread = threading.Thread(target=main, name=f"endpoint:{endpoint.name}", daemon=True)
    thread.start()
    return thread


def _check(endpoint: Endpoint, *fleets: Fleet) -> None:
    if endpoint.abandoned:
        for fleet in fleets:
            fleet.stop(graceful=False)
        raise Abandoned


def create(endpoint: Endpoint, fleet: Fleet) -> None:
    try:
        fleet.start()
    except FleetFailure as failure:
        _check(endpoint)
        endpoint.pending = None
        endpoint.set_status("Failed", failure_reason=failure.reason)
        announce(f"endpoint {endpoint.name} failed: {failure.reason}")
        return
    with endpoint.lock:
        _check(endpoint, fleet)
        endpoint.activate(fleet)
        endpoint.set_status("InService", failure_reason=None)


def update(endpoint: Endpoint, old: Fleet, new: Fleet, rollout: Rollout) -> None:
    try:
        new.start()
    except FleetFailure as failure:
        _check(endpoint)
        _roll_back(endpoint, old, new, failure.reason)
        return
    _check(endpoint, new)
    for share in rollout.steps:
        with endpoint.lock:
            _check(endpoint, new)
            endpoint.pending_status = "ActivatingTraffic"
            endpoint.route(Route(old, 1.0 - share), Route(new, share))
            endpoint.pending_status = "Baking"
        fired = _bake(endpoint, rollout, new)
        if fired:
            reason = (
                f"The endpoint update was rolled back because the alarm(s) {', '.join(fired)} of "
                f"AutoRollbackConfiguration went into ALARM state during the deployment."
            )
            _roll_back(endpoint, old, new, reason)
            return
    with endpoint.lock:
        _check(endpoint, new)
        endpoint.activate(new)
        endpoint.retiring = old
    _retire(endpoint, old, rollout.termination_wait_seconds)
    endpoint.set_status("InService", failure_reason=None)
    announce(f"endpoint {endpoint.name} updated to endpoint config {new.config_name}")


def _bake(endpoint: Endpoint, rollout: Rollout, new: Fleet) -> list[str]:
    """Watch the rollback alarms for the baking period; the ones found in ALARM (none: the step holds)."""
    deadline = time.monotonic() + rollout.bake_seconds
    while True:
        _check(endpoint, new)
        if rollout.alarms:
            fired = alarms.firing(endpoint.account_id, endpoint.region, list(rollout.alarms))
            if fired:
                return fired
        if time.monotonic() >= deadline:
            return []
        time.sleep(min(ALARM_POLL_SECONDS, max(0.0, deadline - time.monotonic())))


def _roll_back(endpoint: Endpoint, old: Fleet, new: Fleet, reason: str) -> None:
    with endpoint.lock:
        endpoint.set_status("RollingBack")
        endpoint.route(Route(old, 1.0))
    new.drain()
    new.stop()
    with endpoint.lock:
        endpoint.pending = None
        endpoint.set_status("InService", failure_reason=reason)
    announce(f"endpoint {endpoint.name}: update to {new.config_name} rolled back: {reason}")


def _retire(endpoint: Endpoint, old: Fleet, wait: float) -> None:
    """The old fleet, out of the routing already, is stopped once it has answered everything it accepted."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        _check(endpoint, old)
        time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
    old.drain()
    old.stop()
    with endpoint.lock:
        endpoint.retiring = None
