"""The embedded emulator for end-to-end tests: one server for the whole session, in a temporary state folder.

Use `emulator` for its EmulatorInfo (endpoint_url, pid, work_dir, ...) and `emulator_client("s3")` for a boto3
client pointed at it. The fixture sets MLOPS_EMULATOR_HOME for the session, so a config with
`aws.endpoint_url: local` (and `mlops` run as a subprocess) finds this same server. Tests share its state: use
unique resource names, and do not stop or reset it (start a private one for that; see test_local_cli.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mlops_cli.emulator import manager
from mlops_cli.emulator.paths import HOME_ENV

REGION = "eu-west-1"


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[manager.EmulatorInfo]:
    previous = os.environ.get(HOME_ENV)
    os.environ[HOME_ENV] = str(tmp_path_factory.mktemp("emulator-home"))
    try:
        yield manager.ensure_running()
    finally:
        manager.stop()
        if previous is None:
            os.environ.pop(HOME_ENV, None)
        else:
            os.environ[HOME_ENV] = previous


@pytest.fixture
def emulator_client(emulator: manager.EmulatorInfo) -> Callable[..., Any]:
    """`emulator_client("s3")`: a boto3 client for the session emulator, as the tool builds them for it."""
    import boto3
    from botocore.config import Config

    def make(service: str, **config: Any) -> Any:
        return boto3.client(
            service,
            endpoint_url=emulator.endpoint_url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            # no retries: a 500 from a missing moto operation should fail the test at once
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, **config),
        )

    return make


class JobKit:
    """What SageMaker job tests need: clients, a fresh bucket, tiny scripts in S3, and a wait for a job's end."""

    ROLE = "arn:aws:iam::123456789012:role/churn-local-sagemaker"
    ENDED = ("Completed", "Failed", "Stopped")

    def __init__(self, emulator: manager.EmulatorInfo, client: Callable[..., Any]) -> None:
        import uuid

        self.work_dir = emulator.work_dir
        self.s3, self.sagemaker, self.logs = client("s3"), client("sagemaker"), client("logs")
        self.unique = uuid.uuid4().hex[:8]
        self.bucket = f"jobs-{self.unique}"
        self.s3.create_bucket(Bucket=self.bucket, CreateBucketConfiguration={"LocationConstraint": REGION})

    def name(self, prefix: str) -> str:
        return f"{prefix}-{self.unique}"

    def job_folder(self, name: str) -> Any:
        return self.work_dir / "jobs" / name

    def put(self, key: str, body: bytes | str) -> str:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body.encode() if isinstance(body, str) else body)
        return f"s3://{self.bucket}/{key}"

    def sourcedir(self, key: str, script: str) -> str:
        """`script` as train.py in a sourcedir.tar.gz, as the SDK packs it."""
        import io
        import tarfile

        data = script.encode()
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
            member = tarfile.TarInfo("train.py")
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
        return self.put(key, buffer.getvalue())

    def describe(self, kind: str, name: str) -> dict[str, Any]:
        if kind == "processing":
            return dict(self.sagemaker.describe_processing_job(ProcessingJobName=name))
        if kind == "training":
            return dict(self.sagemaker.describe_training_job(TrainingJobName=name))
        return dict(self.sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name))

    def wait(
        self, kind: str, name: str, until: Callable[[dict[str, Any]], bool] | None = None, timeout: float = 20.0
    ) -> dict[str, Any]:
        """Describe every 0.2 s until `until(description)` (default: the job ended); fail after `timeout` s."""
        import time

        status_key = {"processing": "ProcessingJobStatus", "training": "TrainingJobStatus"}.get(
            kind, "HyperParameterTuningJobStatus"
        )
        done = until or (lambda described: described[status_key] in self.ENDED)
        deadline = time.monotonic() + timeout
        while True:
            described = self.describe(kind, name)
            if done(described):
                return described
            assert time.monotonic() < deadline, f"{kind} job {name} still {described[status_key]} after {timeout} s"
            time.sleep(0.2)

    def training_request(self, name: str, code: str, **overrides: Any) -> dict[str, Any]:
        """A CreateTrainingJob request for the scikit-learn image in script mode, as the CLI sends it."""
        request: dict[str, Any] = {
            "TrainingJobName": name,
            "RoleArn": self.ROLE,
            "AlgorithmSpecification": {
                "TrainingImage": "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3",
                "TrainingInputMode": "File",
                "MetricDefinitions": [{"Name": "validation:auc", "Regex": r"validation:auc=([0-9\.]+)"}],
            },
            "HyperParameters": {"sagemaker_program": '"train.py"', "sagemaker_submit_directory": f'"{code}"'},
            "OutputDataConfig": {"S3OutputPath": f"s3://{self.bucket}/models"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
            "StoppingCondition": {"MaxRuntimeInSeconds": 60},
        }
        request.update(overrides)
        return request


@pytest.fixture
def jobs(emulator: manager.EmulatorInfo, emulator_client: Callable[..., Any]) -> JobKit:
    """SageMaker job tests' kit (see JobKit), with a bucket of its own."""
    return JobKit(emulator, emulator_client)
