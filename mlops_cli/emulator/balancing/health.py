"""A target's health as Elastic Load Balancing reports it (DescribeTargetHealth): the states, the reason codes with
AWS's descriptions, and the state machine that consecutive health checks drive.

A newly registered target starts `initial` (Elb.RegistrationInProgress until its first check has run, then
Elb.InitialHealthChecking); AWS documents that it "must pass one health check to be considered healthy", so one
success makes it `healthy`, while UnhealthyThresholdCount consecutive failures make it `unhealthy`. A healthy target
turns unhealthy after UnhealthyThresholdCount consecutive failures, an unhealthy one healthy again after
HealthyThresholdCount consecutive successes. Pure: no threads, no clock, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

INITIAL = "initial"
HEALTHY = "healthy"
UNHEALTHY = "unhealthy"
UNUSED = "unused"
DRAINING = "draining"
UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class Verdict:
    """One TargetHealth: State, and for any state but healthy a Reason and a Description."""

    state: str
    reason: str | None = None
    description: str | None = None

    def as_target_health(self) -> dict[str, str]:
        answer = {"State": self.state}
        if self.reason:
            answer["Reason"] = self.reason
        if self.description:
            answer["Description"] = self.description
        return answer


# The reason codes and descriptions of AWS's "Health check reason codes" table.
REGISTERING = Verdict(INITIAL, "Elb.RegistrationInProgress", "Target registration is in progress")
INITIAL_CHECKS = Verdict(INITIAL, "Elb.InitialHealthChecking", "Initial health checks in progress")
IS_HEALTHY = Verdict(HEALTHY)
NOT_REGISTERED = Verdict(UNUSED, "Target.NotRegistered", "Target is not registered to the target group")
NOT_IN_USE = Verdict(
    UNUSED, "Target.NotInUse", "Target group is not configured to receive traffic from the load balancer"
)
DEREGISTERING = Verdict(DRAINING, "Target.DeregistrationInProgress", "Target deregistration is in progress")
CHECKS_DISABLED = Verdict(UNAVAILABLE, "Target.HealthCheckDisabled", "Health checks are disabled")

FAILED_HEALTH_CHECKS = "Target.FailedHealthChecks"
TIMEOUT = "Target.Timeout"
RESPONSE_CODE_MISMATCH = "Target.ResponseCodeMismatch"


def invalid_state(instance_state: str) -> Verdict:
    return Verdict(UNUSED, "Target.InvalidState", f"Target is in the {instance_state} state")


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one health check. `detail` says what happened, for the emulator's log; a failure carries the
    reason code and description AWS would report."""

    passed: bool
    detail: str
    reason: str | None = None
    description: str | None = None

    @classmethod
    def success(cls, detail: str) -> CheckResult:
        return cls(True, detail)

    @classmethod
    def failed(cls, detail: str, description: str = "Health checks failed") -> CheckResult:
        return cls(False, detail, FAILED_HEALTH_CHECKS, description)

    @classmethod
    def timed_out(cls, detail: str) -> CheckResult:
        return cls(False, detail, TIMEOUT, "Request timed out")

    @classmethod
    def mismatch(cls, code: int) -> CheckResult:
        return cls(
            False, f"answered HTTP {code}", RESPONSE_CODE_MISMATCH, f"Health checks failed with these codes: [{code}]"
        )

    def for_network_load_balancer(self) -> CheckResult:
        """Target.Timeout and Target.ResponseCodeMismatch apply to Application Load Balancers only: a Network Load
        Balancer reports every failure as Target.FailedHealthChecks."""
        if self.passed or self.reason == FAILED_HEALTH_CHECKS:
            return self
        return CheckResult.failed(self.detail)


class TargetHealth:
    """The health of one registered target, driven by its health checks' results."""

    def __init__(self) -> None:
        self.verdict: Verdict = REGISTERING
        self.checks = 0
        self.successes = 0  # consecutive
        self.failures = 0  # consecutive
        self.last: CheckResult | None = None

    @property
    def state(self) -> str:
        return self.verdict.state

    def record(self, result: CheckResult, healthy_threshold: int, unhealthy_threshold: int) -> bool:
        """Count one check; returns whether the state changed."""
        before = self.verdict.state
        self.checks += 1
        self.last = result
        if result.passed:
            self.successes += 1
            self.failures = 0
            if before == INITIAL or self.successes >= healthy_threshold:
                self.verdict = IS_HEALTHY
        else:
            self.failures += 1
            self.successes = 0
            failure = Verdict(UNHEALTHY, result.reason or FAILED_HEALTH_CHECKS, result.description)
            if before == UNHEALTHY or self.failures >= unhealthy_threshold:
                self.verdict = failure  # an unhealthy target's reason is its latest failure's
            elif before == INITIAL:
                self.verdict = INITIAL_CHECKS
        return self.verdict.state != before
