"""The project's error types. Each carries the exit code documented in the README (DESIGN.md, "Exit codes")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


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


@dataclass(frozen=True)
class Problem:
    """One problem in a config: where it is and the rule it breaks. `file` is the config file, or `--set <key>` for
    an override; `line` is 1-based (None when the problem is about the whole file or an override); `field` is the
    dotted setting (None when the problem is not about one setting)."""

    file: str | None
    line: int | None
    field: str | None
    message: str

    def __str__(self) -> str:  # `file:line field: message`, the form people and editors read
        where = f"{self.file or ''}{f':{self.line}' if self.line else ''}"
        if self.field:
            return f"{where} {self.field}: {self.message}".lstrip()
        if not where:
            return self.message
        return f"{where} {self.message}" if self.line else f"{where}: {self.message}"


class ConfigError(UsageError):
    """The configuration is invalid. Holds every problem found, each with file, line and field: `details` as
    `Problem`s (the JSON error lists them), `problems` as the lines of the message."""

    def __init__(self, problems: Sequence[Problem | str], *, hint: str | None = None, total: int | None = None) -> None:
        self.details = [p if isinstance(p, Problem) else Problem(None, None, None, p) for p in problems]
        self.problems = [str(problem) for problem in self.details]
        self.total = len(self.details) if total is None else total  # `total` when only the first ones are listed
        lines = list(self.problems)
        if self.total > len(lines):
            lines.append(f"... {self.total - len(lines):,} more problems not shown (fix the ones above first)")
        noun = "problem" if self.total == 1 else "problems"
        super().__init__(f"invalid configuration ({self.total:,} {noun}):\n  " + "\n  ".join(lines), hint=hint)


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
