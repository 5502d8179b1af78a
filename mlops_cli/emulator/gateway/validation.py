"""Request validation as a method's request validator asks: required request parameters, and the body against the
method's model for the request's content type (JSON Schema draft 4, checked with `jsonschema`'s Draft4Validator).

API Gateway validates with fge's json-schema-validator and reports its messages; the same wording is used here,
each message prefixed with the JSON path of the failing value (`instances/1/plan: ...`) so the field is named.
As API Gateway does, it reads the body as strict JSON (no NaN or Infinity; too deep a nesting is invalid JSON) and
`pattern` as a Java regular expression (\\s, \\d, \\w ASCII only).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from mlops_cli.emulator.gateway.errors import EmulatorError, NotSupported

REQUEST_PARAMETER = re.compile(r"^method\.request\.(?P<location>header|querystring|path)\.(?P<name>.+)$")


def missing_parameters(
    required: Mapping[str, bool],
    headers: Mapping[str, str],
    query: Mapping[str, list[str]],
    path_parameters: Mapping[str, str],
) -> list[str]:
    """Names of the required method request parameters the request lacks or sends empty, as API Gateway lists
    them (`Missing required request parameters: [a, b]`)."""
    lowered = {name.lower(): value for name, value in headers.items()}
    missing = []
    for parameter, needed in sorted(required.items()):
        if not needed:
            continue
        match = REQUEST_PARAMETER.match(parameter)
        if not match:
            raise NotSupported(f"the method request parameter {parameter!r}")
        name = match["name"]
        if match["location"] == "header":
            present = bool(lowered.get(name.lower(), "").strip())
        elif match["location"] == "querystring":
            present = any(value.strip() for value in query.get(name, []))
        else:
            present = bool(path_parameters.get(name, "").strip())
        if not present:
            missing.append(name)
    return missing


def body_errors(schema_text: str, model_name: str, body: bytes) -> list[str]:
    """The messages for a body that does not satisfy the model (empty when it does). An empty body is validated
    as `{}`; a body that is not JSON gets one message."""
    validator = _validator(schema_text, model_name)
    too_deep = "Invalid JSON in the request body: it is nested too deeply"
    try:
        # Strict JSON, as API Gateway's parser reads it: no NaN or Infinity, and a nesting depth it can hold.
        document = json.loads(body, parse_constant=_not_json) if body.strip() else {}
    except RecursionError:
        return [too_deep]
    except ValueError as exc:
        return [f"Invalid JSON in the request body: {exc}"]
    try:
        errors = sorted(validator.iter_errors(document), key=_order)
    except RecursionError:
        return [too_deep]
    messages = [_describe(error, validator) for error in errors]
    # jsonschema reports each missing property separately; fge (and so API Gateway) names them all in one message
    return list(dict.fromkeys(messages))


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON value")


def error_string(messages: Iterable[str]) -> str:
    """`$context.error.validationErrorString`: the messages as a bracketed list."""
    return "[" + ", ".join(messages) + "]"


@functools.lru_cache(maxsize=128)
def _validator(schema_text: str, model_name: str) -> Any:
    from jsonschema import Draft4Validator
    from jsonschema.exceptions import SchemaError

    try:
        schema = json.loads(schema_text)
    except ValueError as exc:
        raise EmulatorError(f"the schema of model {model_name!r} is not JSON ({exc})") from exc
    if _has_remote_reference(schema):
        raise NotSupported(f"a $ref to another document in the schema of model {model_name!r}")
    try:
        Draft4Validator.check_schema(schema)
    except SchemaError as exc:
        raise EmulatorError(
            f"the schema of model {model_name!r} is not a valid draft-04 schema: {exc.message}"
        ) from exc
    return _java_pattern_validator()(schema)


def _java_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Any:
    """`pattern` as API Gateway's Java regular expressions read it: \\s, \\d and \\w are ASCII only (Python's are
    Unicode-wide, and would let through what AWS refuses)."""
    from jsonschema.exceptions import ValidationError

    if validator.is_type(instance, "string") and not re.search(pattern, instance, re.ASCII):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


@functools.cache
def _java_pattern_validator() -> Any:
    from jsonschema import Draft4Validator, validators

    return validators.extend(Draft4Validator, {"pattern": _java_pattern})


def _has_remote_reference(schema: Any) -> bool:
    if isinstance(schema, dict):
        reference = schema.get("$ref")
        if isinstance(reference, str) and not reference.startswith("#"):
            return True
        return any(_has_remote_reference(value) for value in schema.values())
    if isinstance(schema, list):
        return any(_has_remote_reference(value) for value in schema)
    return False


def _order(error: Any) -> tuple[Any, ...]:
    return (
        tuple((0, part, "") if isinstance(part, int) else (1, 0, str(part)) for part in error.absolute_path),
        error.validator,
    )


def _describe(error: Any, validator: Any) -> str:
    path = "/".join(str(part) for part in error.absolute_path)
    message = _message(error, validator)
    return f"{path}: {message}" if path else message


def _message(error: Any, validator: Any) -> str:
    keyword, value, instance, schema = error.validator, error.validator_value, error.instance, error.schema
    if keyword == "required":
        missing = sorted(name for name in value if isinstance(instance, dict) and name not in instance)
        return f"object has missing required properties ({_json(missing)})"
    if keyword == "additionalProperties":
        unwanted = sorted(name for name in instance if not _declared(name, schema))
        return f"object instance has properties which are not allowed by the schema: {_json(unwanted)}"
    if keyword == "enum":
        return f"instance value ({_json(instance)}) not found in enum (possible values: {_json(value)})"
    if keyword == "type":
        allowed = sorted([value] if isinstance(value, str) else value)
        return (
            f"instance type ({_type_name(instance)}) does not match any allowed primitive type "
            f"(allowed: {_json(allowed)})"
        )
    if keyword == "minimum":
        if schema.get("exclusiveMinimum"):
            return f"numeric instance is not strictly greater than the required minimum {_json(value)}"
        return (
            f"numeric instance is lower than the required minimum (minimum: {_json(value)}, found: {_json(instance)})"
        )
    if keyword == "maximum":
        if schema.get("exclusiveMaximum"):
            return f"numeric instance is not strictly lower than the required maximum {_json(value)}"
        return (
            f"numeric instance is greater than the required maximum (maximum: {_json(value)}, found: {_json(instance)})"
        )
    if keyword == "minItems":
        return f"array is too short: must have at least {value} elements but instance has {len(instance)} elements"
    if keyword == "maxItems":
        return f"array is too long: must have at most {value} elements but instance has {len(instance)} elements"
    if keyword == "pattern":
        return f"ECMA 262 regex {_json(value)} does not match input string {_json(instance)}"
    if keyword == "minLength":
        return f"string {_json(instance)} is too short (length: {len(instance)}, required minimum: {value})"
    if keyword == "maxLength":
        return f"string {_json(instance)} is too long (length: {len(instance)}, maximum allowed: {value})"
    if keyword == "multipleOf":
        return f"remainder of division is not zero ({_json(instance)} / {_json(value)})"
    if keyword == "uniqueItems":
        return "array must not contain duplicate elements"
    if keyword == "minProperties":
        return f"object has too few properties (found {len(instance)} but schema requires at least {value})"
    if keyword == "maxProperties":
        return f"object has too many properties (found {len(instance)} but schema requires at most {value})"
    if keyword in ("oneOf", "anyOf", "allOf"):
        matched = sum(1 for subschema in value if validator.evolve(schema=subschema).is_valid(instance))
        if keyword == "oneOf":
            return f"instance failed to match exactly one schema (matched {matched} out of {len(value)})"
        if keyword == "anyOf":
            return f"instance failed to match at least one required schema among {len(value)}"
        return f"instance failed to match all required schemas (matched only {matched} out of {len(value)})"
    if keyword == "not":
        return "instance matched a schema which it should not have"
    return str(error.message)


def _declared(name: str, schema: Mapping[str, Any]) -> bool:
    if name in (schema.get("properties") or {}):
        return True
    return any(re.search(pattern, name) for pattern in (schema.get("patternProperties") or {}))


def _type_name(instance: Any) -> str:
    if instance is None:
        return "null"
    if isinstance(instance, bool):
        return "boolean"
    if isinstance(instance, int) or (isinstance(instance, float) and instance.is_integer()):
        return "integer"
    if isinstance(instance, float):
        return "number"
    if isinstance(instance, str):
        return "string"
    return "array" if isinstance(instance, list) else "object"


def _json(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except RecursionError:  # a value nested almost as deep as the parser allows
        return _type_name(value)
