"""The REST API in front of the endpoint (API Gateway, REST v1): `apply` converges it to `gateway_definition`,
`status` reports it, `delete` removes it, `invoke` calls it over HTTP as a client would.

AWS is the state: the API, usage plan, keys, role and log groups are found by their names (and the API by its tags
too); the deployed definition carries its digest in the deployment's description, so a deployment is created when,
and only when, what `apply` would deploy differs from what the stage serves.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from mlops_cli.aws.errors import RETRY_LATER_HTTP, aws_errors, error_code, get_or_none
from mlops_cli.aws.execute_api import HttpAnswer, invoke_url, send
from mlops_cli.aws.session import AwsClients
from mlops_cli.config.models import Config
from mlops_cli.errors import AwsUnreachable, OperationFailed, PreconditionFailed
from mlops_cli.services import gateway_definition as gd
from mlops_cli.services.convergence import Control, ControlResult, canonical, converge, inspect
from mlops_cli.services.deploy import Prediction, describe_endpoint, endpoint_name
from mlops_cli.services.gateway_definition import STAGE, GatewayNames, names_of
from mlops_cli.services.gateway_keys import create_key, delete_key, find_usage_plan, key_value, plan_keys
from mlops_cli.services.log_groups import log_group_control, project_log_key
from mlops_cli.services.roles import delete_role, role_controls

POLICY_NAME = "mlops-gateway"
ACCOUNT_LOGS_ROLE = "mlops-apigateway-cloudwatch"  # one per account: API Gateway writes every API's logs with it
DEPLOYMENT_PREFIX = "mlops:"
_NOT_FOUND = ("NotFoundException",)
ANONYMOUS_WARNING = "gateway.auth is 'none': anyone who knows the URL can call the model."


@dataclass
class ApplyResult:
    api_id: str
    url: str
    stage: str
    auth: str
    deployment: str | None
    deployed: bool
    controls: list[ControlResult]
    warnings: list[str] = field(default_factory=list)


@dataclass
class GatewayStatus:
    exists: bool
    api: str
    api_id: str | None
    url: str | None
    stage: str
    auth: str
    throttle: dict[str, Any] | None
    usage_plan: dict[str, Any] | None
    keys: int
    logging: dict[str, Any] | None
    tracing: bool | None
    last_deployment: dict[str, Any] | None
    up_to_date: bool
    drift: list[str]
    warnings: list[str] = field(default_factory=list)


@dataclass
class DeleteResult:
    api: str
    deleted: list[str]


def find_api(clients: AwsClients, config: Config) -> dict[str, Any] | None:
    """The project's REST API: its name, and (when tagged) its project and environment tags."""
    name = names_of(config).api
    found = []
    with aws_errors("listing REST APIs"):
        for page in clients.client("apigateway").get_paginator("get_rest_apis").paginate():
            for api in page["items"]:
                tags = api.get("tags") or {}
                if api["name"] == name and tags.get("mlops:project", config.project) == config.project:
                    found.append(api)
    if len(found) > 1:
        ids = ", ".join(api["id"] for api in found)
        raise OperationFailed(f"More than one REST API is named {name} ({ids}).", hint="Delete the extra ones.")
    return found[0] if found else None


def url_of(clients: AwsClients, config: Config, api_id: str) -> str:
    return invoke_url(clients.endpoint_url, api_id, clients.region, config.gateway.stage)


def gateway_trust() -> dict[str, Any]:
    """API Gateway's trust, in the form its developer guide documents for the CloudWatch logging role ("Set up
    CloudWatch logging for REST APIs in API Gateway": a role with apigateway.amazonaws.com as its trusted entity)
    and for integration credentials. The guide documents no aws:SourceAccount or aws:SourceArn on API Gateway's
    AssumeRole, and a condition on a key the service does not send fails closed: no logs, no invocations. Each
    role's own policy is what scopes it (its log groups; one endpoint)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }


def _warnings(config: Config) -> list[str]:
    return [ANONYMOUS_WARNING] if config.gateway.auth == "none" else []


# --- controls ------------------------------------------------------------------------------------------------------


class _Api:
    """The REST API's id, once known: every later control needs it, and `apply` may be what creates it."""

    def __init__(self, clients: AwsClients, config: Config) -> None:
        self.clients, self.config = clients, config
        self.apigw = clients.client("apigateway")
        self._id: str | None = None

    @property
    def id(self) -> str | None:
        if self._id is None:
            found = find_api(self.clients, self.config)
            self._id = found["id"] if found else None
        return self._id

    def require(self) -> str:
        if self.id is None:
            raise OperationFailed(f"The REST API {names_of(self.config).api} does not exist.")
        return self.id

    def resources(self) -> dict[str, dict[str, Any]]:
        if self.id is None:
            return {}
        with aws_errors("reading the API's resources"):
            pages = self.apigw.get_paginator("get_resources").paginate(restApiId=self.id)
            return {item["path"]: item for page in pages for item in page["items"]}

    def validators(self) -> dict[str, dict[str, Any]]:
        if self.id is None:
            return {}
        with aws_errors("reading the API's request validators"):
            items = self.apigw.get_request_validators(restApiId=self.id, limit=500)["items"]
        return {item["name"]: item for item in items}

    def stage(self) -> dict[str, Any] | None:
        if self.id is None:
            return None
        return get_or_none(
            "reading the stage",
            _NOT_FOUND,
            self.apigw.get_stage,
            restApiId=self.id,
            stageName=self.config.gateway.stage,
        )


def _api_controls(api: _Api) -> list[Control]:
    config = api.config
    desired = {"apiKeySource": "HEADER", "endpointConfiguration": ["REGIONAL"]}

    def read() -> dict[str, Any] | None:
        found = find_api(api.clients, config)
        if found is None:
            return None
        return {
            "apiKeySource": found.get("apiKeySource"),
            "endpointConfiguration": found["endpointConfiguration"]["types"],
        }

    def write() -> None:
        with aws_errors(f"creating REST API {names_of(config).api}"):
            if api.id is None:
                created = api.apigw.create_rest_api(
                    name=names_of(config).api,
                    description=f"Predictions from SageMaker endpoint {endpoint_name(config)} (mlops)",
                    apiKeySource="HEADER",
                    endpointConfiguration={"types": ["REGIONAL"]},
                    tags=config.standard_tags(STAGE),
                )
                api._id = created["id"]
            else:
                api.apigw.update_rest_api(
                    restApiId=api.id, patchOperations=[{"op": "replace", "path": "/apiKeySource", "value": "HEADER"}]
                )

    return [Control("rest api", desired, read, write)]


def _validator_control(api: _Api) -> Control:
    desired = {"validateRequestBody": True, "validateRequestParameters": True}

    def read() -> dict[str, Any] | None:
        found = api.validators().get(gd.VALIDATOR_NAME)
        return None if found is None else {k: found.get(k, False) for k in desired}

    def write() -> None:
        with aws_errors("writing the request validator"):
            found = api.validators().get(gd.VALIDATOR_NAME)
            if found is None:
                api.apigw.create_request_validator(restApiId=api.require(), name=gd.VALIDATOR_NAME, **desired)
            else:
                operations = [{"op": "replace", "path": f"/{k}", "value": "true"} for k in desired]
                api.apigw.update_request_validator(
                    restApiId=api.require(), requestValidatorId=found["id"], patchOperations=operations
                )

    return Control("request validator", desired, read, write, parent="rest api")


def _model_control(api: _Api) -> Control:
    schema = gd.request_schema(api.config.dataset, api.config.gateway.max_rows)

    def read() -> dict[str, Any] | None:
        if api.id is None:
            return None
        found = get_or_none(
            "reading the request model", _NOT_FOUND, api.apigw.get_model, restApiId=api.id, modelName=gd.MODEL_NAME
        )
        return None if found is None else json.loads(found.get("schema") or "{}")

    def write() -> None:
        api_id = api.require()
        with aws_errors("writing the request model"):
            if read() is not None:
                # UpdateModel cannot be relied on, and a model in use cannot be deleted: the method that uses it
                # goes first, and its control (next) puts it back
                predict = api.resources().get(f"/{gd.PREDICT_PATH}")
                if predict and "POST" in (predict.get("resourceMethods") or {}):
                    api.apigw.delete_method(restApiId=api_id, resourceId=predict["id"], httpMethod="POST")
                api.apigw.delete_model(restApiId=api_id, modelName=gd.MODEL_NAME)
            api.apigw.create_model(
                restApiId=api_id,
                name=gd.MODEL_NAME,
                contentType="application/json",
                description=f"A prediction request for dataset {api.config.dataset.name} (generated by mlops)",
                schema=json.dumps(schema),
            )

    return Control("request model", schema, read, write, matches=_same, parent="rest api")


def _normalised(value: Any) -> Any:
    """Empty values dropped, so a field AWS leaves out and one it answers empty compare equal."""
    if isinstance(value, dict):
        items = {k: _normalised(v) for k, v in value.items()}
        return {k: v for k, v in items.items() if v not in (None, {}, [], "")}
    return value


def _same(actual: Any, desired: Any) -> bool:
    return canonical(_normalised(actual)) == canonical(_normalised(desired))


_METHOD_FIELDS = ("authorizationType", "apiKeyRequired", "requestModels", "requestParameters")
_INTEGRATION_FIELDS = (
    "type",
    "httpMethod",
    "uri",
    "credentials",
    "passthroughBehavior",
    "requestTemplates",
    "requestParameters",
    "timeoutInMillis",
)


def _method_controls(api: _Api, targets: gd.Targets) -> list[Control]:
    return [
        _method_control(api, key, definition)
        for key, definition in gd.method_definitions(api.config.gateway, targets).items()
    ]


def _method_control(api: _Api, key: str, desired: dict[str, Any]) -> Control:
    http_method, path = key.split(" ", 1)

    def read() -> dict[str, Any] | None:
        resource = api.resources().get(path)
        if resource is None or http_method not in (resource.get("resourceMethods") or {}):
            return None
        with aws_errors(f"reading method {key}"):
            found = api.apigw.get_method(restApiId=api.require(), resourceId=resource["id"], httpMethod=http_method)
        validators = {v["id"]: name for name, v in api.validators().items()}
        method = {k: found.get(k) for k in _METHOD_FIELDS}
        method["requestValidator"] = validators.get(found.get("requestValidatorId", ""))
        method["methodResponses"] = {
            code: {k: v for k, v in response.items() if k != "statusCode"}
            for code, response in (found.get("methodResponses") or {}).items()
        }
        integration = found.get("methodIntegration") or {}
        method["methodIntegration"] = {k: integration.get(k) for k in _INTEGRATION_FIELDS} | {
            "integrationResponses": {
                code: {k: v for k, v in response.items() if k != "statusCode"}
                for code, response in (integration.get("integrationResponses") or {}).items()
            }
        }
        return method

    def write() -> None:
        api_id = api.require()
        with aws_errors(f"writing method {key}"):
            resource = api.resources().get(path) or _create_resource(api, path)
            if http_method in (resource.get("resourceMethods") or {}):
                api.apigw.delete_method(restApiId=api_id, resourceId=resource["id"], httpMethod=http_method)
            _put_method(api, api_id, resource["id"], http_method, desired)

    return Control(f"method {key}", desired, read, write, matches=_same, parent="rest api")


def _create_resource(api: _Api, path: str) -> dict[str, Any]:
    root = api.resources()["/"]
    created: dict[str, Any] = api.apigw.create_resource(restApiId=api.require(), parentId=root["id"], pathPart=path[1:])
    return created


def _put_method(api: _Api, api_id: str, resource_id: str, http_method: str, desired: dict[str, Any]) -> None:
    where = {"restApiId": api_id, "resourceId": resource_id, "httpMethod": http_method}
    method = {k: desired[k] for k in _METHOD_FIELDS if k in desired}
    if desired.get("requestValidator"):
        method["requestValidatorId"] = api.validators()[desired["requestValidator"]]["id"]
    api.apigw.put_method(**where, **method)
    for code, response in desired["methodResponses"].items():
        api.apigw.put_method_response(**where, statusCode=code, **response)
    integration = desired["methodIntegration"]
    fields = {k: integration[k] for k in _INTEGRATION_FIELDS if k in integration}
    if "httpMethod" in fields:
        fields["integrationHttpMethod"] = fields.pop("httpMethod")
    api.apigw.put_integration(**where, **fields)
    for code, response in integration["integrationResponses"].items():
        api.apigw.put_integration_response(**where, statusCode=code, **response)


def _gateway_responses_control(api: _Api) -> Control:
    desired = gd.gateway_responses()

    def read() -> dict[str, Any] | None:
        if api.id is None:
            return None
        with aws_errors("reading the gateway responses"):
            items = api.apigw.get_gateway_responses(restApiId=api.id, limit=500)["items"]
        found = {
            item["responseType"]: {k: item[k] for k in ("statusCode", "responseTemplates") if item.get(k)}
            for item in items
            if item["responseType"] in desired and not item.get("defaultResponse", False)
        }
        return found or None

    def write() -> None:
        actual = read() or {}
        with aws_errors("writing the gateway responses"):
            for kind, response in desired.items():
                if not _same(actual.get(kind), response):
                    api.apigw.put_gateway_response(restApiId=api.require(), responseType=kind, **response)

    return Control("gateway responses", desired, read, write, matches=_same, parent="rest api")


def _log_group_controls(clients: AwsClients, config: Config, api: _Api) -> list[Control]:
    """The access and execution log groups: the config's retention and the project key, as every log group."""
    retention, stage = config.gateway.logging.retention_days, config.gateway.stage
    key, tags = project_log_key(clients, config), config.standard_tags(STAGE)
    return [
        log_group_control(
            clients,
            "access log group",
            lambda: names_of(config).access_log_group,
            retention_days=retention,
            key=key,
            tags=tags,
        ),
        # API Gateway creates this one itself, without retention or key: created first, both apply
        log_group_control(
            clients,
            "execution log group",
            lambda: api.id and GatewayNames.execution_log_group(api.require(), stage),
            retention_days=retention,
            key=key,
            tags=tags,
        ),
    ]


def log_group_arn(clients: AwsClients, name: str) -> str:
    return f"arn:{clients.partition}:logs:{clients.region}:{clients.account_id}:log-group:{name}"


def account_logs_policy(partition: str, account: str) -> dict[str, Any]:
    """What API Gateway may do with the account's logging role: write its own log groups, and nothing else."""
    groups = [
        f"arn:{partition}:logs:*:{account}:log-group:API-Gateway-Execution-Logs_*",
        f"arn:{partition}:logs:*:{account}:log-group:/aws/apigateway/*",
    ]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "WriteApiGatewayLogs",
                "Effect": "Allow",
                "Action": [
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                    "logs:DescribeLogStreams",
                    "logs:GetLogEvents",
                    "logs:FilterLogEvents",
                ],
                "Resource": groups + [f"{group}:*" for group in groups],
            },
            {"Sid": "FindLogGroups", "Effect": "Allow", "Action": "logs:DescribeLogGroups", "Resource": "*"},
        ],
    }


def _account_logging_control(clients: AwsClients, config: Config) -> Control:
    """Execution logging needs the account's CloudWatch role (one per account and region). One already set, by
    anyone, is kept; otherwise the tool creates its own least-privilege one and sets it."""
    apigw = clients.client("apigateway")
    role_arn = f"arn:{clients.partition}:iam::{clients.account_id}:role/{ACCOUNT_LOGS_ROLE}"

    def read() -> str | None:
        with aws_errors("reading the API Gateway account settings"):
            return apigw.get_account().get("cloudwatchRoleArn") or None

    def write() -> None:
        converge(
            role_controls(
                clients,
                label="account logging role",
                name=ACCOUNT_LOGS_ROLE,
                trust=gateway_trust(),
                policy_name=POLICY_NAME,
                policy=account_logs_policy(clients.partition, clients.account_id),
                description="API Gateway writes execution and access logs with it; generated by mlops",
                tags={"mlops:stage": STAGE},
            )
        )
        operation = [{"op": "replace", "path": "/cloudwatchRoleArn", "value": role_arn}]
        for attempt in range(10):  # a new role takes a few seconds to be usable by API Gateway
            try:
                apigw.update_account(patchOperations=operation)
                return
            except Exception as exc:  # retried while the new role propagates, else translated below
                if error_code(exc) != "BadRequestException" or attempt == 9:
                    with aws_errors("setting the API Gateway account's CloudWatch role"):
                        raise
                time.sleep(3)

    return Control("account logging role", role_arn, read, write, matches=lambda actual, _: actual is not None)


def invoke_policy(clients: AwsClients, endpoint: str) -> dict[str, Any]:
    arn = f"arn:{clients.partition}:sagemaker:{clients.region}:{clients.account_id}:endpoint/{endpoint}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "InvokeProjectEndpoint", "Effect": "Allow", "Action": "sagemaker:InvokeEndpoint", "Resource": arn}
        ],
    }


def _deployment_control(api: _Api, wanted: str) -> Control:
    def read() -> str | None:
        stage = api.stage()
        if stage is None or not stage.get("deploymentId"):
            return None
        found = get_or_none(
            "reading the stage's deployment",
            _NOT_FOUND,
            api.apigw.get_deployment,
            restApiId=api.require(),
            deploymentId=stage["deploymentId"],
        )
        return None if found is None else str(found.get("description", ""))

    def write() -> None:
        with aws_errors(f"deploying the API to stage {api.config.gateway.stage}"):
            api.apigw.create_deployment(restApiId=api.require(), stageName=api.config.gateway.stage, description=wanted)

    return Control("deployment", wanted, read, write, parent="rest api")


def _stage_control(api: _Api, desired: dict[str, Any]) -> Control:
    def read() -> dict[str, Any] | None:
        stage = api.stage()
        if stage is None:
            return None
        method = (stage.get("methodSettings") or {}).get("*/*", {})
        return {
            "tracingEnabled": bool(stage.get("tracingEnabled", False)),
            "methodSettings": {"*/*": {k: method.get(k) for k in desired["methodSettings"]["*/*"]}},
            "accessLogSettings": stage.get("accessLogSettings") or {},
        }

    def write() -> None:
        with aws_errors(f"setting stage {api.config.gateway.stage}"):
            api.apigw.update_stage(
                restApiId=api.require(),
                stageName=api.config.gateway.stage,
                patchOperations=gd.stage_patch_operations(desired),
            )

    return Control("stage settings", desired, read, write, matches=_same, parent="deployment")


def _usage_plan_desired(config: Config, api_id: str | None) -> dict[str, Any]:
    gateway = config.gateway
    return {
        "apiStages": [f"{api_id}:{gateway.stage}"],
        "throttle": {"rateLimit": float(gateway.throttle.rate), "burstLimit": gateway.throttle.burst},
        "quota": {"limit": gateway.quota.limit, "period": gateway.quota.period},
    }


def _usage_plan_controls(clients: AwsClients, config: Config, api: _Api) -> list[Control]:
    apigw = clients.client("apigateway")
    names = names_of(config)

    def read() -> dict[str, Any] | None:
        plan = find_usage_plan(clients, config)
        if plan is None:
            return None
        return {
            "apiStages": [f"{s['apiId']}:{s['stage']}" for s in plan.get("apiStages", [])],
            "throttle": {
                "rateLimit": _number(plan.get("throttle", {}).get("rateLimit"), float),
                "burstLimit": _number(plan.get("throttle", {}).get("burstLimit"), int),
            },
            "quota": {
                "limit": _number(plan.get("quota", {}).get("limit"), int),
                "period": plan.get("quota", {}).get("period"),
            },
        }

    def write() -> None:
        desired = _usage_plan_desired(config, api.require())
        plan = find_usage_plan(clients, config)
        with aws_errors(f"writing usage plan {names.usage_plan}"):
            if plan is None:
                apigw.create_usage_plan(
                    name=names.usage_plan,
                    description=f"Callers of {names.api} (mlops)",
                    apiStages=[{"apiId": api.require(), "stage": config.gateway.stage}],
                    throttle=desired["throttle"],
                    quota=desired["quota"],
                    tags=config.standard_tags(STAGE),
                )
                return
            current = {f"{s['apiId']}:{s['stage']}" for s in plan.get("apiStages", [])}
            operations = [
                {"op": "remove", "path": "/apiStages", "value": s} for s in current - set(desired["apiStages"])
            ]
            operations += [{"op": "add", "path": "/apiStages", "value": s} for s in set(desired["apiStages"]) - current]
            operations += [
                {"op": "replace", "path": "/throttle/rateLimit", "value": f"{desired['throttle']['rateLimit']:g}"},
                {"op": "replace", "path": "/throttle/burstLimit", "value": str(desired["throttle"]["burstLimit"])},
                {"op": "replace", "path": "/quota/limit", "value": str(desired["quota"]["limit"])},
                {"op": "replace", "path": "/quota/period", "value": desired["quota"]["period"]},
            ]
            apigw.update_usage_plan(usagePlanId=plan["id"], patchOperations=operations)

    def read_keys() -> bool | None:
        plan = find_usage_plan(clients, config)
        if plan is None:
            return None
        return any(key["enabled"] for key in plan_keys(clients, plan["id"])) or None

    def write_keys() -> None:
        create_key(clients, config, names.default_key)

    return [
        Control("usage plan", lambda: _usage_plan_desired(config, api.id), read, write, matches=_same),
        Control("api key", True, read_keys, write_keys, parent="usage plan"),
    ]


def _number(value: Any, kind: type[int] | type[float]) -> int | float | None:
    # numbers read back as numbers, whatever type the service answers them in
    return None if value is None else kind(float(value))


def _controls(clients: AwsClients, config: Config, api: _Api) -> list[Control]:
    names, endpoint = names_of(config), endpoint_name(config)
    role_arn = f"arn:{clients.partition}:iam::{clients.account_id}:role/{names.role}"
    targets = gd.Targets(clients.region, endpoint, role_arn)
    access_log_arn = log_group_arn(clients, names.access_log_group)
    wanted = DEPLOYMENT_PREFIX + gd.digest(gd.definition(config, targets, access_log_arn))
    controls = role_controls(
        clients,
        label="invoke role",
        name=names.role,
        trust=gateway_trust(),
        policy_name=POLICY_NAME,
        policy=invoke_policy(clients, endpoint),
        description=f"API Gateway invokes SageMaker endpoint {endpoint} with it, and nothing else; generated by mlops",
        tags=config.standard_tags(STAGE),
    )
    controls.append(_account_logging_control(clients, config))
    controls += _api_controls(api)
    controls += [_validator_control(api), _model_control(api)]
    controls += _method_controls(api, targets)
    controls.append(_gateway_responses_control(api))
    controls += _log_group_controls(clients, config, api)
    controls += [
        _deployment_control(api, wanted),
        _stage_control(api, gd.stage_settings(config.gateway, access_log_arn)),
    ]
    if config.gateway.auth == "api_key":
        controls += _usage_plan_controls(clients, config, api)
    return controls


# --- commands ------------------------------------------------------------------------------------------------------


def apply(clients: AwsClients, config: Config) -> ApplyResult:
    endpoint = endpoint_name(config)
    if describe_endpoint(clients, endpoint) is None:
        raise PreconditionFailed(
            f"Endpoint {endpoint} does not exist: the API would have nothing to call.",
            hint="Deploy a model first: `mlops deploy apply`.",
        )
    api = _Api(clients, config)
    results = converge(_controls(clients, config, api))
    deployment = next(r for r in results if r.name == "deployment")
    stage = api.stage() or {}
    return ApplyResult(
        api_id=api.require(),
        url=url_of(clients, config, api.require()),
        stage=config.gateway.stage,
        auth=config.gateway.auth,
        deployment=stage.get("deploymentId"),
        deployed=deployment.action != "unchanged",
        controls=results,
        warnings=_warnings(config),
    )


def status(clients: AwsClients, config: Config) -> GatewayStatus:
    api = _Api(clients, config)
    names = names_of(config)
    base: dict[str, Any] = {
        "api": names.api,
        "stage": config.gateway.stage,
        "auth": config.gateway.auth,
        "warnings": _warnings(config),
    }
    if api.id is None:
        return GatewayStatus(
            exists=False, api_id=None, url=None, throttle=None, usage_plan=None, keys=0, logging=None, tracing=None,
            last_deployment=None, up_to_date=False, drift=["rest api"], **base,
        )  # fmt: skip
    results = inspect(_controls(clients, config, api))
    stage = api.stage() or {}
    method = (stage.get("methodSettings") or {}).get("*/*", {})
    deployment = None
    if stage.get("deploymentId"):
        with aws_errors("reading the stage's deployment"):
            found = api.apigw.get_deployment(restApiId=api.id, deploymentId=stage["deploymentId"])
        deployment = {k: found.get(k) for k in ("id", "createdDate", "description")}
    plan = find_usage_plan(clients, config)
    return GatewayStatus(
        exists=True,
        api_id=api.id,
        url=url_of(clients, config, api.id),
        throttle={"rate": method.get("throttlingRateLimit"), "burst": method.get("throttlingBurstLimit")}
        if method
        else None,
        usage_plan={k: plan.get(k) for k in ("id", "throttle", "quota")} if plan else None,
        keys=len(plan_keys(clients, plan["id"])) if plan else 0,
        logging={
            "level": method.get("loggingLevel"),
            "metrics": method.get("metricsEnabled"),
            "access_log": (stage.get("accessLogSettings") or {}).get("destinationArn"),
        }
        if stage
        else None,
        tracing=stage.get("tracingEnabled") if stage else None,
        last_deployment=deployment,
        up_to_date=all(r.state == "ok" for r in results),
        drift=[r.name for r in results if r.state != "ok"],
        **base,
    )


def require_url(clients: AwsClients, config: Config) -> str:
    found = find_api(clients, config)
    if found is None:
        raise PreconditionFailed(
            f"The REST API {names_of(config).api} does not exist.", hint="Create it: `mlops gateway apply`."
        )
    return url_of(clients, config, found["id"])


def invoke(
    clients: AwsClients, config: Config, body: bytes, content_type: str, accept: str, key_id: str | None = None
) -> Prediction:
    """A real request through the API, as a client sends it: with an API key, SigV4-signed, or anonymous."""
    url = require_url(clients, config) + f"/{gd.PREDICT_PATH}"
    headers = {"Content-Type": content_type, "Accept": accept}
    if config.gateway.auth == "api_key":
        headers["x-api-key"] = key_value(clients, config, key_id)
    answer = send(
        clients.session,
        "POST",
        url,
        body,
        headers,
        sign_for_region=clients.region if config.gateway.auth == "iam" else None,
        proxies=clients.proxies_for(url),
        timeout=config.gateway.timeout_ms / 1000 + 5,
    )
    if not 200 <= answer.status < 300:
        # 429/502/503/504 say "try again" (throttled, a stage or integration settling): callers may retry them
        error = AwsUnreachable if answer.status in RETRY_LATER_HTTP else OperationFailed
        raise error(f"The API answered {answer.status}: {_message(answer)}")
    if "json" in answer.content_type:
        return Prediction(answer.content_type, json.loads(answer.body))
    return Prediction(answer.content_type, answer.body.decode())


def _message(answer: HttpAnswer) -> str:
    text = answer.body.decode(errors="replace")
    try:
        document = json.loads(text)
    except ValueError:
        return text[:2000]
    return json.dumps(document) if not isinstance(document, str) else document


def delete(clients: AwsClients, config: Config) -> DeleteResult:
    """Usage plan and its keys, the API, its log groups and its role. The account's logging role stays: every API in
    the account and region logs with it. Deleting twice succeeds."""
    apigw, names = clients.client("apigateway"), names_of(config)
    deleted: list[str] = []
    found = find_api(clients, config)
    plan = find_usage_plan(clients, config)
    if plan is not None:
        for key in plan_keys(clients, plan["id"]):
            delete_key(clients, plan["id"], key["id"])
            deleted.append(f"api key {key['name']}")
        with aws_errors(f"deleting usage plan {names.usage_plan}"):
            stages = [f"{s['apiId']}:{s['stage']}" for s in plan.get("apiStages", [])]
            if stages:  # a plan still attached to a stage cannot be deleted
                apigw.update_usage_plan(
                    usagePlanId=plan["id"],
                    patchOperations=[{"op": "remove", "path": "/apiStages", "value": s} for s in stages],
                )
            apigw.delete_usage_plan(usagePlanId=plan["id"])
        deleted.append(f"usage plan {names.usage_plan}")
    groups = [names.access_log_group]
    if found is not None:
        groups.append(GatewayNames.execution_log_group(found["id"], config.gateway.stage))
        with aws_errors(f"deleting REST API {names.api}"):
            apigw.delete_rest_api(restApiId=found["id"])
        deleted.append(f"rest api {names.api} ({found['id']})")
    logs = clients.client("logs")
    for group in groups:
        if (
            get_or_none(
                f"deleting log group {group}", ("ResourceNotFoundException",), logs.delete_log_group, logGroupName=group
            )
            is not None
        ):
            deleted.append(f"log group {group}")
    if delete_role(clients, names.role):
        deleted.append(f"role {names.role}")
    return DeleteResult(names.api, deleted)
