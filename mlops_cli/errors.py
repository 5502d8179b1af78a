"""The project's error types. Each carries the exit code documented in the README (DESIGN.md, "Exit codes")."""

from __future__ import annotations


class MlopsError(Exception):
    """Base error: a message that says what failed, why, and what to do next."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n{self.hint}" if self.hint else self.message


class OperationFailed(MlopsError):
    """An AWS error, a job that ended Failed, a rollout that was rolled back."""

    exit_code = 1


class AwsUnreachable(OperationFailed):
    """AWS could not be reached, or answered "try again" (throttling, 5xx), even after botocore's retries.
    Transient: a wait loop keeps polling through it for a while (`mlops_cli.aws.errors.Outage`)."""


class EmulatorRestarted(OperationFailed):
    """The embedded emulator stopped or restarted during the command: everything it held is gone."""


class DriftDetected(OperationFailed):
    """`status --check` found resources that differ from the config."""


class UsageError(MlopsError):
    """Bad usage: nothing was changed in AWS."""

    exit_code = 2


class ConfigError(UsageError):
    """The configuration is invalid. Holds every problem found, each with file, line and field."""

    def __init__(self, problems: list[str], *, hint: str | None = None, total: int | None = None) -> None:
        self.problems = problems
        count = len(problems) if total is None else total  # `total` when only the first problems are listed
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"invalid configuration ({count:,} {noun}):\n  " + "\n  ".join(problems), hint=hint)


class PreconditionFailed(MlopsError):
    """A precondition is not met (the resource does not exist, nothing is approved, ...)."""

    exit_code = 3


class WriteConflict(PreconditionFailed):
    """A conditional write lost: the object changed (or appeared) between reading it and writing it."""


class WaitTimeout(MlopsError):
    """Timed out while waiting; the work goes on in AWS."""

    exit_code = 4


class Interrupted(MlopsError):
    """Ctrl-C while waiting: the work goes on in AWS; running again continues where it stopped."""

    exit_code = 130
