"""Running jobs and the emulator's own life: a reset stops them quietly, `down` leaves no worker behind.
Uses a private emulator (never reset or stop the session's)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from mlops_cli.emulator import manager, paths

pytestmark = pytest.mark.e2e

REGION = "eu-west-1"
SLEEPER = "import os, sys, time\nopen(sys.argv[1] + '/pid', 'w').write(str(os.getpid()))\ntime.sleep(60)\n"


@pytest.fixture
def private_emulator(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[manager.EmulatorInfo]:
    monkeypatch.setenv(paths.HOME_ENV, str(tmp_path / "emulator"))
    yield manager.start()[0]
    manager.stop()


def client(info: manager.EmulatorInfo, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=info.endpoint_url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def start_sleeping_job(info: manager.EmulatorInfo, name: str) -> int:
    """Start a processing job whose worker sleeps; its pid once it runs."""
    s3, sagemaker = client(info, "s3"), client(info, "sagemaker")
    bucket = f"lifecycle-{name}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket=bucket, Key="code/sleep.py", Body=SLEEPER.encode())
    sagemaker.create_processing_job(
        ProcessingJobName=name,
        RoleArn="arn:aws:iam::123456789012:role/processing",
        AppSpecification={
            "ImageUri": "sklearn",
            "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/sleep.py"],
            "ContainerArguments": ["/opt/ml/output"],
        },
        ProcessingInputs=[
            {
                "InputName": "code",
                "S3Input": {
                    "S3Uri": f"s3://{bucket}/code/sleep.py",
                    "LocalPath": "/opt/ml/processing/input/code",
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                },
            }
        ],
        ProcessingResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 1}},
    )
    pid_file = info.work_dir / "jobs" / name / "algo-1" / "opt_ml" / "output" / "pid"
    deadline = time.monotonic() + 15
    while not (pid_file.exists() and pid_file.read_text()):
        assert time.monotonic() < deadline, "the worker did not start"
        time.sleep(0.1)
    return int(pid_file.read_text())


def runs(pid: int) -> bool:
    """Whether `pid` is a running process (a zombie awaiting its parent runs nothing)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while runs(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not runs(pid)


def test_reset_stops_running_jobs_quietly_and_down_leaves_no_worker(private_emulator: manager.EmulatorInfo) -> None:
    worker = start_sleeping_job(private_emulator, "before-reset")

    manager.reset()

    assert wait_gone(worker)
    assert manager.status().pid == private_emulator.pid  # the server lives on
    assert client(private_emulator, "sagemaker").list_processing_jobs()["ProcessingJobSummaries"] == []
    assert list(private_emulator.work_dir.iterdir()) == []
    log = private_emulator.log_path.read_text()
    assert "processing job before-reset abandoned (the emulator was reset)" in log
    assert "Traceback" not in log

    # Jobs still run after the reset, and stopping the emulator ends their workers too.
    worker = start_sleeping_job(private_emulator, "after-reset")
    manager.stop()
    assert wait_gone(worker)
