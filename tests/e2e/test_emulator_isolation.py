"""Network isolation on the emulator, as SageMaker enforces it: an isolated training container cannot fetch its code
from S3 itself, gets it as the "code" input channel, and reaches no AWS endpoint from inside."""

from __future__ import annotations

import io
import tarfile

from tests.e2e.conftest import JobKit

PROBE = """
import os
try:
    import boto3
    boto3.client("s3").list_buckets()
    outcome = "reached AWS"
except Exception as exc:
    outcome = type(exc).__name__
with open(os.path.join(os.environ["SM_MODEL_DIR"], "network.txt"), "w") as out:
    out.write(outcome)
print("validation:auc=0.9")
"""


def _code_channel(uri: str) -> dict:
    return {
        "ChannelName": "code",
        "DataSource": {
            "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri, "S3DataDistributionType": "FullyReplicated"}
        },
        "InputMode": "File",
    }


def test_an_isolated_job_cannot_download_its_code_from_s3(jobs: JobKit) -> None:
    code = jobs.sourcedir("code/probe/sourcedir.tar.gz", PROBE)
    name = jobs.name("iso-s3")
    jobs.sagemaker.create_training_job(**jobs.training_request(name, code, EnableNetworkIsolation=True))
    described = jobs.wait("training", name)
    assert described["TrainingJobStatus"] == "Failed"
    assert "network isolation" in described["FailureReason"]


def test_an_isolated_job_runs_its_code_from_the_code_channel_and_reaches_no_aws_endpoint(jobs: JobKit) -> None:
    code = jobs.sourcedir("code/probe/sourcedir.tar.gz", PROBE)
    name = jobs.name("iso-channel")
    request = jobs.training_request(
        name,
        "/opt/ml/input/data/code/sourcedir.tar.gz",
        EnableNetworkIsolation=True,
        InputDataConfig=[_code_channel(code)],
    )
    jobs.sagemaker.create_training_job(**request)
    described = jobs.wait("training", name, timeout=60)
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    bucket, _, key = described["ModelArtifacts"]["S3ModelArtifacts"].removeprefix("s3://").partition("/")
    archive = jobs.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(archive)) as model:
        outcome = model.extractfile("network.txt").read().decode()  # type: ignore[union-attr]
    assert outcome != "reached AWS" and outcome  # NoCredentialsError or EndpointConnectionError


PROCESSING_PROBE = """
import sys
try:
    import boto3
    boto3.client("s3").list_buckets()
except Exception as exc:
    print(f"no network: {type(exc).__name__}")
    sys.exit(0)
print("reached AWS", file=sys.stderr)
sys.exit(1)
"""


def test_an_isolated_processing_container_reaches_no_aws_endpoint(jobs: JobKit) -> None:
    from tests.e2e.test_emulator_jobs import processing_request

    script = jobs.put("code/probe/job.py", PROCESSING_PROBE)
    isolated, connected = jobs.name("iso-proc"), jobs.name("net-proc")
    jobs.sagemaker.create_processing_job(
        **processing_request(jobs, isolated, script, NetworkConfig={"EnableNetworkIsolation": True})
    )
    jobs.sagemaker.create_processing_job(**processing_request(jobs, connected, script))
    assert jobs.wait("processing", isolated)["ProcessingJobStatus"] == "Completed"  # its inputs still arrive
    described = jobs.wait("processing", connected)
    assert (described["ProcessingJobStatus"], described["FailureReason"]) == ("Failed", "AlgorithmError: reached AWS")
