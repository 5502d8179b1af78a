"""The small subset of API Gateway's mapping-template language (VTL) that the project's templates use: a regular
expression substitution of a fixed set of references, not a VTL engine.

Supported, bare (`$x.y`) or braced (`${x.y}`), quiet (`$!x`) too:
  $input.body  $input.json('<path>')  $input.path('<path>')     path: $, .name, ['name'], [index]
  $context.requestId  $context.stage  $context.httpMethod  $context.resourcePath
  $context.error.message  $context.error.messageString (the message as a quoted JSON string)
  $context.error.validationErrorString (JSON-escaped, without quotes)  $context.error.responseType
Any directive (#set, #if, #foreach, ..., ## comments) or other reference raises NotSupported, which the gateway
answers with a clear 500 rather than render a template differently from API Gateway.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from mlops_cli.emulator.gateway.errors import GatewayError, NotSupported

_DIRECTIVE = re.compile(
    r"#(?:\{?(?:set|if|elseif|else|end|foreach|break|stop|macro|parse|include|evaluate|define)\b\}?|#|\*)"
)
_REFERENCE = re.compile(r"\$!?(?:\{(?P<braced>[^}]*)\}|(?P<bare>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*(?:\([^)]*\))?))")
_CALL = re.compile(r"^input\.(?P<function>json|path)\(\s*(?P<quote>['\"])(?P<path>.*)(?P=quote)\s*\)$")
_SEGMENT = re.compile(
    r"\.(?P<name>[A-Za-z_][\w-]*)|\[(?P<index>\d+)\]|\['(?P<single>[^']*)'\]|\[\"(?P<double>[^\"]*)\"\]"
)
_PASSTHROUGH = re.compile(r"^\s*\$(?:input\.body|\{input\.body\})\s*$")
_MISSING = object()


@dataclass(frozen=True)
class Context:
    """What a template can read: the body it maps (the request's, or the back end's answer) and `$context`."""

    body: bytes = b""
    request_id: str = ""
    stage: str = ""
    http_method: str = ""
    resource_path: str = ""
    error_message: str = ""
    error_type: str = ""
    validation_error: str = ""


def is_passthrough(template: str) -> bool:
    """The template is `$input.body` alone: the body passes unchanged (bytes included)."""
    return bool(_PASSTHROUGH.match(template))


def render(template: str, context: Context) -> str:
    directive = _DIRECTIVE.search(template)
    if directive:
        raise NotSupported(f"the VTL directive {directive.group(0)!r} in a mapping template")
    return _REFERENCE.sub(lambda match: _evaluate((match["braced"] or match["bare"] or "").strip(), context), template)


def _evaluate(expression: str, context: Context) -> str:
    simple = {
        "input.body": lambda: context.body.decode("utf-8", errors="replace"),
        "context.requestId": lambda: context.request_id,
        "context.stage": lambda: context.stage,
        "context.httpMethod": lambda: context.http_method,
        "context.resourcePath": lambda: context.resource_path,
        "context.error.message": lambda: context.error_message,
        "context.error.messageString": lambda: json.dumps(context.error_message, ensure_ascii=False),
        "context.error.validationErrorString": lambda: json.dumps(context.validation_error, ensure_ascii=False)[1:-1],
        "context.error.responseType": lambda: context.error_type,
    }
    if expression in simple:
        return simple[expression]()
    call = _CALL.match(expression)
    if not call:
        raise NotSupported(f"the mapping template reference ${expression}")
    value = select(_document(context.body), call["path"])
    if call["function"] == "json":
        return "" if value is _MISSING else _compact(value)
    if value is _MISSING or value is None:
        return ""
    if isinstance(value, str):
        return value
    return _compact(value)


def select(document: Any, path: str) -> Any:
    """The value at a JSONPath of the simple kind (`$`, `$.a.b`, `$['a'][0]`); a sentinel when absent."""
    text = path.strip()
    if not text.startswith("$"):
        raise NotSupported(f"the JSONPath {path!r}")
    position, value = 1, document
    while position < len(text):
        segment = _SEGMENT.match(text, position)
        if not segment:
            raise NotSupported(f"the JSONPath {path!r}")
        position = segment.end()
        if segment["index"] is not None:
            index = int(segment["index"])
            value = value[index] if isinstance(value, list) and index < len(value) else _MISSING
        else:
            key = next(part for part in (segment["name"], segment["single"], segment["double"]) if part is not None)
            value = value.get(key, _MISSING) if isinstance(value, dict) else _MISSING
        if value is _MISSING:
            return _MISSING
    return value


def is_missing(value: Any) -> bool:
    return value is _MISSING


def _document(body: bytes) -> Any:
    if not body.strip():
        return {}
    try:
        return json.loads(body)
    except ValueError as exc:
        # API Gateway fails the mapping of a body that is not JSON; the answer is its 500.
        raise GatewayError("API_CONFIGURATION_ERROR", "Internal server error") from exc


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
