"""The small subset of API Gateway's mapping-template language (VTL) that the project's templates use: a regular
expression substitution of a fixed set of references, not a VTL engine.

Supported, bare (`$x.y`) or braced (`${x.y}`), quiet (`$!x`) too:
  $input.body  $input.json('<path>')  $input.path('<path>')     path: $, .name, ['name'], [index]
  $context.requestId  $context.stage  $context.httpMethod  $context.resourcePath
  $context.error.message  $context.error.messageString (the message as a quoted JSON string)
  $context.error.validationErrorString (as it is: unescaped, as AWS renders it)  $context.error.responseType
  $util.escapeJavaScript(<one of the above>), optionally followed by .replaceAll("<regex>","<text>") calls
Nothing is escaped that API Gateway does not escape: a value put inside quotes unescaped makes invalid JSON here as
it does on AWS. Any directive (#set, #if, #foreach, ..., ## comments) or other reference raises NotSupported, which
the gateway answers with a clear 500 rather than render a template differently from API Gateway.
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
_PLAIN = r"\$!?(?:\{(?P<braced>[^}]*)\}|(?P<bare>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*(?:\([^)]*\))?))"
_ESCAPED = (
    r"\$!?util\.escapeJavaScript\(\s*\$!?(?:\{(?P<inner_braced>[^}]*)\}|(?P<inner>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*"
    r"(?:\('[^']*'\))?))\s*\)(?P<replacements>(?:\.replaceAll\(\s*\"[^\"]*\"\s*,\s*\"[^\"]*\"\s*\))*)"
)
# One pass over the template: what a reference renders is never read again as template text.
_REFERENCE = re.compile(f"{_ESCAPED}|{_PLAIN}")
_REPLACE_ALL = re.compile(r'\.replaceAll\(\s*"(?P<pattern>[^"]*)"\s*,\s*"(?P<replacement>[^"]*)"\s*\)')
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
    return _REFERENCE.sub(lambda match: _substitute(match, context), template)


def _substitute(match: re.Match[str], context: Context) -> str:
    inner = match["inner_braced"] or match["inner"]
    if inner is None:
        return _evaluate((match["braced"] or match["bare"] or "").strip(), context)
    text = escape_javascript(_evaluate(inner.strip(), context))
    for call in _REPLACE_ALL.finditer(match["replacements"] or ""):
        replacement = call["replacement"]
        if "$" in replacement or "\\" in replacement:
            raise NotSupported(f"the replaceAll replacement {replacement!r} (group references, escapes)")
        # Velocity's string literals keep backslashes: the pattern is the Java regex as written
        text = re.sub(call["pattern"], lambda _found, value=replacement: value, text)
    return text


def escape_javascript(text: str) -> str:
    """$util.escapeJavaScript: JavaScript string rules as API Gateway applies them (Apache Commons Lang's
    escapeJavaScript): quotes, backslash and slash escaped, control characters and every character beyond ASCII as
    \\uXXXX (UTF-16 code units, upper-case hex). It escapes ' as \\', which is not JSON: templates that put the
    result in JSON add .replaceAll("\\\\'","'"), as AWS's documentation says."""
    out = []
    for character in text:
        code = ord(character)
        if code > 0xFFFF:  # a pair of UTF-16 surrogates, as Java's String holds it
            code -= 0x10000
            out.append(f"\\u{0xD800 + (code >> 10):04X}\\u{0xDC00 + (code & 0x3FF):04X}")
        elif code > 0x7F:
            out.append(f"\\u{code:04X}")
        elif code < 0x20:
            out.append(_CONTROL.get(character) or f"\\u{code:04X}")
        else:
            out.append(_JAVASCRIPT.get(character, character))
    return "".join(out)


_CONTROL = {"\b": "\\b", "\n": "\\n", "\t": "\\t", "\f": "\\f", "\r": "\\r"}
_JAVASCRIPT = {"'": "\\'", '"': '\\"', "\\": "\\\\", "/": "\\/"}


def _evaluate(expression: str, context: Context) -> str:
    simple = {
        "input.body": lambda: context.body.decode("utf-8", errors="replace"),
        "context.requestId": lambda: context.request_id,
        "context.stage": lambda: context.stage,
        "context.httpMethod": lambda: context.http_method,
        "context.resourcePath": lambda: context.resource_path,
        "context.error.message": lambda: context.error_message,
        "context.error.messageString": lambda: json.dumps(context.error_message, ensure_ascii=False),
        "context.error.validationErrorString": lambda: context.validation_error,
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


def encode(rendered: str) -> bytes:
    """The rendered body as UTF-8, a lone surrogate (a JSON `\\ud800` escape in the request) sent as `?`, as Java's
    encoder does: never an error while answering."""
    return rendered.encode("utf-8", errors="replace")


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
    except (ValueError, RecursionError) as exc:
        # API Gateway fails the mapping of a body that is not JSON; the answer is its 500.
        raise GatewayError("API_CONFIGURATION_ERROR", "Internal server error") from exc


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
