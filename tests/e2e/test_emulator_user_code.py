"""User code with its own requirements.txt on the emulator, as SageMaker's toolkits run it: the training toolkit
installs it before the script, the SDK's runproc.sh installs it in a processing job, the serving container before
the handler loads. The pin is a wheel the test writes (mlops_pin_probe 1.0.0), carried in the code bundle and
installed with --no-index, so nothing reaches the internet; the server's own venv never gets it."""

from __future__ import annotations

import importlib.util
import io
import json
import tarfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import WaiterError

from tests.unit.test_emulator_python_envs import PROBE, build_wheel

if TYPE_CHECKING:  # the `jobs` fixture's kit, from conftest.py
    from tests.e2e.conftest import JobKit

pytestmark = pytest.mark.e2e

SKLEARN = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3"

TRAIN = f"""
import os, sys
import {PROBE}
print("probe", {PROBE}.VERSION, flush=True)
with open(os.path.join(os.environ["SM_MODEL_DIR"], "probe.txt"), "w") as out:
    out.write({PROBE}.VERSION + " " + sys.executable)
"""

# runproc.sh as the tool writes it for a processing script with requirements (the SDK's FrameworkProcessor form).
RUNPROC = """#!/bin/bash
set -e
cd /opt/ml/processing/input/code
python3 -m pip install -r requirements.txt
exec python3 process.py "$@"
"""

PROCESS = f"""
import os, sys
import {PROBE}
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
with open(os.path.join(args["--out"], "probe.txt"), "w") as out:
    out.write({PROBE}.VERSION + " " + args["--tag"])
"""

INFERENCE = f"""
import json, os
import {PROBE}

def model_fn(model_dir):
    return open(os.path.join(model_dir, "model.txt")).read()

def input_fn(body, content_type):
    return json.loads(body)

def predict_fn(data, model):
    return {{"probe": {PROBE}.VERSION, "model": model, "echo": data}}

def output_fn(prediction, accept):
    return json.dumps(prediction), "application/json"
"""


def wheel_bytes(tmp_path: Path) -> bytes:
    return build_wheel(tmp_path / f"wheels-{uuid.uuid4().hex[:6]}").read_bytes()


def requirements(pin: str) -> str:
    """Offline requirements; the comment makes the file (and so its environment) this test's own, so pip runs."""
    return f"# {uuid.uuid4().hex}\n--no-index\n--find-links wheels\n{pin}\n"


def tarball(files: dict[str, bytes | str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            member = tarfile.TarInfo(name)
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
    return buffer.getvalue()


def log_messages(logs: Any, group: str, prefix: str, expected: str, timeout: float = 15.0) -> list[str]:
    """The messages of the streams under `prefix`, once one of them contains `expected` (logs arrive in batches)."""
    deadline = time.monotonic() + timeout
    while True:
        messages: list[str] = []
        try:
            streams = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=prefix)["logStreams"]
        except logs.exceptions.ResourceNotFoundException:
            streams = []
        for stream in streams:
            events = logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"])["events"]
            messages += [event["message"] for event in events]
        if any(expected in message for message in messages) or time.monotonic() > deadline:
            return messages
        time.sleep(0.3)


def model_file(jobs: JobKit, described: dict[str, Any], name: str) -> str:
    key = described["ModelArtifacts"]["S3ModelArtifacts"].split(f"s3://{jobs.bucket}/", 1)[1]
    body = jobs.s3.get_object(Bucket=jobs.bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as archive:
        member = archive.extractfile(name)
        assert member is not None
        return member.read().decode()


def test_a_training_job_installs_its_requirements_before_the_script_and_reuses_them(
    jobs: JobKit, tmp_path: Path
) -> None:
    pinned = requirements(f"{PROBE}==1.0.0")
    code = jobs.put(
        "code/pinned/sourcedir.tar.gz",
        tarball(
            {
                "train.py": TRAIN,
                "requirements.txt": pinned,
                f"wheels/{PROBE}-1.0.0-py3-none-any.whl": wheel_bytes(tmp_path),
            }
        ),
    )
    first, second = jobs.name("pinned-1"), jobs.name("pinned-2")
    for name in (first, second):
        jobs.sagemaker.create_training_job(**jobs.training_request(name, code))
        described = jobs.wait("training", name)
        assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
        version, interpreter = model_file(jobs, described, "probe.txt").split(" ", 1)
        assert version == "1.0.0"
        assert interpreter.startswith(str(jobs.job_folder(name)))  # the host's layer over the cached environment

    built = log_messages(jobs.logs, "/aws/sagemaker/TrainingJobs", f"{first}/", "probe 1.0.0")
    assert "Installing dependencies from requirements.txt" in built
    assert any(f"Successfully installed {PROBE}-1.0.0" in line for line in built), built
    assert built.index("Installing dependencies from requirements.txt") < built.index("probe 1.0.0")
    reused = log_messages(jobs.logs, "/aws/sagemaker/TrainingJobs", f"{second}/", "probe 1.0.0")
    assert any("installed already in the cached environment" in line for line in reused), reused
    assert not any("Successfully installed" in line for line in reused)
    assert importlib.util.find_spec(PROBE) is None  # never in the server's (this test's) venv


def test_a_requirement_pip_cannot_install_fails_the_training_job_as_the_toolkit_does(
    jobs: JobKit, tmp_path: Path
) -> None:
    code = jobs.put(
        "code/unavailable/sourcedir.tar.gz",
        tarball(
            {
                "train.py": TRAIN,
                "requirements.txt": requirements(f"{PROBE}==9.9.9"),
                f"wheels/{PROBE}-1.0.0-py3-none-any.whl": wheel_bytes(tmp_path),
            }
        ),
    )
    name = jobs.name("unavailable")
    jobs.sagemaker.create_training_job(**jobs.training_request(name, code))
    described = jobs.wait("training", name)

    assert described["TrainingJobStatus"] == "Failed"
    reason = described["FailureReason"]
    assert reason.startswith('AlgorithmError: InstallRequirementsError:\nExitCode 1\nErrorMessage "')
    assert f"No matching distribution found for {PROBE}==9.9.9" in reason
    assert reason.endswith('-m pip install -r requirements.txt"')
    assert "ModelArtifacts" not in described or not described["ModelArtifacts"].get("S3ModelArtifacts")
    messages = log_messages(jobs.logs, "/aws/sagemaker/TrainingJobs", f"{name}/", "No matching distribution")
    assert any(f"No matching distribution found for {PROBE}==9.9.9" in line for line in messages)  # pip's own
    assert not any("Invoking script" in line for line in messages)  # the script never ran


@pytest.fixture
def wheel_index(tmp_path: Path) -> Iterator[str]:
    """A folder with the probe's wheel served over HTTP on loopback: a package index a container with a network
    reaches."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    folder = build_wheel(tmp_path / "index").parent
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(SimpleHTTPRequestHandler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_an_isolated_training_job_installs_only_what_needs_no_network(
    jobs: JobKit, tmp_path: Path, wheel_index: str
) -> None:
    """The code comes as the "code" channel (an isolated container cannot fetch it); pip has no network there."""
    outcomes = {}
    for case, isolated in (("iso-pip", True), ("net-pip", False)):
        sourcedir = tarball(
            {
                "train.py": TRAIN,
                "requirements.txt": f"# {uuid.uuid4().hex}\n--no-index\n--find-links {wheel_index}\n{PROBE}==1.0.0\n",
            }
        )
        code = jobs.put(f"code/{case}/sourcedir.tar.gz", sourcedir)
        name = jobs.name(case)
        channel = {
            "ChannelName": "code",
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": code}},
            "InputMode": "File",
        }
        request = jobs.training_request(
            name,
            "/opt/ml/input/data/code/sourcedir.tar.gz",
            EnableNetworkIsolation=isolated,
            InputDataConfig=[channel],
        )
        jobs.sagemaker.create_training_job(**request)
        outcomes[case] = jobs.wait("training", name, timeout=60)

    assert outcomes["net-pip"]["TrainingJobStatus"] == "Completed", outcomes["net-pip"].get("FailureReason")
    isolated_job = outcomes["iso-pip"]
    assert isolated_job["TrainingJobStatus"] == "Failed"
    assert "InstallRequirementsError" in isolated_job["FailureReason"]
    assert f"No matching distribution found for {PROBE}==1.0.0" in isolated_job["FailureReason"]


def processing_request(jobs: JobKit, name: str, code_prefix: str) -> dict[str, Any]:
    return {
        "ProcessingJobName": name,
        "RoleArn": jobs.ROLE,
        "AppSpecification": {
            "ImageUri": SKLEARN,
            "ContainerEntrypoint": ["/bin/bash", "/opt/ml/processing/input/code/runproc.sh"],
            "ContainerArguments": ["--out", "/opt/ml/processing/output/result", "--tag", name],
        },
        "ProcessingInputs": [
            {
                "InputName": "code",
                "S3Input": {
                    "S3Uri": f"s3://{jobs.bucket}/{code_prefix}",
                    "LocalPath": "/opt/ml/processing/input/code",
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                },
            }
        ],
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": "result",
                    "S3Output": {
                        "S3Uri": f"s3://{jobs.bucket}/results/{name}",
                        "LocalPath": "/opt/ml/processing/output/result",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
        "ProcessingResources": {
            "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 1}
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 120},
    }


def put_processing_code(jobs: JobKit, prefix: str, pin: str, tmp_path: Path) -> None:
    jobs.put(f"{prefix}/runproc.sh", RUNPROC)
    jobs.put(f"{prefix}/process.py", PROCESS)
    jobs.put(f"{prefix}/requirements.txt", requirements(pin))
    jobs.put(f"{prefix}/wheels/{PROBE}-1.0.0-py3-none-any.whl", wheel_bytes(tmp_path))


def test_a_processing_job_runs_runproc_sh_with_its_requirements(jobs: JobKit, tmp_path: Path) -> None:
    name = jobs.name("runproc")
    put_processing_code(jobs, "proc-code", f"{PROBE}==1.0.0", tmp_path)
    jobs.sagemaker.create_processing_job(**processing_request(jobs, name, "proc-code"))
    described = jobs.wait("processing", name, timeout=60)

    assert described["ProcessingJobStatus"] == "Completed", described.get("FailureReason")
    result = jobs.s3.get_object(Bucket=jobs.bucket, Key=f"results/{name}/probe.txt")["Body"].read().decode()
    assert result == f"1.0.0 {name}"  # the pinned package, and runproc.sh passed the arguments on
    messages = log_messages(jobs.logs, "/aws/sagemaker/ProcessingJobs", f"{name}/", "already satisfied")
    # The script's own pip ran, and found what the emulator had installed beforehand.
    assert any(f"Requirement already satisfied: {PROBE}==1.0.0" in line for line in messages), messages


def test_a_processing_job_whose_pip_fails_fails_with_the_scripts_exit(jobs: JobKit, tmp_path: Path) -> None:
    name = jobs.name("runproc-fails")
    put_processing_code(jobs, "proc-bad", f"{PROBE}==9.9.9", tmp_path)
    jobs.sagemaker.create_processing_job(**processing_request(jobs, name, "proc-bad"))
    described = jobs.wait("processing", name, timeout=60)

    assert described["ProcessingJobStatus"] == "Failed"
    assert described["FailureReason"].startswith("AlgorithmError: ")
    assert f"No matching distribution found for {PROBE}==9.9.9" in described["FailureReason"]
    assert "Contents" not in jobs.s3.list_objects_v2(Bucket=jobs.bucket, Prefix=f"results/{name}/")


def deploy(client: Callable[..., Any], bucket: str, name: str, submit_directory: str, model_url: str) -> Any:
    sagemaker = client("sagemaker")
    sagemaker.create_model(
        ModelName=name,
        ExecutionRoleArn="arn:aws:iam::123456789012:role/churn-local-sagemaker",
        PrimaryContainer={
            "Image": SKLEARN,
            "ModelDataUrl": model_url,
            "Environment": {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": submit_directory},
        },
    )
    variant = {
        "VariantName": "AllTraffic",
        "ModelName": name,
        "InstanceType": "ml.m5.large",
        "InitialInstanceCount": 1,
        "InitialVariantWeight": 1.0,
    }
    sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant])
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    return sagemaker


@pytest.fixture
def bucket(emulator_client: Callable[..., Any]) -> str:
    name = f"user-code-{uuid.uuid4().hex[:8]}"
    emulator_client("s3").create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    return name


def put(client: Callable[..., Any], bucket: str, key: str, body: bytes) -> str:
    client("s3").put_object(Bucket=bucket, Key=key, Body=body)
    return f"s3://{bucket}/{key}"


def test_a_model_with_an_s3_submit_directory_and_requirements_serves(
    emulator_client: Callable[..., Any], bucket: str, tmp_path: Path
) -> None:
    name = f"user-code-{uuid.uuid4().hex[:8]}"
    model_url = put(emulator_client, bucket, "model/model.tar.gz", tarball({"model.txt": "weights v1"}))
    sourcedir = tarball(
        {
            "inference.py": INFERENCE,
            "requirements.txt": requirements(f"{PROBE}==1.0.0"),
            f"wheels/{PROBE}-1.0.0-py3-none-any.whl": wheel_bytes(tmp_path),
        }
    )
    submit = put(emulator_client, bucket, "code/sourcedir.tar.gz", sourcedir)
    sagemaker = deploy(emulator_client, bucket, name, submit, model_url)
    try:
        sagemaker.get_waiter("endpoint_in_service").wait(
            EndpointName=name, WaiterConfig={"Delay": 0.5, "MaxAttempts": 120}
        )
        answer = emulator_client("sagemaker-runtime").invoke_endpoint(
            EndpointName=name, Body=b'{"x": 1}', ContentType="application/json"
        )
        assert json.loads(answer["Body"].read()) == {"probe": "1.0.0", "model": "weights v1", "echo": {"x": 1}}
        messages = log_messages(
            emulator_client("logs"), f"/aws/sagemaker/Endpoints/{name}", "AllTraffic/", "Successfully installed"
        )
        assert any(f"Successfully installed {PROBE}-1.0.0" in line for line in messages), messages
    finally:
        sagemaker.delete_endpoint(EndpointName=name)


def test_a_model_whose_requirements_cannot_install_fails_the_endpoint_naming_pip(
    emulator_client: Callable[..., Any], bucket: str, tmp_path: Path
) -> None:
    name = f"user-code-bad-{uuid.uuid4().hex[:8]}"
    model_url = put(emulator_client, bucket, "model/model.tar.gz", tarball({"model.txt": "weights v1"}))
    sourcedir = tarball(
        {
            "inference.py": INFERENCE,
            "requirements.txt": requirements(f"{PROBE}==9.9.9"),
            f"wheels/{PROBE}-1.0.0-py3-none-any.whl": wheel_bytes(tmp_path),
        }
    )
    submit = put(emulator_client, bucket, "code/bad/sourcedir.tar.gz", sourcedir)
    sagemaker = deploy(emulator_client, bucket, name, submit, model_url)
    try:
        with pytest.raises(WaiterError):
            sagemaker.get_waiter("endpoint_in_service").wait(
                EndpointName=name, WaiterConfig={"Delay": 0.5, "MaxAttempts": 120}
            )
        described = sagemaker.describe_endpoint(EndpointName=name)
        assert described["EndpointStatus"] == "Failed"
        assert "did not pass the ping health check" in described["FailureReason"]
        assert "pip install -r requirements.txt exited 1" in described["FailureReason"]
        assert f"No matching distribution found for {PROBE}==9.9.9" in described["FailureReason"]
    finally:
        sagemaker.delete_endpoint(EndpointName=name)
