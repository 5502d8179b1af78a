"""The endpoint emulation's pure parts and its moto patches in-process: rollout steps, data capture records, alarm
evaluation, the model server's handler dispatch, what a fleet will run, the Model Registry and Application Auto
Scaling. The endpoints really serving are tested end to end in tests/e2e/test_emulator_serving*.py."""

from __future__ import annotations

import datetime as dt
import json
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.cloudwatch.models import Alarm, MetricDatum

from mlops_cli.emulator import alarms, autoscaling, registry
from mlops_cli.emulator.serving import model_server
from mlops_cli.emulator.serving.capture import CaptureWriter, Exchange
from mlops_cli.emulator.serving.plans import CaptureSettings, FleetPlan, VariantPlan, plan_fleet, retained
from mlops_cli.emulator.serving.rollout import MAX_BAKE_SECONDS, MAX_TERMINATION_WAIT_SECONDS, rollout_of
from mlops_cli.emulator.serving.variant import VariantServer

REGION = "eu-west-1"
ACCOUNT = "123456789012"

# rollout


def test_no_deployment_config_moves_all_traffic_at_once_without_baking() -> None:
    rollout = rollout_of(None, 2)
    assert (rollout.steps, rollout.bake_seconds, rollout.termination_wait_seconds, rollout.alarms) == ((1.0,), 0, 0, ())


def test_traffic_steps_and_capped_waits_follow_the_deployment_config() -> None:
    def blue_green(routing: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": routing, **extra}}

    canary = rollout_of(
        {
            **blue_green(
                {
                    "Type": "CANARY",
                    "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
                    "WaitIntervalInSeconds": 600,
                },
                TerminationWaitInSeconds=600,
            ),
            "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "errors"}, {"AlarmName": "latency"}]},
        },
        4,
    )
    assert canary.steps == (0.1, 1.0)
    assert (canary.bake_seconds, canary.termination_wait_seconds) == (MAX_BAKE_SECONDS, MAX_TERMINATION_WAIT_SECONDS)
    assert canary.alarms == ("errors", "latency")
    one_instance = blue_green({"Type": "CANARY", "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1}})
    assert rollout_of(one_instance, 4).steps == (0.25, 1.0)
    linear = blue_green({"Type": "LINEAR", "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 25}})
    assert rollout_of(linear, 4).steps == (0.25, 0.5, 0.75, 1.0)
    rolling = {"RollingUpdatePolicy": {"MaximumBatchSize": {"Type": "CAPACITY_PERCENT", "Value": 50}}}
    assert rollout_of(rolling, 2).steps == (0.5, 1.0)
    assert rollout_of(blue_green({"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 1}), 1).bake_seconds == 1.0


# plans and capture


CAPTURE = {
    "EnableCapture": True,
    "InitialSamplingPercentage": 100,
    "DestinationS3Uri": "s3://bucket/capture/",
    "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
    "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"], "JsonContentTypes": ["application/json"]},
}


def test_capture_settings_and_their_describe_summary() -> None:
    settings = CaptureSettings.parse(CAPTURE)
    assert settings is not None
    assert (settings.destination, settings.capture_input, settings.capture_output) == (
        "s3://bucket/capture",
        True,
        True,
    )
    assert settings.summary() == {
        "EnableCapture": True,
        "CaptureStatus": "Started",
        "CurrentSamplingPercentage": 100,
        "DestinationS3Uri": "s3://bucket/capture",
    }
    assert CaptureSettings.parse(None) is None


class RecordingS3:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}

    def put_object(self, Bucket: str, Key: str, Body: bytes, **_: Any) -> None:
        self.objects[(Bucket, Key)] = Body


def test_captured_records_are_written_as_sagemaker_names_and_encodes_them() -> None:
    settings = CaptureSettings.parse(
        {**CAPTURE, "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]}}
    )
    assert settings is not None
    s3 = RecordingS3()
    writer = CaptureWriter(settings, "churn-prod", s3)
    at = dt.datetime(2026, 1, 5, 14, 3, 7, 123000, tzinfo=dt.UTC)
    writer.offer(Exchange("AllTraffic", b'{"instances": []}', "application/json", b"no,0.2\n", "text/csv", "id-1", at))
    writer.close()
    [(bucket, key)] = s3.objects
    assert bucket == "bucket"
    assert key.startswith("capture/churn-prod/AllTraffic/2026/01/05/14/03-07-123-") and key.endswith(".jsonl")
    [line] = s3.objects[(bucket, key)].decode().splitlines()
    record = json.loads(line)
    assert record["captureData"]["endpointInput"] == {
        "observedContentType": "application/json",
        "mode": "INPUT",
        "data": '{"instances": []}',
        "encoding": "JSON",
    }
    assert record["captureData"]["endpointOutput"]["encoding"] == "BASE64"  # text/csv is not listed here
    assert record["captureData"]["endpointOutput"]["data"] == "bm8sMC4yCg=="
    assert record["eventMetadata"]["inferenceId"] == "id-1"
    assert record["eventMetadata"]["inferenceTime"] == "2026-01-05T14:03:07Z"
    assert record["eventVersion"] == "0"


def test_sampling_zero_percent_captures_nothing() -> None:
    settings = CaptureSettings.parse({**CAPTURE, "InitialSamplingPercentage": 0})
    assert settings is not None
    s3 = RecordingS3()
    writer = CaptureWriter(settings, "e", s3)
    for _ in range(50):
        writer.offer(Exchange("AllTraffic", b"x", "text/csv", b"y", "text/csv", None, dt.datetime.now(dt.UTC)))
    writer.close()
    assert s3.objects == {}


def variant_plan(name: str, **fields: Any) -> VariantPlan:
    return VariantPlan(
        name=name,
        model_name="m",
        container=None,
        problem=None,
        instance_type=fields.get("instance_type", "ml.m5.large"),
        instance_count=fields.get("instance_count", 1),
        weight=fields.get("weight", 1.0),
        startup_timeout=60,
    )


def test_retained_variant_properties_keep_the_current_count_weight_and_capture() -> None:
    current = FleetPlan(
        "old", [variant_plan("AllTraffic", instance_count=4, weight=0.5)], CaptureSettings.parse(CAPTURE)
    )
    new = FleetPlan("new", [variant_plan("AllTraffic"), variant_plan("Shadow")], None)
    kept = retained(new, current, excluded=set())
    assert [(v.name, v.instance_count, v.weight) for v in kept.variants] == [("AllTraffic", 4, 0.5), ("Shadow", 1, 1.0)]
    assert kept.capture == current.capture
    partly = retained(new, current, excluded={"DesiredWeight", "DataCaptureConfig"})
    assert (partly.variants[0].instance_count, partly.variants[0].weight, partly.capture) == (4, 1.0, None)


def test_container_paths_are_mapped_into_the_variant_folder(tmp_path: Path) -> None:
    server = VariantServer("e", tmp_path / "AllTraffic", variant_plan("AllTraffic"), REGION, log=None)  # type: ignore[arg-type]
    assert server.rewrite("/opt/ml/model/code") == f"{tmp_path}/AllTraffic/model/code"
    assert server.rewrite("/opt/mlx") == "/opt/mlx"


# alarm evaluation


def alarm(**fields: Any) -> Alarm:
    settings: dict[str, Any] = {
        "account_id": ACCOUNT,
        "region_name": REGION,
        "name": "errors",
        "namespace": "AWS/SageMaker",
        "metric_name": "Invocation5XXErrors",
        "metric_data_queries": None,
        "comparison_operator": "GreaterThanOrEqualToThreshold",
        "evaluation_periods": 1,
        "datapoints_to_alarm": None,
        "period": 60,
        "threshold": 1.0,
        "statistic": "Sum",
        "extended_statistic": None,
        "description": "",
        "dimensions": [{"Name": "EndpointName", "Value": "e"}, {"Name": "VariantName", "Value": "AllTraffic"}],
        "alarm_actions": [],
        "ok_actions": None,
        "insufficient_data_actions": None,
        "unit": None,
        "actions_enabled": True,
        "treat_missing_data": None,
        "evaluate_low_sample_count_percentile": None,
        "threshold_metric_id": None,
        "rule": None,
    }
    settings.update(fields)
    return Alarm(**settings)


NOW = dt.datetime(2026, 1, 5, 12, 0, 0)


def datum(value: float, seconds_ago: float, name: str = "Invocation5XXErrors", endpoint: str = "e") -> MetricDatum:
    dimensions = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": "AllTraffic"}]
    return MetricDatum("AWS/SageMaker", name, value, dimensions, NOW - dt.timedelta(seconds=seconds_ago))


def test_an_alarm_breaches_on_the_sum_of_its_period() -> None:
    data = [datum(0, 50), datum(1, 10), datum(1, 70), datum(5, 5, endpoint="other")]
    outcome = alarms.assess(alarm(), data, NOW)
    assert outcome is not None and outcome[0] == "ALARM"
    assert "greater than or equal to the threshold (1.0)" in outcome[1]
    assert alarms.assess(alarm(threshold=2.0), data, NOW)[0] == "OK"  # type: ignore[index]


def test_missing_data_follows_treat_missing_data() -> None:
    assert alarms.assess(alarm(), [], NOW)[0] == "INSUFFICIENT_DATA"  # type: ignore[index]
    assert alarms.assess(alarm(treat_missing_data="notBreaching"), [], NOW)[0] == "OK"  # type: ignore[index]
    assert alarms.assess(alarm(treat_missing_data="breaching"), [], NOW)[0] == "ALARM"  # type: ignore[index]
    assert alarms.assess(alarm(treat_missing_data="ignore"), [], NOW) is None


def test_datapoints_to_alarm_and_percentiles() -> None:
    two_of_three = alarm(evaluation_periods=3, datapoints_to_alarm=2)
    assert alarms.assess(two_of_three, [datum(1, 10)], NOW)[0] == "OK"  # type: ignore[index]
    assert alarms.assess(two_of_three, [datum(1, 10), datum(1, 100)], NOW)[0] == "ALARM"  # type: ignore[index]
    latency = alarm(metric_name="ModelLatency", statistic=None, extended_statistic="p99", threshold=2_000_000)
    fast = [datum(1000.0, 5, name="ModelLatency") for _ in range(99)]
    assert alarms.assess(latency, fast, NOW)[0] == "OK"  # type: ignore[index]
    assert alarms.assess(latency, [*fast, *[datum(3e6, 5, name="ModelLatency")] * 2], NOW)[0] == "ALARM"  # type: ignore[index]


def test_describe_alarms_answers_evaluated_states() -> None:
    with mock_aws():
        patches = [patch for patch in alarms.PATCHES if patch.apply()]
        try:
            cloudwatch = boto3.client("cloudwatch", region_name=REGION)
            cloudwatch.put_metric_alarm(
                AlarmName="errors",
                Namespace="AWS/SageMaker",
                MetricName="Invocation5XXErrors",
                Dimensions=[{"Name": "EndpointName", "Value": "e"}],
                Statistic="Sum",
                Period=60,
                EvaluationPeriods=1,
                Threshold=1,
                ComparisonOperator="GreaterThanOrEqualToThreshold",
            )
            cloudwatch.put_metric_data(
                Namespace="AWS/SageMaker",
                MetricData=[
                    {
                        "MetricName": "Invocation5XXErrors",
                        "Value": 1,
                        "Dimensions": [{"Name": "EndpointName", "Value": "e"}],
                    }
                ],
            )
            [described] = cloudwatch.describe_alarms(AlarmNames=["errors"])["MetricAlarms"]
            assert described["StateValue"] == "ALARM"
            assert alarms.firing(ACCOUNT, REGION, ["errors", "unknown"]) == ["errors"]
            assert alarms.missing(ACCOUNT, REGION, ["errors", "unknown"]) == ["unknown"]
        finally:
            for patch in reversed(patches):
                patch.revert()


# the model server's dispatch


def handler_module(**functions: Any) -> types.ModuleType:
    module = types.ModuleType("user_inference")
    for name, function in functions.items():
        setattr(module, name, function)
    return module


class Refused(Exception):
    status_code = 415
    message = "send text/csv"


def test_invoke_wins_and_accept_falls_back_to_the_default() -> None:
    seen: list[Any] = []

    def invoke(model: Any, body: bytes, content_type: str, accept: str) -> tuple[int, str, str]:
        seen.append((model, body, content_type, accept))
        return 200, "ok", "text/plain"

    handlers = model_server.Handlers(handler_module(model_fn=lambda _dir: "model", invoke=invoke), "application/json")
    handlers.load("/model")
    assert handlers.invoke(b"x", "text/csv", "*/*") == (200, b"ok", "text/plain")
    assert seen == [("model", "x", "text/csv", "application/json")]


@pytest.mark.parametrize(
    ("content_type", "content"),
    [
        ("application/json", '{"a": "\ufffd"}'),  # text, as werkzeug decodes it: the byte that is not UTF-8 replaced
        ("text/csv", '{"a": "\ufffd"}'),
        ("*/*", '{"a": "\ufffd"}'),
        ("application/json; charset=utf-8", b'{"a": "\xff"}'),  # not exactly a text type: the bytes
        ("application/x-npy", b'{"a": "\xff"}'),
    ],
)
def test_the_handlers_get_what_the_containers_worker_hands_over(content_type: str, content: str | bytes) -> None:
    seen: list[Any] = []
    module = handler_module(model_fn=lambda _dir: None, invoke=lambda *args: seen.append(args[1]) or (200, "", "x"))
    handlers = model_server.Handlers(module, "application/json")
    handlers.invoke(b'{"a": "\xff"}', content_type, "")
    assert seen == [content]


def test_the_four_handlers_and_their_defaults() -> None:
    module = handler_module(
        model_fn=lambda _dir: {"factor": 2},
        input_fn=lambda body, content_type: [int(value) for value in body.split(",")],
        predict_fn=lambda data, model: [value * model["factor"] for value in data],
    )
    handlers = model_server.Handlers(module, "application/json")
    handlers.load("/model")
    assert handlers.invoke(b"1,2", "text/csv", "") == (200, b"[2, 4]", "application/json")  # default output_fn
    assert handlers.invoke(b"1,2", "text/csv", "text/csv") == (200, b"2\n4\n", "text/csv")
    with pytest.raises(model_server.UnsupportedFormat):
        handlers.invoke(b"1", "text/csv", "application/x-npy")


def test_errors_carry_their_status_or_are_server_errors() -> None:
    assert model_server.error_answer(Refused()) == (
        415,
        b'{"error": "Refused", "error-message": "send text/csv"}',
        "application/json",
    )
    status, body, _ = model_server.error_answer(ValueError("boom"))
    assert (status, json.loads(body)) == (500, {"error": "ValueError", "error-message": "boom"})
    with pytest.raises(NotImplementedError):
        model_server.Handlers(handler_module(), "application/json").load("/model")


# moto in-process: plans, registry, autoscaling


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with mock_aws():
        applied = [patch for patch in registry.PATCHES if patch.apply()]
        autoscaling.install()
        try:
            yield {
                service: boto3.client(service, region_name=REGION)
                for service in ("sagemaker", "application-autoscaling", "cloudwatch")
            }
        finally:
            autoscaling.uninstall()
            for patch in reversed(applied):
                patch.revert()


def test_a_model_package_container_resolves_through_its_inference_specification(aws: dict[str, Any]) -> None:
    from moto.sagemaker.models import sagemaker_backends

    sagemaker = aws["sagemaker"]
    sagemaker.create_model_package_group(ModelPackageGroupName="churn")
    package = sagemaker.create_model_package(
        ModelPackageGroupName="churn",
        InferenceSpecification={
            "Containers": [
                {"Image": "sklearn:1.4-2", "ModelDataUrl": "s3://b/model.tar.gz", "Environment": {"A": "package"}}
            ],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]
    sagemaker.create_model(
        ModelName="from-registry",
        ExecutionRoleArn="arn:aws:iam::123456789012:role/r",
        Containers=[{"ModelPackageName": package, "Environment": {"B": "model"}}],
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName="c",
        ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": "from-registry", "InstanceType": "ml.m5.large"}],
    )
    backend = sagemaker_backends[ACCOUNT][REGION]
    plan = plan_fleet(backend, backend.endpoint_configs["c"])
    [variant] = plan.variants
    assert variant.problem is None and variant.container is not None
    assert variant.container.model_data_url == "s3://b/model.tar.gz"
    assert variant.container.environment == {"A": "package", "B": "model"}
    assert (variant.instance_count, variant.weight) == (1, 1.0)


def test_registry_updates_deletes_and_tags_in_process(aws: dict[str, Any]) -> None:
    sagemaker = aws["sagemaker"]
    sagemaker.create_model_package_group(ModelPackageGroupName="churn")
    arns = [
        sagemaker.create_model_package(ModelPackageGroupName="churn", ModelPackageDescription=f"v{index}")[
            "ModelPackageArn"
        ]
        for index in (1, 2)
    ]
    sagemaker.update_model_package(ModelPackageArn=arns[0], ModelApprovalStatus="Rejected")
    assert sagemaker.describe_model_package(ModelPackageName=arns[0])["ModelPackageDescription"] == "v1"
    sagemaker.delete_model_package(ModelPackageName=arns[1])
    third = sagemaker.create_model_package(ModelPackageGroupName="churn")["ModelPackageArn"]
    assert third.endswith("/3")
    sagemaker.add_tags(ResourceArn=third, Tags=[{"Key": "k", "Value": "v"}])
    assert sagemaker.list_tags(ResourceArn=third)["Tags"] == [{"Key": "k", "Value": "v"}]
    with pytest.raises(sagemaker.exceptions.ConflictException):
        sagemaker.delete_model_package_group(ModelPackageGroupName="churn")


def test_sagemaker_target_tracking_gets_two_alarms_in_process(aws: dict[str, Any]) -> None:
    sagemaker, scaling, cloudwatch = aws["sagemaker"], aws["application-autoscaling"], aws["cloudwatch"]
    sagemaker.create_model(ModelName="m", ExecutionRoleArn="arn:aws:iam::123456789012:role/r", PrimaryContainer={})
    sagemaker.create_endpoint_config(
        EndpointConfigName="c",
        ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": "m", "InstanceType": "ml.m5.large"}],
    )
    sagemaker.create_endpoint(EndpointName="e", EndpointConfigName="c")  # moto's own: InService at once
    target = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": "endpoint/e/variant/AllTraffic",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
    }
    with pytest.raises(scaling.exceptions.ValidationException):
        scaling.register_scalable_target(**{**target, "ResourceId": "endpoint/x/variant/AllTraffic"}, MinCapacity=1)
    scaling.register_scalable_target(**target, MinCapacity=1, MaxCapacity=3)
    assert autoscaling.scaled_variants(ACCOUNT, REGION, "e") == ["AllTraffic"]
    policy = scaling.put_scaling_policy(
        PolicyName="p",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 200.0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
        },
        **target,
    )
    assert len(policy["Alarms"]) == 2
    assert len(cloudwatch.describe_alarms()["MetricAlarms"]) == 2
    autoscaling.forget_endpoint(ACCOUNT, REGION, "e")  # what DeleteEndpoint does
    assert cloudwatch.describe_alarms()["MetricAlarms"] == []
    assert scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"] == []
