"""The deploy stage: an approved model version served by a SageMaker endpoint on the scikit-learn image, with
blue/green updates that roll back on the endpoint's own alarms, autoscaling, and data capture.

Names are derived, so state lives in AWS only: the endpoint is `<project>-<env>`, the model of version N is
`<project>-<env>-v<N>`, and an endpoint config is `<project>-<env>-v<N>-<digest of its settings>` (the same settings
give the same config, so applying twice creates nothing)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mlops_cli.aws.errors import Outage, aws_errors, get_or_none
from mlops_cli.aws.session import AwsClients
from mlops_cli.aws.tags import as_key_value, from_key_value
from mlops_cli.config.models import Config
from mlops_cli.errors import OperationFailed, PreconditionFailed, WaitTimeout
from mlops_cli.services.convergence import Action, Control, ControlResult, converge
from mlops_cli.services.processing import vpc_config
from mlops_cli.services.roles import delete_role, ensure_serving_role, serving_role_name
from mlops_cli.services.security import job_encryption_key

STAGE = "deploy"
VARIANT = "AllTraffic"
VERSION_TAG = "mlops:model-version"
PREVIOUS_TAG = "mlops:previous-version"
# Set by `deploy rollback`: `deploy apply` without --version and `pipeline run` keep serving this version, so a
# rollback is not undone by the next run; `deploy apply --version N` lifts it.
PIN_TAG = "mlops:pinned-version"
_NOT_FOUND = ("ValidationException", "ResourceNotFound")
_SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
_POLICY = "invocations-per-instance"


@dataclass
class EndpointState:
    """What the wait observer sees (the same shape as a job's state)."""

    name: str
    status: str
    secondary_status: str | None = None
    created: datetime | None = None
    kind: str = "endpoint"

    @property
    def elapsed_seconds(self) -> float | None:
        return None if self.created is None else (datetime.now(self.created.tzinfo) - self.created).total_seconds()


@dataclass
class DeployResult:
    endpoint: str
    version: int
    endpoint_config: str
    action: Action
    previous_version: int | None
    controls: list[ControlResult] = field(default_factory=list)
    pin: str | None = None  # the rollback pin, when one holds or was just set or lifted


@dataclass
class EndpointStatus:
    endpoint: str
    status: str
    version: int | None
    previous_version: int | None
    endpoint_config: str | None
    variants: list[dict[str, Any]]
    autoscaling: dict[str, Any] | None
    alarms: list[dict[str, Any]]
    last_deployment: dict[str, Any] | None
    failure_reason: str | None
    pinned_version: int | None = None  # set by `deploy rollback` (PIN_TAG)


@dataclass
class DeleteResult:
    endpoint: str
    deleted: list[str]


def endpoint_name(config: Config) -> str:
    return config.names().prefix


def _digest(settings: Any) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:8]


def _resource_id(endpoint: str) -> str:
    return f"endpoint/{endpoint}/variant/{VARIANT}"


def describe_endpoint(clients: AwsClients, name: str) -> dict[str, Any] | None:
    found = get_or_none(
        f"describing endpoint {name}", _NOT_FOUND, clients.client("sagemaker").describe_endpoint, EndpointName=name
    )
    return None if found is None else dict(found)


def _endpoint_tags(clients: AwsClients, arn: str) -> dict[str, str]:
    with aws_errors(f"reading the tags of {arn}"):
        return from_key_value(clients.client("sagemaker").list_tags(ResourceArn=arn).get("Tags", []))


def _version_tag(tags: dict[str, str], key: str) -> int | None:
    value = tags.get(key, "")
    return int(value) if value.isdigit() else None


# --- the pieces an apply converges ----------------------------------------------------------------------------


def _ensure_model(clients: AwsClients, config: Config, version: Any, role_arn: str) -> str:
    sagemaker = clients.client("sagemaker")
    name = f"{config.names(clients.account_id).prefix}-v{version.number}"
    wanted = _model_settings(role_arn, config.network.isolation, vpc_config(config))
    found = get_or_none(f"describing model {name}", _NOT_FOUND, sagemaker.describe_model, ModelName=name)
    made = found and _model_settings(
        found.get("ExecutionRoleArn"), bool(found.get("EnableNetworkIsolation")), found.get("VpcConfig")
    )
    if made and made != wanted:
        # a model's role, network isolation and VPC cannot change: one made otherwise gets a sibling named after
        # them (after the role alone while the others are the defaults, as siblings were named before)
        plain = not config.network.isolation and wanted["vpc"] is None
        name = f"{name}-{_digest(role_arn if plain else wanted)}"
        found = get_or_none(f"describing model {name}", _NOT_FOUND, sagemaker.describe_model, ModelName=name)
    if found is None:
        request: dict[str, Any] = {
            "ModelName": name,
            "ExecutionRoleArn": role_arn,
            "PrimaryContainer": {"ModelPackageName": version.arn},
            "EnableNetworkIsolation": config.network.isolation,
            "Tags": as_key_value({**config.standard_tags(STAGE), VERSION_TAG: str(version.number)}),
        }
        if vpc := vpc_config(config):
            request["VpcConfig"] = vpc
        with aws_errors(f"creating model {name}"):
            sagemaker.create_model(**request)
    return name


def _model_settings(role_arn: Any, isolated: bool, vpc: dict[str, Any] | None) -> dict[str, Any]:
    """What CreateModel fixes for the model's life, in one comparable shape (lists in any order)."""
    subnets = sorted((vpc or {}).get("Subnets") or [])
    groups = sorted((vpc or {}).get("SecurityGroupIds") or [])
    return {"role": role_arn, "isolated": isolated, "vpc": {"subnets": subnets, "groups": groups} if vpc else None}


def _endpoint_config_request(clients: AwsClients, config: Config, model: str, version: int) -> dict[str, Any]:
    deploy = config.deploy
    bucket = config.names(clients.account_id).data_bucket
    key_arn = job_encryption_key(clients, config)
    variant = {
        "VariantName": VARIANT,
        "ModelName": model,
        "InstanceType": deploy.instance_type,
        "InitialInstanceCount": deploy.instance_count,
        "InitialVariantWeight": 1.0,
    }
    settings: dict[str, Any] = {"ProductionVariants": [variant]}
    if deploy.data_capture.enabled:
        capture: dict[str, Any] = {
            "EnableCapture": True,
            "InitialSamplingPercentage": deploy.data_capture.percent,
            "DestinationS3Uri": f"s3://{bucket}/capture/{config.dataset.name}",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"], "CsvContentTypes": ["text/csv"]},
        }
        if key_arn:
            capture["KmsKeyId"] = key_arn
        settings["DataCaptureConfig"] = capture
    if key_arn:
        settings["KmsKeyId"] = key_arn
    name = f"{config.names(clients.account_id).prefix}-v{version}-{_digest(settings)}"
    tags = as_key_value({**config.standard_tags(STAGE), VERSION_TAG: str(version)})
    return {"EndpointConfigName": name, **settings, "Tags": tags}


def _ensure_endpoint_config(clients: AwsClients, request: dict[str, Any]) -> bool:
    """Create the config unless one with this name (so with these settings) exists. True when created."""
    sagemaker = clients.client("sagemaker")
    name = request["EndpointConfigName"]
    if get_or_none(
        f"describing endpoint config {name}", _NOT_FOUND, sagemaker.describe_endpoint_config, EndpointConfigName=name
    ):
        return False
    with aws_errors(f"creating endpoint config {name}"):
        sagemaker.create_endpoint_config(**request)
    return True


def alarm_definitions(config: Config, endpoint: str) -> dict[str, dict[str, Any]]:
    """The alarms an update watches while it shifts traffic (and rolls back on)."""
    dimensions = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": VARIANT}]
    alarms = config.deploy.alarms
    common = {
        "Namespace": "AWS/SageMaker",
        "Dimensions": dimensions,
        "Period": 60,
        "EvaluationPeriods": 1,
        "TreatMissingData": "notBreaching",
    }
    return {
        f"{endpoint}-5xx-errors": {
            **common,
            "MetricName": "Invocation5XXErrors",
            "Statistic": "Sum",
            "Threshold": float(alarms.error_5xx_per_minute),
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "AlarmDescription": "mlops: the model answers with server errors; an update rolls back",
        },
        f"{endpoint}-p99-latency": {
            **common,
            "MetricName": "ModelLatency",
            "ExtendedStatistic": "p99",
            "Threshold": float(alarms.latency_p99_ms * 1000),  # ModelLatency is in microseconds
            "ComparisonOperator": "GreaterThanThreshold",
            "AlarmDescription": "mlops: the model is slow; an update rolls back",
        },
    }


_ALARM_FIELDS = (
    "Namespace",
    "MetricName",
    "Statistic",
    "ExtendedStatistic",
    "Threshold",
    "ComparisonOperator",
    "Period",
    "EvaluationPeriods",
    "TreatMissingData",
)


def _alarm_controls(clients: AwsClients, config: Config, endpoint: str) -> list[Control]:
    cloudwatch = clients.client("cloudwatch")
    controls = []
    for name, definition in alarm_definitions(config, endpoint).items():
        desired = {k: definition[k] for k in _ALARM_FIELDS if k in definition}

        def read(name: str = name, desired: dict[str, Any] = desired) -> dict[str, Any] | None:
            with aws_errors(f"reading alarm {name}"):
                found = cloudwatch.describe_alarms(AlarmNames=[name], AlarmTypes=["MetricAlarm"])["MetricAlarms"]
            return None if not found else {k: found[0].get(k) for k in desired}

        def write(name: str = name, definition: dict[str, Any] = definition) -> None:
            with aws_errors(f"setting alarm {name}"):
                cloudwatch.put_metric_alarm(
                    AlarmName=name, Tags=as_key_value(config.standard_tags(STAGE)), **definition
                )

        controls.append(Control(f"alarm {name}", desired, read, write))
    return controls


def _deployment_config(config: Config, alarms: list[str]) -> dict[str, Any]:
    rollout = config.deploy.rollout
    routing: dict[str, Any] = {"Type": rollout.mode.upper(), "WaitIntervalInSeconds": rollout.wait_minutes * 60}
    if rollout.mode == "canary":
        routing["CanarySize"] = {"Type": "CAPACITY_PERCENT", "Value": rollout.canary_percent}
    elif rollout.mode == "linear":
        routing["LinearStepSize"] = {"Type": "CAPACITY_PERCENT", "Value": rollout.linear_step_percent}
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": routing,
            "TerminationWaitInSeconds": rollout.termination_wait_minutes * 60,
            "MaximumExecutionTimeoutInSeconds": rollout.max_execution_minutes * 60,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": name} for name in alarms]},
    }


def _autoscaling_controls(clients: AwsClients, config: Config, endpoint: str) -> list[Control]:
    scaling = config.deploy.autoscaling
    aas = clients.client("application-autoscaling")
    resource = _resource_id(endpoint)
    target = {"MinCapacity": scaling.min, "MaxCapacity": scaling.max}
    policy = {
        "TargetValue": float(scaling.invocations_per_instance),
        "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
        "ScaleInCooldown": scaling.scale_in_cooldown,
        "ScaleOutCooldown": scaling.scale_out_cooldown,
    }
    ids = {"ServiceNamespace": "sagemaker", "ResourceId": resource, "ScalableDimension": _SCALABLE_DIMENSION}

    def read_target() -> dict[str, Any] | None:
        with aws_errors(f"reading the scalable target of {endpoint}"):
            found = aas.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[resource])[
                "ScalableTargets"
            ]
        return None if not found else {k: found[0][k] for k in target}

    def write_target() -> None:
        with aws_errors(f"registering the scalable target of {endpoint}"):
            aas.register_scalable_target(**ids, **target)

    def read_policy() -> dict[str, Any] | None:
        with aws_errors(f"reading the scaling policy of {endpoint}"):
            found = aas.describe_scaling_policies(
                ServiceNamespace="sagemaker", ResourceId=resource, PolicyNames=[_POLICY]
            )
        policies = found["ScalingPolicies"]
        if not policies:
            return None
        actual = policies[0]["TargetTrackingScalingPolicyConfiguration"]
        return {k: actual.get(k) for k in policy}

    def write_policy() -> None:
        with aws_errors(f"setting the scaling policy of {endpoint}"):
            aas.put_scaling_policy(
                PolicyName=_POLICY,
                PolicyType="TargetTrackingScaling",
                TargetTrackingScalingPolicyConfiguration=policy,
                **ids,
            )

    return [
        Control("autoscaling target", target, read_target, write_target),
        Control("autoscaling policy", policy, read_policy, write_policy, parent="autoscaling target"),
    ]


def _remove_autoscaling(clients: AwsClients, endpoint: str) -> list[str]:
    """Policies and target go first: AWS refuses to change a scaled variant's instance type, and DeleteEndpoint
    only cleans them up when the caller may."""
    aas = clients.client("application-autoscaling")
    resource = _resource_id(endpoint)
    removed = []
    ids = {"ServiceNamespace": "sagemaker", "ResourceId": resource, "ScalableDimension": _SCALABLE_DIMENSION}
    with aws_errors(f"removing autoscaling from {endpoint}"):
        policies = aas.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=resource)["ScalingPolicies"]
        for policy in policies:
            aas.delete_scaling_policy(PolicyName=policy["PolicyName"], **ids)
            removed.append(f"scaling policy {policy['PolicyName']}")
        if aas.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[resource])["ScalableTargets"]:
            aas.deregister_scalable_target(**ids)
            removed.append(f"scalable target {resource}")
    return removed


# --- waiting ---------------------------------------------------------------------------------------------------


Observer = Callable[[EndpointState, list[Any]], None]


def wait_endpoint(
    clients: AwsClients, name: str, *, observe: Observer, timeout: float | None, poll_seconds: float = 2.0
) -> dict[str, Any]:
    """Poll until the endpoint is no longer Creating or Updating. Raises WaitTimeout (the change goes on). A short
    outage (AWS unreachable, throttling, 5xx) does not end the wait (see `Outage`)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    outage = Outage(
        deadline=deadline,
        give_up_hint="The change goes on in AWS: see `mlops deploy status` once AWS answers again.",
    )
    while True:
        found = outage.call(describe_endpoint, clients, name)
        if found is None:
            raise OperationFailed(f"Endpoint {name} disappeared while waiting for it.")
        state = EndpointState(name, found["EndpointStatus"], None, found.get("CreationTime"))
        observe(state, [])
        if found["EndpointStatus"] not in ("Creating", "Updating", "SystemUpdating", "RollingBack"):
            return found
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            raise WaitTimeout(
                f"Endpoint {name} is still {found['EndpointStatus']} after {timeout:.0f} s; the change goes on in AWS.",
                hint="See `mlops deploy status`.",
            )
        time.sleep(poll_seconds if remaining is None else min(poll_seconds, remaining))


# --- apply, rollback -------------------------------------------------------------------------------------------


def _select_version(clients: AwsClients, config: Config, number: int | None, pinned: int | None = None) -> Any:
    from mlops_cli.services import register

    if number is None and pinned is not None:
        version = register.get_version(clients, config, pinned)
        if version.status != "Approved":
            raise PreconditionFailed(
                f"The endpoint is pinned to version {pinned} by `mlops deploy rollback`, and that version is "
                f"{version.status} now.",
                hint="Choose the version to serve: `mlops deploy apply --version N` (it lifts the pin).",
            )
        return version
    if number is not None:
        version = register.get_version(clients, config, number)
        if version.status != "Approved":
            raise PreconditionFailed(
                f"Model version {number} is {version.status}; only an approved version is deployed.",
                hint=f"Approve it with `mlops register approve {number} --reason …`.",
            )
        return version
    approved = register.approved_versions(clients, config)
    if not approved:
        raise PreconditionFailed(
            "No model version is approved, so there is nothing to deploy.",
            hint="See `mlops register list`, then `mlops register approve N --reason …`.",
        )
    return approved[0]


def apply(
    clients: AwsClients,
    config: Config,
    *,
    version_number: int | None = None,
    observe: Observer,
    timeout: float | None = None,
    pin: bool = False,
) -> DeployResult:
    """Deploy the given (or newest approved) version, converging model, config, alarms, endpoint, autoscaling.
    Without a version, an endpoint pinned by a rollback keeps its pinned version; a version given lifts the pin;
    `pin` (what rollback does) pins the version deployed."""
    endpoint = endpoint_name(config)
    current = describe_endpoint(clients, endpoint)
    tags = _endpoint_tags(clients, current["EndpointArn"]) if current else {}
    pinned = _version_tag(tags, PIN_TAG)
    version = _select_version(clients, config, version_number, pinned)
    key_arn = job_encryption_key(clients, config)
    role = ensure_serving_role(clients, config, endpoint, key_arn)
    model = _ensure_model(clients, config, version, role.arn)
    request = _endpoint_config_request(clients, config, model, version.number)
    config_name = request["EndpointConfigName"]
    controls = converge(_alarm_controls(clients, config, endpoint))
    sagemaker = clients.client("sagemaker")
    previous = _version_tag(tags, VERSION_TAG)
    if current is not None and current["EndpointStatus"] in ("Creating", "Updating", "RollingBack"):
        raise PreconditionFailed(
            f"Endpoint {endpoint} is {current['EndpointStatus']}.", hint="Wait for it: `mlops deploy status`."
        )
    if current is not None and current["EndpointStatus"] == "Failed":  # AWS cannot update a failed endpoint
        raise PreconditionFailed(
            f"Endpoint {endpoint} failed: {current.get('FailureReason', 'no reason given')}",
            hint="Remove it with `mlops deploy delete --yes`, then run `mlops deploy apply` again.",
        )
    if (
        current is not None
        and current.get("EndpointConfigName") == config_name
        and current["EndpointStatus"] == "InService"
    ):
        action = Action.UNCHANGED
        previous = _version_tag(tags, PREVIOUS_TAG)
        arn = current["EndpointArn"]
    else:
        _ensure_endpoint_config(clients, request)
        version_tags = {VERSION_TAG: str(version.number)}
        if current is None:
            action = Action.CREATED
            with aws_errors(f"creating endpoint {endpoint}"):
                sagemaker.create_endpoint(
                    EndpointName=endpoint,
                    EndpointConfigName=config_name,
                    Tags=as_key_value({**config.standard_tags(STAGE), **version_tags}),
                )
        else:
            action = Action.UPDATED
            if _instance_type_changes(clients, current, config):
                _remove_autoscaling(clients, endpoint)
            alarms = list(alarm_definitions(config, endpoint))
            with aws_errors(f"updating endpoint {endpoint}"):
                sagemaker.update_endpoint(
                    EndpointName=endpoint,
                    EndpointConfigName=config_name,
                    DeploymentConfig=_deployment_config(config, alarms),
                )
        final = wait_endpoint(clients, endpoint, observe=observe, timeout=timeout)
        _verify(final, config_name)
        if previous is not None and previous != version.number:
            version_tags[PREVIOUS_TAG] = str(previous)
        arn = final["EndpointArn"]
        with aws_errors(f"tagging endpoint {endpoint}"):
            sagemaker.add_tags(ResourceArn=arn, Tags=as_key_value(version_tags))
    note = _settle_pin(clients, config, arn, pinned, version.number, pin=pin, explicit=version_number is not None)
    if config.deploy.autoscaling.enabled:
        controls += converge(_autoscaling_controls(clients, config, endpoint))
    return DeployResult(endpoint, version.number, config_name, action, previous, controls, note)


def _settle_pin(
    clients: AwsClients, config: Config, arn: str, pinned: int | None, number: int, *, pin: bool, explicit: bool
) -> str | None:
    """Set the pin (rollback), lift it (a version was given), or say that it holds; None when there is none."""
    from mlops_cli.services import register

    sagemaker = clients.client("sagemaker")
    if pin:
        if pinned != number:
            with aws_errors(f"pinning version {number} on {arn}"):
                sagemaker.add_tags(ResourceArn=arn, Tags=as_key_value({PIN_TAG: str(number)}))
        return (
            f"version {number} is pinned: `mlops deploy apply` and `mlops pipeline run` keep it until "
            "`mlops deploy apply --version N`"
        )
    if explicit:
        if pinned is None:
            return None
        with aws_errors(f"lifting the pin on {arn}"):
            sagemaker.delete_tags(ResourceArn=arn, TagKeys=[PIN_TAG])
        return f"the pin on version {pinned} (set by `mlops deploy rollback`) is lifted"
    if pinned is None:
        return None
    newest = register.get_version(clients, config, "latest-approved").number
    waiting = f"; the newest approved version, {newest}, waits" if newest != pinned else ""
    return (
        f"version {pinned} is pinned by `mlops deploy rollback`{waiting}: `mlops deploy apply --version N` "
        "deploys another and lifts the pin"
    )


def _instance_type_changes(clients: AwsClients, current: dict[str, Any], config: Config) -> bool:
    with aws_errors(f"reading endpoint config {current['EndpointConfigName']}"):
        live = clients.client("sagemaker").describe_endpoint_config(EndpointConfigName=current["EndpointConfigName"])
    types = {v["VariantName"]: v["InstanceType"] for v in live["ProductionVariants"]}
    return types.get(VARIANT) != config.deploy.instance_type


def _verify(final: dict[str, Any], config_name: str) -> None:
    """After an update, the endpoint must really run the requested config; otherwise it was rolled back."""
    if final["EndpointStatus"] != "InService":
        raise OperationFailed(
            f"Endpoint {final['EndpointName']} is {final['EndpointStatus']}: {final.get('FailureReason', 'no reason given')}"
        )
    if final.get("EndpointConfigName") != config_name:
        reason = final.get("FailureReason") or "an alarm fired or the new fleet did not become healthy"
        raise OperationFailed(
            f"The update of {final['EndpointName']} was rolled back ({reason}); it still runs "
            f"{final.get('EndpointConfigName')}.",
            hint="See `mlops deploy status` and the endpoint's log.",
        )


def rollback(clients: AwsClients, config: Config, *, observe: Observer, timeout: float | None = None) -> DeployResult:
    """Deploy the version that was deployed before the current one, and pin it (PIN_TAG): the next `deploy apply`
    or `pipeline run` does not bring back the version rolled back from."""
    endpoint = endpoint_name(config)
    current = describe_endpoint(clients, endpoint)
    if current is None:
        raise PreconditionFailed(f"Endpoint {endpoint} does not exist.", hint="Deploy with `mlops deploy apply`.")
    previous = _version_tag(_endpoint_tags(clients, current["EndpointArn"]), PREVIOUS_TAG)
    if previous is None:
        raise PreconditionFailed(f"Endpoint {endpoint} has no previous version to go back to.")
    return apply(clients, config, version_number=previous, observe=observe, timeout=timeout, pin=True)


# --- status, invoke, delete ------------------------------------------------------------------------------------


def status(clients: AwsClients, config: Config) -> EndpointStatus:
    endpoint = endpoint_name(config)
    found = describe_endpoint(clients, endpoint)
    if found is None:
        raise PreconditionFailed(f"Endpoint {endpoint} does not exist.", hint="Deploy with `mlops deploy apply`.")
    tags = _endpoint_tags(clients, found["EndpointArn"])
    variants = [
        {
            "name": v["VariantName"],
            "current_instances": v.get("CurrentInstanceCount"),
            "desired_instances": v.get("DesiredInstanceCount"),
            "weight": v.get("CurrentWeight"),
        }
        for v in found.get("ProductionVariants", [])
    ]
    aas = clients.client("application-autoscaling")
    with aws_errors(f"reading the autoscaling of {endpoint}"):
        targets = aas.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[_resource_id(endpoint)])
    scaling = None
    if targets["ScalableTargets"]:
        target = targets["ScalableTargets"][0]
        scaling = {
            "min": target["MinCapacity"],
            "max": target["MaxCapacity"],
            "invocations_per_instance": config.deploy.autoscaling.invocations_per_instance,
        }
    with aws_errors(f"reading the alarms of {endpoint}"):
        found_alarms = clients.client("cloudwatch").describe_alarms(AlarmNamePrefix=f"{endpoint}-")["MetricAlarms"]
    alarms = [
        {"name": a["AlarmName"], "state": a["StateValue"], "metric": a["MetricName"], "threshold": a["Threshold"]}
        for a in found_alarms
    ]
    return EndpointStatus(
        endpoint=endpoint,
        status=found["EndpointStatus"],
        version=_version_tag(tags, VERSION_TAG),
        previous_version=_version_tag(tags, PREVIOUS_TAG),
        endpoint_config=found.get("EndpointConfigName"),
        variants=variants,
        autoscaling=scaling,
        alarms=alarms,
        last_deployment=found.get("LastDeploymentConfig"),
        failure_reason=found.get("FailureReason"),
        pinned_version=_version_tag(tags, PIN_TAG),
    )


@dataclass
class Prediction:
    content_type: str
    body: Any


def invoke(clients: AwsClients, config: Config, body: bytes, content_type: str, accept: str) -> Prediction:
    endpoint = endpoint_name(config)
    if describe_endpoint(clients, endpoint) is None:
        raise PreconditionFailed(f"Endpoint {endpoint} does not exist.", hint="Deploy with `mlops deploy apply`.")
    with aws_errors(f"invoking endpoint {endpoint}"):
        response = clients.client("sagemaker-runtime").invoke_endpoint(
            EndpointName=endpoint, Body=body, ContentType=content_type, Accept=accept
        )
    text = response["Body"].read().decode()
    answered = response.get("ContentType", accept)
    return Prediction(answered, json.loads(text) if "json" in answered else text)


def delete(clients: AwsClients, config: Config) -> DeleteResult:
    """Autoscaling, alarms, endpoint, its configs and models, the serving role; the registry stays. Deleting twice
    succeeds."""
    endpoint = endpoint_name(config)
    prefix = config.names(clients.account_id).prefix
    sagemaker = clients.client("sagemaker")
    deleted = _remove_autoscaling(clients, endpoint)
    alarms = list(alarm_definitions(config, endpoint))
    with aws_errors(f"deleting the alarms of {endpoint}"):
        existing = clients.client("cloudwatch").describe_alarms(AlarmNames=alarms)["MetricAlarms"]
        if existing:
            clients.client("cloudwatch").delete_alarms(AlarmNames=[a["AlarmName"] for a in existing])
            deleted += [f"alarm {a['AlarmName']}" for a in existing]
    if describe_endpoint(clients, endpoint) is not None:
        with aws_errors(f"deleting endpoint {endpoint}"):
            sagemaker.delete_endpoint(EndpointName=endpoint)
            sagemaker.get_waiter("endpoint_deleted").wait(
                EndpointName=endpoint, WaiterConfig={"Delay": 2, "MaxAttempts": 150}
            )
        deleted.append(f"endpoint {endpoint}")
    with aws_errors(f"deleting the endpoint configs and models of {endpoint}"):
        for page in sagemaker.get_paginator("list_endpoint_configs").paginate(NameContains=f"{prefix}-v"):
            for item in (i for i in page["EndpointConfigs"] if i["EndpointConfigName"].startswith(f"{prefix}-v")):
                sagemaker.delete_endpoint_config(EndpointConfigName=item["EndpointConfigName"])
                deleted.append(f"endpoint config {item['EndpointConfigName']}")
        for page in sagemaker.get_paginator("list_models").paginate(NameContains=f"{prefix}-v"):
            for item in (i for i in page["Models"] if i["ModelName"].startswith(f"{prefix}-v")):
                sagemaker.delete_model(ModelName=item["ModelName"])
                deleted.append(f"model {item['ModelName']}")
    role = serving_role_name(config, clients.account_id)
    if not config.aws.role_arn and delete_role(clients, role):  # the models it served are gone
        deleted.append(f"role {role}")
    return DeleteResult(endpoint, deleted)
