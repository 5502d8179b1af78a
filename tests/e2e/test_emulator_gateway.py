"""Deployed REST APIs answer on the emulator (`/restapis/<id>/<stage>/_user_request_/<path>`), built with boto3 as
`mlops gateway apply` builds them (/tmp/notes/gateway-spec.md) in front of a real endpoint, and called over plain
HTTP. Against plain moto 5.2.5 every one of these requests would fall through to S3 (NoSuchBucket)."""

from __future__ import annotations

import http.client
import json
import urllib.parse
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.message import Message
from typing import TYPE_CHECKING, Any

import pytest

from mlops_cli.emulator import manager

if TYPE_CHECKING:
    from tests.e2e.conftest import ServingKit

pytestmark = pytest.mark.e2e

REGION = "eu-west-1"
ACCOUNT = "123456789012"
STAGE = "v1"
UPSTREAM_PATTERN = r"4(?:[0-13-9]\d|2[0-35-8])|5\d{2}"  # every 4xx but 424 and 429, every 5xx: one 502 response
ERROR_TEMPLATE = (
    '{"message": $context.error.messageString, "type": "$context.error.responseType", '
    '"request_id": "$context.requestId"}'
)
GATEWAY_RESPONSES = {
    "BAD_REQUEST_BODY": (
        "400",
        '{"message": "Invalid request body", '
        '"errors": "$util.escapeJavaScript($context.error.validationErrorString).replaceAll("\\\\\'","\'")", '
        '"request_id": "$context.requestId"}',
    ),
    **{
        kind: (status, ERROR_TEMPLATE)
        for kind, status in [
            ("UNSUPPORTED_MEDIA_TYPE", "415"),
            ("REQUEST_TOO_LARGE", "413"),
            ("MISSING_AUTHENTICATION_TOKEN", "403"),
            ("INVALID_API_KEY", "403"),
            ("ACCESS_DENIED", "403"),
            ("THROTTLED", "429"),
            ("QUOTA_EXCEEDED", "429"),
            ("INTEGRATION_FAILURE", "504"),
            ("INTEGRATION_TIMEOUT", "504"),
            ("DEFAULT_4XX", ""),
            ("DEFAULT_5XX", ""),
        ]
    },
}


# ------------------------------------------------------------------------------------------------ HTTP calls


@dataclass
class Reply:
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def request_id(self) -> str:
        return str(self.headers["x-amzn-RequestId"])


def call(url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None) -> Reply:
    """One plain HTTP request, headers exactly as given (urllib.request would add a form Content-Type)."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    try:
        connection.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), body, headers or {})
        response = connection.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        connection.close()


def signed_call(url: str, body: bytes, headers: dict[str, str], service: str = "execute-api") -> Reply:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method="POST", url=url, data=body, headers=headers)
    SigV4Auth(Credentials("testing", "testing"), service, REGION).add_auth(request)
    return call(url, "POST", body, dict(request.headers.items()))


# ---------------------------------------------------------------------------------- the API, as the tool builds it


def request_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The PredictRequest model: draft 4, generated from the dataset schema (type lists, enum, min/max, pattern)."""
    blank = r"|^\s*$"
    properties: dict[str, Any] = {}
    for column in schema["columns"]:
        nullable = column.get("nullable", True)
        extra = ["null"] if nullable else []
        kind = column["type"]
        if kind == "category":
            properties[column["name"]] = {"enum": [*column["values"], *([None, ""] if nullable else [])]}
        elif kind == "bool":
            pattern = r"^\s*(yes|no|true|false|1|0)\s*$"
            properties[column["name"]] = {"type": ["boolean", "string", *extra], "pattern": pattern + blank}
        elif kind in ("int", "float"):
            number = r"^\s*[-+]?[0-9]+\s*$" if kind == "int" else r"^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)\s*$"
            entry = {"type": ["integer" if kind == "int" else "number", "string", *extra], "pattern": number + blank}
            entry.update(
                {k: column[source] for k, source in (("minimum", "min"), ("maximum", "max")) if source in column}
            )
            properties[column["name"]] = entry
        else:
            properties[column["name"]] = {"type": ["string", *extra]}
    features = [c["name"] for c in schema["columns"] if c["name"] not in (schema["key"], schema["target"])]
    return {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "type": "object",
        "required": ["instances"],
        "additionalProperties": False,
        "properties": {
            "instances": {
                "type": "array",
                "minItems": 1,
                "maxItems": 1000,
                "items": {
                    "type": "object",
                    "required": features,
                    "additionalProperties": False,
                    "properties": properties,
                },
            }
        },
    }


@dataclass
class Api:
    id: str
    prefix: str
    base: str
    keys: dict[str, str] = field(default_factory=dict)  # name -> value
    resources: dict[str, str] = field(default_factory=dict)  # path part -> resource id

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}"


class GatewayKit:
    def __init__(self, emulator: manager.EmulatorInfo, serving: ServingKit) -> None:
        import boto3
        from botocore.config import Config

        def client(service: str) -> Any:
            return boto3.client(
                service,
                endpoint_url=emulator.endpoint_url,
                region_name=REGION,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
                config=Config(retries={"max_attempts": 1}),
            )

        self.endpoint_url = emulator.endpoint_url
        self.apigw, self.iam, self.logs = client("apigateway"), client("iam"), client("logs")
        self.serving = serving
        self.unique = uuid.uuid4().hex[:8]
        self.role_arn = self.iam.create_role(
            RoleName=f"gw-invoke-{self.unique}",
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "apigateway.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
        )["Role"]["Arn"]
        from tests.container.contract import schema_from_config

        self.schema = request_schema(schema_from_config())

    def build(self, name: str, auth: str, endpoint: str, role_arn: str | None = None) -> Api:
        """Everything `gateway apply` creates, deployed to stage v1."""
        apigw, prefix = self.apigw, f"{name}-{self.unique}"
        api_id = apigw.create_rest_api(
            name=prefix,
            endpointConfiguration={"types": ["REGIONAL"]},
            apiKeySource="HEADER",
            tags={"mlops:project": "churn", "mlops:environment": "local", "mlops:stage": "gateway"},
        )["id"]
        api = Api(api_id, prefix, f"{self.endpoint_url}/restapis/{api_id}/{STAGE}/_user_request_")
        root = apigw.get_resources(restApiId=api_id)["items"][0]["id"]
        for part in ("predict", "health"):
            api.resources[part] = apigw.create_resource(restApiId=api_id, parentId=root, pathPart=part)["id"]
        apigw.create_model(
            restApiId=api_id, name="PredictRequest", contentType="application/json", schema=json.dumps(self.schema)
        )
        validator = apigw.create_request_validator(
            restApiId=api_id, name=f"{prefix}-body-and-params", validateRequestBody=True, validateRequestParameters=True
        )["id"]
        method_auth = {"authorizationType": "AWS_IAM" if auth == "iam" else "NONE", "apiKeyRequired": auth == "api_key"}
        predict = {"restApiId": api_id, "resourceId": api.resources["predict"], "httpMethod": "POST"}
        apigw.put_method(
            **predict,
            **method_auth,
            requestValidatorId=validator,
            requestModels={"application/json": "PredictRequest"},
            requestParameters={"method.request.header.Content-Type": False, "method.request.header.Accept": False},
        )
        apigw.put_integration(
            **predict,
            type="AWS",
            integrationHttpMethod="POST",
            credentials=role_arn or self.role_arn,
            uri=f"arn:aws:apigateway:{REGION}:runtime.sagemaker:path/endpoints/{endpoint}/invocations",
            passthroughBehavior="NEVER",
            requestTemplates={"application/json": "$input.body", "text/csv": "$input.body"},
            requestParameters={
                "integration.request.header.Content-Type": "method.request.header.Content-Type",
                "integration.request.header.Accept": "method.request.header.Accept",
            },
            timeoutInMillis=29000,
        )
        apigw.put_method_response(
            **predict,
            statusCode="200",
            responseParameters={"method.response.header.Content-Type": False},
            responseModels={"application/json": "Empty"},
        )
        for status in ("400", "502", "503"):
            apigw.put_method_response(**predict, statusCode=status, responseModels={"application/json": "Error"})
        apigw.put_integration_response(
            **predict,
            statusCode="200",
            responseParameters={"method.response.header.Content-Type": "integration.response.header.Content-Type"},
        )
        for status, pattern, message in [
            ("400", "424", "The model refused the request."),
            ("503", "429", "The model is not ready; retry later."),
            ("502", UPSTREAM_PATTERN, "The endpoint refused the call."),
        ]:
            template = json.dumps({"message": message})[:-1] + ', "upstream": $input.body}'
            apigw.put_integration_response(
                **predict, statusCode=status, selectionPattern=pattern, responseTemplates={"application/json": template}
            )
        health = {"restApiId": api_id, "resourceId": api.resources["health"], "httpMethod": "GET"}
        apigw.put_method(**health, **method_auth)
        apigw.put_integration(**health, type="MOCK", requestTemplates={"application/json": '{"statusCode": 200}'})
        apigw.put_method_response(**health, statusCode="200")
        apigw.put_integration_response(
            **health, statusCode="200", responseTemplates={"application/json": '{"status": "ok"}'}
        )
        for kind, (status, template) in GATEWAY_RESPONSES.items():
            apigw.put_gateway_response(
                restApiId=api_id,
                responseType=kind,
                **({"statusCode": status} if status else {}),
                responseTemplates={"application/json": template},
            )
        group = f"/aws/apigateway/{prefix}/access"
        self.logs.create_log_group(logGroupName=group)
        apigw.create_deployment(restApiId=api_id, stageName=STAGE, description="mlops:0123456789abcdef")
        log_format = json.dumps(
            {"requestId": "$context.requestId", "status": "$context.status", "ip": "$context.identity.caller"}
        )
        apigw.update_stage(
            restApiId=api_id,
            stageName=STAGE,
            patchOperations=[
                {"op": "replace", "path": path, "value": value}
                for path, value in [
                    ("/tracingEnabled", "true"),
                    ("/*/*/throttling/rateLimit", "100"),
                    ("/*/*/throttling/burstLimit", "200"),
                    ("/*/*/logging/loglevel", "INFO"),
                    ("/*/*/logging/dataTrace", "false"),
                    ("/*/*/metrics/enabled", "true"),
                    ("/accessLogSettings/destinationArn", f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}"),
                    ("/accessLogSettings/format", log_format),
                ]
            ],
        )
        if auth == "api_key":
            api.keys["default"] = self.plan_with_key(api, prefix, throttle={"rateLimit": 100.0, "burstLimit": 200})
        return api

    def plan_with_key(self, api: Api, name: str, enabled: bool = True, **limits: Any) -> str:
        """A usage plan for the API's stage with one API key of its own; the key's value."""
        plan = self.apigw.create_usage_plan(name=name, apiStages=[{"apiId": api.id, "stage": STAGE}], **limits)["id"]
        key = self.apigw.create_api_key(name=f"{name}-key", enabled=enabled)
        self.apigw.create_usage_plan_key(usagePlanId=plan, keyId=key["id"], keyType="API_KEY")
        return str(key["value"])

    def deploy(self, api: Api) -> None:
        self.apigw.create_deployment(restApiId=api.id, stageName=STAGE)


@pytest.fixture(scope="module")
def kit(emulator: manager.EmulatorInfo, serving: ServingKit) -> GatewayKit:
    return GatewayKit(emulator, serving)


@pytest.fixture(scope="module")
def endpoint(serving: ServingKit) -> Iterator[str]:
    name = serving.deploy("gw")
    yield name
    serving.sagemaker.delete_endpoint(EndpointName=name)


@pytest.fixture(scope="module")
def keyed(kit: GatewayKit, endpoint: str) -> Api:
    """`auth: api_key`: the API every key test calls."""
    return kit.build("keyed", "api_key", endpoint)


@pytest.fixture(scope="module")
def signed(kit: GatewayKit, endpoint: str) -> Api:
    """`auth: iam`."""
    return kit.build("signed", "iam", endpoint)


def json_headers(key: str | None = None, **extra: str) -> dict[str, str]:
    return {"Content-Type": "application/json", **({"x-api-key": key} if key else {}), **extra}


def assert_gateway_error(reply: Reply, status: int, kind: str, message: str) -> None:
    assert reply.status == status, reply.body
    assert reply.json() == {"message": message, "type": kind, "request_id": reply.request_id}


# ----------------------------------------------------------------------------------------------------- API keys


def test_a_valid_key_gets_the_models_predictions_as_json_and_csv(kit: GatewayKit, keyed: Api) -> None:
    model = kit.serving.model
    reply = call(keyed.url("predict"), "POST", model.json_body(2), json_headers(keyed.keys["default"]))
    assert reply.status == 200, reply.body
    assert reply.headers["Content-Type"] == "application/json"
    predictions = reply.json()["predictions"]
    assert [p["customer_id"] for p in predictions] == [r["customer_id"] for r in model.records[:2]]
    assert all(p["label"] in ("yes", "no") and 0 <= p["probability"] <= 1 for p in predictions)
    uuid.UUID(reply.request_id)

    csv = call(
        keyed.url("predict"),
        "POST",
        model.csv_body(3),
        {"Content-Type": "text/csv; charset=utf-8", "Accept": "text/csv", "x-api-key": keyed.keys["default"]},
    )
    assert csv.status == 200, csv.body
    assert csv.headers["Content-Type"] == "text/csv"  # mapped from the back end's answer
    assert [line.split(",")[0] in ("yes", "no") for line in csv.body.decode().splitlines()] == [True] * 3


def test_no_wrong_disabled_or_unplanned_key_is_forbidden(kit: GatewayKit, keyed: Api) -> None:
    disabled = kit.plan_with_key(keyed, f"disabled-{kit.unique}", enabled=False)
    unplanned = kit.apigw.create_api_key(name=f"unplanned-{kit.unique}", enabled=True)["value"]
    elsewhere = kit.apigw.create_usage_plan(name=f"elsewhere-{kit.unique}")["id"]  # a plan of no stage
    stray = kit.apigw.create_api_key(name=f"stray-{kit.unique}", enabled=True)
    kit.apigw.create_usage_plan_key(usagePlanId=elsewhere, keyId=stray["id"], keyType="API_KEY")
    body = kit.serving.model.json_body(1)
    for key in (None, "not-a-key-" + "x" * 30, disabled, unplanned, stray["value"]):
        reply = call(keyed.url("predict"), "POST", body, json_headers(key))
        assert_gateway_error(reply, 403, "INVALID_API_KEY", "Forbidden")
        assert_gateway_error(call(keyed.url("health"), headers=json_headers(key)), 403, "INVALID_API_KEY", "Forbidden")


def test_health_is_a_mock_behind_the_same_auth(keyed: Api) -> None:
    reply = call(keyed.url("health"), headers={"x-api-key": keyed.keys["default"]})
    assert (reply.status, reply.json()) == (200, {"status": "ok"})
    assert reply.headers["Content-Type"] == "application/json"


# --------------------------------------------------------------------------------------------------- validation


def test_a_missing_feature_and_a_bad_category_are_400s_naming_the_field(kit: GatewayKit, keyed: Api) -> None:
    instances = json.loads(kit.serving.model.json_body(2))["instances"]
    del instances[0]["tenure_months"]
    instances[1]["plan"] = "enterprise"
    reply = call(
        keyed.url("predict"), "POST", json.dumps({"instances": instances}).encode(), json_headers(keyed.keys["default"])
    )
    assert reply.status == 400, reply.body
    answer = reply.json()
    assert (answer["message"], answer["request_id"]) == ("Invalid request body", reply.request_id)
    assert answer["errors"] == (
        '[instances/0: object has missing required properties (["tenure_months"]), '
        'instances/1/plan: instance value ("enterprise") not found in enum '
        '(possible values: ["basic","pro","team",null,""])]'
    )


def test_bodies_that_are_not_json_or_empty_are_invalid(keyed: Api) -> None:
    headers = json_headers(keyed.keys["default"])
    reply = call(keyed.url("predict"), "POST", b"{not json", headers)
    assert reply.status == 400 and reply.json()["errors"].startswith("[Invalid JSON in the request body: ")
    reply = call(keyed.url("predict"), "POST", b'{"instances": [], "extra": 1}', headers)
    assert reply.json()["errors"] == (
        '[object instance has properties which are not allowed by the schema: ["extra"], '
        "instances: array is too short: must have at least 1 elements but instance has 0 elements]"
    )


def test_a_content_type_without_template_is_415_and_none_means_json(kit: GatewayKit, keyed: Api) -> None:
    key = keyed.keys["default"]
    reply = call(keyed.url("predict"), "POST", b"<instances/>", {"Content-Type": "text/xml", "x-api-key": key})
    assert_gateway_error(reply, 415, "UNSUPPORTED_MEDIA_TYPE", "Unsupported Media Type")
    reply = call(keyed.url("predict"), "POST", kit.serving.model.json_body(1), {"x-api-key": key})
    assert reply.status == 200, reply.body  # no Content-Type: application/json, validated and forwarded


def test_a_body_over_10_mb_is_too_large(keyed: Api) -> None:
    body = b" " * (10 * 1024 * 1024 + 1)
    reply = call(keyed.url("predict"), "POST", body, json_headers(keyed.keys["default"]))
    assert_gateway_error(reply, 413, "REQUEST_TOO_LARGE", "Request Too Long")


# ------------------------------------------------------------------------------------------------ the back end


def test_a_model_error_is_a_400_with_the_models_message(kit: GatewayKit, keyed: Api) -> None:
    reply = call(
        keyed.url("predict"), "POST", b"1,2,3\n", {"Content-Type": "text/csv", "x-api-key": keyed.keys["default"]}
    )
    assert reply.status == 400, reply.body
    answer = reply.json()
    assert answer["message"] == "The model refused the request."
    upstream = answer["upstream"]
    assert upstream["OriginalStatusCode"] == 400
    assert "BadRequestError" in upstream["OriginalMessage"]
    assert "Received client error (400) from primary" in upstream["Message"]


def test_a_missing_endpoint_is_a_502_and_a_missing_role_a_clear_500(kit: GatewayKit) -> None:
    body = kit.serving.model.json_body(1)
    nowhere = kit.build("nowhere", "none", f"nowhere-{kit.unique}")
    reply = call(nowhere.url("predict"), "POST", body, json_headers())
    assert reply.status == 502, reply.body
    assert reply.json()["message"] == "The endpoint refused the call."
    assert reply.json()["upstream"] == {
        "__type": "ValidationError",
        "Message": f"Endpoint nowhere-{kit.unique} of account {ACCOUNT} not found.",
    }

    roleless = kit.build(
        "roleless", "none", f"nowhere-{kit.unique}", role_arn=f"arn:aws:iam::{ACCOUNT}:role/none-{kit.unique}"
    )
    reply = call(roleless.url("predict"), "POST", body, json_headers())
    assert reply.status == 500
    message = reply.json()["message"]
    assert message.startswith("mlops emulator: ") and f"role/none-{kit.unique} does not exist in IAM" in message


# --------------------------------------------------------------------------------------------------------- IAM


def test_iam_methods_need_a_sigv4_signature_for_execute_api(kit: GatewayKit, signed: Api) -> None:
    body = kit.serving.model.json_body(1)
    reply = call(signed.url("predict"), "POST", body, json_headers())
    assert_gateway_error(reply, 403, "MISSING_AUTHENTICATION_TOKEN", "Missing Authentication Token")

    reply = call(signed.url("predict"), "POST", body, json_headers(Authorization="Bearer abc"))
    assert reply.status == 403
    assert reply.json()["message"].startswith("Authorization header requires 'Credential' parameter.")
    assert reply.json()["type"] == "INVALID_SIGNATURE"

    reply = signed_call(signed.url("predict"), body, json_headers(), service="s3")
    assert reply.status == 403 and "scoped to correct service: 'execute-api'" in reply.json()["message"]

    reply = signed_call(signed.url("predict"), body, json_headers())
    assert reply.status == 200, reply.body
    assert len(reply.json()["predictions"]) == 1


# ------------------------------------------------------------------------------------------ throttling, quotas


def test_a_tiny_burst_is_throttled_and_a_spent_quota_exceeded(kit: GatewayKit, keyed: Api) -> None:
    # a refill of one request per 1000 s: the second request is throttled whatever the machine's speed
    tiny = kit.plan_with_key(keyed, f"tiny-{kit.unique}", throttle={"rateLimit": 0.001, "burstLimit": 1})
    assert call(keyed.url("health"), headers={"x-api-key": tiny}).status == 200
    assert_gateway_error(call(keyed.url("health"), headers={"x-api-key": tiny}), 429, "THROTTLED", "Too Many Requests")

    spent = kit.plan_with_key(keyed, f"quota-{kit.unique}", quota={"limit": 2, "period": "DAY"})
    assert [call(keyed.url("health"), headers={"x-api-key": spent}).status for _ in range(2)] == [200, 200]
    assert_gateway_error(
        call(keyed.url("health"), headers={"x-api-key": spent}), 429, "QUOTA_EXCEEDED", "Limit Exceeded"
    )
    assert call(keyed.url("health"), headers={"x-api-key": keyed.keys["default"]}).status == 200  # others go on


def test_stage_throttling_applies_to_every_caller(kit: GatewayKit, endpoint: str) -> None:
    api = kit.build("stage-throttled", "none", endpoint)
    kit.apigw.update_stage(
        restApiId=api.id,
        stageName=STAGE,
        patchOperations=[
            {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "0.001"},
            {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": "2"},
        ],
    )
    assert [call(api.url("health")).status for _ in range(2)] == [200, 200]
    assert_gateway_error(call(api.url("health")), 429, "THROTTLED", "Too Many Requests")


# ------------------------------------------------------------------------------------------------- deployments


def test_a_change_is_served_only_once_deployed(kit: GatewayKit, endpoint: str) -> None:
    api = kit.build("changing", "none", endpoint)
    health = {"restApiId": api.id, "resourceId": api.resources["health"], "httpMethod": "GET"}
    kit.apigw.put_integration_response(
        **health, statusCode="200", responseTemplates={"application/json": '{"status": "changed"}'}
    )
    assert call(api.url("health")).json() == {"status": "ok"}
    kit.deploy(api)
    assert call(api.url("health")).json() == {"status": "changed"}
    stage = kit.apigw.get_stage(restApiId=api.id, stageName=STAGE)  # the new deployment kept the stage settings
    assert stage["methodSettings"]["*/*"]["throttlingBurstLimit"] == 200
    assert stage["accessLogSettings"]["destinationArn"].endswith(f"/aws/apigateway/{api.prefix}/access")


def test_overlapping_selection_patterns_are_a_clear_500(kit: GatewayKit) -> None:
    apigw = kit.apigw
    api_id = apigw.create_rest_api(name=f"overlap-{kit.unique}")["id"]
    root = apigw.get_resources(restApiId=api_id)["items"][0]["id"]
    where = {"restApiId": api_id, "resourceId": root, "httpMethod": "GET"}
    apigw.put_method(**where, authorizationType="NONE")
    apigw.put_integration(**where, type="MOCK", requestTemplates={"application/json": '{"statusCode": 404}'})
    for status, pattern in (("400", r"4\d{2}"), ("404", "40.")):
        apigw.put_method_response(**where, statusCode=status)
        apigw.put_integration_response(**where, statusCode=status, selectionPattern=pattern)
    apigw.create_deployment(restApiId=api_id, stageName=STAGE)
    reply = call(f"{kit.endpoint_url}/restapis/{api_id}/{STAGE}/_user_request_/")
    assert reply.status == 500
    message = reply.json()["message"]
    assert message.startswith("mlops emulator: ") and "overlapping selection patterns are not supported" in message
    assert "404" in message


# -------------------------------------------------------------------------------------------- robustness, logs


def test_unknown_apis_stages_paths_and_methods_are_missing_authentication_tokens(kit: GatewayKit, keyed: Api) -> None:
    default = {"message": "Missing Authentication Token"}
    unknown_api = call(f"{kit.endpoint_url}/restapis/nosuchapi/{STAGE}/_user_request_/predict")
    assert (unknown_api.status, unknown_api.json()) == (403, default)
    unknown_stage = call(f"{kit.endpoint_url}/restapis/{keyed.id}/v9/_user_request_/predict")
    assert (unknown_stage.status, unknown_stage.json()) == (403, default)
    key = keyed.keys["default"]
    for method, path in (("GET", "nowhere"), ("GET", "predict"), ("DELETE", "health")):
        reply = call(keyed.url(path), method, headers={"x-api-key": key})
        assert_gateway_error(reply, 403, "MISSING_AUTHENTICATION_TOKEN", "Missing Authentication Token")


def test_the_api_keeps_answering_after_errors_and_in_parallel(kit: GatewayKit, keyed: Api) -> None:
    key = keyed.keys["default"]
    call(keyed.url("predict"), "POST", b"{", json_headers(key))
    call(keyed.url("predict"), "POST", b"<x/>", {"Content-Type": "text/xml", "x-api-key": key})
    call(keyed.url("predict"), "POST", b"1,2\n", {"Content-Type": "text/csv", "x-api-key": key})
    body = kit.serving.model.json_body(1)
    with ThreadPoolExecutor(max_workers=6) as pool:
        replies = list(
            pool.map(
                lambda index: call(
                    keyed.url("predict" if index % 2 else "health"),
                    "POST" if index % 2 else "GET",
                    body if index % 2 else None,
                    json_headers(key),
                ),
                range(12),
            )
        )
    assert [reply.status for reply in replies] == [200] * 12
    assert len({reply.request_id for reply in replies}) == 12


def test_each_request_writes_an_access_log_line(kit: GatewayKit, keyed: Api) -> None:
    reply = call(keyed.url("health"), headers={"x-api-key": keyed.keys["default"]})
    events = kit.logs.get_log_events(logGroupName=f"/aws/apigateway/{keyed.prefix}/access", logStreamName=STAGE)[
        "events"
    ]
    lines = [json.loads(event["message"]) for event in events]
    assert {"requestId": reply.request_id, "status": "200", "ip": "-"} in lines
