"""The emulated API Gateway's pure parts: the VTL subset, request validation messages, integration-response
selection, gateway responses, routing, SigV4 presence, token buckets and quotas, the integration timeout, and what
a deployment snapshot freezes (moto in-process)."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from mlops_cli.emulator.gateway import auth, integration, responses, routing, templates, validation
from mlops_cli.emulator.gateway.errors import EmulatorError, GatewayError, NotSupported

# ------------------------------------------------------------------------------------------------- templates

ERROR = templates.Context(
    body=b'{"a": {"b": [1, {"c": "x"}]}, "s": "text", "n": null}',
    request_id="req-1",
    stage="v1",
    http_method="POST",
    resource_path="/predict",
    error_message='Invalid "body"',
    error_type="BAD_REQUEST_BODY",
    validation_error='[instances/0: object has missing required properties (["plan"])]',
)


@pytest.mark.parametrize(
    ("template", "rendered"),
    [
        ("$input.body", ERROR.body.decode()),
        ("${input.body}", ERROR.body.decode()),
        ("$input.json('$')", '{"a":{"b":[1,{"c":"x"}]},"s":"text","n":null}'),
        ("$input.json('$.a.b')", '[1,{"c":"x"}]'),
        ("$input.json('$.a.b[1].c')", '"x"'),
        ("$input.json('$.missing')", ""),
        ("$input.path('$.s')", "text"),
        ("$input.path('$.a')", '{"b":[1,{"c":"x"}]}'),
        ("$input.path('$.n')", ""),
        ('{"id": "$context.requestId", "at": "${context.stage}"}', '{"id": "req-1", "at": "v1"}'),
        ("$context.httpMethod $context.resourcePath", "POST /predict"),
        ('{"message": $context.error.messageString}', '{"message": "Invalid \\"body\\""}'),
        ("$context.error.message", 'Invalid "body"'),
        ("$context.error.responseType", "BAD_REQUEST_BODY"),
        ("$!context.requestId", "req-1"),
        ("costs $5 and $context.stage.", "costs $5 and v1."),
    ],
)
def test_templates_render_the_supported_references(template: str, rendered: str) -> None:
    assert templates.render(template, ERROR) == rendered


def test_validation_error_string_renders_unescaped_as_api_gateway_does() -> None:
    # AWS puts the messages in as they are: inside quotes, their own quotes make the body invalid JSON
    body = templates.render('{"errors": "$context.error.validationErrorString"}', ERROR)
    assert body == '{"errors": "' + ERROR.validation_error + '"}'
    with pytest.raises(ValueError):
        json.loads(body)


NASTY = templates.Context(validation_error='[a/b: value ("O\'Brien \\ é 😀 \ud800\n") not found]')


def test_escape_javascript_follows_api_gateways_rules() -> None:
    rendered = templates.render("$util.escapeJavaScript($context.error.validationErrorString)", NASTY)
    assert rendered == '[a\\/b: value (\\"O\\\'Brien \\\\ \\u00E9 \\uD83D\\uDE00 \\uD800\\n\\") not found]'
    assert rendered.isascii()
    with pytest.raises(ValueError):  # \' is JavaScript, not JSON ...
        json.loads(f'"{rendered}"')


def test_escaped_and_quotes_restored_the_messages_are_a_json_string() -> None:
    template = '{"errors": "$util.escapeJavaScript($context.error.validationErrorString).replaceAll("\\\\\'","\'")"}'
    assert json.loads(templates.render(template, NASTY)) == {"errors": NASTY.validation_error}


def test_what_a_reference_renders_is_not_read_again_as_a_template() -> None:
    context = templates.Context(validation_error="$context.requestId #set($x = 1)", request_id="req-1")
    assert templates.render("$context.error.validationErrorString", context) == context.validation_error
    assert templates.render("$util.escapeJavaScript($context.error.validationErrorString)", context) == (
        context.validation_error
    )


def test_the_definitions_bad_request_body_answer_is_json_whatever_the_values() -> None:
    from mlops_cli.services import gateway_definition

    template = gateway_definition.GATEWAY_RESPONSES["BAD_REQUEST_BODY"][1]
    answer = json.loads(templates.encode(templates.render(template, NASTY)))
    assert answer["errors"] == NASTY.validation_error


@pytest.mark.parametrize(
    "template",
    [
        "#set($x = 1)$x",
        "#if($input.body)yes#end",
        '#foreach($i in $input.path("$"))$i#end',
        "## a comment",
        "$input.params('x')",
        "$stageVariables.name",
        "$context.identity.sourceIp",
        "$util.urlEncode($input.body)",
        "$util.escapeJavaScript($input.params('x'))",
        '$util.escapeJavaScript($input.body).replaceAll("a","$1")',
        "$input.json('a.b')",
        "#set($context.responseOverride.status = $input.path('$.a'))",
        "#set($context.responseOverride.header.X = 1)",
        "#set($context.responseOverride.status = 99)",
        "#if($input.path('$.s') > 1)x#end",  # a string: Velocity's versions differ
        "#if($input.path('$.n') == 1)x#end",  # null with ==: likewise
        "#if($input.path('$.a.b[0]') gt 1)x#end",
        "#if($input.json('$.a.b[0]') > 1)x#end",
        "#if($input.path('$.a.b[0]') > 1)x#elseif($input.path('$.a.b[0]') > 0)y#end",
        "#if($input.path('$.a.b[0]') > 1)x",
        "x#end",
        "x#{else}y",
        "#if($input.path('$.a.b[0]') > 1)\nx#end",
    ],
)
def test_templates_refuse_what_they_do_not_emulate(template: str) -> None:
    """Beyond the subset, in a request or gateway response template and in an integration response template."""
    with pytest.raises(NotSupported, match="not supported"):
        templates.render(template, ERROR)
    with pytest.raises(NotSupported, match="not supported"):
        templates.render_response(template, ERROR)


@pytest.mark.parametrize(
    ("template", "rendered"),
    [
        ("#if($input.path('$.n') > 1)big#{else}small#end", "small"),  # null: an ordering is false
        ("#if($input.path('$.missing') <= 1)low#{else}not#end", "not"),
        ("#if($input.path('$.a.b[0]') == 1)one#end!", "one!"),
        ("#if($input.path('$.a.b[0]') != 1)one#end!", "!"),
        ("#if( $input.path('$.a.b[0]') >= -3 )#if(${input.path('$.a.b[0]')} < 2)in#{else}out#{end}#end", "in"),
        ("#{if}($input.path('$.a.b[0]') > 1)x#{else}y#{end}", "y"),
    ],
)
def test_if_compares_a_json_number_with_an_integer(template: str, rendered: str) -> None:
    assert templates.render(template, ERROR) == rendered


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b'{"OriginalStatusCode": 400, "OriginalMessage": "bad record"}', 400, "refused"),
        (b'{"OriginalStatusCode": 503, "OriginalMessage": "overloaded"}', 500, "failed"),
        (b'{"OriginalStatusCode": 500, "OriginalMessage": "Traceback"}', 500, "failed"),
        (b'{"Message": "Received server error (0) from primary"}', 500, "failed"),  # no answer from the model
    ],
)
def test_a_model_error_answers_400_for_the_models_4xx_and_500_for_its_5xx(
    body: bytes, status: int, message: str
) -> None:
    from mlops_cli.config.models import Gateway
    from mlops_cli.services import gateway_definition

    targets = gateway_definition.Targets("eu-west-1", "churn", "arn:aws:iam::123456789012:role/r")
    method = gateway_definition.method_definitions(Gateway(), targets)["POST /predict"]
    # keyed by status, as PutIntegrationResponse stores them
    integration_responses = {
        status: {**response, "statusCode": status}
        for status, response in method["methodIntegration"]["integrationResponses"].items()
    }
    backend = integration.BackendResponse(424, {"Content-Type": "application/json"}, body)
    chosen = responses.select(integration_responses, 424)
    answer = responses.integration_answer(
        chosen, method["methodResponses"], backend, None, templates.Context(body=body)
    )
    assert answer.status == status
    assert message in json.loads(answer.body)["message"]
    assert json.loads(answer.body)["upstream"] == json.loads(body)


def test_the_status_override_is_final_and_only_in_integration_responses() -> None:
    twice = "#set($context.responseOverride.status = 400)#set($context.responseOverride.status = 500)"
    with pytest.raises(GatewayError) as raised:
        templates.render_response(twice, ERROR)
    assert raised.value.response_type == "API_CONFIGURATION_ERROR"
    once = "#if($input.path('$.a.b[0]') > 0)#set($context.responseOverride.status = 502)#end{}"
    assert templates.render_response(once, ERROR) == templates.Rendered("{}", 502)
    assert templates.render_response("{}", ERROR) == templates.Rendered("{}", None)
    with pytest.raises(NotSupported, match="outside an integration response"):
        templates.render("#set($context.responseOverride.status = 400)", ERROR)


def test_what_a_branch_renders_is_not_read_again_as_a_template() -> None:
    context = templates.Context(body=b'{"n": 1}', validation_error="#end #set($x = 1) $context.requestId")
    template = "#if($input.path('$.n') == 1)$context.error.validationErrorString#end"
    assert templates.render(template, context) == context.validation_error


def test_a_body_that_is_not_json_fails_the_json_functions_as_a_500() -> None:
    with pytest.raises(GatewayError) as raised:
        templates.render("$input.json('$')", templates.Context(body=b"a,b\n"))
    assert raised.value.response_type == "API_CONFIGURATION_ERROR"


def test_passthrough_templates_are_recognised() -> None:
    assert templates.is_passthrough("$input.body") and templates.is_passthrough(" ${input.body}\n")
    assert not templates.is_passthrough('{"body": $input.body}')


# ------------------------------------------------------------------------------------------------ validation

SCHEMA = json.dumps(
    {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "type": "object",
        "required": ["instances"],
        "additionalProperties": False,
        "properties": {
            "instances": {
                "type": "array",
                "minItems": 1,
                "maxItems": 2,
                "items": {
                    "type": "object",
                    "required": ["plan", "tenure"],
                    "additionalProperties": False,
                    "properties": {
                        "plan": {"enum": ["basic", "pro", "team"]},
                        "tenure": {"type": ["integer", "string"], "minimum": 0, "maximum": 600, "pattern": "^[0-9]+$"},
                        "note": {"type": "string", "minLength": 2, "maxLength": 4},
                    },
                },
            }
        },
    }
)


def errors_for(document: Any) -> list[str]:
    return validation.body_errors(SCHEMA, "PredictRequest", json.dumps(document).encode())


def test_a_valid_body_has_no_errors() -> None:
    assert errors_for({"instances": [{"plan": "pro", "tenure": 3}, {"plan": "team", "tenure": "12"}]}) == []


def test_validation_messages_follow_fge_and_name_the_field() -> None:
    messages = errors_for({"instances": [{"tenure": 3}, {"plan": "enterprise", "tenure": 3}]})
    assert validation.error_string(messages) == (
        '[instances/0: object has missing required properties (["plan"]), '
        'instances/1/plan: instance value ("enterprise") not found in enum (possible values: ["basic","pro","team"])]'
    )


def test_several_missing_properties_are_one_message() -> None:
    assert errors_for({"instances": [{}]}) == [
        'instances/0: object has missing required properties (["plan","tenure"])'
    ]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({}, 'object has missing required properties (["instances"])'),
        (
            {"instances": [{"plan": "pro", "tenure": 1}], "x": 1, "a": 2},
            'object instance has properties which are not allowed by the schema: ["a","x"]',
        ),
        ({"instances": []}, "instances: array is too short: must have at least 1 elements but instance has 0 elements"),
        (
            {"instances": [{"plan": "pro", "tenure": 1}] * 3},
            "instances: array is too long: must have at most 2 elements but instance has 3 elements",
        ),
        (
            {"instances": [{"plan": "pro", "tenure": True}]},
            'instances/0/tenure: instance type (boolean) does not match any allowed primitive type (allowed: ["integer","string"])',
        ),
        (
            {"instances": [{"plan": "pro", "tenure": 1.5}]},
            'instances/0/tenure: instance type (number) does not match any allowed primitive type (allowed: ["integer","string"])',
        ),
        (
            {"instances": [{"plan": "pro", "tenure": -1}]},
            "instances/0/tenure: numeric instance is lower than the required minimum (minimum: 0, found: -1)",
        ),
        (
            {"instances": [{"plan": "pro", "tenure": 601}]},
            "instances/0/tenure: numeric instance is greater than the required maximum (maximum: 600, found: 601)",
        ),
        (
            {"instances": [{"plan": "pro", "tenure": "x1"}]},
            'instances/0/tenure: ECMA 262 regex "^[0-9]+$" does not match input string "x1"',
        ),
        (
            {"instances": [{"plan": "pro", "tenure": 1, "note": "a"}]},
            'instances/0/note: string "a" is too short (length: 1, required minimum: 2)',
        ),
        (
            {"instances": [{"plan": "pro", "tenure": 1, "note": "abcde"}]},
            'instances/0/note: string "abcde" is too long (length: 5, maximum allowed: 4)',
        ),
    ],
)
def test_each_keyword_has_its_message(document: Any, message: str) -> None:
    assert errors_for(document) == [message]


def test_a_body_that_is_not_json_or_empty_is_reported() -> None:
    [message] = validation.body_errors(SCHEMA, "PredictRequest", b"tenure,plan\n1,pro\n")
    assert message.startswith("Invalid JSON in the request body: ")
    assert validation.body_errors(SCHEMA, "PredictRequest", b"") == [
        'object has missing required properties (["instances"])'
    ]


def test_composite_keywords_count_the_matching_schemas() -> None:
    schema = json.dumps({"oneOf": [{"type": "integer"}, {"minimum": 0}, {"type": "string"}]})
    assert validation.body_errors(schema, "M", b"5") == [
        "instance failed to match exactly one schema (matched 2 out of 3)"
    ]


def test_models_the_emulator_cannot_use_are_refused_clearly() -> None:
    with pytest.raises(NotSupported, match=r"\$ref"):
        validation.body_errors('{"$ref": "https://apigateway.amazonaws.com/restapis/a/models/B"}', "R", b"{}")
    with pytest.raises(EmulatorError, match="not a valid draft-04 schema"):
        validation.body_errors('{"type": 5}', "Broken", b"{}")


def test_missing_parameters_are_required_ones_absent_or_blank() -> None:
    required = {
        "method.request.header.X-Trace": True,
        "method.request.querystring.q": True,
        "method.request.path.id": True,
        "method.request.header.Accept": False,
    }
    assert validation.missing_parameters(required, {"x-trace": " "}, {"q": [""]}, {}) == ["X-Trace", "id", "q"]
    assert validation.missing_parameters(required, {"X-Trace": "1"}, {"q": ["a"]}, {"id": "7"}) == []


# --------------------------------------------------------------------------------- integration responses

SPEC_RESPONSES = {
    "200": {"statusCode": "200"},
    "400": {"statusCode": "400", "selectionPattern": "424"},
    "503": {"statusCode": "503", "selectionPattern": "429"},
    "502": {"statusCode": "502", "selectionPattern": r"4(?:[0-13-9]\d|2[0-35-8])|5\d{2}"},
}


@pytest.mark.parametrize(
    ("status", "chosen"),
    [(200, "200"), (204, "200"), (424, "400"), (429, "503"), (400, "502"), (404, "502"), (500, "502"), (503, "502")],
)
def test_selection_patterns_match_the_whole_status_code(status: int, chosen: str) -> None:
    assert responses.select(SPEC_RESPONSES, status)["statusCode"] == chosen


def test_overlapping_patterns_are_refused_and_no_default_is_a_configuration_error() -> None:
    overlapping = {
        "400": {"statusCode": "400", "selectionPattern": r"4\d{2}"},
        "401": {"statusCode": "401", "selectionPattern": "40."},
    }
    with pytest.raises(EmulatorError, match="overlapping selection patterns are not supported") as raised:
        responses.select(overlapping, 404)
    assert "404" in raised.value.message and raised.value.message.startswith("mlops emulator: ")
    with pytest.raises(GatewayError) as missing:
        responses.select(overlapping, 200)
    assert (missing.value.response_type, missing.value.message) == ("API_CONFIGURATION_ERROR", "Internal server error")


def test_integration_answer_maps_headers_renders_templates_and_needs_a_method_response() -> None:
    backend = integration.BackendResponse(200, {"content-type": "text/csv"}, b"yes,0.9\n")
    chosen = {
        "statusCode": "200",
        "responseParameters": {
            "method.response.header.Content-Type": "integration.response.header.Content-Type",
            "method.response.header.X-Static": "'fixed'",
        },
    }
    answer = responses.integration_answer(chosen, {"200": {}}, backend, None, templates.Context(body=backend.body))
    assert (answer.status, answer.body) == (200, b"yes,0.9\n")
    assert answer.headers == {"Content-Type": "text/csv", "X-Static": "fixed"}

    error = integration.BackendResponse(424, {}, b'{"Message": "bad"}')
    refused = {"statusCode": "400", "responseTemplates": {"application/json": '{"upstream": $input.body}'}}
    answer = responses.integration_answer(
        refused, {"400": {}}, error, "application/json", templates.Context(body=error.body)
    )
    assert json.loads(answer.body) == {"upstream": {"Message": "bad"}}
    with pytest.raises(GatewayError, match="Internal server error"):
        responses.integration_answer(refused, {"200": {}}, error, None, templates.Context(body=error.body))


# ------------------------------------------------------------------------------------------ gateway responses


def test_gateway_responses_fall_back_to_default_4xx_5xx_then_to_api_gateways_own() -> None:
    error = GatewayError("INVALID_API_KEY", "Forbidden")
    context = templates.Context(request_id="r", error_message="Forbidden", error_type="INVALID_API_KEY")
    answer = responses.gateway_answer({}, error, context, None)
    assert (answer.status, json.loads(answer.body)) == (403, {"message": "Forbidden"})

    default_4xx = {
        "responseTemplates": {
            "application/json": '{"m": $context.error.messageString, "t": "$context.error.responseType"}'
        },
        "responseParameters": {"gatewayresponse.header.X-Kind": "'gateway'"},
    }
    answer = responses.gateway_answer({"DEFAULT_4XX": default_4xx}, error, context, None)
    assert (answer.status, json.loads(answer.body)) == (403, {"m": "Forbidden", "t": "INVALID_API_KEY"})
    assert answer.headers["X-Kind"] == "gateway"

    own = {"statusCode": "401", "responseTemplates": {"application/json": '{"own": true}'}}
    answer = responses.gateway_answer({"DEFAULT_4XX": default_4xx, "INVALID_API_KEY": own}, error, context, None)
    assert (answer.status, answer.body) == (401, b'{"own": true}')

    timeout = GatewayError("INTEGRATION_TIMEOUT", "Endpoint request timed out")
    assert responses.gateway_answer({"DEFAULT_4XX": default_4xx}, timeout, context, None).status == 504


@pytest.mark.parametrize(
    ("response_type", "status"),
    [
        ("MISSING_AUTHENTICATION_TOKEN", 403),
        ("THROTTLED", 429),
        ("QUOTA_EXCEEDED", 429),
        ("REQUEST_TOO_LARGE", 413),
        ("UNSUPPORTED_MEDIA_TYPE", 415),
        ("BAD_REQUEST_BODY", 400),
        ("INTEGRATION_FAILURE", 504),
        ("API_CONFIGURATION_ERROR", 500),
    ],
)
def test_each_type_has_api_gateways_default_status(response_type: str, status: int) -> None:
    assert responses.resolve({}, response_type)["statusCode"] == status


# ---------------------------------------------------------------------------------------------------- routing


def test_gateway_urls_are_parsed_and_others_left_alone() -> None:
    assert routing.parse("/restapis/abc123/v1/_user_request_/predict") == routing.Target("abc123", "v1", "/predict")
    assert routing.parse("/restapis/abc123/v1/_user_request_") == routing.Target("abc123", "v1", "/")
    assert routing.parse("/restapis/abc123/resources") is None
    assert routing.parse("/my-bucket/restapis/x") is None


def snapshot_with(*paths_and_methods: tuple[str, str]) -> Any:
    from mlops_cli.emulator.gateway import snapshots

    def method(name: str) -> snapshots.Method:
        return snapshots.Method(name, "NONE", False, {}, {}, None, None, {})

    by_path: dict[str, dict[str, snapshots.Method]] = {}
    for path, name in paths_and_methods:
        by_path.setdefault(path, {})[name] = method(name)
    resources = tuple(snapshots.Resource(path, methods) for path, methods in by_path.items())
    return snapshots.Snapshot("d1", resources, {}, {}, {})


def test_routes_prefer_literal_paths_then_parameters_and_fall_back_to_any() -> None:
    snapshot = snapshot_with(
        ("/items/special", "GET"), ("/items/{id}", "GET"), ("/files/{path+}", "ANY"), ("/predict", "POST")
    )
    assert routing.match(snapshot, "/items/special", "GET").resource.path == "/items/special"
    route = routing.match(snapshot, "/items/42", "GET")
    assert (route.resource.path, route.path_parameters) == ("/items/{id}", {"id": "42"})
    route = routing.match(snapshot, "/files/a/b.txt", "DELETE")
    assert (route.method.http_method, route.path_parameters) == ("ANY", {"path": "a/b.txt"})
    for path, method in [("/predict", "GET"), ("/nowhere", "POST"), ("/items/1/2", "GET"), ("/", "GET")]:
        with pytest.raises(GatewayError) as raised:
            routing.match(snapshot, path, method)
        assert (raised.value.response_type, raised.value.message) == (
            "MISSING_AUTHENTICATION_TOKEN",
            "Missing Authentication Token",
        )


# ------------------------------------------------------------------------------------------------------- auth

SIGNED = {
    "Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20240101/eu-west-1/execute-api/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=abc123",
    "X-Amz-Date": "20240101T000000Z",
}


def test_a_sigv4_header_for_execute_api_passes() -> None:
    auth.check_signature(SIGNED)


@pytest.mark.parametrize(
    ("headers", "response_type", "message"),
    [
        ({}, "MISSING_AUTHENTICATION_TOKEN", "Missing Authentication Token"),
        (
            {"Authorization": "Bearer token"},
            "INVALID_SIGNATURE",
            "Authorization header requires 'Credential' parameter.",
        ),
        ({**SIGNED, "X-Amz-Date": ""}, "INVALID_SIGNATURE", "requires existence of either a 'X-Amz-Date' or a 'Date'"),
        (
            {**SIGNED, "Authorization": SIGNED["Authorization"].replace("execute-api", "s3")},
            "INVALID_SIGNATURE",
            "Credential should be scoped to correct service: 'execute-api'.",
        ),
    ],
)
def test_missing_or_malformed_signatures_are_refused(headers: dict[str, str], response_type: str, message: str) -> None:
    with pytest.raises(GatewayError) as raised:
        auth.check_signature(headers)
    assert raised.value.response_type == response_type
    assert message in raised.value.message


def test_token_buckets_allow_the_burst_then_refill_at_the_rate() -> None:
    now = [100.0]
    limiter = auth.Limiter(clock=lambda: now[0])
    for _ in range(3):
        limiter.throttle(("k",), rate=2, burst=3)
    with pytest.raises(GatewayError) as raised:
        limiter.throttle(("k",), rate=2, burst=3)
    assert (raised.value.response_type, raised.value.message) == ("THROTTLED", "Too Many Requests")
    limiter.throttle(("other",), rate=2, burst=3)  # buckets are per key
    now[0] += 0.5  # one token back
    limiter.throttle(("k",), rate=2, burst=3)
    with pytest.raises(GatewayError):
        limiter.throttle(("k",), rate=2, burst=3)
    limiter.reset()
    limiter.throttle(("k",), rate=2, burst=3)


def test_quotas_count_per_period_window() -> None:
    today = [dt.date(2024, 1, 31)]
    limiter = auth.Limiter(today=lambda: today[0])
    limiter.count(("plan", "key"), limit=2, period="MONTH")
    limiter.count(("plan", "key"), limit=2, period="MONTH")
    with pytest.raises(GatewayError) as raised:
        limiter.count(("plan", "key"), limit=2, period="MONTH")
    assert (raised.value.response_type, raised.value.message) == ("QUOTA_EXCEEDED", "Limit Exceeded")
    today[0] = dt.date(2024, 2, 1)
    limiter.count(("plan", "key"), limit=2, period="MONTH")
    with pytest.raises(NotSupported):
        limiter.count(("plan", "key"), limit=2, period="YEAR")


def test_stage_throttling_prefers_the_method_setting() -> None:
    settings = {
        "*/*": {"throttlingRateLimit": 10.0, "throttlingBurstLimit": 20},
        "~1predict/POST": {"throttlingBurstLimit": 1},
    }
    assert auth.stage_throttle(settings, "/predict", "POST") == ("~1predict/POST", 10000.0, 1.0)
    assert auth.stage_throttle(settings, "/health", "GET") == ("*/*", 10.0, 20.0)
    assert auth.stage_throttle({"*/*": {"loggingLevel": "INFO"}}, "/health", "GET") is None


# ------------------------------------------------------------------------------------------------ integration


def test_only_sagemaker_invocations_are_emulated_for_aws_integrations() -> None:
    uri = "arn:aws:apigateway:eu-west-1:runtime.sagemaker:path/endpoints/churn-local/invocations"
    assert integration.sagemaker_endpoint({"type": "AWS", "uri": uri, "httpMethod": "POST"}) == (
        "eu-west-1",
        "churn-local",
    )
    double = uri.replace("path/", "path//")
    assert integration.sagemaker_endpoint({"type": "AWS", "uri": double, "httpMethod": "POST"})[1] == "churn-local"
    for settings in (
        {"type": "HTTP", "uri": "https://example.com", "httpMethod": "GET"},
        {"type": "AWS_PROXY", "uri": uri, "httpMethod": "POST"},
        {"type": "AWS", "uri": "arn:aws:apigateway:eu-west-1:s3:path/bucket/key", "httpMethod": "GET"},
    ):
        with pytest.raises(NotSupported):
            integration.sagemaker_endpoint(settings)


def test_request_parameters_map_headers_from_the_method_request_or_static_values() -> None:
    request = integration.MethodRequest({"content-type": "text/csv"}, {"v": ["1", "2"]}, {"id": "7"})
    mapping = {
        "integration.request.header.Content-Type": "method.request.header.Content-Type",
        "integration.request.header.Accept": "method.request.header.Accept",
        "integration.request.header.X-Version": "method.request.querystring.v",
        "integration.request.header.X-Id": "method.request.path.id",
        "integration.request.header.X-Static": "'fixed'",
    }
    assert integration.request_headers(mapping, request) == {
        "Content-Type": "text/csv",
        "X-Version": "2",
        "X-Id": "7",
        "X-Static": "fixed",
    }
    with pytest.raises(NotSupported):
        integration.request_headers({"integration.request.querystring.q": "'x'"}, request)


def test_a_late_back_end_is_an_integration_timeout_and_an_early_one_answers() -> None:
    release = threading.Event()

    def slow() -> integration.BackendResponse:
        release.wait(10)
        return integration.BackendResponse(200)

    try:
        with pytest.raises(GatewayError) as raised:
            integration.with_timeout(slow, timeout=0.05)
        assert (raised.value.response_type, raised.value.message) == (
            "INTEGRATION_TIMEOUT",
            "Endpoint request timed out",
        )
    finally:
        release.set()
    assert integration.with_timeout(lambda: integration.BackendResponse(204), timeout=5).status == 204


def test_mock_integrations_answer_the_status_of_their_template() -> None:
    assert integration.mock('{"statusCode": 404}').status == 404
    assert integration.mock(None).status == 200
    with pytest.raises(GatewayError):
        integration.mock("not json")


# ---------------------------------------------------------------------------------------------------- snapshots


@pytest.fixture
def snapshotting() -> Iterator[None]:
    from mlops_cli.emulator import gateway

    gateway.install()
    try:
        yield
    finally:
        gateway.uninstall()


def test_a_deployment_freezes_the_api_and_keeps_the_stage_settings(snapshotting: None) -> None:
    import boto3
    from moto import mock_aws
    from moto.apigateway.models import apigateway_backends

    from mlops_cli.emulator.gateway import snapshots

    with mock_aws():
        apigw = boto3.client("apigateway", region_name="eu-west-1")
        api = apigw.create_rest_api(name="frozen")["id"]
        root = apigw.get_resources(restApiId=api)["items"][0]["id"]
        child = apigw.create_resource(restApiId=api, parentId=root, pathPart="health")["id"]
        apigw.put_method(restApiId=api, resourceId=child, httpMethod="GET", authorizationType="NONE")
        template = {"application/json": '{"statusCode": 200}'}
        apigw.put_integration(restApiId=api, resourceId=child, httpMethod="GET", type="MOCK", requestTemplates=template)
        first = apigw.create_deployment(restApiId=api, stageName="v1")["id"]
        apigw.update_stage(
            restApiId=api,
            stageName="v1",
            patchOperations=[{"op": "replace", "path": "/*/*/throttling/burstLimit", "value": "7"}],
        )
        apigw.put_integration(
            restApiId=api, resourceId=child, httpMethod="GET", type="MOCK", requestTemplates={"application/json": "{}"}
        )
        second = apigw.create_deployment(restApiId=api, stageName="v1")["id"]

        rest_api = apigateway_backends["123456789012"]["eu-west-1"].apis[api]
        frozen = snapshots.of(rest_api.deployments[first])
        assert frozen is not None and frozen.deployment_id == first
        [health] = [resource for resource in frozen.resources if resource.path == "/health"]
        assert health.methods["GET"].integration is not None
        assert health.methods["GET"].integration["requestTemplates"] == template
        latest = snapshots.of(rest_api.deployments[second])
        assert latest is not None
        latest_health = next(resource for resource in latest.resources if resource.path == "/health")
        assert latest_health.methods["GET"].integration is not None
        assert latest_health.methods["GET"].integration["requestTemplates"] == {"application/json": "{}"}
        stage = apigw.get_stage(restApiId=api, stageName="v1")
        assert stage["deploymentId"] == second
        assert stage["methodSettings"]["*/*"]["throttlingBurstLimit"] == 7  # moto would have dropped it


def test_a_deployment_made_before_the_patch_is_a_clear_error() -> None:
    import boto3
    from moto import mock_aws

    with mock_aws():
        apigw = boto3.client("apigateway", region_name="eu-west-1")
        api = apigw.create_rest_api(name="early")["id"]
        root = apigw.get_resources(restApiId=api)["items"][0]["id"]
        apigw.put_method(restApiId=api, resourceId=root, httpMethod="GET", authorizationType="NONE")
        apigw.put_integration(restApiId=api, resourceId=root, httpMethod="GET", type="MOCK")
        apigw.create_deployment(restApiId=api, stageName="v1")
        with pytest.raises(EmulatorError, match="create a new deployment of the stage"):
            routing.locate(routing.Target(api, "v1", "/"))
        with pytest.raises(GatewayError, match="Missing Authentication Token"):
            routing.locate(routing.Target(api, "v2", "/"))
        with pytest.raises(GatewayError, match="Missing Authentication Token"):
            routing.locate(routing.Target("nosuchapi", "v1", "/"))


def test_patterns_read_backslash_classes_as_java_does() -> None:
    # API Gateway's \s, \d, \w are ASCII only: Python's Unicode-wide ones would let through what AWS refuses
    schema = json.dumps({"type": "string", "pattern": r"^\s*\d+\s*$"})
    assert validation.body_errors(schema, "M", json.dumps(" 12 ").encode()) == []
    for refused in ("\u00a012", "12\u2003", "\u0661\u0662"):
        assert validation.body_errors(schema, "M", json.dumps(refused).encode()), refused
