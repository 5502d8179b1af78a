"""Endpoints that really serve on the emulator: a model trained by mlops_cli/container_scripts/train.py, deployed as the CLI
deploys it, invoked through sagemaker-runtime. Each test fails against plain moto 5.2.5, where endpoints are
InService at once, duplicates overwrite, and InvokeEndpoint answers b"body" for any name."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from botocore.exceptions import ClientError, WaiterError

if TYPE_CHECKING:
    from tests.e2e.conftest import ServingKit

pytestmark = pytest.mark.e2e

CAPTURE_PREFIX = "capture"


@pytest.fixture(scope="module")
def endpoint(serving: ServingKit) -> Iterator[str]:
    """An InService endpoint capturing every request, shared by this module's tests (none changes it)."""
    capture = {
        "EnableCapture": True,
        "InitialSamplingPercentage": 100,
        "DestinationS3Uri": f"s3://{serving.bucket}/{CAPTURE_PREFIX}",
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"], "JsonContentTypes": ["application/json"]},
    }
    name = serving.deploy("churn", DataCaptureConfig=capture)
    yield name
    serving.sagemaker.delete_endpoint(EndpointName=name)


def test_endpoint_serves_json_and_csv_predictions(serving: ServingKit, endpoint: str) -> None:
    answer = serving.invoke(endpoint, serving.model.json_body(2))
    assert answer["ContentType"] == "application/json"
    assert answer["InvokedProductionVariant"] == "AllTraffic"
    predictions = json.loads(answer["Body"].read())["predictions"]
    assert [p["customer_id"] for p in predictions] == [r["customer_id"] for r in serving.model.records[:2]]
    assert all(p["label"] in ("yes", "no") and 0 <= p["probability"] <= 1 for p in predictions)

    answer = serving.invoke(endpoint, serving.model.csv_body(3), content_type="text/csv", Accept="text/csv")
    assert answer["ContentType"] == "text/csv"
    lines = answer["Body"].read().decode().splitlines()
    assert len(lines) == 3
    assert all(line.split(",")[0] in ("yes", "no") for line in lines)

    described = serving.describe(endpoint)
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == endpoint
    [variant] = described["ProductionVariants"]
    assert variant["VariantName"] == "AllTraffic"
    assert (variant["CurrentInstanceCount"], variant["DesiredInstanceCount"], variant["CurrentWeight"]) == (1, 1, 1.0)
    assert variant["DeployedImages"][0]["SpecifiedImage"] == serving.IMAGE
    assert described["DataCaptureConfig"] == {
        "EnableCapture": True,
        "CaptureStatus": "Started",
        "CurrentSamplingPercentage": 100,
        "DestinationS3Uri": f"s3://{serving.bucket}/{CAPTURE_PREFIX}",
    }
    work = serving.work_dir / "endpoints" / endpoint / endpoint / "AllTraffic"
    assert (work / "model" / "model.joblib").is_file() and (work / "model" / "code" / "inference.py").is_file()


def test_a_bad_request_is_a_model_error_and_the_endpoint_keeps_serving(serving: ServingKit, endpoint: str) -> None:
    with pytest.raises(ClientError) as raised:
        serving.invoke(endpoint, b'{"instances": [{"plan": "enterprise"}]}')
    error = raised.value.response
    assert error["Error"]["Code"] == "ModelError"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert error["OriginalStatusCode"] == 400
    assert "missing feature 'tenure_months'" in error["OriginalMessage"]
    assert json.loads(error["OriginalMessage"])["error"] == "BadRequestError"
    assert error["LogStreamArn"] == (
        f"arn:aws:logs:eu-west-1:123456789012:log-group:/aws/sagemaker/Endpoints/{endpoint}"
    )
    assert "Received client error (400) from primary" in error["Error"]["Message"]

    with pytest.raises(ClientError) as unsupported:
        serving.invoke(endpoint, serving.model.csv_body(1), content_type="text/plain")
    assert unsupported.value.response["OriginalStatusCode"] == 415

    assert serving.invoke(endpoint, serving.model.json_body(1))["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_unknown_endpoint_and_oversized_body_are_validation_errors(serving: ServingKit, endpoint: str) -> None:
    with pytest.raises(ClientError) as unknown:
        serving.invoke(serving.name("nowhere"), b"{}")
    assert unknown.value.response["Error"] == {
        "Code": "ValidationError",
        "Message": f"Endpoint {serving.name('nowhere')} of account 123456789012 not found.",
    }
    assert unknown.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400

    # botocore does not check the 6 MB limit of Body; the runtime does.
    with pytest.raises(ClientError) as too_big:
        serving.invoke(endpoint, b" " * (6_291_456 + 1))
    assert too_big.value.response["Error"]["Code"] == "ValidationError"
    assert "6291456" in too_big.value.response["Error"]["Message"]


def test_a_second_create_endpoint_is_refused(serving: ServingKit, endpoint: str) -> None:
    with pytest.raises(ClientError) as raised:
        serving.sagemaker.create_endpoint(EndpointName=endpoint, EndpointConfigName=endpoint)
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert raised.value.response["Error"]["Message"] == (
        f'Cannot create already existing endpoint "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/{endpoint}".'
    )
    with pytest.raises(ClientError, match="Cannot create already existing endpoint configuration"):
        serving.create_config(endpoint, endpoint)
    assert serving.describe(endpoint)["EndpointStatus"] == "InService"


def test_invocations_are_captured_logged_and_measured(serving: ServingKit, endpoint: str) -> None:
    started = dt.datetime.now(dt.UTC)
    serving.invoke(endpoint, serving.model.json_body(1), InferenceId="request-1")
    prefix = f"{CAPTURE_PREFIX}/{endpoint}/AllTraffic/"
    deadline = time.monotonic() + 10
    records: list[dict[str, object]] = []
    while not any(r["eventMetadata"].get("inferenceId") == "request-1" for r in records):  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "no captured record in S3"
        time.sleep(0.3)
        keys = [o["Key"] for o in serving.s3.list_objects_v2(Bucket=serving.bucket, Prefix=prefix).get("Contents", [])]
        records = [
            json.loads(line)
            for key in keys
            for line in serving.s3.get_object(Bucket=serving.bucket, Key=key)["Body"].read().decode().splitlines()
        ]
    hour = keys[0][len(prefix) :].rsplit("/", 1)[0]
    assert dt.datetime.strptime(hour, "%Y/%m/%d/%H").replace(tzinfo=dt.UTC) >= started.replace(
        minute=0, second=0, microsecond=0
    )
    assert keys[0].endswith(".jsonl")
    record = next(r for r in records if r["eventMetadata"].get("inferenceId") == "request-1")  # type: ignore[union-attr]
    capture = record["captureData"]
    assert capture["endpointInput"] == {  # type: ignore[index]
        "observedContentType": "application/json",
        "mode": "INPUT",
        "data": serving.model.json_body(1).decode(),
        "encoding": "JSON",
    }
    assert capture["endpointOutput"]["mode"] == "OUTPUT"  # type: ignore[index]
    assert json.loads(capture["endpointOutput"]["data"])["predictions"]  # type: ignore[index]
    assert record["eventVersion"] == "0"

    group = f"/aws/sagemaker/Endpoints/{endpoint}"
    [stream] = serving.logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert stream["logStreamName"].startswith("AllTraffic/i-")
    deadline = time.monotonic() + 5
    while True:
        events = serving.logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"])["events"]
        if any('"POST /invocations HTTP/1.1" 200' in event["message"] for event in events):
            break
        assert time.monotonic() < deadline, [event["message"] for event in events]
        time.sleep(0.3)

    dimensions = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": "AllTraffic"}]
    now = dt.datetime.now(dt.UTC)
    sums = {}
    for metric in ("Invocations", "Invocation4XXErrors", "Invocation5XXErrors", "ModelLatency"):
        points = serving.cloudwatch.get_metric_statistics(
            Namespace="AWS/SageMaker",
            MetricName=metric,
            Dimensions=dimensions,
            StartTime=now - dt.timedelta(minutes=10),
            EndTime=now + dt.timedelta(minutes=1),
            Period=600,
            Statistics=["Sum", "Maximum"],
        )["Datapoints"]
        sums[metric] = sum(point["Sum"] for point in points)
    assert sums["Invocations"] >= 1
    assert sums["Invocation5XXErrors"] == 0
    assert sums["ModelLatency"] > 0  # microseconds


def test_a_model_that_cannot_load_fails_the_endpoint(serving: ServingKit) -> None:
    name = serving.deploy("broken", url=serving.broken_model_url, wait=False)
    with pytest.raises(WaiterError):
        serving.wait_in_service(name)
    described = serving.describe(name)
    assert described["EndpointStatus"] == "Failed"
    assert "did not pass the ping health check" in described["FailureReason"]
    assert "model.joblib" in described["FailureReason"]  # model_fn's own reason, for the developer
    with pytest.raises(ClientError, match="not found"):
        serving.invoke(name, serving.model.json_body(1))
    with pytest.raises(ClientError, match="Cannot update failed endpoint"):
        serving.sagemaker.update_endpoint(EndpointName=name, EndpointConfigName=name)
    serving.sagemaker.delete_endpoint(EndpointName=name)
    assert serving.server_pids(name) == []
