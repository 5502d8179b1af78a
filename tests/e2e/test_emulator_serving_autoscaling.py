"""Application Auto Scaling on an endpoint variant, as AWS does it (contract section 7). Each test fails against
plain moto 5.2.5, which registers a target for any endpoint name and creates no alarm for a SageMaker policy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from tests.e2e.conftest import ServingKit

pytestmark = pytest.mark.e2e

DIMENSION = "sagemaker:variant:DesiredInstanceCount"
TARGET_TRACKING = {
    "TargetValue": 70.0,
    "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
    "ScaleInCooldown": 600,
    "ScaleOutCooldown": 300,
}


@pytest.fixture(scope="module")
def endpoint(serving: ServingKit) -> Iterator[str]:
    name = serving.deploy("scaled")
    yield name
    serving.sagemaker.delete_endpoint(EndpointName=name)


def target(resource_id: str) -> dict[str, str]:
    return {"ServiceNamespace": "sagemaker", "ResourceId": resource_id, "ScalableDimension": DIMENSION}


def alarm_names(serving: ServingKit, resource_id: str) -> list[str]:
    prefix = f"TargetTracking-{resource_id}-"
    return sorted(a["AlarmName"] for a in serving.cloudwatch.describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"])


def test_a_target_needs_the_endpoint_and_its_variant(serving: ServingKit, endpoint: str) -> None:
    scaling = serving.autoscaling
    missing = f"endpoint/{serving.name('nowhere')}/variant/AllTraffic"
    with pytest.raises(ClientError) as no_endpoint:
        scaling.register_scalable_target(**target(missing), MinCapacity=1, MaxCapacity=4)
    assert no_endpoint.value.response["Error"]["Code"] == "ValidationException"
    assert serving.name("nowhere") in no_endpoint.value.response["Error"]["Message"]
    with pytest.raises(ClientError, match="no production variant Blue"):
        scaling.register_scalable_target(**target(f"endpoint/{endpoint}/variant/Blue"), MinCapacity=1, MaxCapacity=4)
    with pytest.raises(ClientError) as no_target:
        scaling.put_scaling_policy(
            PolicyName="invocations",
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration=TARGET_TRACKING,
            **target(f"endpoint/{endpoint}/variant/AllTraffic"),
        )
    assert no_target.value.response["Error"]["Code"] == "ObjectNotFoundException"


def test_target_tracking_creates_the_two_alarms_aws_creates(serving: ServingKit, endpoint: str) -> None:
    scaling = serving.autoscaling
    resource = f"endpoint/{endpoint}/variant/AllTraffic"
    scaling.register_scalable_target(**target(resource), MinCapacity=1, MaxCapacity=4)
    policy: dict[str, Any] = scaling.put_scaling_policy(
        PolicyName="invocations",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration=TARGET_TRACKING,
        **target(resource),
    )
    names = sorted(alarm["AlarmName"] for alarm in policy["Alarms"])
    assert len(names) == 2
    assert names[0].startswith(f"TargetTracking-{resource}-AlarmHigh-")
    assert names[1].startswith(f"TargetTracking-{resource}-AlarmLow-")
    assert alarm_names(serving, resource) == names
    alarms = {a["AlarmName"]: a for a in serving.cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]}
    high, low = alarms[names[0]], alarms[names[1]]
    assert (high["Namespace"], high["MetricName"], high["Statistic"]) == (
        "AWS/SageMaker",
        "InvocationsPerInstance",
        "Sum",
    )
    assert (high["ComparisonOperator"], high["Threshold"], high["EvaluationPeriods"]) == (
        "GreaterThanThreshold",
        70.0,
        3,
    )
    assert (low["ComparisonOperator"], low["Threshold"], low["EvaluationPeriods"]) == ("LessThanThreshold", 63.0, 15)
    assert {(d["Name"], d["Value"]) for d in high["Dimensions"]} == {
        ("EndpointName", endpoint),
        ("VariantName", "AllTraffic"),
    }
    assert high["AlarmActions"] == [policy["PolicyARN"]]
    [described] = scaling.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=resource)[
        "ScalingPolicies"
    ]
    assert sorted(alarm["AlarmName"] for alarm in described["Alarms"]) == names

    # Putting the policy again replaces its alarms; deleting it deletes them.
    again = scaling.put_scaling_policy(
        PolicyName="invocations",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={**TARGET_TRACKING, "TargetValue": 100.0},
        **target(resource),
    )
    assert alarm_names(serving, resource) == sorted(alarm["AlarmName"] for alarm in again["Alarms"])
    scaling.delete_scaling_policy(PolicyName="invocations", **target(resource))
    assert alarm_names(serving, resource) == []
    scaling.deregister_scalable_target(**target(resource))


def test_deregistering_a_target_deletes_its_policies_and_their_alarms(serving: ServingKit, endpoint: str) -> None:
    scaling = serving.autoscaling
    resource = f"endpoint/{endpoint}/variant/AllTraffic"
    scaling.register_scalable_target(**target(resource), MinCapacity=1, MaxCapacity=2)
    scaling.put_scaling_policy(
        PolicyName="scale-out-only",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={**TARGET_TRACKING, "DisableScaleIn": True},
        **target(resource),
    )
    [only] = alarm_names(serving, resource)
    assert "-AlarmHigh-" in only  # no scale-in, no low alarm
    scaling.deregister_scalable_target(**target(resource))
    assert scaling.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=resource)["ScalingPolicies"] == []
    assert alarm_names(serving, resource) == []
