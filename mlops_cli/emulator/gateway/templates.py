"""The small subset of API Gateway's mapping-template language (VTL) that the project's templates use: a fixed set of
references substituted in one pass, and the few directives below parsed before anything is rendered; not a VTL
engine.

Supported, bare (`$x.y`) or braced (`${x.y}`), quiet (`$!x`) too:
  $input.body  $input.json('<path>')  $input.path('<path>')     path: $, .name, ['name'], [index]
  $context.requestId  $context.stage  $context.httpMethod  $context.resourcePath
  $context.error.message  $context.error.messageString (the message as a quoted JSON string)
  $context.error.validationErrorString (as it is: unescaped, as AWS renders it)  $context.error.responseType
  $util.escapeJavaScript(<one of the above>), optionally followed by .replaceAll("<regex>","<text>") calls
Directives, bare (`#if`) or braced (`#{if}`):
  #if(<$input.path('<path>')> <op> <integer>) ... #else ... #end     op: == != < <= > >=
  #set($context.responseOverride.status = <integer>)                 in integration response templates only
A comparison with a number is numeric; with an absent or null value an ordering is false (Velocity logs it and
goes on); anything else (a string, a boolean, == or != against null) is refused, because Velocity's versions
differ there. The status override is applied after the whole template is rendered, and only once: a second
override is API Gateway's 500, as it documents. A line break right after a directive is refused (Velocity's
whitespace rules around a directive on its own line differ by version): such templates are written on one line.
Nothing is escaped that API Gateway does not escape: a value put inside quotes unescaped makes invalid JSON here as
it does on AWS. Any other directive (#elseif, #foreach, ..., ## comments), other #if or #set forms, or other
reference raises NotSupported, which the gateway answers with a clear 500 rather than render a template differently
from API Gateway.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable
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


@dataclass(frozen=True)
class Rendered:
    """An integration response template's output: the body, and the status `$context.responseOverride.status`
    set (None: the integration response's own status stands)."""

    text: str
    status: int | None = None


def render(template: str, context: Context) -> str:
    """A request or gateway response template (no response override there)."""
    return _render(template, context, override=False).text


def render_response(template: str, context: Context) -> Rendered:
    """An integration response template, which may override the response's status."""
    return _render(template, context, override=True)


@dataclass(frozen=True)
class _If:
    path: str
    operator: str
    number: int
    then: list[_Node]
    otherwise: list[_Node]


@dataclass(frozen=True)
class _SetStatus:
    status: int


_Node = str | _If | _SetStatus
_KEYWORD = re.compile(r"#(?:(?P<bare>if|set|else|end)(?!\w)|\{(?P<braced>if|set|else|end)\})")
_REFERENCE_PATH = r"\$!?(?:\{\s*input\.path\(\s*'(?P<braced>[^']*)'\s*\)\s*\}|input\.path\(\s*'(?P<bare>[^']*)'\s*\))"
_IF_ARGUMENTS = re.compile(rf"\(\s*{_REFERENCE_PATH}\s*(?P<operator>==|!=|<=|>=|<|>)\s*(?P<number>-?\d+)\s*\)")
_SET_ARGUMENTS = re.compile(
    r"\(\s*\$(?:context\.responseOverride\.status|\{\s*context\.responseOverride\.status\s*\})\s*=\s*"
    r"(?P<number>\d+)\s*\)"
)
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _render(template: str, context: Context, override: bool) -> Rendered:
    nodes, _end, ended_by = _parse(template, 0)
    if ended_by is not None:
        raise NotSupported(f"the VTL directive {ended_by!r} without its #if in a mapping template")
    state: dict[str, int] = {}
    text = "".join(_run(nodes, context, state, override))
    return Rendered(text, state.get("status"))


def _parse(template: str, position: int) -> tuple[list[_Node], int, str | None]:
    """The nodes from `position` up to an #else or #end (returned, with the position after it) or the end."""
    nodes: list[_Node] = []
    while True:
        directive = _DIRECTIVE.search(template, position)
        if directive is None:
            if position < len(template):
                nodes.append(template[position:])
            return nodes, len(template), None
        keyword = _KEYWORD.match(template, directive.start())
        if keyword is None:
            raise NotSupported(f"the VTL directive {directive.group(0)!r} in a mapping template")
        if directive.start() > position:
            nodes.append(template[position : directive.start()])
        name = keyword["bare"] or keyword["braced"]
        position = keyword.end()
        if name in ("else", "end"):
            return nodes, _after_directive(template, position, keyword.group(0)), keyword.group(0)
        if name == "set":
            arguments = _SET_ARGUMENTS.match(template, position)
            if arguments is None:
                raise NotSupported(
                    f"the #set at {template[keyword.start() : keyword.start() + 60]!r} (only "
                    "#set($context.responseOverride.status = <integer>))"
                )
            nodes.append(_SetStatus(int(arguments["number"])))
            position = _after_directive(template, arguments.end(), "#set")
            continue
        arguments = _IF_ARGUMENTS.match(template, position)
        if arguments is None:
            raise NotSupported(
                f"the #if at {template[keyword.start() : keyword.start() + 60]!r} (only "
                "#if($input.path('<path>') <op> <integer>))"
            )
        position = _after_directive(template, arguments.end(), "#if")
        then, position, ended_by = _parse(template, position)
        otherwise: list[_Node] = []
        if ended_by is not None and ended_by.strip("#{}") == "else":
            otherwise, position, ended_by = _parse(template, position)
        if ended_by is None or ended_by.strip("#{}") != "end":
            raise NotSupported("an #if without its #end in a mapping template")
        path = arguments["braced"] if arguments["braced"] is not None else arguments["bare"]
        nodes.append(_If(path, arguments["operator"], int(arguments["number"]), then, otherwise))


def _after_directive(template: str, position: int, directive: str) -> int:
    if template[position : position + 1] in ("\n", "\r"):
        raise NotSupported(f"a line break right after {directive} in a mapping template (write it on one line)")
    return position


def _run(nodes: list[_Node], context: Context, state: dict[str, int], override: bool) -> list[str]:
    out: list[str] = []
    for node in nodes:
        if isinstance(node, str):
            out.append(_REFERENCE.sub(lambda match: _substitute(match, context), node))
        elif isinstance(node, _SetStatus):
            if not override:
                raise NotSupported("$context.responseOverride.status outside an integration response template")
            if "status" in state:
                # "Overrides are final... If you try to override the same parameter multiple times, API Gateway
                # returns a 5XX response."
                raise GatewayError("API_CONFIGURATION_ERROR", "Internal server error")
            if not 100 <= node.status <= 599:
                raise NotSupported(f"the response status override {node.status}")
            state["status"] = node.status
        else:
            branch = node.then if _holds(node, context) else node.otherwise
            out.extend(_run(branch, context, state, override))
    return out


def _holds(condition: _If, context: Context) -> bool:
    value = select(_document(context.body), condition.path)
    if value is _MISSING or value is None:
        if condition.operator in ("==", "!="):
            raise NotSupported(
                f"#if comparing an absent or null $input.path({condition.path!r}) with {condition.operator}"
            )
        return False
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise NotSupported(f"#if comparing $input.path({condition.path!r}) = {_compact(value)} with a number")
    return bool(_COMPARE[condition.operator](value, condition.number))


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
