"""Hostile request bodies at the three doors of a deployed model, which must answer them alike: the endpoint
(InvokeEndpoint through the emulated runtime to the emulator's model server running the trained model's
inference.py), the REST API (the emulated API Gateway serving the API `mlops gateway apply` creates, in front of
that endpoint) and the load balancer (an ALB's Lambda target event through the proxy function to that endpoint).

Everything runs in this process (moto in-process; the model server on a loopback port in a thread) with one model
trained by train.py for the module: no emulator, no subprocess per request."""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import sys
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

ACCOUNT = "123456789012"
REGION = "eu-west-1"
ENDPOINT = "churn-local"
MB = 1024 * 1024


# ----------------------------------------------------------------------------------------------- the model


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model folder as train.py writes it (logistic regression on 200 sample rows: about 2 s)."""
    import importlib.util

    from tests.container.contract import DATA, SCRIPTS, files_under, run_training, schema_from_config

    spec = importlib.util.spec_from_file_location("_input_mlops_schema", SCRIPTS / "mlops_schema.py")
    assert spec is not None and spec.loader is not None
    ms = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = ms
    spec.loader.exec_module(ms)
    schema_dict = schema_from_config()
    raw = ms.read_raw_csv(sorted(DATA.rglob("*.csv"))[0]).head(260)
    clean, _rejects = ms.validate(raw, ms.schema_from_dict(schema_dict))
    rows = raw.loc[clean.index]
    work = tmp_path_factory.mktemp("input-model")
    for split, part in (("train", rows.iloc[:200]), ("validation", rows.iloc[200:])):
        (work / split).mkdir()
        part.to_csv(work / split / "part-0.csv", index=False)
    channels = {split: files_under(work / split) for split in ("train", "validation")}
    result = run_training(work / "job", channels, {"algorithm": '"logistic_regression"'}, schema_dict)
    assert result.returncode == 0, result.describe()
    return result.opt_ml / "model"


@pytest.fixture(scope="module")
def handler(model_dir: Path) -> Iterator[ModuleType]:
    """code/inference.py imported as the serving container imports it, the test process's modules set aside."""
    from tests.container.contract import imported_handler

    with imported_handler(model_dir / "code") as module:
        yield module


@pytest.fixture(scope="module")
def model_server(handler: ModuleType, model_dir: Path) -> Iterator[int]:
    """The emulator's model server (its HTTP handler and the container's handler contract) on a loopback port."""
    from mlops_cli.emulator.serving import model_server as ms

    handlers = ms.Handlers(handler, "application/json")
    handlers.load(str(model_dir))
    server = ms.Server(("127.0.0.1", 0), ms.RequestHandler)
    server.handlers = handlers
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


# ------------------------------------------------------------------------------------------------- the doors


@dataclass(frozen=True)
class Reply:
    status: int
    text: str


class _Variant:
    """The endpoint's one variant: its server is the model server above (what VariantServer.invoke does)."""

    name = "AllTraffic"
    plan = SimpleNamespace(instance_count=1)

    def __init__(self, port: int) -> None:
        self.port = port

    def invoke(self, body: bytes, headers: dict[str, str]) -> Any:
        import http.client

        from mlops_cli.emulator.serving.variant import Answer

        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request("POST", "/invocations", body=body, headers=headers)
            response = connection.getresponse()
            return Answer(response.status, response.read(), response.getheader("Content-Type") or "", None)
        finally:
            connection.close()


class _Fleet:
    capture = None

    def __init__(self, port: int) -> None:
        self.variant = _Variant(port)

    def leave(self) -> None:
        pass


class _Endpoint:
    def __init__(self, port: int) -> None:
        self.fleet = _Fleet(port)

    def acquire(self, target_variant: str | None) -> tuple[_Fleet, _Variant]:
        return self.fleet, self.fleet.variant


class Doors:
    def __init__(self, model_port: int, runtime: Any, wsgi: Any, api_id: str, stage: str) -> None:
        self.model_port = model_port
        self.runtime = runtime
        self.wsgi = wsgi
        self.api_id = api_id
        self.stage = stage

    def model(self, body: bytes, headers: dict[str, str]) -> Reply:
        """POST /invocations straight to the model server, as SageMaker's front end does."""
        answer = _Variant(self.model_port).invoke(body, headers)
        return Reply(answer.status, answer.body.decode("utf-8", "replace"))

    def endpoint(self, body: bytes, headers: dict[str, str]) -> Reply:
        """InvokeEndpoint with boto3: the model's own status for a ModelError, the API's for any other error."""
        from botocore.exceptions import ClientError

        arguments: dict[str, Any] = {"EndpointName": ENDPOINT, "Body": body}
        lowered = {name.lower(): value for name, value in headers.items()}
        if "content-type" in lowered:
            arguments["ContentType"] = lowered["content-type"]
        if "accept" in lowered:
            arguments["Accept"] = lowered["accept"]
        try:
            answer = self.runtime.invoke_endpoint(**arguments)
        except ClientError as error:
            details = error.response
            if details["Error"]["Code"] == "ModelError":
                return Reply(int(details["OriginalStatusCode"]), str(details.get("OriginalMessage")))
            return Reply(details["ResponseMetadata"]["HTTPStatusCode"], details["Error"]["Message"])
        return Reply(200, answer["Body"].read().decode())

    def gateway(self, body: bytes, headers: dict[str, str]) -> Reply:
        """POST /predict on the deployed stage, through the emulator's WSGI application."""
        from mlops_cli.emulator.gateway.middleware import GatewayRoute

        environ: dict[str, Any] = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": f"/restapis/{self.api_id}/{self.stage}/_user_request_/predict",
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.input": io.BytesIO(body),
            "wsgi.url_scheme": "http",
            "CONTENT_LENGTH": str(len(body)),
        }
        for name, value in headers.items():
            key = name.upper().replace("-", "_")
            environ[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"] = value
        captured: dict[str, Any] = {}

        def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"] = int(status.split(" ", 1)[0])
            return lambda _data: None

        data = b"".join(GatewayRoute(self.wsgi)(environ, start_response))
        return Reply(captured["status"], data.decode("utf-8", "replace"))

    def balancer(self, body: bytes, headers: dict[str, str]) -> Reply:
        """An ALB listener forwarding to the Lambda target group of the proxy function."""
        from mlops_cli.emulator.balancing import dispatch
        from mlops_cli.emulator.balancing.messages import Request

        request = Request(
            method="POST",
            path="/invocations",
            query="",
            headers=[("Host", "lb.local"), *headers.items()],
            body=body,
            client_ip="127.0.0.1",
            listener_protocol="HTTP",
            listener_port=80,
            local_port=8080,
        )
        group = SimpleNamespace(
            attributes={}, arn=f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/t/1", account_id=ACCOUNT
        )
        group.region_name = REGION
        answer = dispatch._invoke_function(group, "arn:aws:lambda:eu-west-1:123456789012:function:proxy", request)
        return Reply(answer.status, answer.body.decode("utf-8", "replace"))


def _run_proxy(function_arn: str, account_id: str, region: str, event: dict[str, Any]) -> Any:
    """The Lambda runtime's part: the event and the result cross a JSON boundary, as in function_runtime."""
    from mlops_cli.emulator.balancing.functions import Outcome
    from mlops_cli.functions import endpoint_proxy

    try:
        result = endpoint_proxy.handler(json.loads(json.dumps(event)), None)
        return Outcome("ok", json.loads(json.dumps(result)))
    except Exception as error:
        return Outcome("error", message=f"{type(error).__name__}: {error}")


@pytest.fixture(scope="module")
def doors(model_server: int) -> Iterator[Doors]:
    import boto3
    from moto import mock_aws
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from mlops_cli.aws.session import AwsClients
    from mlops_cli.emulator import gateway as gateway_emulation
    from mlops_cli.emulator.balancing.functions import functions
    from mlops_cli.emulator.serving import api
    from mlops_cli.emulator.serving.host import host
    from mlops_cli.functions import endpoint_proxy
    from mlops_cli.services import gateway
    from tests.unit.conftest import make_config, make_project_key

    config = make_config("gateway.auth=none")
    runtime_patches = [patch for patch in api.PATCHES if patch.owner.__name__ == "SageMakerRuntimeResponse"]
    saved_get, saved_invoke, saved_clients = host.get, functions.invoke, dict(endpoint_proxy._clients)
    with mock_aws():
        clients = AwsClients(config.aws, resolve=False)
        make_project_key(clients, config)
        sagemaker = clients.client("sagemaker")
        role = f"arn:aws:iam::{ACCOUNT}:role/sm"
        image = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/x:1"
        sagemaker.create_model(ModelName="m", ExecutionRoleArn=role, PrimaryContainer={"Image": image})
        variant = {"VariantName": "AllTraffic", "ModelName": "m", "InitialInstanceCount": 1}
        sagemaker.create_endpoint_config(
            EndpointConfigName="c", ProductionVariants=[variant | {"InstanceType": "ml.m5.large"}]
        )
        sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="c")
        gateway_emulation.install()
        for patch in runtime_patches:
            patch.apply()
        host.get = lambda account_id, region, name: _Endpoint(model_server) if name == ENDPOINT else None  # type: ignore[method-assign]
        functions.invoke = _run_proxy  # type: ignore[method-assign]
        runtime = boto3.client("sagemaker-runtime", region_name=REGION)
        endpoint_proxy._clients["sagemaker-runtime"] = runtime
        saved_environment = {name: os.environ.get(name) for name in ("ENDPOINT_NAME", "HEALTH_PATH")}
        os.environ["ENDPOINT_NAME"] = ENDPOINT
        os.environ.pop("HEALTH_PATH", None)
        try:
            applied = gateway.apply(clients, config)
            wsgi = DomainDispatcherApplication(create_backend_app)
            yield Doors(model_server, runtime, wsgi, applied.api_id, applied.stage)
        finally:
            for name, value in saved_environment.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            endpoint_proxy._clients.clear()
            endpoint_proxy._clients.update(saved_clients)
            functions.invoke = saved_invoke  # type: ignore[method-assign]
            host.get = saved_get  # type: ignore[method-assign]
            for patch in reversed(runtime_patches):
                patch.revert()
            gateway_emulation.uninstall()


# ------------------------------------------------------------------------------------------------- the bodies

RECORD = {
    "customer_id": "C1",
    "tenure_months": 26,
    "monthly_charges": 107.39,
    "total_charges": "2814.19",
    "plan": "team",
    "contract": "two_year",
    "payment_method": "card",
    "support_calls": 2,
    "has_partner": "no",
    "paperless_billing": True,
    "region": "west",
    "last_login_days": "4",
}
JSON = {"Content-Type": "application/json"}
FORM = "application/x-www-form-urlencoded"


def body_of(*records: dict[str, Any]) -> bytes:
    return json.dumps({"instances": list(records)}).encode()


def replaced(old: bytes, new: bytes) -> bytes:
    body = body_of(RECORD)
    assert old in body
    return body.replace(old, new)


@dataclass(frozen=True)
class Case:
    body: bytes
    meaning: str  # a pattern every door's answer matches: the same reason, in each door's words
    headers: dict[str, str] = field(default_factory=lambda: dict(JSON))


def unknown_fields(count: int) -> bytes:
    return body_of(RECORD | {f"extra_{index}": index for index in range(count)})


CASES = {
    # Python's parser takes them; a NaN feature was a missing value and changed the prediction
    "NaN": Case(replaced(b'"monthly_charges": 107.39', b'"monthly_charges": NaN'), r"NaN is not a JSON value"),
    "Infinity": Case(replaced(b'"monthly_charges": 107.39', b'"monthly_charges": Infinity'), r"Infinity is not a"),
    "-Infinity": Case(replaced(b'"support_calls": 2', b'"support_calls": -Infinity'), r"-Infinity is not a"),
    "a number beyond float": Case(replaced(b'"monthly_charges": 107.39', b'"monthly_charges": 1e400'), r"monthly_"),
    "NaN in CSV": Case(
        b"26,nan,2814.19,team,two_year,card,2,no,yes,west,4\n", r"monthly_charges", {"Content-Type": "text/csv"}
    ),
    "nested 1,000 deep": Case(b'{"instances": [' + b"[" * 1000 + b"]" * 1000 + b"]}", r"nested too deeply"),
    "the key as an object": Case(replaced(b'"customer_id": "C1"', b'"customer_id": {"a": [[1]]}'), r"customer_id"),
    "a lone surrogate category": Case(replaced(b'"team"', b'"\\ud800"'), r"plan"),
    "a lone surrogate key": Case(replaced(b'"C1"', b'"C\\udfff"'), r"customer_id"),
    "a form": Case(b"tenure_months=3&plan=pro", r"application/json or text/csv", {"Content-Type": FORM}),
    # compressed, but not said so: the model names it (API Gateway's parser sees bytes that are not UTF-8)
    "gzip without Content-Encoding": Case(gzip.compress(body_of(RECORD)), r"compressed|Invalid JSON.*utf-8"),
    "invalid UTF-8": Case(replaced(b'"west"', b'"we\xffst"'), r"(?i)utf-8"),
    "invalid UTF-8 in the key": Case(replaced(b'"C1"', b'"C\xff1"'), r"(?i)utf-8"),  # was echoed with U+FFFD
    "6.4 MB": Case(body_of(RECORD)[:-1] + b" " * int(6.4 * MB) + b"}", r"6291456|1 MB|Too Large"),
    "20,000 unknown fields": Case(unknown_fields(20_000), r"extra_1"),
    "an empty body": Case(b"", r"(?i)empty|instances"),
    "1,001 rows": Case(body_of(*[RECORD] * 1001), r"too many rows|too long"),
    "an Accept it cannot answer": Case(body_of(RECORD), r"text/html", {**JSON, "Accept": "text/html"}),
}
DOORS = ("model", "endpoint", "gateway", "balancer")


def test_a_valid_record_is_predicted_alike_at_every_door(doors: Doors) -> None:
    replies = {door: getattr(doors, door)(body_of(RECORD), JSON) for door in DOORS}
    assert {reply.status for reply in replies.values()} == {200}, replies
    assert len({reply.text for reply in replies.values()}) == 1, replies


@pytest.mark.parametrize(
    "change",
    [
        {"tenure_months": 26.0, "support_calls": "2.0"},  # whole values, as preprocessing reads them
        {"support_calls": 2e0, "tenure_months": "2.6e1"},
        {"region": None, "last_login_days": ""},  # missing values
        {"customer_id": None},  # a null key is no key: nothing to echo, and nothing to refuse
        # what the handler strips, as preprocessing does: Unicode whitespace too (Java's \s is ASCII only)
        {"tenure_months": "\u00a026\u3000", "has_partner": " no\u2003", "last_login_days": "\u2009"},
    ],
)
def test_what_the_model_serves_every_door_serves(doors: Doors, change: dict[str, Any]) -> None:
    replies = {door: getattr(doors, door)(body_of(RECORD | change), JSON) for door in DOORS}
    assert {reply.status for reply in replies.values()} == {200}, replies
    assert len({reply.text for reply in replies.values()}) == 1, replies


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_every_door_refuses_a_hostile_body_with_a_4xx_that_says_why(doors: Doors, case: Case) -> None:
    replies = {door: getattr(doors, door)(case.body, case.headers) for door in DOORS}
    for door, reply in replies.items():
        assert 400 <= reply.status < 500, (door, reply)
        assert re.search(case.meaning, reply.text), (door, reply)


class _Overloaded(Exception):
    status_code = 503  # sagemaker_inference's errors carry their status: the server answers it


@pytest.mark.parametrize(
    ("failure", "model_status"),
    [(MemoryError("the model ran out of memory"), 500), (_Overloaded("the model is overloaded"), 503)],
    ids=["a bug or out of memory", "a 503 of its own"],
)
def test_every_door_answers_a_model_that_fails_with_a_5xx_that_says_so(
    doors: Doors, handler: ModuleType, monkeypatch: pytest.MonkeyPatch, failure: Exception, model_status: int
) -> None:
    def fail(*_args: Any) -> Any:
        raise failure

    monkeypatch.setattr(handler, "predict", fail)
    replies = {door: getattr(doors, door)(body_of(RECORD), JSON) for door in DOORS}
    assert replies["model"].status == model_status, replies
    for door, reply in replies.items():
        assert 500 <= reply.status < 600, (door, reply)
        assert str(failure) in reply.text, (door, reply)
    assert "refused" not in replies["gateway"].text, replies
    json.loads(replies["gateway"].text)  # the API's error bodies stay JSON, whatever the caller sent


@pytest.mark.parametrize(("coding", "compress"), [("gzip", gzip.compress), ("deflate", zlib.compress)])
def test_a_compressed_body_is_served_where_its_content_encoding_arrives(
    doors: Doors, coding: str, compress: Callable[[bytes], bytes]
) -> None:
    expected = doors.model(body_of(RECORD), JSON)
    assert expected.status == 200
    headers = {**JSON, "Content-Encoding": coding}
    # API Gateway decompresses gzip and deflate bodies; so does the proxy behind the load balancer
    assert doors.gateway(compress(body_of(RECORD)), headers) == expected
    assert doors.balancer(compress(body_of(RECORD)), headers) == expected
    # InvokeEndpoint takes no Content-Encoding: the compressed bytes are the body, which the model refuses
    for door in (doors.model, doors.endpoint):
        assert door(compress(body_of(RECORD)), JSON).status == 400


@pytest.mark.parametrize(
    ("body", "coding", "status"),
    [
        (body_of(RECORD), "br", 415),  # a coding neither supports
        (body_of(RECORD), "gzip", 415),  # not compressed as it says
        (gzip.compress(body_of(RECORD))[:-9], "gzip", 415),  # cut short
        (gzip.compress(b" " * (11 * MB)), "gzip", 413),  # 11 kB that inflate past both limits
    ],
)
def test_a_body_that_does_not_decompress_is_refused_where_content_encoding_arrives(
    doors: Doors, body: bytes, coding: str, status: int
) -> None:
    for door in (doors.gateway, doors.balancer):
        reply = door(body, {**JSON, "Content-Encoding": coding})
        assert reply.status == status, reply


def test_unknown_fields_cost_a_few_suggestions_not_one_per_field(
    handler: ModuleType, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = handler.model_fn(str(model_dir))
    calls = []
    closest = handler.difflib.get_close_matches

    def counted(word: str, *args: Any, **kwargs: Any) -> list[str]:
        calls.append(word)
        return closest(word, *args, **kwargs)

    monkeypatch.setattr(handler.difflib, "get_close_matches", counted)
    misspelt = {"plna": "pro", "x" * 1_000_000: 1, **{f"extra_{index}": index for index in range(100_000)}}
    records = [RECORD | misspelt, {"tenure_mnths": 3}]
    status, body, _type = handler.invoke(model, json.dumps({"instances": records}), "application/json", None)
    assert status == 400
    assert len(calls) == handler.SUGGESTED_FIELDS  # was one per unknown field: seconds of CPU for a large body
    message = json.loads(body)["error-message"]
    assert "unknown feature 'plna' (did you mean 'plan'?)" in message
    assert "and 99997 more unknown features" in message
    assert f"unknown feature '{'x' * 100}...'" in message  # a megabyte-long name is not repeated back
    assert "row 1: unknown feature 'tenure_mnths'; missing feature" in message  # no hint left for it
    assert len(message) < 2000


@pytest.mark.parametrize(("length", "status"), [("abc", 400), ("-5", 400), (str(7 * MB), 413)])
def test_the_model_server_answers_a_bad_or_huge_content_length(model_server: int, length: str, status: int) -> None:
    import socket

    with socket.create_connection(("127.0.0.1", model_server), timeout=10) as connection:
        head = f"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
        connection.sendall(head.encode() + (b" " * (7 * MB) if status == 413 else b""))
        answer = connection.makefile("rb").readline()
    assert answer.split()[1] == str(status).encode()
