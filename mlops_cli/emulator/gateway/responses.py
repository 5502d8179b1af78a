"""What the caller gets back: the integration response the back end's status selects, and the gateway responses
that shape every error API Gateway itself answers.

Integration responses (AWS and MOCK): each selectionPattern is matched (whole string) against the back end's HTTP
status code; the response without a pattern is the default. Which one AWS picks when several patterns match is
undocumented, so overlapping patterns are refused with a clear 500. The chosen status code needs a method response
(else 500 "Internal server error", as AWS). A response template for the content type renders the body; without
one the back end's body passes through. A template's `$context.responseOverride.status` replaces the status. responseParameters map `method.response.header.X` from
`integration.response.header.Y` or a static `'value'`.

Gateway responses: the API's own for the type; else its DEFAULT_4XX / DEFAULT_5XX (by the type's default status)
with the type's status unless that default sets one; else API Gateway's default, `{"message":
$context.error.messageString}` with the type's default status.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlops_cli.emulator.gateway import templates
from mlops_cli.emulator.gateway.errors import EmulatorError, GatewayError, NotSupported
from mlops_cli.emulator.gateway.integration import BackendResponse, MethodRequest

JSON = "application/json"
DEFAULT_TEMPLATE = '{"message":$context.error.messageString}'
# GatewayResponseType -> its default status code (None: DEFAULT_4XX and DEFAULT_5XX have none).
DEFAULT_STATUS: dict[str, int | None] = {
    "ACCESS_DENIED": 403,
    "API_CONFIGURATION_ERROR": 500,
    "AUTHORIZER_CONFIGURATION_ERROR": 500,
    "AUTHORIZER_FAILURE": 500,
    "BAD_REQUEST_PARAMETERS": 400,
    "BAD_REQUEST_BODY": 400,
    "DEFAULT_4XX": None,
    "DEFAULT_5XX": None,
    "EXPIRED_TOKEN": 403,
    "INTEGRATION_FAILURE": 504,
    "INTEGRATION_TIMEOUT": 504,
    "INVALID_API_KEY": 403,
    "INVALID_SIGNATURE": 403,
    "MISSING_AUTHENTICATION_TOKEN": 403,
    "QUOTA_EXCEEDED": 429,
    "REQUEST_TOO_LARGE": 413,
    "RESOURCE_NOT_FOUND": 404,
    "THROTTLED": 429,
    "UNAUTHORIZED": 401,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    "WAF_FILTERED": 403,
}
_RESPONSE_HEADER = re.compile(r"^method\.response\.header\.(?P<name>.+)$")
_INTEGRATION_HEADER = re.compile(r"^integration\.response\.header\.(?P<name>.+)$")
_GATEWAY_HEADER = re.compile(r"^gatewayresponse\.header\.(?P<name>.+)$")
_REQUEST_SOURCE = re.compile(r"^method\.request\.(?P<location>header|querystring|path)\.(?P<name>.+)$")


@dataclass
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


# ------------------------------------------------------------------------------------- integration responses


def select(integration_responses: Mapping[str, Mapping[str, Any]] | None, status: int) -> Mapping[str, Any]:
    """The integration response for the back end's status code."""
    default, matched = None, []
    for response in (integration_responses or {}).values():
        pattern = response.get("selectionPattern")
        if not pattern:
            default = response
        elif _fullmatch(pattern, str(status)):
            matched.append(response)
    if len(matched) > 1:
        described = ", ".join(f"{r['statusCode']} ({r['selectionPattern']!r})" for r in matched)
        raise EmulatorError(
            f"the selection patterns of integration responses {described} all match the back end's status {status}; "
            "which one API Gateway picks is undocumented, so overlapping selection patterns are not supported"
        )
    if matched:
        return matched[0]
    if default is None:
        # AWS: "No match for output mapping and no default output mapping configured"
        raise GatewayError("API_CONFIGURATION_ERROR", "Internal server error")
    return default


def integration_answer(
    chosen: Mapping[str, Any],
    method_responses: Mapping[str, Any],
    backend: BackendResponse,
    accept: str | None,
    context: templates.Context,
) -> Answer:
    status = str(chosen.get("statusCode"))
    if status not in method_responses:
        # AWS: "Output mapping refers to an invalid method response"
        raise GatewayError("API_CONFIGURATION_ERROR", "Internal server error")
    if chosen.get("contentHandling"):
        raise NotSupported(f"contentHandling {chosen['contentHandling']} on an integration response")
    headers = {"Content-Type": JSON}
    body = backend.body
    content_type, template = choose_template(chosen.get("responseTemplates"), accept)
    if template is not None and not templates.is_passthrough(template):
        rendered = templates.render_response(template, context)
        body = templates.encode(rendered.text)
        # $context.responseOverride.status: applied after the whole template, over the selected status
        status = str(rendered.status or status)
    if content_type is not None:
        headers["Content-Type"] = content_type
    for target, source in (chosen.get("responseParameters") or {}).items():
        header = _RESPONSE_HEADER.match(target)
        if not header:
            raise NotSupported(f"the integration response parameter {target!r}")
        value = _static(source)
        if value is None:
            mapped = _INTEGRATION_HEADER.match(source)
            if not mapped:
                raise NotSupported(f"the integration response parameter source {source!r}")
            value = backend.header(mapped["name"])
        if value is not None:
            headers[header["name"]] = value
    return Answer(int(status), headers, body)


def choose_template(
    templates_by_type: Mapping[str, str | None] | None, accept: str | None
) -> tuple[str | None, str | None]:
    """(content type, template) for the caller's Accept type, else application/json; (None, None) if none."""
    available = templates_by_type or {}
    wanted = [media_type(part) for part in (accept or "").split(",") if part.strip()]
    for content_type in [*wanted, JSON]:
        if content_type in available:
            return content_type, available[content_type]
    return None, None


# ----------------------------------------------------------------------------------------- gateway responses


def gateway_answer(
    configured: Mapping[str, Mapping[str, Any]],
    error: GatewayError,
    context: templates.Context,
    request: MethodRequest | None,
) -> Answer:
    response = resolve(configured, error.response_type)
    status = int(response["statusCode"])
    content_type, template = choose_template(response.get("responseTemplates") or {JSON: DEFAULT_TEMPLATE}, None)
    if content_type is None:  # templates for other types only: API Gateway's default body
        content_type, template = JSON, DEFAULT_TEMPLATE
    body = templates.encode(templates.render(template or DEFAULT_TEMPLATE, context))
    headers = {"Content-Type": content_type}
    for target, source in (response.get("responseParameters") or {}).items():
        header = _GATEWAY_HEADER.match(target)
        if not header:
            raise NotSupported(f"the gateway response parameter {target!r}")
        value = _static(source)
        if value is None:
            where = _REQUEST_SOURCE.match(source)
            if not where:
                raise NotSupported(f"the gateway response parameter source {source!r}")
            value = request.value(where["location"], where["name"]) if request is not None else None
        if value is not None:
            headers[header["name"]] = value
    return Answer(status, headers, body)


def resolve(configured: Mapping[str, Mapping[str, Any]], response_type: str) -> dict[str, Any]:
    """The gateway response for the type: statusCode, responseParameters, responseTemplates."""
    if response_type not in DEFAULT_STATUS:
        raise NotSupported(f"the gateway response type {response_type}")
    status = DEFAULT_STATUS[response_type]
    if status is None:  # DEFAULT_4XX / DEFAULT_5XX themselves
        fallback, status = response_type, 400 if response_type == "DEFAULT_4XX" else 500
    else:
        fallback = "DEFAULT_5XX" if status >= 500 else "DEFAULT_4XX"
    own = configured.get(response_type)
    if own is not None:
        return {**dict(own), "statusCode": own.get("statusCode") or status}
    default = configured.get(fallback)
    if default is not None:
        return {**dict(default), "statusCode": default.get("statusCode") or status}
    return {"statusCode": status, "responseParameters": {}, "responseTemplates": {JSON: DEFAULT_TEMPLATE}}


def media_type(content_type: str) -> str:
    """`application/json; charset=utf-8` -> `application/json` (lower case, no parameters)."""
    return content_type.split(";", 1)[0].strip().lower()


def _static(source: str) -> str | None:
    if len(source) >= 2 and source.startswith("'") and source.endswith("'"):
        return source[1:-1]
    return None


def _fullmatch(pattern: str, text: str) -> bool:
    try:
        return re.fullmatch(pattern, text) is not None
    except re.error as exc:
        raise NotSupported(f"the selection pattern {pattern!r} (Python's re cannot read it: {exc})") from exc
