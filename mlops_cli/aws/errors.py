"""Turn botocore's exceptions into the project's errors, with a message that says what failed, why and what to do.

This module and `session.py` are the only places that know botocore's exception types.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    ProfileNotFound,
    WaiterError,
)

from mlops_cli.errors import MlopsError, OperationFailed, PreconditionFailed, UsageError

T = TypeVar("T")

_HINTS = {
    "AccessDenied": "The credentials in use lack a permission for this call: check the profile or role, "
    "or ask for the permission named above.",
    "AccessDeniedException": "The credentials in use lack a permission for this call.",
    "ExpiredToken": "The session token has expired: refresh your credentials (aws sso login, ...).",
    "ExpiredTokenException": "The session token has expired: refresh your credentials (aws sso login, ...).",
    "InvalidClientTokenId": "The access key is not valid in this account or region: check the profile.",
    "UnrecognizedClientException": "The access key is not valid: check the profile.",
    "BucketAlreadyExists": "Bucket names are global and this one belongs to someone else: set storage.bucket.",
    "IllegalLocationConstraintException": "The bucket exists in another region: set aws.region to that region.",
    "MalformedPolicy": "AWS rejected the policy; check the ARNs in storage.readers/writers exist.",
    "ThrottlingException": "AWS is throttling the account; run the command again in a minute.",
    "SlowDown": "S3 is throttling; run the command again in a minute.",
}


def error_code(exc: BaseException) -> str | None:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "")) or None
    return None


def translate_exception(exc: BaseException, doing: str) -> MlopsError:
    """The project error for a botocore exception raised while `doing` something."""
    if isinstance(exc, ClientError):
        code = error_code(exc) or "Error"
        message = exc.response.get("Error", {}).get("Message") or str(exc)
        if code == "ModelError":  # the model container's own answer is what the user needs to see
            original = exc.response.get("OriginalMessage") or ""
            status = exc.response.get("OriginalStatusCode")
            return OperationFailed(
                f"While {doing}: the model answered {status}: {original}".rstrip(),
                hint="Check the request against the dataset schema (`mlops config show`), or the endpoint's log.",
            )
        return OperationFailed(f"While {doing}: {message} ({code}).", hint=_HINTS.get(code))
    if isinstance(exc, NoCredentialsError):
        return PreconditionFailed(
            f"While {doing}: no AWS credentials were found.",
            hint="Configure them (aws configure, AWS_PROFILE, aws.profile in the config), "
            "or use aws.endpoint_url: local to run on the embedded emulator.",
        )
    if isinstance(exc, ProfileNotFound):
        return UsageError(f"While {doing}: {exc}.", hint="Fix aws.profile in the config or AWS_PROFILE.")
    if isinstance(exc, NoRegionError):
        return UsageError(f"While {doing}: no region is set.", hint="Set aws.region in the config.")
    if isinstance(exc, EndpointConnectionError):
        return OperationFailed(
            f"While {doing}: could not connect to {exc.kwargs.get('endpoint_url', 'the endpoint')}.",
            hint="Check the network and aws.endpoint_url; for the emulator see `mlops local status`.",
        )
    if isinstance(exc, ParamValidationError):
        return OperationFailed(f"While {doing}: the request was invalid: {exc}.", hint="This is a bug in mlops.")
    if isinstance(exc, WaiterError):
        return OperationFailed(f"While {doing}: {exc}.")
    return OperationFailed(f"While {doing}: {exc}.")


@contextmanager
def aws_errors(doing: str) -> Iterator[None]:
    """Translate any botocore error raised inside the block; `doing` completes 'While ...'."""
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise translate_exception(exc, doing) from exc


def get_or_none(doing: str, absent: tuple[str, ...], call: Callable[..., T], **kwargs: Any) -> T | None:
    """Call and return the response, or None when AWS answers with one of the `absent` error codes."""
    try:
        return call(**kwargs)
    except ClientError as exc:
        if error_code(exc) in absent:
            return None
        raise translate_exception(exc, doing) from exc
    except BotoCoreError as exc:
        raise translate_exception(exc, doing) from exc
