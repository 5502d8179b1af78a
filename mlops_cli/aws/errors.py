"""Turn botocore's exceptions into the project's errors, with a message that says what failed, why and what to do.

This module and `session.py` are the only places that know botocore's exception types. Every exception class that
botocore, boto3 or s3transfer raise maps to one of a few kinds, each with its exit code:
- AWS answered with an error (ClientError): 1, or `AwsUnreachable` (1, retried by wait loops) for throttling/5xx;
- AWS could not be reached or its answer could not be read: `AwsUnreachable` (1);
- the credentials are missing or expired: `PreconditionFailed` (3);
- the AWS settings (region, profile, endpoint, ~/.aws/config) are invalid: `UsageError` (2), nothing was sent;
- a waiter ran out of attempts: `WaitTimeout` (4), the work goes on;
- data was damaged on the way (checksums): 1, running again is safe;
- anything else is a request mlops built wrong: 1, reported as a bug.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from botocore import exceptions as bx
from botocore.exceptions import BotoCoreError, ClientError

from mlops_cli.errors import (
    AwsUnreachable,
    MlopsError,
    OperationFailed,
    PreconditionFailed,
    UsageError,
    WaitTimeout,
)

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
}

# Error codes and HTTP statuses that mean "try again later" (botocore's standard retry mode retries the same ones;
# they reach here once its attempts are spent).
_THROTTLED = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)
_TRANSIENT_CODES = frozenset(
    {
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
    }
)
_TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
# The same for a plain HTTP answer from a deployed API or a load balancer, where a 500 is the model's own error.
RETRY_LATER_HTTP = frozenset({429, 502, 503, 504})

_RETRY_LATER = "AWS was throttling or briefly unavailable; botocore retried. Run the command again in a minute."
_UNREACHABLE_HINT = (
    "Check the network, the proxy settings and aws.endpoint_url; for the emulator see `mlops local status`. "
    "Running the command again continues where it stopped."
)
_BUG_HINT = "This is a bug in mlops; please report it with the output of the same command with -v."

# (exception classes, kind): the first whose classes match an exception's class decides. The order matters only
# where a class would match two rows (none do today); `kind_of` walks this list.
_KINDS: list[tuple[tuple[type[BaseException], ...], str]] = [
    ((bx.ClientError,), "answer"),
    ((bx.WaiterError,), "waiter"),
    (
        (
            bx.NoCredentialsError,
            bx.PartialCredentialsError,
            bx.CredentialRetrievalError,
            bx.NoAuthTokenError,
            bx.TokenRetrievalError,
            bx.SSOError,
            bx.LoginError,
            bx.RefreshWithMFAUnsupportedError,
            bx.MetadataRetrievalError,
        ),
        "credentials",
    ),
    (
        (
            bx.ProfileNotFound,
            bx.ConfigNotFound,
            bx.ConfigParseError,
            bx.InvalidConfigError,
            bx.BaseEndpointResolverError,  # no region, no endpoint for this service/region/variant
            bx.UnknownRegionError,
            bx.InvalidRegionError,
            bx.ServiceNotInRegionError,
            bx.EndpointProviderError,
            bx.InvalidEndpointConfigurationError,
            bx.InvalidEndpointDiscoveryConfigurationError,
            bx.InvalidIMDSEndpointError,
            bx.InvalidIMDSEndpointModeError,
            bx.InvalidHostLabelError,
            bx.UnknownCredentialError,
            bx.UnknownTokenProviderError,
            bx.InvalidRetryConfigurationError,
            bx.InvalidProxiesConfigError,
            bx.InvalidDefaultsMode,
            bx.InvalidChecksumConfigError,
            bx.InvalidDNSNameError,
            bx.InvalidS3AddressingStyleError,
            bx.InvalidS3UsEast1RegionalEndpointConfigError,
            bx.InvalidSTSRegionalEndpointsConfigError,
            bx.UnsupportedS3ArnError,
            bx.UnsupportedS3ControlArnError,
            bx.UnsupportedOutpostResourceError,
            bx.UnsupportedS3ConfigurationError,
            bx.UnsupportedS3AccesspointConfigurationError,
            bx.UnsupportedS3ControlConfigurationError,
        ),
        "settings",
    ),
    (
        (
            bx.ConnectionError,  # refused, DNS, connect timeout, TLS, proxy
            bx.HTTPClientError,  # closed early, read timeout, broken stream
            bx.IncompleteReadError,
            bx.CapacityNotAvailableError,  # the client's retry budget is spent
        ),
        "unreachable",
    ),
    (
        (bx.ChecksumError, bx.FlexibleChecksumError, bx.AwsChunkedWrapperError, bx.UnseekableStreamError),
        "corrupt",
    ),
    ((bx.MD5UnavailableError, bx.MissingDependencyException), "environment"),
]


@functools.cache
def _outside_botocore() -> dict[type[BaseException], str]:
    """Classes from the modules around botocore: the response parser and boto3's managed transfers."""
    from boto3 import exceptions as b3
    from botocore.parsers import ResponseParserError
    from s3transfer import exceptions as s3t

    return {
        ResponseParserError: "unreadable",
        b3.S3UploadFailedError: "transfer",
        b3.S3TransferFailedError: "transfer",
        b3.RetriesExceededError: "transfer",
        s3t.S3UploadFailedError: "transfer",
        s3t.S3DownloadFailedError: "transfer",
        s3t.S3CopyFailedError: "transfer",
        s3t.RetriesExceededError: "transfer",
        s3t.FatalError: "transfer",
        s3t.InvalidSubscriberMethodError: "bug",
        s3t.TransferNotDoneError: "bug",
        s3t.S3ValidationError: "bug",
        b3.Boto3Error: "bug",
        bx.UndefinedModelAttributeError: "bug",
    }


def kind_of(exc: BaseException) -> str | None:
    """The kind (see the module's docstring) of an exception from botocore, boto3 or s3transfer; None for others."""
    for classes, kind in _KINDS:
        if isinstance(exc, classes):
            return kind
    for cls, kind in _outside_botocore().items():
        if isinstance(exc, cls):
            return kind
    return "bug" if isinstance(exc, BotoCoreError) else None


def error_code(exc: BaseException) -> str | None:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "")) or None
    return None


def http_status(exc: BaseException) -> int | None:
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return int(status) if status else None
    return None


def is_transient(exc: BaseException) -> bool:
    """AWS answered "too many requests" or "unavailable", or could not be reached: trying later may succeed."""
    if isinstance(exc, ClientError):
        code = error_code(exc) or ""
        return code in _THROTTLED or code in _TRANSIENT_CODES or http_status(exc) in _TRANSIENT_STATUSES
    return kind_of(exc) in ("unreachable", "unreadable")


# Set by the session layer: called with a connection-level failure, it returns the error to raise instead when the
# endpoint itself went away (the embedded emulator stopped or restarted), else None.
_endpoint_checks: list[Callable[[BaseException, str], MlopsError | None]] = []


def register_endpoint_check(check: Callable[[BaseException, str], MlopsError | None]) -> None:
    if check not in _endpoint_checks:
        _endpoint_checks.append(check)


def translate_exception(exc: BaseException, doing: str) -> MlopsError:
    """The project error for an exception from botocore, boto3 or s3transfer raised while `doing` something."""
    kind = kind_of(exc)
    if kind in ("unreachable", "unreadable") or (kind == "answer" and is_transient(exc)):
        for check in _endpoint_checks:
            if (replaced := check(exc, doing)) is not None:
                return replaced
    if kind == "answer":
        return _client_error(exc, doing)
    if kind == "waiter":
        return _waiter_error(exc, doing)
    if kind == "transfer":
        cause = exc.__cause__ or exc.__context__ or getattr(exc, "last_exception", None)
        if cause is not None and kind_of(cause) not in (None, "transfer"):
            return translate_exception(cause, doing)
        return OperationFailed(f"While {doing}: {exc}.", hint="Running the command again continues where it stopped.")
    if kind == "credentials":
        return PreconditionFailed(
            f"While {doing}: the AWS credentials could not be used: {exc}.",
            hint="Configure or refresh them (aws configure, aws sso login, AWS_PROFILE, aws.profile in the config), "
            "or use aws.endpoint_url: local to run on the embedded emulator.",
        )
    if kind == "settings":
        return UsageError(
            f"While {doing}: the AWS settings are not valid: {exc}.",
            hint="Check aws.region, aws.profile and aws.endpoint_url in the config, and ~/.aws/config. "
            "Nothing was sent to AWS.",
        )
    if kind == "unreachable":
        where = getattr(exc, "kwargs", {}).get("endpoint_url") or "AWS"
        return AwsUnreachable(f"While {doing}: could not reach {where}: {exc}.", hint=_UNREACHABLE_HINT)
    if kind == "unreadable":
        return AwsUnreachable(
            f"While {doing}: the answer could not be read (not what the AWS API sends; a proxy or a load "
            f"balancer in the way?): {str(exc)[:300]}",
            hint=_UNREACHABLE_HINT,
        )
    if kind == "corrupt":
        return OperationFailed(
            f"While {doing}: the data was damaged on the way: {exc}.",
            hint="Nothing damaged was kept; run the command again.",
        )
    if kind == "environment":
        return OperationFailed(f"While {doing}: {exc}.", hint="This Python installation lacks what botocore needs.")
    return OperationFailed(f"While {doing}: the request was invalid: {exc}.", hint=_BUG_HINT)


def _client_error(exc: BaseException, doing: str) -> MlopsError:
    assert isinstance(exc, ClientError)
    code = error_code(exc) or "Error"
    message = exc.response.get("Error", {}).get("Message") or str(exc)
    if code == "ModelError":  # the model container's own answer is what the user needs to see
        original = exc.response.get("OriginalMessage") or ""
        status = exc.response.get("OriginalStatusCode")
        return OperationFailed(
            f"While {doing}: the model answered {status}: {original}".rstrip(),
            hint="Check the request against the dataset schema (`mlops config show`), or the endpoint's log.",
        )
    if is_transient(exc):
        return AwsUnreachable(f"While {doing}: {message} ({code}).", hint=_RETRY_LATER)
    return OperationFailed(f"While {doing}: {message} ({code}).", hint=_HINTS.get(code))


def _waiter_error(exc: BaseException, doing: str) -> MlopsError:
    assert isinstance(exc, bx.WaiterError)
    reason = str(exc.kwargs.get("reason", ""))
    last = exc.last_response if isinstance(exc.last_response, dict) else {}
    if "Max attempts exceeded" in reason:
        return WaitTimeout(f"While {doing}: still not done when the wait ended ({reason}).")
    code = (last.get("Error") or {}).get("Code")
    status = last.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code in _THROTTLED or code in _TRANSIENT_CODES or status in _TRANSIENT_STATUSES:
        return AwsUnreachable(f"While {doing}: {exc}.", hint=_RETRY_LATER)
    return OperationFailed(f"While {doing}: {exc}.")


@contextmanager
def aws_errors(doing: str) -> Iterator[None]:
    """Translate any botocore error raised inside the block; `doing` completes 'While ...'."""
    try:
        yield
    except Exception as exc:
        if kind_of(exc) is None:
            raise
        raise translate_exception(exc, doing) from exc


def get_or_none(doing: str, absent: tuple[str, ...], call: Callable[..., T], **kwargs: Any) -> T | None:
    """Call and return the response, or None when AWS answers with one of the `absent` error codes."""
    try:
        return call(**kwargs)
    except ClientError as exc:
        if error_code(exc) in absent:
            # an emulator restarted on the same port answers "not found" for all it held: say so, not "absent"
            for check in _endpoint_checks:
                if (replaced := check(exc, doing)) is not None:
                    raise replaced from exc
            return None
        raise translate_exception(exc, doing) from exc
    except Exception as exc:
        if kind_of(exc) is None:
            raise
        raise translate_exception(exc, doing) from exc


# --- outages while waiting -------------------------------------------------------------------------------------

OUTAGE_PATIENCE = 300.0  # seconds a wait keeps polling through an outage before it gives up

# Told of every outage a wait polls through, unless the wait has its own `notify`: the CLI sets it once per
# command, so every wait says "AWS unreachable, retrying" without each service passing a callback down.
_outage_listener: list[Callable[[float, AwsUnreachable], None]] = []


def report_outages_to(listener: Callable[[float, AwsUnreachable], None] | None) -> None:
    _outage_listener[:] = [listener] if listener else []


class Outage:
    """Polls through a short outage: a call that fails with `AwsUnreachable` is made again, with a growing pause,
    until it succeeds or AWS has been unreachable for `patience` seconds (then the last error, saying how long).
    `notify(seconds_down, error)` is told before every pause; `sleep` and `clock` are injectable for tests."""

    def __init__(
        self,
        *,
        patience: float = OUTAGE_PATIENCE,
        notify: Callable[[float, AwsUnreachable], None] | None = None,
        deadline: float | None = None,
        give_up_hint: str | None = None,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.patience = patience
        self.notify = notify
        self.deadline = deadline  # the wait's own deadline (clock time): the outage never extends it
        self.give_up_hint = give_up_hint
        self.sleep = sleep or time.sleep
        self.clock = clock or time.monotonic
        self.down_since: float | None = None
        self.outages = 0

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        pause = 1.0
        while True:
            try:
                result = fn(*args, **kwargs)
            except AwsUnreachable as exc:
                now = self.clock()
                if self.down_since is None:
                    self.down_since, self.outages = now, self.outages + 1
                down = now - self.down_since
                if down >= self.patience:
                    raise AwsUnreachable(
                        f"{exc.message} Still so after {down:.0f} s of retrying; gave up.",
                        hint=" ".join(filter(None, (exc.hint, self.give_up_hint))) or None,
                    ) from exc
                if self.deadline is not None and now >= self.deadline:
                    raise WaitTimeout(
                        f"{exc.message} Stopped waiting at the timeout, AWS unreachable for {down:.0f} s.",
                        hint="The work goes on in AWS; run the command again to see where it is.",
                    ) from exc
                for notify in [self.notify] if self.notify else _outage_listener:
                    notify(down, exc)
                wait = min(pause, self.patience - down)
                if self.deadline is not None:
                    wait = min(wait, max(0.0, self.deadline - now))
                self.sleep(wait)
                pause = min(pause * 2, 10.0)
                continue
            self.down_since = None
            return result
