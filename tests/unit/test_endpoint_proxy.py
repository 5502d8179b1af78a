"""The endpoint proxy Lambda function (mlops_cli/functions/endpoint_proxy.py) against botocore's Stubber: the
health check, the invocation and every error path, in the ALB Lambda target's request and response shapes."""

from __future__ import annotations

import base64
import gzip
import io
import json
import zlib
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from mlops_cli.functions import endpoint_proxy

ENDPOINT = "churn-prod"
RECORDS = b'{"instances": [{"tenure_months": 3, "plan": "pro"}]}'


class Stubs:
    def __init__(self) -> None:
        self.sagemaker = Stubber(boto3.client("sagemaker", region_name="eu-west-1"))
        self.runtime = Stubber(boto3.client("sagemaker-runtime", region_name="eu-west-1"))


@pytest.fixture
def stubs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubs]:
    monkeypatch.setenv("ENDPOINT_NAME", ENDPOINT)
    monkeypatch.delenv("HEALTH_PATH", raising=False)
    stubs = Stubs()
    monkeypatch.setattr(
        endpoint_proxy, "_clients", {"sagemaker": stubs.sagemaker.client, "sagemaker-runtime": stubs.runtime.client}
    )
    with stubs.sagemaker, stubs.runtime:
        yield stubs
        stubs.sagemaker.assert_no_pending_responses()
        stubs.runtime.assert_no_pending_responses()


def alb_event(method: str, path: str, body: bytes = b"", encoded: bool = False, **headers: str) -> dict[str, Any]:
    """An event as the load balancer sends it (lower-case header names)."""
    return {
        "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:eu-west-1:123:targetgroup/t/1"}},
        "httpMethod": method,
        "path": path,
        "queryStringParameters": {},
        "headers": {"host": "lb.example.com", "user-agent": "curl/8", **headers},
        "body": base64.b64encode(body).decode() if encoded else body.decode(),
        "isBase64Encoded": encoded,
    }


def described(status: str) -> dict[str, Any]:
    return {
        "EndpointName": ENDPOINT,
        "EndpointArn": f"arn:aws:sagemaker:eu-west-1:123456789012:endpoint/{ENDPOINT}",
        "EndpointConfigName": ENDPOINT,
        "EndpointStatus": status,
        "CreationTime": "2024-01-01T00:00:00Z",
        "LastModifiedTime": "2024-01-01T00:00:00Z",
    }


def body_of(response: dict[str, Any]) -> Any:
    raw = base64.b64decode(response["body"]) if response["isBase64Encoded"] else response["body"].encode()
    return json.loads(raw)


def test_health_is_ok_only_when_the_endpoint_is_in_service(stubs: Stubs) -> None:
    stubs.sagemaker.add_response("describe_endpoint", described("InService"), {"EndpointName": ENDPOINT})
    response = endpoint_proxy.handler(alb_event("GET", "/health"), None)
    assert response == {
        "statusCode": 200,
        "statusDescription": "200 OK",
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"status": "ok", "endpoint": ENDPOINT}),
        "isBase64Encoded": False,
    }

    stubs.sagemaker.add_response("describe_endpoint", described("Updating"), {"EndpointName": ENDPOINT})
    updating = endpoint_proxy.handler(alb_event("GET", "/health"), None)
    assert (updating["statusCode"], updating["statusDescription"]) == (503, "503 Service Unavailable")
    assert body_of(updating) == {"status": "unavailable", "endpoint": ENDPOINT, "endpointStatus": "Updating"}


def test_health_of_a_missing_endpoint_is_503(stubs: Stubs) -> None:
    stubs.sagemaker.add_client_error(
        "describe_endpoint", "ValidationException", f'Could not find endpoint "{ENDPOINT}".', 400
    )
    response = endpoint_proxy.handler(alb_event("GET", "/health"), None)
    assert response["statusCode"] == 503
    assert "Could not find endpoint" in body_of(response)["message"]


def test_health_path_comes_from_the_environment(stubs: Stubs, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEALTH_PATH", "/ping")
    stubs.sagemaker.add_response("describe_endpoint", described("InService"), {"EndpointName": ENDPOINT})
    assert endpoint_proxy.handler(alb_event("GET", "/ping"), None)["statusCode"] == 200
    assert endpoint_proxy.handler(alb_event("GET", "/health"), None)["statusCode"] == 405  # an ordinary path now


def test_post_invokes_the_endpoint_with_the_request_body_and_types(stubs: Stubs) -> None:
    answer = b'{"predictions": [{"label": "no", "probability": 0.2}]}'
    stubs.runtime.add_response(
        "invoke_endpoint",
        {"Body": StreamingBody(io.BytesIO(answer), len(answer)), "ContentType": "application/json"},
        {"EndpointName": ENDPOINT, "ContentType": "application/json", "Accept": "application/json", "Body": RECORDS},
    )
    event = alb_event(
        "POST", "/invocations", RECORDS, **{"content-type": "application/json", "accept": "application/json"}
    )
    response = endpoint_proxy.handler(event, None)
    assert response["statusCode"] == 200
    assert response["headers"] == {"Content-Type": "application/json"}
    assert (response["body"], response["isBase64Encoded"]) == (answer.decode(), False)


def test_post_defaults_to_json_and_decodes_a_base64_body(stubs: Stubs) -> None:
    csv = b"3,pro\n"
    stubs.runtime.add_response(
        "invoke_endpoint",
        {"Body": StreamingBody(io.BytesIO(b"no\n"), 3), "ContentType": "text/csv"},
        {"EndpointName": ENDPOINT, "ContentType": "application/json", "Body": csv},  # no Accept sent
    )
    response = endpoint_proxy.handler(alb_event("POST", "/", csv, encoded=True), None)
    assert (response["statusCode"], response["headers"]["Content-Type"], response["body"]) == (200, "text/csv", "no\n")


@pytest.mark.parametrize(("coding", "compress"), [("gzip", gzip.compress), ("deflate", zlib.compress)])
def test_a_compressed_body_reaches_the_model_decompressed(stubs: Stubs, coding: str, compress: Any) -> None:
    # InvokeEndpoint has no Content-Encoding: as API Gateway does, the proxy decompresses
    stubs.runtime.add_response(
        "invoke_endpoint",
        {"Body": StreamingBody(io.BytesIO(b"{}"), 2), "ContentType": "application/json"},
        {"EndpointName": ENDPOINT, "ContentType": "application/json", "Body": RECORDS},
    )
    event = alb_event("POST", "/", compress(RECORDS), encoded=True, **{"content-encoding": coding.upper()})
    assert endpoint_proxy.handler(event, None)["statusCode"] == 200


def test_a_binary_answer_is_base64_encoded(stubs: Stubs) -> None:
    binary = bytes([0x89, 0x50, 0xFF, 0x00])
    stubs.runtime.add_response(
        "invoke_endpoint",
        {"Body": StreamingBody(io.BytesIO(binary), len(binary)), "ContentType": "application/x-npy"},
    )
    response = endpoint_proxy.handler(alb_event("POST", "/invocations", RECORDS), None)
    assert response["isBase64Encoded"] is True
    assert base64.b64decode(response["body"]) == binary


def test_a_model_error_answers_the_models_own_status_and_message(stubs: Stubs) -> None:
    message = json.dumps({"error": "BadRequestError", "error-message": "missing feature 'tenure_months'"})
    stubs.runtime.add_client_error(
        "invoke_endpoint",
        service_error_code="ModelError",
        service_message="Received client error (400) from primary with message ...",
        http_status_code=424,
        modeled_fields={"OriginalStatusCode": 400, "OriginalMessage": message, "LogStreamArn": "arn:aws:logs:x"},
    )
    response = endpoint_proxy.handler(alb_event("POST", "/invocations", b"{}"), None)
    assert (response["statusCode"], response["statusDescription"]) == (400, "400 Bad Request")
    assert body_of(response) == {"message": message}


def test_a_missing_endpoint_is_a_bad_gateway(stubs: Stubs) -> None:
    stubs.runtime.add_client_error(
        "invoke_endpoint", "ValidationError", f"Endpoint {ENDPOINT} of account 123456789012 not found.", 400
    )
    response = endpoint_proxy.handler(alb_event("POST", "/invocations", b"{}"), None)
    assert (response["statusCode"], response["statusDescription"]) == (502, "502 Bad Gateway")
    assert body_of(response) == {"message": f"Endpoint {ENDPOINT} of account 123456789012 not found."}


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/invocations", "POST"),
        ("GET", "/invocations", "POST"),
        ("DELETE", "/", "POST"),
        ("POST", "/health", "GET"),
    ],
)
def test_other_methods_are_not_allowed(stubs: Stubs, method: str, path: str, allow: str) -> None:
    response = endpoint_proxy.handler(alb_event(method, path), None)
    assert (response["statusCode"], response["headers"]["Allow"]) == (405, allow)
    assert method in body_of(response)["message"]


@pytest.mark.parametrize(
    ("event", "status", "message"),
    [
        (alb_event("POST", "/", RECORDS[:9], encoded=True, **{"content-encoding": "gzip"}), 415, "not gzip-compressed"),
        (alb_event("POST", "/", gzip.compress(RECORDS)[:-9], encoded=True, **{"content-encoding": "gzip"}), 415, "cut"),
        (alb_event("POST", "/", RECORDS, encoded=True, **{"content-encoding": "br"}), 415, "'br' is not supported"),
        (alb_event("POST", "/", b" " * (6_291_456 + 1), encoded=True), 413, "6291456 bytes"),
        # a small compressed body must not inflate without bound
        (
            alb_event("POST", "/", gzip.compress(b" " * 7_000_000), encoded=True, **{"content-encoding": "gzip"}),
            413,
            "6291456",
        ),
        (alb_event("POST", "/", RECORDS, **{"content-type": "application/jsön"}), 400, "Content-Type header"),
        (alb_event("POST", "/", RECORDS, accept="a" * 1025), 400, "Accept header"),
        ({**alb_event("POST", "/"), "body": "not base64!", "isBase64Encoded": True}, 400, "marked Base64"),
    ],
)
def test_what_sagemaker_would_refuse_is_a_client_error_here(
    stubs: Stubs, event: dict[str, Any], status: int, message: str
) -> None:
    response = endpoint_proxy.handler(event, None)  # and no InvokeEndpoint call: the stubber has none queued
    assert response["statusCode"] == status
    assert message in body_of(response)["message"]
