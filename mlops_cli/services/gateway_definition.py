"""What the REST API in front of the endpoint looks like, as data: the request model generated from the dataset
schema, the two methods with their integrations and responses, the gateway responses and the stage settings.

Pure: no AWS calls. `gateway.apply` converges AWS to these shapes, the emulator serves them, and their digest tells
whether the deployed API is out of date. Contracts: section 5 of the SageMaker contracts reference.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from mlops_cli.config.models import Column, Config, Dataset, Gateway

STAGE = "gateway"  # the mlops:stage tag
MODEL_NAME = "PredictRequest"
VALIDATOR_NAME = "body-and-parameters"
PREDICT_PATH = "predict"
HEALTH_PATH = "health"
SUPPORTED_TYPES = ("application/json", "text/csv")
DRAFT_4 = "http://json-schema.org/draft-04/schema#"

# Matched against the runtime API's HTTP status. Integration responses are keyed by the status they produce, so each
# pattern is written not to overlap another: which one AWS picks when two match is not documented.
# ValidationError (400: SageMaker refused the request itself, e.g. a body over 6 MB): the caller's request is what
# is wrong. A missing endpoint is a ValidationError too; its message says so.
REFUSED_PATTERN = "400"
# ModelError (424: the model answered 4xx/5xx, or not at all; its status and message are in the body): a 4xx is the
# caller's request refused by the model (400); anything else is the model failing (500, what the load balancer
# answers for a model that raised or did not answer), so every door gives the same class of answer.
MODEL_ERROR_PATTERN = "424"
NOT_READY_PATTERN = "429"  # ModelNotReadyException
UPSTREAM_PATTERN = r"4(?:0[1-9]|1\d|2[0-35-8]|[3-9]\d)|5\d{2}"  # every other 4xx, every 5xx

ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "caller": "$context.identity.caller",
        "apiKeyId": "$context.identity.apiKeyId",
        "requestTime": "$context.requestTime",
        "httpMethod": "$context.httpMethod",
        "resourcePath": "$context.resourcePath",
        "status": "$context.status",
        "responseLength": "$context.responseLength",
        "integrationStatus": "$context.integration.status",
        "integrationLatency": "$context.integration.latency",
        "error": "$context.error.message",
    },
    separators=(",", ":"),
)

_ERROR_TEMPLATE = (
    '{"message": $context.error.messageString, "type": "$context.error.responseType", '
    '"request_id": "$context.requestId"}'
)
# (response type, status): the errors the gateway answers itself, every one with a JSON body
GATEWAY_RESPONSES: dict[str, tuple[str, str]] = {
    "BAD_REQUEST_BODY": (
        "400",
        # the messages quote the caller's values: escaped for a JSON string (escapeJavaScript's \' is not JSON)
        '{"message": "Invalid request body", '
        '"errors": "$util.escapeJavaScript($context.error.validationErrorString).replaceAll("\\\\\'","\'")", '
        '"request_id": "$context.requestId"}',
    ),
    "BAD_REQUEST_PARAMETERS": ("400", _ERROR_TEMPLATE),
    "UNSUPPORTED_MEDIA_TYPE": (
        "415",
        '{"message": "Unsupported Media Type: send application/json or text/csv (Content-Encoding: gzip, deflate or '
        'none)", '
        '"request_id": "$context.requestId"}',
    ),
    "REQUEST_TOO_LARGE": ("413", _ERROR_TEMPLATE),
    "MISSING_AUTHENTICATION_TOKEN": ("403", _ERROR_TEMPLATE),
    "INVALID_API_KEY": ("403", _ERROR_TEMPLATE),
    "ACCESS_DENIED": ("403", _ERROR_TEMPLATE),
    "INVALID_SIGNATURE": ("403", _ERROR_TEMPLATE),
    "EXPIRED_TOKEN": ("403", _ERROR_TEMPLATE),
    "THROTTLED": ("429", _ERROR_TEMPLATE),
    "QUOTA_EXCEEDED": ("429", _ERROR_TEMPLATE),
    "INTEGRATION_FAILURE": ("504", _ERROR_TEMPLATE),
    "INTEGRATION_TIMEOUT": ("504", _ERROR_TEMPLATE),
    "DEFAULT_4XX": ("", _ERROR_TEMPLATE),  # no status: each error keeps its own
    "DEFAULT_5XX": ("", _ERROR_TEMPLATE),
}


@dataclass(frozen=True)
class GatewayNames:
    prefix: str

    @property
    def api(self) -> str:
        return self.prefix

    @property
    def role(self) -> str:
        return f"{self.prefix}-apigateway"

    @property
    def usage_plan(self) -> str:
        return self.prefix

    @property
    def default_key(self) -> str:
        return f"{self.prefix}-default"

    @property
    def access_log_group(self) -> str:
        return f"/aws/apigateway/{self.prefix}/access"

    @staticmethod
    def execution_log_group(api_id: str, stage: str) -> str:
        return f"API-Gateway-Execution-Logs_{api_id}/{stage}"


def names_of(config: Config) -> GatewayNames:
    return GatewayNames(config.names().prefix)


@dataclass(frozen=True)
class Targets:
    """What the definition points at, known only with the account: the endpoint and the role that may invoke it."""

    region: str
    endpoint: str
    role_arn: str


def request_schema(dataset: Dataset, max_rows: int) -> dict[str, Any]:
    """JSON Schema (draft 4) of `{"instances": [record, ...]}` as the inference handler accepts it: every feature
    present (null or "" = missing where the column allows it), the key and the target optional, nothing else."""
    properties = {name: column_schema(column) for name, column in dataset.columns.items()}
    if dataset.key:
        # the key is only echoed back, and the handler takes a null key as no key: the API does the same
        properties[dataset.key] = column_schema(dataset.columns[dataset.key].model_copy(update={"nullable": True}))
    return {
        "$schema": DRAFT_4,
        "title": MODEL_NAME,
        "type": "object",
        "required": ["instances"],
        "additionalProperties": False,
        "properties": {
            "instances": {
                "type": "array",
                "minItems": 1,
                "maxItems": max_rows,
                "items": {
                    "type": "object",
                    "required": list(dataset.features),
                    "additionalProperties": False,
                    "properties": properties,
                },
            }
        },
    }


# What the handler strips around a value (Python's str.strip): spelt out, since API Gateway's regular expressions
# (Java's) take \s for ASCII whitespace only.
_SPACE = r"[\t\n\u000b\f\r\u001c-\u001f \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*"
_NUMBER_TEXT = rf"^{_SPACE}[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?{_SPACE}$"
_BOOL_TEXT = rf"^{_SPACE}([Yy][Ee][Ss]|[Nn][Oo]|[Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]|1|0){_SPACE}$"
_BLANK = rf"^{_SPACE}$"


def column_schema(column: Column) -> dict[str, Any]:
    """One value as the handler reads it: numbers as JSON numbers or text, bools as yes/no/true/false/1/0."""
    nullable = column.nullable

    def text(pattern: str) -> str:
        return f"{pattern}|{_BLANK}" if nullable else pattern

    def types(*names: str) -> list[str]:
        return [*names, "null"] if nullable else list(names)

    if column.type == "category":
        values: list[Any] = list(column.values or [])
        return {"enum": [*values, None, ""] if nullable else values}
    if column.type == "bool":
        return {"type": types("boolean", "integer", "string"), "minimum": 0, "maximum": 1, "pattern": text(_BOOL_TEXT)}
    if column.type in ("int", "float"):
        # Any number, for int columns too: the handler takes 26.0 and "1e1" for an int (their value is whole), and
        # judges 26.5 itself; a narrower model would refuse at the API what the endpoint serves.
        schema: dict[str, Any] = {"type": types("number", "string"), "pattern": text(_NUMBER_TEXT)}
        if column.min is not None:
            schema["minimum"] = column.min
        if column.max is not None:
            schema["maximum"] = column.max
        return schema
    return {"type": types("string")}


def _response_template(message: str) -> dict[str, str]:
    return {"application/json": _response_body(message)}


def _response_body(message: str) -> str:
    # the runtime's error body is JSON: embedded as it is, whatever its keys are called
    return json.dumps({"message": message})[:-1] + ', "upstream": $input.body}'


def _model_error_template() -> dict[str, str]:
    # One line: Velocity's whitespace rules around a directive on its own line differ by version. The status
    # override is applied after the template; an absent status (the model did not answer) compares as false.
    return {
        "application/json": "#if($input.path('$.OriginalStatusCode') < 500)"
        "#set($context.responseOverride.status = 400)"
        + _response_body("The request was refused; see upstream for why.")
        + "#{else}"
        + _response_body("The model failed; see upstream for why.")
        + "#end"
    }


def method_definitions(gateway: Gateway, targets: Targets) -> dict[str, dict[str, Any]]:
    """`POST /predict` and `GET /health`, keyed `"<METHOD> /<path>"`, in the shape `GetMethod` answers (with the
    validator named rather than by id)."""
    auth = {
        "authorizationType": "AWS_IAM" if gateway.auth == "iam" else "NONE",
        "apiKeyRequired": gateway.auth == "api_key",
    }
    uri = f"arn:aws:apigateway:{targets.region}:runtime.sagemaker:path/endpoints/{targets.endpoint}/invocations"
    predict = {
        **auth,
        "requestValidator": VALIDATOR_NAME,
        "requestModels": {"application/json": MODEL_NAME},
        "requestParameters": {"method.request.header.Content-Type": False, "method.request.header.Accept": False},
        "methodResponses": {
            "200": {"responseParameters": {"method.response.header.Content-Type": False}},
            "400": {},
            "500": {},
            "502": {},
            "503": {},
        },
        "methodIntegration": {
            "type": "AWS",
            "httpMethod": "POST",
            "uri": uri,
            "credentials": targets.role_arn,
            "passthroughBehavior": "NEVER",  # anything but JSON and CSV: 415
            "requestTemplates": dict.fromkeys(SUPPORTED_TYPES, "$input.body"),
            "requestParameters": {
                "integration.request.header.Content-Type": "method.request.header.Content-Type",
                "integration.request.header.Accept": "method.request.header.Accept",
            },
            "timeoutInMillis": gateway.timeout_ms,
            "integrationResponses": {
                "200": {
                    "responseParameters": {
                        "method.response.header.Content-Type": "integration.response.header.Content-Type"
                    }
                },
                "400": {
                    "selectionPattern": REFUSED_PATTERN,
                    "responseTemplates": _response_template("The request was refused; see upstream for why."),
                },
                "500": {"selectionPattern": MODEL_ERROR_PATTERN, "responseTemplates": _model_error_template()},
                "503": {
                    "selectionPattern": NOT_READY_PATTERN,
                    "responseTemplates": _response_template("The model is not ready; retry later."),
                },
                "502": {
                    "selectionPattern": UPSTREAM_PATTERN,
                    "responseTemplates": _response_template("The endpoint call failed."),
                },
            },
        },
    }
    health: dict[str, Any] = {
        **auth,
        "methodResponses": {"200": {}},
        "methodIntegration": {
            "type": "MOCK",
            "passthroughBehavior": "WHEN_NO_MATCH",
            "requestTemplates": {"application/json": '{"statusCode": 200}'},
            "integrationResponses": {"200": {"responseTemplates": {"application/json": '{"status": "ok"}'}}},
        },
    }
    return {f"POST /{PREDICT_PATH}": predict, f"GET /{HEALTH_PATH}": health}


def gateway_responses() -> dict[str, dict[str, Any]]:
    return {
        kind: ({"statusCode": status} if status else {}) | {"responseTemplates": {"application/json": template}}
        for kind, (status, template) in GATEWAY_RESPONSES.items()
    }


def stage_settings(gateway: Gateway, access_log_arn: str) -> dict[str, Any]:
    """The stage's settings in the shape `GetStage` answers."""
    return {
        "tracingEnabled": gateway.tracing,
        "methodSettings": {
            "*/*": {
                "throttlingRateLimit": float(gateway.throttle.rate),
                "throttlingBurstLimit": gateway.throttle.burst,
                "loggingLevel": gateway.logging.level,
                "dataTraceEnabled": gateway.logging.data_trace,
                "metricsEnabled": True,
            }
        },
        "accessLogSettings": {"destinationArn": access_log_arn, "format": ACCESS_LOG_FORMAT},
    }


def stage_patch_operations(settings: dict[str, Any]) -> list[dict[str, str]]:
    """`UpdateStage` operations that set `settings` (CreateStage takes no method settings)."""
    method = settings["methodSettings"]["*/*"]
    values = {
        "/*/*/throttling/rateLimit": method["throttlingRateLimit"],
        "/*/*/throttling/burstLimit": method["throttlingBurstLimit"],
        "/*/*/logging/loglevel": method["loggingLevel"],
        "/*/*/logging/dataTrace": method["dataTraceEnabled"],
        "/*/*/metrics/enabled": method["metricsEnabled"],
        "/tracingEnabled": settings["tracingEnabled"],
        "/accessLogSettings/destinationArn": settings["accessLogSettings"]["destinationArn"],
        "/accessLogSettings/format": settings["accessLogSettings"]["format"],
    }
    return [{"op": "replace", "path": path, "value": _patch_value(value)} for path, value in values.items()]


def _patch_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def definition(config: Config, targets: Targets, access_log_arn: str) -> dict[str, Any]:
    """Everything a deployment captures, plus the stage settings: a change to any of it is deployed."""
    return {
        "model": request_schema(config.dataset, config.gateway.max_rows),
        "methods": method_definitions(config.gateway, targets),
        "gateway_responses": gateway_responses(),
        "stage": stage_settings(config.gateway, access_log_arn),
    }


def digest(document: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]
