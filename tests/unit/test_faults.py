"""Faults: every botocore error has an exit code and a message, transient ones are retried, waits survive a short
outage, a lost emulator is named, uploads never replace each other's objects silently."""

from __future__ import annotations

import contextlib
import inspect
import json
import socket
import string
from collections.abc import Iterator
from typing import Any

import pytest

from mlops_cli.aws.errors import Outage, aws_errors, kind_of
from mlops_cli.errors import AwsUnreachable, EmulatorRestarted, MlopsError, WaitTimeout

# --- every exception class botocore, boto3 and s3transfer raise --------------------------------------------------

CREDENTIALS = {
    "NoCredentialsError",
    "PartialCredentialsError",
    "CredentialRetrievalError",
    "NoAuthTokenError",
    "TokenRetrievalError",
    "SSOError",
    "SSOTokenLoadError",
    "UnauthorizedSSOTokenError",
    "LoginError",
    "LoginRefreshRequired",
    "LoginInsufficientPermissions",
    "LoginTokenLoadError",
    "LoginAuthorizationCodeError",
    "RefreshWithMFAUnsupportedError",
    "MetadataRetrievalError",
}
SETTINGS = {
    "ProfileNotFound",
    "ConfigNotFound",
    "ConfigParseError",
    "InvalidConfigError",
    "InfiniteLoopConfigError",
    "BaseEndpointResolverError",
    "NoRegionError",
    "EndpointVariantError",
    "UnknownEndpointError",
    "UnknownFIPSEndpointError",
    "UnknownRegionError",
    "InvalidRegionError",
    "ServiceNotInRegionError",
    "EndpointProviderError",
    "EndpointResolutionError",
    "UnknownEndpointResolutionBuiltInName",
    "InvalidEndpointConfigurationError",
    "InvalidEndpointDiscoveryConfigurationError",
    "InvalidIMDSEndpointError",
    "InvalidIMDSEndpointModeError",
    "InvalidHostLabelError",
    "UnknownCredentialError",
    "UnknownTokenProviderError",
    "InvalidRetryConfigurationError",
    "InvalidMaxRetryAttemptsError",
    "InvalidRetryModeError",
    "InvalidProxiesConfigError",
    "InvalidDefaultsMode",
    "InvalidChecksumConfigError",
    "InvalidDNSNameError",
    "InvalidS3AddressingStyleError",
    "InvalidS3UsEast1RegionalEndpointConfigError",
    "InvalidSTSRegionalEndpointsConfigError",
    "UnsupportedS3ArnError",
    "UnsupportedS3ControlArnError",
    "UnsupportedOutpostResourceError",
    "UnsupportedS3ConfigurationError",
    "UnsupportedS3AccesspointConfigurationError",
    "UnsupportedS3ControlConfigurationError",
}
UNREACHABLE = {
    "ConnectionError",
    "EndpointConnectionError",
    "SSLError",
    "ConnectTimeoutError",
    "ProxyConnectionError",
    "HTTPClientError",
    "ConnectionClosedError",
    "ReadTimeoutError",
    "ResponseStreamingError",
    "IncompleteReadError",
    "CapacityNotAvailableError",
    "ResponseParserError",
}
# the rest: an AWS answer (ClientError), a request mlops built wrong, damaged data, a transfer's wrapper: exit 1
TIMEOUT = {"WaiterError"}  # built below with "Max attempts exceeded"
BUGS = {
    "BotoCoreError",
    "DataNotFoundError",
    "UnknownServiceError",
    "ApiVersionNotFoundError",
    "UnknownSignatureVersionError",
    "MissingParametersError",
    "ValidationError",
    "ParamValidationError",
    "UnknownKeyError",
    "RangeError",
    "UnknownParameterError",
    "AliasConflictParameterError",
    "UnknownServiceStyle",
    "PaginationError",
    "OperationNotPageableError",
    "InvalidExpressionError",
    "WaiterConfigError",
    "UnknownClientMethodError",
    "UnsupportedSignatureVersionError",
    "StubResponseError",
    "StubAssertionError",
    "UnStubbedResponseError",
    "UndefinedModelAttributeError",
    "MissingServiceIdError",
    "UnsupportedServiceProtocolsError",
    "Boto3Error",
    "ResourceLoadException",
    "NoVersionFound",
    "UnknownAPIVersionError",
    "ResourceNotExistsError",
    "DynamoDBOperationNotSupportedError",
    "DynanmoDBOperationNotSupportedError",
    "DynamoDBNeedsConditionError",
    "DynamoDBNeedsKeyConditionError",
    "InvalidCrtTransferConfigError",
    "InvalidSubscriberMethodError",
    "TransferNotDoneError",
    "S3ValidationError",
}


def _exception_classes() -> list[type[BaseException]]:
    import boto3.exceptions
    import botocore.exceptions
    import s3transfer.exceptions
    from botocore.parsers import ResponseParserError

    found: list[type[BaseException]] = [ResponseParserError]
    for module in (botocore.exceptions, boto3.exceptions, s3transfer.exceptions):
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and issubclass(value, Exception)
                and not issubclass(value, Warning)  # warnings are never raised at us
                and value.__module__ == module.__name__
            ):
                found.append(value)
    return found


def _instance(cls: type[BaseException]) -> BaseException:
    """An instance as the library raises it: its documented keyword arguments filled in."""
    from botocore.exceptions import ClientError, WaiterError

    if issubclass(cls, ClientError):
        return cls({"Error": {"Code": "ValidationException", "Message": "bad"}}, "DoThing")
    if cls is WaiterError:
        return cls(name="thing_ready", reason="Max attempts exceeded", last_response={})
    if "last_exception" in inspect.signature(cls.__init__).parameters:
        return cls(ConnectionResetError("reset"))  # type: ignore[call-arg]
    fmt = getattr(cls, "fmt", None)
    if fmt and "kwargs" in inspect.signature(cls.__init__).parameters:
        fields = {name for _, name, _, _ in string.Formatter().parse(fmt) if name}
        return cls(**{name: "x" for name in fields})
    names = [
        p.name
        for p in list(inspect.signature(cls.__init__).parameters.values())[1:]
        if p.kind is p.POSITIONAL_OR_KEYWORD and p.default is p.empty
    ]
    return cls(*(["something failed"] if not names else ["x"] * len(names)))


def _expected_code(name: str) -> int:
    if name in CREDENTIALS:
        return 3
    if name in SETTINGS:
        return 2
    if name in TIMEOUT:
        return 4
    return 1


CLASSES = _exception_classes()


def test_the_classification_covers_every_class() -> None:
    """A class a new botocore adds must be classified here (and in mlops_cli/aws/errors.py) before it ships."""
    known = CREDENTIALS | SETTINGS | UNREACHABLE | TIMEOUT | BUGS
    others = {"ClientError", "EventStreamError", "ChecksumError", "FlexibleChecksumError", "AwsChunkedWrapperError"}
    others |= {"UnseekableStreamError", "MD5UnavailableError", "MissingDependencyException"}
    others |= {"RetriesExceededError", "S3TransferFailedError", "S3UploadFailedError", "S3DownloadFailedError"}
    others |= {"S3CopyFailedError", "FatalError"}
    assert {cls.__name__ for cls in CLASSES} - known - others == set()


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: f"{cls.__module__.split('.')[0]}.{cls.__name__}")
def test_every_library_exception_maps_to_an_exit_code_and_a_message(cls: type[BaseException]) -> None:
    exc = _instance(cls)
    assert kind_of(exc) is not None
    with pytest.raises(MlopsError) as raised, aws_errors("doing the thing"):
        raise exc
    error = raised.value
    assert error.exit_code == _expected_code(cls.__name__), error
    assert error.message.startswith("While doing the thing: ")
    assert isinstance(error, AwsUnreachable) == (cls.__name__ in UNREACHABLE)
    # only a request mlops built wrong is called a bug
    assert ("bug in mlops" in (error.hint or "")) == (cls.__name__ in BUGS)


def test_an_upload_failure_is_reported_as_the_aws_error_inside_it() -> None:
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import ClientError

    with pytest.raises(MlopsError) as raised, aws_errors("uploading"):
        try:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "PutObject")
        except ClientError as exc:
            raise S3UploadFailedError(f"Failed to upload: {exc}")  # noqa: B904 (as boto3 does)
    assert "(AccessDenied)" in raised.value.message and "permission" in (raised.value.hint or "")


# --- a 503 with a plain-text body --------------------------------------------------------------------------------


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


IDENTITY = (
    b'<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>'
    b"<Arn>arn:aws:iam::123456789012:user/ci</Arn><UserId>AIDA</UserId><Account>123456789012</Account>"
    b"</GetCallerIdentityResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata>"
    b"</GetCallerIdentityResponse>"
)


@pytest.fixture
def aws_clients(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Clients for AWS itself (no moto), whose HTTP answers a test scripts with `answer`; no backoff pauses."""
    from botocore.retries.standard import ExponentialBackoff

    from mlops_cli.aws.session import AwsClients
    from tests.unit.conftest import make_config

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0)
    return AwsClients(make_config().aws, "http://127.0.0.1:9", resolve=False)


def _answers(client: Any, answers: list[tuple[int, bytes]]) -> list[int]:
    """Make `client` receive these (status, body) answers in turn; returns the statuses sent so far."""
    from botocore.awsrequest import AWSResponse

    sent: list[int] = []

    def answer(request: Any, **_: Any) -> AWSResponse:
        status, body = answers[min(len(sent), len(answers) - 1)]
        sent.append(status)
        return AWSResponse(request.url, status, {"Content-Type": "text/plain"}, _Raw(body))

    client.meta.events.register_first("before-send", answer)
    return sent


def test_a_plain_text_503_is_retried(aws_clients: Any) -> None:
    sent = _answers(aws_clients.client("sts"), [(503, b"Service Unavailable"), (503, b"Back soon"), (200, IDENTITY)])
    assert aws_clients.account_id == "123456789012"
    assert sent == [503, 503, 200]


def test_a_plain_text_503_that_lasts_is_aws_unreachable_not_a_bug(aws_clients: Any) -> None:
    sent = _answers(aws_clients.client("elbv2"), [(503, b"upstream connect error or disconnect/reset")])
    with pytest.raises(AwsUnreachable) as raised, aws_errors("listing load balancers"):
        aws_clients.client("elbv2").describe_load_balancers()
    assert len(sent) == aws_clients.aws.retries.max_attempts
    assert "Service Unavailable: upstream connect error" in raised.value.message
    assert "bug" not in str(raised.value)


# --- waits survive a short outage --------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _unreachable() -> AwsUnreachable:
    return AwsUnreachable("While polling: could not reach AWS.")


def test_an_outage_shorter_than_the_patience_is_waited_through() -> None:
    clock, told = FakeClock(), []
    failures = iter([_unreachable()] * 4)

    def poll() -> str:
        if (error := next(failures, None)) is not None:
            raise error
        return "answer"

    outage = Outage(patience=60, notify=lambda down, error: told.append(down), sleep=clock.sleep, clock=clock)
    assert outage.call(poll) == "answer"
    assert told == [0, 1, 3, 7]  # seconds down at each retry: the pause doubles
    assert outage.down_since is None and outage.outages == 1


def test_an_outage_longer_than_the_patience_gives_up_saying_how_long() -> None:
    clock = FakeClock()

    def poll() -> str:
        raise _unreachable()

    with pytest.raises(AwsUnreachable, match=r"Still so after 6\d s of retrying; gave up"):
        Outage(patience=60, sleep=clock.sleep, clock=clock).call(poll)
    assert 60 <= clock.now - 1000 < 70


def test_an_outage_never_extends_the_waits_own_timeout() -> None:
    clock = FakeClock()

    def poll() -> str:
        raise _unreachable()

    with pytest.raises(WaitTimeout):
        Outage(patience=600, deadline=1030, sleep=clock.sleep, clock=clock).call(poll)
    assert clock.now == 1030


class _FlakySageMaker:
    """describe_training_job: connection refused `failures` times, then InProgress, then Completed."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def describe_training_job(self, TrainingJobName: str) -> dict[str, Any]:
        from botocore.exceptions import EndpointConnectionError

        self.calls += 1
        if self.calls <= self.failures:
            raise EndpointConnectionError(endpoint_url="https://api.sagemaker.eu-west-1.amazonaws.com/")
        status = "InProgress" if self.calls == self.failures + 1 else "Completed"
        return {"TrainingJobName": TrainingJobName, "TrainingJobStatus": status}


class _NoLogs:
    def describe_log_streams(self, **_: Any) -> dict[str, Any]:
        return {"logStreams": []}


class _FakeClients:
    def __init__(self, sagemaker: Any) -> None:
        self.clients = {"sagemaker": sagemaker, "logs": _NoLogs()}

    def client(self, service: str) -> Any:
        return self.clients[service]


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The pauses asked for; each one advances time.monotonic instead of waiting (so a wait that never ends in a
    test gives up at once, in fake time)."""
    clock = FakeClock()
    monkeypatch.setattr("time.sleep", clock.sleep)
    monkeypatch.setattr("time.monotonic", clock)
    return clock.slept


def test_waiting_for_a_job_survives_a_short_outage(no_sleep: list[float]) -> None:
    from mlops_cli.services.jobs import Kind, wait_job

    sagemaker, seen, told = _FlakySageMaker(failures=3), [], []
    state = wait_job(
        _FakeClients(sagemaker),  # type: ignore[arg-type]
        Kind.TRAINING,
        "churn-train-1",
        observe=lambda state, lines: seen.append(state.status),
        follow_logs=False,
        on_outage=lambda down, error: told.append(error),
    )
    assert state.status == "Completed" and seen == ["InProgress", "Completed"]
    assert len(told) == 3 and all(isinstance(error, AwsUnreachable) for error in told)
    assert "could not reach https://api.sagemaker" in told[0].message


def test_train_run_wait_says_aws_is_unreachable_and_goes_on(
    no_sleep: list[float], capsys: pytest.CaptureFixture[str]
) -> None:
    from mlops_cli.commands.common import GlobalOptions, Invocation
    from mlops_cli.commands.watching import watch

    run = Invocation(GlobalOptions())
    run._clients = _FakeClients(_FlakySageMaker(failures=2))  # type: ignore[assignment]
    state = watch(run, "training", "churn-train-1", group="train", timeout=None, logs=False)
    assert state.status == "Completed"
    err = capsys.readouterr().err
    assert "AWS unreachable, retrying (0 s)" in err and "could not reach" in err


# --- the emulator stopped or restarted ---------------------------------------------------------------------------


@pytest.fixture
def local_clients(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Any:
    """Clients for `endpoint_url: local` whose emulator (pid 111) is said to run on a port where nothing listens."""
    from botocore.retries.standard import ExponentialBackoff

    from mlops_cli.aws import session
    from mlops_cli.aws.session import AwsClients
    from mlops_cli.emulator import manager
    from mlops_cli.emulator.state import ServerState
    from tests.unit.conftest import make_config

    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0)
    monkeypatch.setattr(session, "_emulator_instance", None)
    with socket_closed() as port:
        first = ServerState(111, port, f"http://127.0.0.1:{port}", "2026-12-03T10:00:00+00:00")
    serving: list[ServerState | None] = [first]
    monkeypatch.setattr(manager, "_running", lambda: serving[-1])

    class Connection:
        def close(self) -> None:
            pass

    def connect(address: tuple[str, int], timeout: float) -> Connection:
        if serving[-1] is None:
            raise ConnectionRefusedError(address)
        return Connection()

    # who answers on the emulator's port: the emulator serving now (its port is the same when it restarted)
    monkeypatch.setattr(manager.socket, "create_connection", connect)
    monkeypatch.setattr(manager.probe, "identify", lambda port, timeout: {"pid": getattr(serving[-1], "pid", None)})
    clients = AwsClients(make_config("aws.endpoint_url=local").aws)
    assert clients.endpoint_url == first.endpoint_url
    return clients, serving


@contextlib.contextmanager
def socket_closed() -> Iterator[int]:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    yield port


def test_an_emulator_that_was_killed_is_named(local_clients: Any) -> None:
    clients, serving = local_clients
    serving.append(None)  # killed: nothing answers as it any more
    with pytest.raises(EmulatorRestarted) as raised, aws_errors("listing buckets"):
        clients.client("s3").list_buckets()
    assert "the embedded emulator stopped; its state is gone" in raised.value.message
    assert "`mlops pipeline run` again" in (raised.value.hint or "")


def test_an_emulator_that_was_restarted_is_named_and_not_waited_for(local_clients: Any, no_sleep: list[float]) -> None:
    from mlops_cli.emulator.state import ServerState
    from mlops_cli.services.jobs import Kind, wait_job

    clients, serving = local_clients
    old = serving[0]
    serving.append(ServerState(222, old.port, old.endpoint_url, "2026-12-03T10:05:00+00:00"))
    with pytest.raises(EmulatorRestarted, match="the embedded emulator was restarted; its state is gone"):
        wait_job(clients, Kind.TRAINING, "churn-train-1", observe=lambda *_: None, follow_logs=False)
    assert [pause for pause in no_sleep if pause > 0] == []  # no outage to wait through: it is said at once


def test_a_connection_error_while_the_emulator_still_runs_stays_a_connection_error(local_clients: Any) -> None:
    clients, _ = local_clients  # the recorded emulator still answers as itself
    with pytest.raises(AwsUnreachable, match="could not reach"), aws_errors("listing buckets"):
        clients.client("s3").list_buckets()


def test_clients_made_later_for_another_endpoint_are_not_judged_by_an_emulator_gone_since(local_clients: Any) -> None:
    from moto import mock_aws

    from mlops_cli.aws.errors import get_or_none
    from mlops_cli.aws.session import AwsClients
    from tests.unit.conftest import make_config

    _, serving = local_clients
    serving.append(None)  # the emulator those clients talked to is gone; the process goes on with other clients
    with mock_aws():
        clients = AwsClients(make_config().aws, resolve=False)
        iam = clients.client("iam")
        # "not found" from these clients means absent, not "the emulator was restarted"
        assert get_or_none("reading a role", ("NoSuchEntity",), iam.get_role, RoleName="absent") is None


# --- the emulator's S3 refuses a conditional write that does not hold ---------------------------------------------


def test_complete_multipart_upload_honours_if_match_as_s3_does() -> None:
    import boto3
    from botocore.exceptions import ClientError
    from moto import mock_aws

    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1", aws_access_key_id="a", aws_secret_access_key="b")
        s3.create_bucket(Bucket="conditional-writes", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        current = s3.put_object(Bucket="conditional-writes", Key="k", Body=b"current")["ETag"]

        def complete(**condition: str) -> Any:
            upload = s3.create_multipart_upload(Bucket="conditional-writes", Key=condition.pop("key", "k"))["UploadId"]
            etag = s3.upload_part(Bucket="conditional-writes", Key="k", UploadId=upload, PartNumber=1, Body=b"new")[
                "ETag"
            ]
            parts = {"Parts": [{"PartNumber": 1, "ETag": etag}]}
            return s3.complete_multipart_upload(
                Bucket="conditional-writes", Key="k", UploadId=upload, MultipartUpload=parts, **condition
            )

        with pytest.raises(ClientError, match="PreconditionFailed"):
            complete(IfMatch='"0123456789abcdef0123456789abcdef"')
        assert s3.get_object(Bucket="conditional-writes", Key="k")["Body"].read() == b"current"
        complete(IfMatch=current)
        assert s3.get_object(Bucket="conditional-writes", Key="k")["Body"].read() == b"new"
        s3.delete_object(Bucket="conditional-writes", Key="k")
        with pytest.raises(ClientError, match="NoSuchKey"):
            complete(IfMatch=current)


# --- the smoke stage asks again while a door answers 503 -------------------------------------------------------


PREDICTION = {"predictions": [{"label": "yes", "probability": 0.9}]}  # the shipped handler's binary answer


class _Doors:
    """The endpoint, the API and the load balancer, each answering 503 a number of times before the prediction."""

    def __init__(self, failures: int) -> None:
        self.failures = {"endpoint": failures, "api": failures, "lb": failures}
        self.asked = {"endpoint": 0, "api": 0, "lb": 0}

    def answer(self, door: str) -> bool:
        self.asked[door] += 1
        return self.asked[door] > self.failures[door]


@pytest.fixture
def fake_time(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """time.sleep advances time.monotonic instead of waiting."""
    clock = FakeClock()
    monkeypatch.setattr("time.sleep", clock.sleep)
    monkeypatch.setattr("time.monotonic", clock)
    return clock


@pytest.fixture
def smoke(monkeypatch: pytest.MonkeyPatch, fake_time: FakeClock) -> Any:
    from botocore.exceptions import ClientError

    from mlops_cli.aws.execute_api import HttpAnswer
    from mlops_cli.services import deploy, gateway, pipeline
    from tests.unit.conftest import make_config

    doors = _Doors(failures=2)

    def endpoint(*_: Any) -> deploy.Prediction:
        if not doors.answer("endpoint"):
            unavailable = {"Error": {"Code": "ServiceUnavailable", "Message": "Service Unavailable"}}
            with aws_errors("invoking endpoint churn-local"):
                raise ClientError({**unavailable, "ResponseMetadata": {"HTTPStatusCode": 503}}, "InvokeEndpoint")
        return deploy.Prediction("application/json", PREDICTION)

    def http(door: str) -> Any:
        def send(*_: Any, **__: Any) -> HttpAnswer:
            if not doors.answer(door):
                return HttpAnswer(503, {"content-type": "text/plain"}, b"Service Unavailable")
            return HttpAnswer(200, {"content-type": "application/json"}, json.dumps(PREDICTION).encode())

        return send

    class Clients:
        session = None

        def proxies_for(self, url: str) -> dict[str, str]:
            return {}

    monkeypatch.setattr(deploy, "invoke", endpoint)
    monkeypatch.setattr(gateway, "send", http("api"))
    monkeypatch.setattr(gateway, "require_url", lambda *_: "https://api.example/v1")
    monkeypatch.setattr(gateway, "key_value", lambda *_: "key")
    monkeypatch.setattr("mlops_cli.aws.execute_api.send", http("lb"))
    monkeypatch.setattr(pipeline, "_sample_records", lambda ctx: ("s3://b/test", [{"tenure_months": "3"}]))
    notes: list[str] = []
    ctx = pipeline._Context(
        Clients(),  # type: ignore[arg-type]
        make_config(),
        pipeline.Options(stages=["smoke"]),
        lambda event: notes.append(getattr(event, "message", "")),
    )
    ctx.stage, ctx.lb_url = "smoke", "http://lb.example"
    return pipeline, ctx, doors, notes


def test_the_smoke_stage_asks_again_while_a_door_answers_503(smoke: Any) -> None:
    pipeline, ctx, doors, notes = smoke
    result = pipeline._smoke(ctx)
    assert result.status == pipeline.RAN and result.figures["lb_matches_endpoint"] is True
    assert doors.asked == {"endpoint": 3, "api": 3, "lb": 3}
    assert sum("answered 503" in note for note in notes) == 4  # the API's and the load balancer's, twice each
    assert sum("Service Unavailable (ServiceUnavailable)" in note for note in notes) == 2


def test_the_smoke_stage_fails_when_503_lasts(smoke: Any) -> None:
    pipeline, ctx, doors, _ = smoke
    doors.failures["api"] = 10**6
    with pytest.raises(AwsUnreachable, match="The API answered 503: Service Unavailable") as raised:
        pipeline._smoke(ctx)
    assert f"Still so after {pipeline.SMOKE_PATIENCE:.0f} s of retrying; gave up." in raised.value.message
    assert 5 < doors.asked["api"] < 20  # asked again with growing pauses, not in a tight loop


def test_a_500_from_the_api_is_not_asked_again(smoke: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_cli.aws.execute_api import HttpAnswer
    from mlops_cli.errors import OperationFailed
    from mlops_cli.services import gateway

    pipeline, ctx, doors, _ = smoke
    doors.failures["endpoint"] = 0
    answers = iter([HttpAnswer(500, {}, b'{"message": "the model failed"}')])
    monkeypatch.setattr(gateway, "send", lambda *_, **__: next(answers))
    with pytest.raises(OperationFailed, match="The API answered 500") as raised:
        pipeline._smoke(ctx)
    assert not isinstance(raised.value, AwsUnreachable)


# --- the endpoint's and the load balancer's waits, and who is told ---------------------------------------------


class _FlakyEndpoint:
    """describe_endpoint: throttled `failures` times, then Updating, then InService."""

    def __init__(self, failures: int) -> None:
        self.failures, self.calls = failures, 0

    def describe_endpoint(self, EndpointName: str) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        self.calls += 1
        if self.calls <= self.failures:
            error = {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}
            raise ClientError({**error, "ResponseMetadata": {"HTTPStatusCode": 400}}, "DescribeEndpoint")
        status = "Updating" if self.calls == self.failures + 1 else "InService"
        return {"EndpointName": EndpointName, "EndpointStatus": status}


@pytest.fixture
def listener() -> Iterator[list[float]]:
    from mlops_cli.aws.errors import report_outages_to

    told: list[float] = []
    report_outages_to(lambda down, error: told.append(down))
    yield told
    report_outages_to(None)


def test_waiting_for_an_endpoint_survives_throttling_and_says_so(fake_time: FakeClock, listener: list[float]) -> None:
    from mlops_cli.services.deploy import wait_endpoint

    seen: list[str] = []
    found = wait_endpoint(
        _FakeClients(_FlakyEndpoint(failures=3)),  # type: ignore[arg-type]
        "churn-local",
        observe=lambda state, lines: seen.append(state.status),
        timeout=600,
    )
    assert found["EndpointStatus"] == "InService" and seen == ["Updating", "InService"]
    assert listener == [0, 1, 3]


def test_waiting_for_the_load_balancer_survives_an_outage(
    fake_time: FakeClock, listener: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import EndpointConnectionError

    from mlops_cli.services import lb

    waited: list[str] = []

    class Waiter:
        def __init__(self, name: str) -> None:
            self.name = name

        def wait(self, **_: Any) -> None:
            waited.append(self.name)
            if len(waited) <= 2:
                raise EndpointConnectionError(endpoint_url="https://elasticloadbalancing.eu-west-1.amazonaws.com/")

    class Elbv2:
        def get_waiter(self, name: str) -> Waiter:
            return Waiter(name)

    class Clients:
        def client(self, service: str) -> Elbv2:
            return Elbv2()

    monkeypatch.setattr(lb, "find_load_balancer", lambda *_: {"LoadBalancerArn": "arn:lb"})
    monkeypatch.setattr(lb, "find_target_group", lambda *_: {"TargetGroupArn": "arn:tg"})
    lb.wait_until_healthy(Clients(), None, timeout=60)  # type: ignore[arg-type]
    assert waited == ["load_balancer_available"] * 3 + ["target_in_service"]
    assert listener == [0, 1]


def test_ctrl_c_while_the_emulator_starts_leaves_no_server_behind(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from mlops_cli.emulator import manager, paths, processes

    monkeypatch.setenv(paths.HOME_ENV, str(tmp_path))
    stopped: list[int] = []

    class Process:
        pid = 4242

    def interrupted(*_: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(processes, "spawn_server", lambda *_: Process())
    monkeypatch.setattr(processes, "stop_group", stopped.append)
    monkeypatch.setattr(manager, "_wait_until_ready", interrupted)
    with pytest.raises(KeyboardInterrupt):
        manager.start()
    assert stopped == [4242] and not paths.state_file().exists()


def test_an_emulator_restarted_on_the_same_port_is_named_not_taken_for_absent(local_clients: Any) -> None:
    from botocore.exceptions import ClientError

    from mlops_cli.aws.errors import get_or_none
    from mlops_cli.emulator.state import ServerState
    from mlops_cli.services.jobs import Kind, describe_job

    clients, serving = local_clients

    def absent(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "ValidationException", "Message": "not found"}}, "DescribeTrainingJob")

    assert get_or_none("describing", ("ValidationException",), absent) is None  # the same emulator: really absent
    old = serving[0]
    serving.append(ServerState(333, old.port, old.endpoint_url, "2026-12-03T11:00:00+00:00"))
    clients.client = lambda service: type("SageMaker", (), {"describe_training_job": staticmethod(absent)})()
    with pytest.raises(EmulatorRestarted, match="was restarted; its state is gone"):
        describe_job(clients, Kind.TRAINING, "churn-train-1")


def test_a_busy_machine_is_not_taken_for_a_lost_emulator(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_cli.emulator import manager

    def slow(*_: Any, **__: Any) -> None:
        raise TimeoutError("timed out")

    monkeypatch.setattr(manager.socket, "create_connection", slow)
    assert manager.lost("4567:111:2026-12-03T10:00:00+00:00") is None
    monkeypatch.setattr(manager.socket, "create_connection", lambda *_, **__: socket.socket())  # connected
    monkeypatch.setattr(manager.probe, "identify", lambda *_, **__: None)  # answered, but not in time
    assert manager.lost("4567:111:2026-12-03T10:00:00+00:00") is None


def test_logs_follow_polls_through_a_short_outage(no_sleep: list[float], capsys: pytest.CaptureFixture[str]) -> None:
    from botocore.exceptions import EndpointConnectionError

    from mlops_cli.commands.common import GlobalOptions, Invocation
    from mlops_cli.commands.log_printing import print_logs

    answers = iter(["InProgress", None, None, "InProgress", "Completed"])  # None: AWS cannot be reached

    class SageMaker:
        def describe_training_job(self, TrainingJobName: str) -> dict[str, Any]:
            status = next(answers, "Completed")
            if status is None:
                raise EndpointConnectionError(endpoint_url="https://api.sagemaker.eu-west-1.amazonaws.com/")
            return {"TrainingJobName": TrainingJobName, "TrainingJobStatus": status}

    class Logs:
        def describe_log_streams(self, **_: Any) -> dict[str, Any]:
            return {"logStreams": [{"logStreamName": "churn-train-1/algo-1-1"}]}

        def get_log_events(self, nextToken: str | None = None, **_: Any) -> dict[str, Any]:
            if nextToken == "end":
                return {"events": [], "nextForwardToken": "end"}
            return {"events": [{"timestamp": 1, "message": "validation:auc=0.83\n"}], "nextForwardToken": "end"}

    run = Invocation(GlobalOptions())
    run._clients = type("Clients", (), {"client": lambda self, s: {"sagemaker": SageMaker(), "logs": Logs()}[s]})()
    print_logs(run, "training", "churn-train-1", follow=True, group="train")
    assert capsys.readouterr().out == "validation:auc=0.83\n"
