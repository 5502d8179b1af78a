"""`mlops gateway` services against moto in-process: the definition generated from the config, convergence (absent →
created, again → unchanged, drifted → updated), least privilege, deployment only on change, keys, delete."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from mlops_cli.aws.session import AwsClients
from mlops_cli.config.models import Config
from mlops_cli.errors import PreconditionFailed
from mlops_cli.services import gateway, gateway_keys
from mlops_cli.services import gateway_definition as gd
from tests.unit.conftest import make_config

RECORD = {
    "customer_id": "C1",
    "tenure_months": "26",
    "monthly_charges": 107.39,
    "total_charges": "2814.19",
    "plan": "team",
    "contract": "two_year",
    "payment_method": "card",
    "support_calls": 2,
    "has_partner": "no",
    "paperless_billing": True,
    "region": "west",
    "last_login_days": "4",
}


def _validator(config: Config) -> jsonschema.Draft4Validator:
    schema = gd.request_schema(config.dataset, config.gateway.max_rows)
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


def _errors(config: Config, document: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in _validator(config).iter_errors(document)]


def test_the_request_model_accepts_what_the_handler_accepts(config: Config) -> None:
    assert _errors(config, {"instances": [RECORD]}) == []
    # missing values where the column allows them, the target (ignored by the handler), numbers as JSON numbers
    record = RECORD | {"region": None, "support_calls": "", "churned": "yes", "tenure_months": 3}
    assert _errors(config, {"instances": [record]}) == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"plan": "enterprise"}, "plan"),
        ({"tenure_months": "twelve"}, "tenure_months"),
        ({"tenure_months": 601}, "tenure_months"),
        ({"has_partner": "maybe"}, "has_partner"),
        ({"plna": "pro"}, "plna"),
    ],
)
def test_the_request_model_names_the_bad_field(config: Config, change: dict[str, Any], field: str) -> None:
    errors = _errors(config, {"instances": [RECORD | change]})
    assert errors and any(field in error for error in errors), errors


def test_a_missing_feature_and_too_many_rows_are_refused(config: Config) -> None:
    missing = {k: v for k, v in RECORD.items() if k != "contract"}
    assert any("contract" in e for e in _errors(config, {"instances": [missing]}))
    small = make_config("gateway.max_rows=2")
    assert _errors(small, {"instances": [RECORD] * 3})
    assert _errors(config, {"instances": []})
    assert _errors(config, [RECORD])


def _actions(result: gateway.ApplyResult) -> dict[str, str]:
    return {c.name: str(c.action) for c in result.controls}


def test_apply_without_an_endpoint_is_a_precondition(clients: AwsClients, config: Config) -> None:
    with pytest.raises(PreconditionFailed, match="deploy apply"):
        gateway.apply(clients, config)
    assert gateway.find_api(clients, config) is None


def test_apply_creates_then_changes_nothing(clients: AwsClients, config: Config, endpoint: str) -> None:
    first = gateway.apply(clients, config)
    assert set(_actions(first).values()) == {"created"}
    assert first.deployed and first.deployment
    apigw = clients.client("apigateway")
    deployments = apigw.get_deployments(restApiId=first.api_id)["items"]

    clients.call_log.calls.clear()
    second = gateway.apply(clients, config)
    assert set(_actions(second).values()) == {"unchanged"}
    assert not second.deployed and second.deployment == first.deployment
    assert apigw.get_deployments(restApiId=first.api_id)["items"] == deployments
    assert not clients.call_log.writes(), clients.call_log.writes()


def test_a_changed_throttle_is_applied_and_deployed(clients: AwsClients, config: Config, endpoint: str) -> None:
    first = gateway.apply(clients, config)
    changed = make_config("gateway.throttle.rate=7", "gateway.throttle.burst=9")
    result = gateway.apply(clients, changed)
    actions = _actions(result)
    assert actions["stage settings"] == "updated" and actions["deployment"] == "updated"
    assert actions["usage plan"] == "updated" and actions["method POST /predict"] == "unchanged"
    assert result.deployment != first.deployment
    apigw = clients.client("apigateway")
    stage = apigw.get_stage(restApiId=result.api_id, stageName="v1")
    assert stage["methodSettings"]["*/*"]["throttlingRateLimit"] == 7.0
    assert stage["methodSettings"]["*/*"]["throttlingBurstLimit"] == 9
    plan = gateway_keys.find_usage_plan(clients, changed)
    assert plan is not None and plan["throttle"] == {"rateLimit": 7.0, "burstLimit": 9}


def test_a_changed_dataset_schema_replaces_the_model_and_its_method(
    clients: AwsClients, config: Config, endpoint: str
) -> None:
    gateway.apply(clients, config)
    changed = make_config("gateway.max_rows=10")
    actions = _actions(gateway.apply(clients, changed))
    assert actions["request model"] == "updated" and actions["deployment"] == "updated"
    assert gateway.status(clients, changed).up_to_date


def test_drift_is_reported_and_repaired(clients: AwsClients, config: Config, endpoint: str) -> None:
    result = gateway.apply(clients, config)
    apigw = clients.client("apigateway")
    predict = next(r for r in apigw.get_resources(restApiId=result.api_id)["items"] if r["path"] == "/predict")
    apigw.delete_method(restApiId=result.api_id, resourceId=predict["id"], httpMethod="POST")
    apigw.put_method(restApiId=result.api_id, resourceId=predict["id"], httpMethod="POST", authorizationType="NONE")

    status = gateway.status(clients, config)
    assert not status.up_to_date and "method POST /predict" in status.drift
    repaired = gateway.apply(clients, config)
    assert _actions(repaired)["method POST /predict"] == "updated"
    method = apigw.get_method(restApiId=result.api_id, resourceId=predict["id"], httpMethod="POST")
    assert method["apiKeyRequired"] is True


def test_security_settings(clients: AwsClients, config: Config, endpoint: str) -> None:
    result = gateway.apply(clients, config)
    apigw, iam = clients.client("apigateway"), clients.client("iam")
    policy = iam.get_role_policy(RoleName=gd.names_of(config).role, PolicyName=gateway.POLICY_NAME)
    document = policy["PolicyDocument"]
    document = json.loads(document) if isinstance(document, str) else document
    assert document["Statement"] == [
        {
            "Sid": "InvokeProjectEndpoint",
            "Effect": "Allow",
            "Action": "sagemaker:InvokeEndpoint",
            "Resource": f"arn:aws:sagemaker:eu-west-1:123456789012:endpoint/{endpoint}",
        }
    ]
    trust = iam.get_role(RoleName=gd.names_of(config).role)["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "apigateway.amazonaws.com"}
    for resource in apigw.get_resources(restApiId=result.api_id)["items"]:
        for http_method in resource.get("resourceMethods") or {}:
            method = apigw.get_method(restApiId=result.api_id, resourceId=resource["id"], httpMethod=http_method)
            assert method["apiKeyRequired"] is True, resource["path"]
    stage = apigw.get_stage(restApiId=result.api_id, stageName="v1")
    settings = stage["methodSettings"]["*/*"]
    assert settings["metricsEnabled"] and settings["loggingLevel"] == "INFO" and not settings["dataTraceEnabled"]
    assert stage["tracingEnabled"] is True
    assert stage["accessLogSettings"]["destinationArn"].endswith(":log-group:/aws/apigateway/churn-local/access")
    assert "$context.requestId" in stage["accessLogSettings"]["format"]
    assert apigw.get_account()["cloudwatchRoleArn"].endswith(f":role/{gateway.ACCOUNT_LOGS_ROLE}")
    groups = {g["logGroupName"]: g for g in clients.client("logs").describe_log_groups()["logGroups"]}
    assert groups[f"API-Gateway-Execution-Logs_{result.api_id}/v1"]["retentionInDays"] == 90
    assert not gateway.status(clients, config).warnings


def test_iam_auth_signs_and_none_warns(clients: AwsClients, endpoint: str) -> None:
    iam_config = make_config("gateway.auth=iam")
    result = gateway.apply(clients, iam_config)
    apigw = clients.client("apigateway")
    predict = next(r for r in apigw.get_resources(restApiId=result.api_id)["items"] if r["path"] == "/predict")
    method = apigw.get_method(restApiId=result.api_id, resourceId=predict["id"], httpMethod="POST")
    assert method["authorizationType"] == "AWS_IAM" and method["apiKeyRequired"] is False
    assert "usage plan" not in _actions(result)

    anonymous = gateway.apply(clients, make_config("gateway.auth=none"))
    assert anonymous.warnings == [gateway.ANONYMOUS_WARNING]


def test_keys_are_hidden_unless_revealed(clients: AwsClients, config: Config, endpoint: str) -> None:
    gateway.apply(clients, config)
    [default] = gateway_keys.list_keys(clients, config)
    assert default.name == "churn-local-default" and default.enabled and default.value is None
    [revealed] = gateway_keys.list_keys(clients, config, reveal=True)
    assert revealed.value and len(revealed.value) >= 20

    created = gateway_keys.create_key(clients, config, "partner")
    assert created.name == "churn-local-partner" and created.value is None
    assert {k.name for k in gateway_keys.list_keys(clients, config)} == {"churn-local-default", "churn-local-partner"}
    gateway_keys.revoke_key(clients, config, "partner")
    assert [k.name for k in gateway_keys.list_keys(clients, config)] == ["churn-local-default"]
    with pytest.raises(PreconditionFailed):
        gateway_keys.revoke_key(clients, config, "partner")


def test_delete_twice_leaves_nothing(clients: AwsClients, config: Config, endpoint: str) -> None:
    result = gateway.apply(clients, config)
    gateway_keys.create_key(clients, config, "extra")
    deleted = gateway.delete(clients, config).deleted
    assert "usage plan churn-local" in deleted and "role churn-local-apigateway" in deleted
    assert gateway.delete(clients, config).deleted == []
    apigw = clients.client("apigateway")
    assert apigw.get_rest_apis()["items"] == []
    assert apigw.get_usage_plans()["items"] == []
    assert apigw.get_api_keys()["items"] == []
    groups = [g["logGroupName"] for g in clients.client("logs").describe_log_groups()["logGroups"]]
    assert not [g for g in groups if "apigateway" in g or result.api_id in g]
    roles = [r["RoleName"] for r in clients.client("iam").list_roles()["Roles"]]
    assert "churn-local-apigateway" not in roles
