"""The health checks of one target group: a daemon thread per registered target checks it every
HealthCheckIntervalSeconds (the first check at once, so a new target does not wait an interval to turn healthy) and
feeds the results to its TargetHealth. Settings are read from moto's target group before every check, so
ModifyTargetGroup applies from the next one. A deregistered target stops getting traffic at once and is reported
`draining` for the deregistration delay (not for Lambda targets, which have none)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from mlops_cli.emulator.balancing import health, probes
from mlops_cli.emulator.balancing.health import CheckResult, TargetHealth, Verdict
from mlops_cli.emulator.balancing.routing import RoundRobin, eligible
from mlops_cli.emulator.balancing.targets import CheckSettings, TargetKey, instance_state, registered
from mlops_cli.emulator.jobs.runtime import announce

_DISABLED_POLL = 1.0  # seconds between looks at a Lambda target group whose health checks are off
_DEFAULT_DEREGISTRATION_DELAY = 300.0

Probe = Callable[[TargetKey, CheckSettings], CheckResult]


class TargetMonitor:
    def __init__(self, label: str, key: TargetKey, group: Any, probe: Probe) -> None:
        self.label = label
        self.key = key
        self.group = group
        self.probe = probe
        self.health = TargetHealth()
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"health-{label}-{key}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    def verdict(self) -> Verdict:
        with self.lock:
            return self.health.verdict

    def _loop(self) -> None:
        while not self._stop.is_set():
            settings = CheckSettings.of(self.group)
            if not settings.enabled:
                self._stop.wait(_DISABLED_POLL)
                continue
            started = time.monotonic()
            try:
                result = self.probe(self.key, settings)
            except Exception as exc:  # a bug here must not end the checks: count it as AWS's internal error
                result = CheckResult(
                    False,
                    f"{type(exc).__name__}: {exc}",
                    "Elb.InternalError",
                    "Health checks failed due to an internal error",
                )
            if self._stop.is_set():
                return
            with self.lock:
                before = self.health.verdict
                changed = self.health.record(result, settings.healthy_threshold, settings.unhealthy_threshold)
                after = self.health.verdict
            if changed or (after.state == health.UNHEALTHY and after != before):
                why = f" ({after.reason}: {result.detail})" if after.reason else ""
                announce(f"target group {self.label}: target {self.key} is {after.state}{why}")
            self._stop.wait(max(0.0, started + settings.interval - time.monotonic()))


class GroupMonitor:
    """The targets of one target group that a listener uses."""

    def __init__(self, group: Any, ec2_backend: Any, alb_port: Callable[[str, int], int | None]) -> None:
        self.group = group
        self.arn = str(group.arn)
        self.label = str(group.name)
        self.ec2_backend = ec2_backend
        self.alb_port = alb_port
        self.network = False  # a Network Load Balancer uses it: every failure is Target.FailedHealthChecks
        self.round_robin: RoundRobin[TargetKey] = RoundRobin()
        self._monitors: dict[TargetKey, TargetMonitor] = {}
        self._draining: dict[TargetKey, float] = {}  # until when (monotonic)
        self._lock = threading.Lock()

    def sync(self, group: Any) -> None:
        """Follow RegisterTargets / DeregisterTargets: a monitor per registered target."""
        self.group = group
        current = registered(group)
        started, stopped = [], []
        with self._lock:
            for key in current:
                if key not in self._monitors:
                    monitor = TargetMonitor(self.label, key, group, self._check)
                    self._monitors[key] = monitor
                    self._draining.pop(key, None)
                    started.append(monitor)
            for key in [key for key in self._monitors if key not in current]:
                stopped.append(self._monitors.pop(key))
                if group.target_type != "lambda":
                    self._draining[key] = time.monotonic() + _deregistration_delay(group)
            now = time.monotonic()
            for key in [key for key, until in self._draining.items() if until <= now]:
                del self._draining[key]
        for monitor in stopped:
            monitor.stop()
        for monitor in started:
            monitor.start()

    def _check(self, key: TargetKey, settings: CheckSettings) -> CheckResult:
        return probes.check(
            self.group, key, settings, network=self.network, ec2_backend=self.ec2_backend, alb_port=self.alb_port
        )

    def stop(self) -> list[TargetMonitor]:
        with self._lock:
            monitors, self._monitors = list(self._monitors.values()), {}
            self._draining.clear()
        for monitor in monitors:
            monitor.stop()
        return monitors

    def verdict(self, key: TargetKey) -> Verdict:
        """The target's health now (DescribeTargetHealth)."""
        with self._lock:
            monitor = self._monitors.get(key)
            draining_until = self._draining.get(key)
        if monitor is None:
            if draining_until is not None and draining_until > time.monotonic():
                return health.DEREGISTERING
            return health.NOT_REGISTERED
        if self.group.target_type == "instance":
            state = instance_state(self.ec2_backend, key.id)
            if state is not None and state != "running":
                return health.invalid_state(state)
        if not CheckSettings.of(self.group).enabled:
            return health.CHECKS_DISABLED
        return monitor.verdict()

    def registered(self) -> list[TargetKey]:
        with self._lock:
            return list(self._monitors)

    def draining(self) -> list[TargetKey]:
        now = time.monotonic()
        with self._lock:
            return [key for key, until in self._draining.items() if until > now]

    def pick(self) -> TargetKey | None:
        """The target for the next request: round robin over the healthy ones, or all of them (fail open)."""
        candidates = eligible([(key, self.verdict(key).state) for key in self.registered()])
        return self.round_robin.pick(candidates)


def _deregistration_delay(group: Any) -> float:
    try:
        return float(group.attributes.get("deregistration_delay.timeout_seconds", _DEFAULT_DEREGISTRATION_DELAY))
    except (TypeError, ValueError):
        return _DEFAULT_DEREGISTRATION_DELAY
