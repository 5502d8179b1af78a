"""Errors of the emulated endpoints: the runtime API's (serialised by moto through botocore's model, so boto3 raises
`ValidationError` / `ModelError` with their modelled fields) and the one a fleet fails with."""

from __future__ import annotations

from moto.core.exceptions import ServiceException

ENDPOINT_LOGS_GROUP = "/aws/sagemaker/Endpoints/{endpoint}"


class RuntimeValidationError(ServiceException):
    """sagemaker-runtime's 400 (its shape is ValidationError, not the control plane's ValidationException)."""

    code = "ValidationError"


class ModelError(ServiceException):
    """HTTP 424: the model container answered with a non-2xx status, or did not answer."""

    code = "ModelError"

    def __init__(
        self, message: str, original_status_code: int | None, original_message: str | None, log_stream_arn: str
    ) -> None:
        super().__init__(message)
        # Read by moto's serializer under the shape's member names.
        self.original_status_code = original_status_code
        self.original_message = original_message
        self.log_stream_arn = log_stream_arn


class FleetFailure(Exception):
    """A fleet that cannot serve; `reason` becomes the endpoint's FailureReason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def log_group(endpoint: str) -> str:
    return ENDPOINT_LOGS_GROUP.format(endpoint=endpoint)


def log_group_arn(region: str, account_id: str, endpoint: str) -> str:
    return f"arn:aws:logs:{region}:{account_id}:log-group:{log_group(endpoint)}"
