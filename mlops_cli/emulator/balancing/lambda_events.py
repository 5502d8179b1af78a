"""The Application Load Balancer's contract with a Lambda target: the event built from an HTTP request, and the
HTTP answer built from what the function returns (AWS: "Lambda functions as targets"). Pure.

- Header names are lower-cased; with one value per name (the load balancer keeps the last), unless the target
  group's `lambda.multi_value_headers.enabled` is true (then `multiValueHeaders` and
  `multiValueQueryStringParameters`). Query parameters are passed as sent, not URL-decoded.
- The body is Base64 encoded (`isBase64Encoded: true`) when the request has a Content-Encoding header; else it is
  passed as is for text/*, application/json, application/javascript and application/xml, and Base64 encoded for
  every other content type (and, here, for a text body that is not UTF-8, which the event could not carry as it
  is). Requests over 1 MB are refused with 413.
- The function must return a JSON object with `statusCode`; `statusDescription`, `headers` (or `multiValueHeaders`),
  `body` and `isBase64Encoded` are optional. A response over 1 MB, or one that is not such an object, is a 502.
"""

from __future__ import annotations

import base64
import json
from http import HTTPStatus
from typing import Any

from mlops_cli.emulator.balancing.messages import HOP_BY_HOP, Answer, Request, forwarded_headers

MAX_REQUEST_BODY = 1024 * 1024
MAX_RESPONSE_JSON = 1024 * 1024
HEALTH_CHECK_USER_AGENT = "ELB-HealthChecker/2.0"
_TEXT_TYPES = ("application/json", "application/javascript", "application/xml")


class InvalidResponse(Exception):
    """What the function returned is not an answer the load balancer can send (a 502)."""


def is_text(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media.startswith("text/") or media in _TEXT_TYPES


def _query_pairs(query: str) -> list[tuple[str, str]]:
    pairs = []
    for part in query.split("&"):
        if part:
            key, _equals, value = part.partition("=")
            pairs.append((key, value))
    return pairs


def event(request: Request, target_group_arn: str, multi_value: bool = False) -> dict[str, Any]:
    headers = forwarded_headers(request)
    body, encoded = _event_body(request)
    built: dict[str, Any] = {
        "requestContext": {"elb": {"targetGroupArn": target_group_arn}},
        "httpMethod": request.method,
        "path": request.path,
    }
    if multi_value:
        multi_headers: dict[str, list[str]] = {}
        for name, value in headers:
            multi_headers.setdefault(name.lower(), []).append(value)
        multi_query: dict[str, list[str]] = {}
        for key, value in _query_pairs(request.query):
            multi_query.setdefault(key, []).append(value)
        built["multiValueQueryStringParameters"] = multi_query
        built["multiValueHeaders"] = multi_headers
    else:
        built["queryStringParameters"] = dict(_query_pairs(request.query))
        built["headers"] = {name.lower(): value for name, value in headers}
    built["body"] = body
    built["isBase64Encoded"] = encoded
    return built


def _event_body(request: Request) -> tuple[str, bool]:
    """(body, isBase64Encoded). AWS: Base64 when the request has a Content-Encoding, else as is for the text types.
    A text body that is not UTF-8 is Base64 too: replacing its bytes would hand the function a different request."""
    if not request.body:
        return "", False
    if request.header("Content-Encoding") is None and is_text(request.header("Content-Type")):
        try:
            return request.body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(request.body).decode("ascii"), True


def health_check_event(target_group_arn: str, path: str) -> dict[str, Any]:
    """The event of a health check (AWS documents its exact shape)."""
    path, _question, query = path.partition("?")
    return {
        "requestContext": {"elb": {"targetGroupArn": target_group_arn}},
        "httpMethod": "GET",
        "path": path or "/",
        "queryStringParameters": dict(_query_pairs(query)),
        "headers": {"user-agent": HEALTH_CHECK_USER_AGENT},
        "body": "",
        "isBase64Encoded": False,
    }


def _status(result: dict[str, Any]) -> int:
    status = result.get("statusCode")
    if isinstance(status, str) and status.strip().isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise InvalidResponse(f"statusCode {status!r} is not an HTTP status code")
    return status


def answer(result: Any) -> Answer:
    """The HTTP answer for a function's result. Raises InvalidResponse."""
    if not isinstance(result, dict):
        raise InvalidResponse(f"the function returned {type(result).__name__}, not an object with statusCode")
    if len(json.dumps(result, default=str).encode()) > MAX_RESPONSE_JSON:
        raise InvalidResponse("the function's response is larger than 1 MB")
    status = _status(result)
    headers: list[tuple[str, str]] = []
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers += [(str(name), str(value)) for value in (values if isinstance(values, list) else [values])]
    for name, value in (result.get("headers") or {}).items():
        headers.append((str(name), str(value)))
    headers = [(name, value) for name, value in headers if name.lower() not in HOP_BY_HOP | {"content-length"}]
    body = result.get("body")
    if body is None:
        data = b""
    elif result.get("isBase64Encoded"):
        try:
            data = base64.b64decode(str(body), validate=True)
        except ValueError as exc:
            raise InvalidResponse(f"isBase64Encoded is true but the body is not Base64: {exc}") from exc
    else:
        data = str(body).encode("utf-8")
    description = result.get("statusDescription")
    reason = None
    if isinstance(description, str) and description.startswith(f"{status} "):
        reason = description[len(str(status)) + 1 :]
    if reason is None:
        reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
    return Answer(status, headers, data, reason)
