"""The runner's one error type."""

from __future__ import annotations


class JobFailure(Exception):
    """The job cannot go on (an input that does not exist, an upload that fails, a request the emulator cannot
    run). Its message becomes the job's FailureReason, so it starts with SageMaker's error class ("ClientError: ")."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
