"""The integration request: what reaches the back end, and its answer.

- AWS integrations with SageMaker's runtime (`arn:aws:apigateway:<region>:runtime.sagemaker:path/endpoints/<name>/
  invocations`, POST) are forwarded in-process to the emulator's own InvokeEndpoint: a WSGI sub-request into moto's
  application with the host and SigV4 scope by which moto routes to sagemaker-runtime. The back end's HTTP status
  and body are exactly the runtime API's (200 with the model's answer, 424 ModelError, 400 ValidationError, ...).
  The integration's credentials must name a role that exists in IAM (its policies are not evaluated).
- MOCK integrations answer the status code in their request template's `{"statusCode": N}`, with no body.
- Every other type (HTTP, HTTP_PROXY, AWS_PROXY, other AWS services) is refused as not supported.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mlops_cli.emulator.gateway.errors import EmulatorError, GatewayError, NotSupported
from mlops_cli.emulator.identity import WsgiApp

DEFAULT_TIMEOUT_MS = 29_000
_SAGEMAKER_URI = re.compile(
    r"^arn:aws[\w-]*:apigateway:(?P<region>[a-z0-9-]+):runtime\.sagemaker:path/+endpoints/(?P<endpoint>[^/]+)/invocations$"
)
_TARGET_HEADER = re.compile(r"^integration\.request\.header\.(?P<name>.+)$")
_SOURCE = re.compile(r"^method\.request\.(?P<location>header|querystring|path)\.(?P<name>.+)$")
# WSGI keys of the caller's request that describe the server, not the request: the sub-request keeps them.
_SERVER_KEYS = ("SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "REMOTE_ADDR", "SCRIPT_NAME")


@dataclass(frozen=True)
class BackendResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers.items() if key.lower() == name.lower()), None)


@dataclass(frozen=True)
class MethodRequest:
    """The parts of the caller's request that mappings read."""

    headers: Mapping[str, str]
    query: Mapping[str, list[str]]
    path_parameters: Mapping[str, str]

    def value(self, location: str, name: str) -> str | None:
        if location == "header":
            return next((v for key, v in self.headers.items() if key.lower() == name.lower()), None)
        if location == "querystring":
            values = self.query.get(name)
            return values[-1] if values else None
        return self.path_parameters.get(name)


def sagemaker_endpoint(integration: Mapping[str, Any]) -> tuple[str, str]:
    """(region, endpoint name) an AWS integration invokes; NotSupported for any other integration."""
    kind = integration.get("type")
    uri = integration.get("uri") or ""
    if kind != "AWS":
        raise NotSupported(f"an integration of type {kind}")
    match = _SAGEMAKER_URI.match(uri)
    if not match:
        raise NotSupported(f"the AWS integration URI {uri!r} (only SageMaker's runtime InvokeEndpoint is emulated)")
    if (integration.get("httpMethod") or "").upper() != "POST":
        raise NotSupported(f"integrationHttpMethod {integration.get('httpMethod')} for SageMaker's InvokeEndpoint")
    return match["region"], match["endpoint"]


def check_role(credentials: str | None) -> None:
    """The integration's role must exist (API Gateway assumes it; its policies are not evaluated here)."""
    if not credentials:
        raise EmulatorError("the AWS integration has no credentials role, so API Gateway cannot call SageMaker")
    parts = credentials.split(":")
    if len(parts) < 6 or parts[2] != "iam" or not parts[5].startswith("role/"):
        raise NotSupported(f"integration credentials {credentials!r} (only a role ARN is emulated)")
    from moto.iam.models import iam_backends

    roles = list(iam_backends[parts[4]][parts[1]].roles.values())
    if not any(role.arn == credentials for role in roles):
        raise EmulatorError(
            f"the integration's credentials role {credentials} does not exist in IAM, so API Gateway cannot assume "
            "it (AWS answers 500 Internal server error)"
        )


def request_headers(mapping: Mapping[str, str] | None, request: MethodRequest) -> dict[str, str]:
    """The integration request's headers from its requestParameters (`method.request.<where>.<name>` or a static
    `'value'`); a source the request lacks maps to nothing."""
    headers: dict[str, str] = {}
    for target, source in (mapping or {}).items():
        header = _TARGET_HEADER.match(target)
        if not header:
            raise NotSupported(f"the integration request parameter {target!r}")
        if len(source) >= 2 and source.startswith("'") and source.endswith("'"):
            headers[header["name"]] = source[1:-1]
            continue
        where = _SOURCE.match(source)
        if not where:
            raise NotSupported(f"the integration request parameter source {source!r}")
        value = request.value(where["location"], where["name"])
        if value is not None:
            headers[header["name"]] = value
    return headers


def timeout_seconds(integration: Mapping[str, Any]) -> float:
    return int(integration.get("timeoutInMillis") or DEFAULT_TIMEOUT_MS) / 1000


def invoke_endpoint(
    app: WsgiApp,
    environ: Mapping[str, Any],
    account_id: str,
    region: str,
    endpoint: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float,
) -> BackendResponse:
    """POST the body to the emulator's own sagemaker-runtime InvokeEndpoint, within `timeout` seconds."""
    now = dt.datetime.now(dt.UTC)
    sub: dict[str, Any] = {key: environ[key] for key in _SERVER_KEYS if key in environ}
    sub.update({key: value for key, value in environ.items() if key.startswith("wsgi.")})
    sub.pop("wsgi.input_terminated", None)
    sub.update(
        {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": f"/endpoints/{endpoint}/invocations",
            "QUERY_STRING": "",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
            # moto picks sagemaker-runtime by the SigV4 scope (service sagemaker, a path ending in invocations)
            # and the account by x-moto-account-id; it does not verify signatures.
            "HTTP_HOST": f"runtime.sagemaker.{region}.amazonaws.com",
            "HTTP_X_AMZ_DATE": now.strftime("%Y%m%dT%H%M%SZ"),
            "HTTP_AUTHORIZATION": (
                f"AWS4-HMAC-SHA256 Credential=mlops-apigateway/{now:%Y%m%d}/{region}/sagemaker/aws4_request, "
                "SignedHeaders=host;x-amz-date, Signature=0"
            ),
            "HTTP_X_MOTO_ACCOUNT_ID": account_id,
        }
    )
    for name, value in headers.items():
        key = name.upper().replace("-", "_")
        sub[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"] = value
    return with_timeout(lambda: call(app, sub), timeout)


def mock(rendered_template: str | None) -> BackendResponse:
    """A MOCK integration: the status code its request template names (200 without a template)."""
    if rendered_template is None:
        return BackendResponse(200)
    try:
        status = int(json.loads(rendered_template)["statusCode"])
    except (ValueError, KeyError, TypeError) as exc:
        raise GatewayError("API_CONFIGURATION_ERROR", "Internal server error") from exc
    return BackendResponse(status)


def call(app: WsgiApp, environ: dict[str, Any]) -> BackendResponse:
    """One request through a WSGI application, answered in full."""
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], Any]:
        answer["status"], answer["headers"] = status, headers
        return lambda _data: None

    iterable: Iterable[bytes] = app(environ, start_response)
    try:
        body = b"".join(iterable)
    finally:
        close = getattr(iterable, "close", None)
        if close is not None:
            close()
    return BackendResponse(int(answer["status"].split(" ", 1)[0]), dict(answer["headers"]), body)


def with_timeout(work: Callable[[], BackendResponse], timeout: float) -> BackendResponse:
    """`work()` in a thread of its own; INTEGRATION_TIMEOUT when it has not answered after `timeout` seconds
    (it finishes in the background, and its answer is dropped, as API Gateway drops a late back end's)."""
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            outcome["response"] = work()
        except BaseException as exc:  # re-raised in the caller's thread
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name="apigateway-integration", daemon=True).start()
    if not done.wait(timeout):
        raise GatewayError("INTEGRATION_TIMEOUT", "Endpoint request timed out")
    if "error" in outcome:
        raise outcome["error"]
    response: BackendResponse = outcome["response"]
    return response
