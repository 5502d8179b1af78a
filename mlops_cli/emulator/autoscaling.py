"""Application Auto Scaling on SageMaker endpoint variants, as AWS does it (moto checks none of this):

- RegisterScalableTarget for `endpoint/<name>/variant/<variant>` requires the endpoint and the variant to exist.
- PutScalingPolicy requires a registered target (ObjectNotFoundException), and a TargetTrackingScaling policy gets
  the two CloudWatch alarms AWS creates for it, `TargetTracking-<resource id>-AlarmHigh-<uuid>` (3 of 3 minutes
  above the target) and `...-AlarmLow-<uuid>` (15 of 15 minutes below 90 % of it; not with DisableScaleIn),
  listed in the policy's Alarms. Putting the policy again replaces its alarms; DeleteScalingPolicy deletes them
  (moto does that part).
- DeregisterScalableTarget deletes the target's scaling policies and their alarms.
- DeleteEndpoint deregisters the endpoint's targets (AWS does so when the caller may).
Alarms stay in OK/INSUFFICIENT_DATA/ALARM as evaluated from the metrics; nothing scales.

moto's Application Auto Scaling imports its ECS backend (most of a second and 130 MB), so nothing here imports it
up front: `InstallOnFirstUse` applies the patches with the first Application Auto Scaling request, when moto loads
that backend anyway, and the helpers the endpoints call do nothing while no target can exist.
"""

from __future__ import annotations

import re
import sys
import threading
import uuid
from collections.abc import Iterable
from typing import Any

from moto.core.exceptions import JsonRESTError

from mlops_cli.emulator.extensions.patching import Patch
from mlops_cli.emulator.identity import StartResponse, WsgiApp

NAMESPACE = "sagemaker"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"
_VARIANT_RESOURCE = re.compile(r"^endpoint/(?P<endpoint>[^/]+)/variant/(?P<variant>[^/]+)$")
# SageMaker's predefined metric types and the CloudWatch metric each alarm watches.
_PREDEFINED = {
    "SageMakerVariantInvocationsPerInstance": ("AWS/SageMaker", "InvocationsPerInstance", "Sum"),
    "SageMakerVariantProvisionedConcurrencyUtilization": (
        "AWS/SageMaker",
        "ProvisionedConcurrencyUtilization",
        "Average",
    ),
    "SageMakerInferenceComponentInvocationsPerCopy": ("AWS/SageMaker", "InvocationsPerCopy", "Sum"),
    "SageMakerVariantConcurrentRequestsPerModelHighResolution": (
        "AWS/SageMaker",
        "ConcurrentRequestsPerModel",
        "Maximum",
    ),
}


class ValidationException(JsonRESTError):
    def __init__(self, message: str) -> None:
        super().__init__("ValidationException", message)


class ObjectNotFoundException(JsonRESTError):
    def __init__(self, message: str) -> None:
        super().__init__("ObjectNotFoundException", message)


def _variant_of(resource_id: str) -> tuple[str, str] | None:
    match = _VARIANT_RESOURCE.match(resource_id or "")
    return (match["endpoint"], match["variant"]) if match else None


def _endpoint_variants(account_id: str, region: str, endpoint: str) -> list[str] | None:
    """The variants of the endpoint as SageMaker knows it, None if there is no such endpoint."""
    from moto.sagemaker.models import sagemaker_backends

    fake = sagemaker_backends[account_id][region].endpoints.get(endpoint)
    if fake is None:
        return None
    return [variant["VariantName"] for variant in fake.production_variants]


# -------------------------------------------------------------------------------------------- backend patches


def _checking_the_variant(method: Any) -> Any:
    def register_scalable_target(self: Any, namespace: str, r_id: str, *args: Any, **kwargs: Any) -> Any:
        found = _variant_of(r_id) if namespace == NAMESPACE else None
        if found is not None:
            endpoint, variant = found
            variants = _endpoint_variants(self.account_id, self.region_name, endpoint)
            if variants is None:
                raise ValidationException(f"SageMaker endpoint does not exist: {endpoint} (resource ID {r_id})")
            if variant not in variants:
                raise ValidationException(
                    f"SageMaker endpoint {endpoint} has no production variant {variant} (resource ID {r_id}; "
                    f"variants: {', '.join(variants)})"
                )
        return method(self, namespace, r_id, *args, **kwargs)

    return register_scalable_target


def _requiring_a_target(method: Any) -> Any:
    def put_scaling_policy(
        self: Any,
        policy_name: str,
        service_namespace: str,
        resource_id: str,
        scalable_dimension: str,
        policy_body: dict[str, Any],
        policy_type: str | None,
    ) -> Any:
        if not self._scalable_target_exists(resource_id, scalable_dimension):
            raise ObjectNotFoundException(
                f"No scalable target registered for service namespace: {service_namespace}, resource ID: "
                f"{resource_id}, scalable dimension: {scalable_dimension}"
            )
        from moto.applicationautoscaling.models import FakeApplicationAutoscalingPolicy

        key = FakeApplicationAutoscalingPolicy.formulate_key(
            service_namespace, resource_id, scalable_dimension, policy_name
        )
        previous = self.policies.get(key)
        policy = method(self, policy_name, service_namespace, resource_id, scalable_dimension, policy_body, policy_type)
        if previous is not None and previous is not policy:
            previous.delete_alarms(self.account_id, self.region_name)  # the new policy brought its own
        return policy

    return put_scaling_policy


def _deleting_policies(method: Any) -> Any:
    def deregister_scalable_target(self: Any, namespace: str, r_id: str, dimension: str) -> None:
        method(self, namespace, r_id, dimension)
        for key, policy in list(self.policies.items()):
            if (policy.service_namespace, policy.resource_id, policy.scalable_dimension) == (
                namespace,
                r_id,
                dimension,
            ):
                policy.delete_alarms(self.account_id, self.region_name)
                del self.policies[key]

    return deregister_scalable_target


def _with_sagemaker_alarms(method: Any) -> Any:
    def create_alarms(self: Any) -> None:
        method(self)
        if self.policy_type == "TargetTrackingScaling" and self.service_namespace == NAMESPACE:
            self.alarms.extend(_target_tracking_alarms(self))

    return create_alarms


def _target_tracking_alarms(policy: Any) -> list[Any]:
    from moto.cloudwatch.models import cloudwatch_backends

    cloudwatch = cloudwatch_backends[policy.account_id][policy.region_name]
    config = policy.target_tracking_scaling_policy_configuration or {}
    target = float(config.get("TargetValue", 0))
    namespace, metric, statistic, dimensions, unit = _tracked_metric(policy, config)
    description = f"DO NOT EDIT OR DELETE. For TargetTrackingScaling policy {policy.policy_arn}."
    high = cloudwatch.put_metric_alarm(
        name=f"TargetTracking-{policy.resource_id}-AlarmHigh-{uuid.uuid4()}",
        namespace=namespace,
        metric_name=metric,
        comparison_operator="GreaterThanThreshold",
        evaluation_periods=3,
        datapoints_to_alarm=3,
        period=60,
        threshold=target,
        statistic=statistic,
        description=description,
        dimensions=dimensions,
        alarm_actions=[policy.policy_arn],
        unit=unit,
    )
    if config.get("DisableScaleIn"):
        return [high]
    low = cloudwatch.put_metric_alarm(
        name=f"TargetTracking-{policy.resource_id}-AlarmLow-{uuid.uuid4()}",
        namespace=namespace,
        metric_name=metric,
        comparison_operator="LessThanThreshold",
        evaluation_periods=15,
        datapoints_to_alarm=15,
        period=60,
        threshold=round(target * 0.9, 6),
        statistic=statistic,
        description=description,
        dimensions=dimensions,
        alarm_actions=[policy.policy_arn],
        unit=unit,
    )
    return [high, low]


def _tracked_metric(policy: Any, config: dict[str, Any]) -> tuple[str, str, str, list[dict[str, str]], str | None]:
    custom = config.get("CustomizedMetricSpecification")
    if custom and custom.get("MetricName"):
        return (
            custom["Namespace"],
            custom["MetricName"],
            custom.get("Statistic", "Average"),
            list(custom.get("Dimensions") or []),
            custom.get("Unit"),
        )
    predefined = (config.get("PredefinedMetricSpecification") or {}).get("PredefinedMetricType", "")
    namespace, metric, statistic = _PREDEFINED.get(predefined, _PREDEFINED["SageMakerVariantInvocationsPerInstance"])
    found = _variant_of(policy.resource_id)
    endpoint, variant = found if found else ("", "")
    dimensions = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]
    return namespace, metric, statistic, dimensions, None


# -------------------------------------------------------------------------------------- used by the endpoints


def _loaded_backend(account_id: str, region: str) -> Any:
    """The account and region's backend if moto has built it (dict.get does not build one, unlike [])."""
    models = sys.modules.get("moto.applicationautoscaling.models")
    if models is None:
        return None
    account = dict.get(models.applicationautoscaling_backends, account_id)
    return None if account is None else dict.get(account, region)


def scaled_variants(account_id: str, region: str, endpoint: str) -> list[str]:
    """The endpoint's variants registered as scalable targets."""
    backend = _loaded_backend(account_id, region)
    if backend is None:
        return []
    variants = []
    for target in backend.describe_scalable_targets(NAMESPACE, None, None):
        found = _variant_of(target.resource_id)
        if found is not None and found[0] == endpoint:
            variants.append(found[1])
    return variants


def forget_endpoint(account_id: str, region: str, endpoint: str) -> None:
    """Deregister a deleted endpoint's targets, with their policies and alarms."""
    backend = _loaded_backend(account_id, region)
    for variant in scaled_variants(account_id, region, endpoint):
        backend.deregister_scalable_target(NAMESPACE, f"endpoint/{endpoint}/variant/{variant}", DIMENSION)


# ---------------------------------------------------------------------------------------------- installation

_patches: list[Patch] = []
_install_lock = threading.Lock()


def patches() -> list[Patch]:
    """The patches (importing moto's Application Auto Scaling: call when it is needed)."""
    with _install_lock:
        if not _patches:
            from moto.applicationautoscaling.models import ApplicationAutoscalingBackend as Backend
            from moto.applicationautoscaling.models import FakeApplicationAutoscalingPolicy as Policy

            _patches.extend(
                [
                    Patch(Backend, "register_scalable_target", _checking_the_variant),
                    Patch(Backend, "put_scaling_policy", _requiring_a_target),
                    Patch(Backend, "deregister_scalable_target", _deleting_policies),
                    Patch(Policy, "create_alarms", _with_sagemaker_alarms),
                ]
            )
        return list(_patches)


def install() -> None:
    for patch in patches():
        patch.apply()


def uninstall() -> None:
    if _patches:
        for patch in reversed(patches()):
            patch.revert()


class InstallOnFirstUse:
    """A WSGI middleware: the first Application Auto Scaling request installs the patches before moto sees it."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app
        self.installed = False

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if not self.installed and _is_autoscaling(environ):
            install()
            self.installed = True
        return self.app(environ, start_response)


def _is_autoscaling(environ: dict[str, Any]) -> bool:
    # Signed for the service "application-autoscaling"; its JSON target prefix is AnyScaleFrontendService.
    return "/application-autoscaling/aws4_request" in environ.get("HTTP_AUTHORIZATION", "") or environ.get(
        "HTTP_X_AMZ_TARGET", ""
    ).startswith("AnyScaleFrontendService")
