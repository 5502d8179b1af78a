"""One gateway request through API Gateway's steps, in its order, on what the stage's deployment serves:

  1. the API, its stage and the deployment's snapshot        (routing)        403 MISSING_AUTHENTICATION_TOKEN
  2. the resource and method                                 (routing)        403 MISSING_AUTHENTICATION_TOKEN
  3. authorization and API key, throttling, quota            (auth)           403 / 429
  4. body size (10 MB; after decompression too)                              413 REQUEST_TOO_LARGE
  5. content coding (gzip, deflate decompressed), content type vs templates   415 UNSUPPORTED_MEDIA_TYPE
  6. required parameters, body against the model             (validation)     400 BAD_REQUEST_*
  7. the integration                                         (integration)    504 INTEGRATION_TIMEOUT
  8. the integration response and method response            (responses)

Every answer carries `x-amzn-RequestId`; every gateway-made error is shaped by the API's gateway responses; a
configuration the emulator does not emulate is a plain 500 `{"message": "mlops emulator: ..."}`. Nothing is shared
between requests but the limiter (locked) and read-only snapshots, so one request's failure never affects the next.
"""

from __future__ import annotations

import datetime as dt
import http
import json
import time
import traceback
import uuid
import zlib
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qs

from mlops_cli.emulator.gateway import access_log, auth, integration, responses, routing, templates, validation
from mlops_cli.emulator.gateway.errors import EmulatorError, GatewayError, NotSupported
from mlops_cli.emulator.gateway.responses import Answer, media_type
from mlops_cli.emulator.identity import WsgiApp
from mlops_cli.emulator.jobs.runtime import announce

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}  # deflate is the zlib format (RFC 9110)
_CHUNK = 1 << 16


@dataclass(frozen=True)
class Incoming:
    method: str
    headers: dict[str, str]
    query: dict[str, list[str]]
    body: bytes
    too_large: bool

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers.items() if key.lower() == name.lower()), None)


class Invocation:
    """One gateway request, from the URL to the answer: `app` is moto's application (the back end of AWS
    integrations), `limiter` the gateway's buckets and counters."""

    def __init__(self, app: WsgiApp, limiter: auth.Limiter, environ: dict[str, Any], target: routing.Target) -> None:
        self.app = app
        self.limiter = limiter
        self.environ = environ
        self.target = target
        self.request_id = str(uuid.uuid4())
        self.started = time.time()
        self.request = read(environ)
        self.deployed: routing.Deployed | None = None
        self.route: routing.Route | None = None
        self.backend_status: int | None = None
        self.api_key_id = ""
        self.error: GatewayError | EmulatorError | None = None

    def run(self) -> Answer:
        try:
            answer = self.serve()
        except GatewayError as error:
            self.error = error
            answer = self.gateway_answer(error)
        except EmulatorError as error:
            self.error = error
            answer = _plain_error(error.message)
        except Exception as exc:  # a bug of the emulator: say so, and keep serving
            announce(f"API Gateway request {self.request_id} failed:\n{traceback.format_exc()}")
            self.error = EmulatorError(f"internal error of the emulated API Gateway: {exc!r}")
            answer = _plain_error(self.error.message)
        answer.headers["x-amzn-RequestId"] = self.request_id
        self.write_access_log(answer)
        return answer

    # ------------------------------------------------------------------------------------------------ steps

    def serve(self) -> Answer:
        deployed = self.deployed = routing.locate(self.target)
        if deployed.snapshot.execute_api_disabled:
            raise NotSupported("calling an API whose default execute-api endpoint is disabled")
        if deployed.snapshot.policy:
            raise NotSupported("a resource policy on the REST API (the emulator does not evaluate policies)")
        route = self.route = routing.match(deployed.snapshot, self.target.path, self.request.method)
        self.authorize(deployed, route)
        if self.request.too_large:
            raise GatewayError("REQUEST_TOO_LARGE", "Request Too Long")
        settings = route.method.integration
        if not settings:
            raise EmulatorError(f"{route.method.http_method} {route.resource.path} has no integration")
        self.decompress()
        content_type = media_type(self.request.header("Content-Type") or responses.JSON)
        template = self.request_template(settings, content_type)
        self.validate(deployed, route, content_type)
        backend = self.integrate(deployed, route, settings, content_type, template)
        self.backend_status = backend.status
        chosen = responses.select(settings.get("integrationResponses"), backend.status)
        return responses.integration_answer(
            chosen,
            route.method.method_responses,
            backend,
            self.request.header("Accept"),
            self.template_context(body=backend.body),
        )

    def authorize(self, deployed: routing.Deployed, route: routing.Route) -> None:
        method = route.method
        if method.authorization_type == "AWS_IAM":
            auth.check_signature(self.request.headers)
        elif method.authorization_type != "NONE":
            raise NotSupported(f"authorizationType {method.authorization_type}")
        grant = None
        if method.api_key_required:
            grant = auth.check_api_key(
                deployed.backend,
                deployed.api.id,
                self.target.stage,
                deployed.snapshot.api_key_source,
                self.request.headers,
            )
            self.api_key_id = grant.key_id
        scope = (deployed.account_id, deployed.region, deployed.api.id, self.target.stage)
        limits = auth.stage_throttle(deployed.stage.method_settings or {}, route.resource.path, method.http_method)
        if limits is not None:
            key, rate, burst = limits
            self.limiter.throttle(("stage", *scope, key), rate, burst)
        if grant is not None:
            plan = (deployed.account_id, deployed.region, grant.plan_id, grant.key_id)
            if grant.throttle:
                rate = float(grant.throttle.get("rateLimit", 10000.0))
                burst = float(grant.throttle.get("burstLimit", 5000))
                self.limiter.throttle(("plan", *plan), rate, burst)
            if grant.quota and "limit" in grant.quota:
                limit = int(float(grant.quota["limit"]))
                self.limiter.count(("quota", *plan), limit, str(grant.quota.get("period", "DAY")))

    def decompress(self) -> None:
        """API Gateway decompresses a body sent with a Content-Encoding it supports (gzip, deflate, identity) before
        it validates and maps it; another coding, or a body that is not compressed so, is 415. The decompressed body
        is held to the payload limit too (a small body must not inflate without bound)."""
        encoding = (self.request.header("Content-Encoding") or "").strip().lower()
        if encoding in ("", "identity"):
            return
        if encoding not in _WBITS:
            raise GatewayError("UNSUPPORTED_MEDIA_TYPE", "Unsupported Media Type")
        inflater = zlib.decompressobj(_WBITS[encoding])
        try:
            body = inflater.decompress(self.request.body, MAX_BODY_BYTES + 1)
        except zlib.error as exc:
            raise GatewayError("UNSUPPORTED_MEDIA_TYPE", "Unsupported Media Type") from exc
        if len(body) > MAX_BODY_BYTES:
            raise GatewayError("REQUEST_TOO_LARGE", "Request Too Long")
        if not inflater.eof:
            raise GatewayError("UNSUPPORTED_MEDIA_TYPE", "Unsupported Media Type")
        self.request = replace(self.request, body=body)

    def request_template(self, settings: dict[str, Any], content_type: str) -> str | None:
        """The request template for the content type; 415 when there is none and the passthrough behaviour
        refuses unmapped types (None: the body passes through)."""
        available = {media_type(name): template for name, template in (settings.get("requestTemplates") or {}).items()}
        if content_type in available:
            return available[content_type] or ""
        behaviour = settings.get("passthroughBehavior") or "WHEN_NO_MATCH"
        if behaviour == "NEVER" or (behaviour == "WHEN_NO_TEMPLATES" and available):
            raise GatewayError("UNSUPPORTED_MEDIA_TYPE", "Unsupported Media Type")
        if behaviour not in ("WHEN_NO_MATCH", "WHEN_NO_TEMPLATES", "NEVER"):
            raise NotSupported(f"passthroughBehavior {behaviour}")
        return None

    def validate(self, deployed: routing.Deployed, route: routing.Route, content_type: str) -> None:
        method = route.method
        if not method.request_validator_id:
            return
        validator = deployed.snapshot.validators.get(method.request_validator_id)
        if validator is None:
            raise EmulatorError(f"the request validator {method.request_validator_id} of the method does not exist")
        if validator.get("validateRequestParameters"):
            missing = validation.missing_parameters(
                method.request_parameters, self.request.headers, self.request.query, route.path_parameters
            )
            if missing:
                raise GatewayError(
                    "BAD_REQUEST_PARAMETERS", f"Missing required request parameters: [{', '.join(missing)}]"
                )
        if not validator.get("validateRequestBody"):
            return
        models = {media_type(name): model for name, model in method.request_models.items()}
        model_name = models.get(content_type) or models.get("$default")
        if not model_name:
            return  # no model for the content type: API Gateway does not validate the body
        model = deployed.snapshot.models.get(model_name)
        if model is None:
            if model_name == "Empty":
                return
            raise EmulatorError(f"the method's request model {model_name!r} does not exist")
        errors = validation.body_errors(model.get("schema") or "{}", model_name, self.request.body)
        if errors:
            raise GatewayError("BAD_REQUEST_BODY", "Invalid request body", validation.error_string(errors))

    def integrate(
        self,
        deployed: routing.Deployed,
        route: routing.Route,
        settings: dict[str, Any],
        content_type: str,
        template: str | None,
    ) -> integration.BackendResponse:
        if settings.get("contentHandling"):
            raise NotSupported(f"contentHandling {settings['contentHandling']} on an integration")
        if settings.get("type") == "MOCK":
            rendered = (
                None if template is None else templates.render(template, self.template_context(self.request.body))
            )
            return integration.mock(rendered)
        region, endpoint = integration.sagemaker_endpoint(settings)
        if template is not None and not templates.is_passthrough(template):
            raise NotSupported(
                f"the request template {template!r} for {content_type} (an AWS integration only passes $input.body)"
            )
        integration.check_role(settings.get("credentials"))
        method_request = integration.MethodRequest(self.request.headers, self.request.query, route.path_parameters)
        headers = integration.request_headers(settings.get("requestParameters"), method_request)
        if not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = content_type
        return integration.invoke_endpoint(
            self.app,
            self.environ,
            deployed.account_id,
            region,
            endpoint,
            self.request.body,
            headers,
            integration.timeout_seconds(settings),
        )

    # ---------------------------------------------------------------------------------------------- answers

    def gateway_answer(self, error: GatewayError) -> Answer:
        configured = self.deployed.snapshot.gateway_responses if self.deployed is not None else {}
        request = integration.MethodRequest(
            self.request.headers, self.request.query, self.route.path_parameters if self.route else {}
        )
        context = self.template_context(
            body=b"",
            error_message=error.message,
            error_type=error.response_type,
            validation_error=error.validation_error,
        )
        try:
            return responses.gateway_answer(configured, error, context, request)
        except EmulatorError as failure:
            return _plain_error(failure.message)

    def template_context(self, body: bytes, **error: str) -> templates.Context:
        return templates.Context(
            body=body,
            request_id=self.request_id,
            stage=self.target.stage,
            http_method=self.request.method,
            resource_path=self.route.resource.path if self.route else self.target.path,
            **error,
        )

    def write_access_log(self, answer: Answer) -> None:
        if self.deployed is None:
            return
        now = dt.datetime.fromtimestamp(self.started, dt.UTC)
        message = self.error.message if self.error is not None else ""
        variables = {
            "requestId": self.request_id,
            "extendedRequestId": self.request_id,
            "accountId": self.deployed.account_id,
            "apiId": self.target.api_id,
            "stage": self.target.stage,
            "httpMethod": self.request.method,
            "resourcePath": self.route.resource.path if self.route else "",
            "path": f"/{self.target.stage}{self.target.path}",
            "protocol": str(self.environ.get("SERVER_PROTOCOL", "HTTP/1.1")),
            "status": str(answer.status),
            "responseLength": str(len(answer.body)),
            "responseLatency": str(int((time.time() - self.started) * 1000)),
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": str(int(self.started * 1000)),
            "identity.sourceIp": str(self.environ.get("REMOTE_ADDR", "")),
            "identity.userAgent": self.request.header("User-Agent") or "",
            "identity.apiKeyId": self.api_key_id,
            "error.message": message,
            "error.messageString": json.dumps(message) if message else "",
            "error.responseType": self.error.response_type if isinstance(self.error, GatewayError) else "",
            "integrationStatus": str(self.backend_status or ""),
            "integration.status": str(self.backend_status or ""),
        }
        access_log.write(self.deployed.stage.access_log_settings, self.target.stage, variables)


def read(environ: dict[str, Any]) -> Incoming:
    """The caller's request; the body is read up to just over API Gateway's limit, the rest discarded."""
    headers = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers[key[5:].replace("_", "-").title()] = str(value)
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            headers[key.replace("_", "-").title()] = str(value)
    stream = environ.get("wsgi.input")
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = b""
    if stream is not None and (length or environ.get("wsgi.input_terminated")):
        remaining = length if length else None
        chunks, kept = [], 0
        while remaining is None or remaining > 0:
            chunk = stream.read(_CHUNK if remaining is None else min(_CHUNK, remaining))
            if not chunk:
                break
            if remaining is not None:
                remaining -= len(chunk)
            if kept <= MAX_BODY_BYTES:
                chunks.append(chunk)
                kept += len(chunk)
        body = b"".join(chunks)
    return Incoming(
        method=str(environ.get("REQUEST_METHOD", "GET")).upper(),
        headers=headers,
        query=parse_qs(str(environ.get("QUERY_STRING", "")), keep_blank_values=True),
        body=body,
        too_large=len(body) > MAX_BODY_BYTES,
    )


def _plain_error(message: str) -> Answer:
    return Answer(500, {"Content-Type": responses.JSON}, json.dumps({"message": message}).encode())


def status_line(status: int) -> str:
    try:
        return f"{status} {http.HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"
