"""The embedded emulator for end-to-end tests: one server for the whole session, in a temporary state folder.

Use `emulator` for its EmulatorInfo (endpoint_url, pid, work_dir, ...) and `emulator_client("s3")` for a boto3
client pointed at it. The fixture sets MLOPS_EMULATOR_HOME for the session, so a config with
`aws.endpoint_url: local` (and `mlops` run as a subprocess) finds this same server. Tests share its state: use
unique resource names, and do not stop or reset it (start a private one for that; see test_local_cli.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

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


@pytest.fixture
def private_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[Any]:
    """A state folder of its own; whatever emulator a test starts in it is stopped afterwards."""
    home = tmp_path / "emulator"
    monkeypatch.setenv(HOME_ENV, str(home))
    yield home
    manager.stop()


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


# ------------------------------------------------------------------------------------------- endpoints (serving)


def _emulator_client(emulator: manager.EmulatorInfo, service: str) -> Any:
    """A boto3 client like `emulator_client` makes, for fixtures wider than one test."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        endpoint_url=emulator.endpoint_url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


class ServedModel:
    """A real model.tar.gz as a training job writes it (model.joblib, schema.json, metadata.json, code/inference.py
    and the mlops_*.py modules), a broken one (no model.joblib: model_fn refuses it), and sample records."""

    def __init__(self, archive: bytes, broken: bytes, records: list[dict[str, str]], features: list[str]) -> None:
        self.archive = archive
        self.broken = broken
        self.records = records  # raw rows that pass the schema, every value as its text
        self.features = features  # in schema order, without the key and the target

    def json_body(self, count: int = 2, with_key: bool = True) -> bytes:
        import json

        instances = []
        for record in self.records[:count]:
            instance = {name: record[name] for name in self.features}
            if with_key:
                instance["customer_id"] = record["customer_id"]
            instances.append(instance)
        return json.dumps({"instances": instances}).encode()

    def csv_body(self, count: int = 2) -> bytes:
        return "".join(
            ",".join(record[name] for name in self.features) + "\n" for record in self.records[:count]
        ).encode()


@pytest.fixture(scope="session")
def served_model(tmp_path_factory: pytest.TempPathFactory) -> ServedModel:
    """Trained once per session by mlops_cli/container_scripts/train.py (logistic regression on 200 rows: about 2 s)."""
    import csv
    import importlib.util
    import io
    import sys
    import tarfile

    from tests.container.contract import DATA, SCRIPTS, files_under, run_training, schema_from_config

    # mlops_schema by path, under a private name: the test process's sys.path stays as it is.
    spec = importlib.util.spec_from_file_location("_serving_mlops_schema", SCRIPTS / "mlops_schema.py")
    assert spec is not None and spec.loader is not None
    ms = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = ms  # its dataclasses need the module registered
    spec.loader.exec_module(ms)
    schema_dict = schema_from_config()
    schema = ms.schema_from_dict(schema_dict)
    raw = ms.read_raw_csv(sorted(DATA.rglob("*.csv"))[0]).head(260)
    clean, _rejects = ms.validate(raw, schema)
    rows = raw.loc[clean.index]
    work = tmp_path_factory.mktemp("served-model")
    for split, part in (("train", rows.iloc[:200]), ("validation", rows.iloc[200:])):
        (work / split).mkdir()
        part.to_csv(work / split / "part-0.csv", index=False)
    result = run_training(
        work / "job",
        {split: files_under(work / split) for split in ("train", "validation")},
        {"algorithm": '"logistic_regression"'},
        schema_dict,
    )
    assert result.returncode == 0, result.describe()
    model_dir = result.opt_ml / "model"

    def archive(skip: tuple[str, ...] = ()) -> bytes:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for path in sorted(model_dir.rglob("*")):
                relative = path.relative_to(model_dir).as_posix()
                if path.is_file() and relative not in skip:
                    tar.add(path, arcname=relative)
        return buffer.getvalue()

    records = list(csv.DictReader(io.StringIO(rows.iloc[200:].to_csv(index=False))))
    features = [column.name for column in schema.features]
    return ServedModel(archive(), archive(skip=("model.joblib",)), records, features)


class ServingKit:
    """What endpoint tests need: clients, a bucket with the served model, and the create / wait / invoke steps as
    the CLI performs them."""

    ROLE = "arn:aws:iam::123456789012:role/churn-local-sagemaker"
    IMAGE = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3"
    ENVIRONMENT: ClassVar[dict[str, str]] = {
        "SAGEMAKER_PROGRAM": "inference.py",
        "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
    }

    def __init__(self, emulator: manager.EmulatorInfo, model: ServedModel) -> None:
        import uuid

        self.work_dir = emulator.work_dir
        self.model = model
        self.s3 = _emulator_client(emulator, "s3")
        self.sagemaker = _emulator_client(emulator, "sagemaker")
        self.runtime = _emulator_client(emulator, "sagemaker-runtime")
        self.cloudwatch = _emulator_client(emulator, "cloudwatch")
        self.logs = _emulator_client(emulator, "logs")
        self.autoscaling = _emulator_client(emulator, "application-autoscaling")
        self.unique = uuid.uuid4().hex[:8]
        self.bucket = f"serving-{self.unique}"
        self.s3.create_bucket(Bucket=self.bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        self.model_url = self.put("models/model.tar.gz", model.archive)
        self.broken_model_url = self.put("models/broken/model.tar.gz", model.broken)

    def name(self, prefix: str) -> str:
        return f"{prefix}-{self.unique}"

    def put(self, key: str, body: bytes) -> str:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)
        return f"s3://{self.bucket}/{key}"

    def create_model(self, name: str, url: str | None = None, **environment: str) -> str:
        container = {
            "Image": self.IMAGE,
            "ModelDataUrl": url or self.model_url,
            "Environment": {**self.ENVIRONMENT, **environment},
        }
        self.sagemaker.create_model(ModelName=name, ExecutionRoleArn=self.ROLE, PrimaryContainer=container)
        return name

    def create_config(self, name: str, model: str, instance_type: str = "ml.m5.large", **extra: Any) -> str:
        variant = {
            "VariantName": "AllTraffic",
            "ModelName": model,
            "InstanceType": instance_type,
            "InitialInstanceCount": 1,
            "InitialVariantWeight": 1.0,
        }
        self.sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant], **extra)
        return name

    def deploy(self, prefix: str, url: str | None = None, wait: bool = True, **config: Any) -> str:
        """Model, endpoint config and endpoint named `<prefix>-<unique>`; waits for InService with the waiter."""
        name = self.name(prefix)
        self.create_config(name, self.create_model(name, url), **config)
        self.sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
        if wait:
            self.wait_in_service(name)
        return name

    def wait_in_service(self, name: str) -> None:
        self.sagemaker.get_waiter("endpoint_in_service").wait(
            EndpointName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 150}
        )

    def describe(self, name: str) -> dict[str, Any]:
        return dict(self.sagemaker.describe_endpoint(EndpointName=name))

    def wait_until(self, name: str, done: Callable[[dict[str, Any]], bool], timeout: float = 30.0) -> dict[str, Any]:
        import time

        deadline = time.monotonic() + timeout
        while True:
            described = self.describe(name)
            if done(described):
                return described
            assert time.monotonic() < deadline, f"endpoint {name} still {described['EndpointStatus']}"
            time.sleep(0.2)

    def invoke(self, name: str, body: bytes, content_type: str = "application/json", **extra: Any) -> Any:
        return self.runtime.invoke_endpoint(EndpointName=name, Body=body, ContentType=content_type, **extra)

    def server_pids(self, endpoint: str) -> list[int]:
        """Processes whose command line names the endpoint's work folder: its model servers and their workers."""
        from pathlib import Path

        marker = str(self.work_dir / "endpoints" / endpoint) + "/"
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if marker in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    pids.append(int(entry.name))
            except OSError:
                continue
        return pids


@pytest.fixture(scope="module")
def serving(emulator: manager.EmulatorInfo, served_model: ServedModel) -> ServingKit:
    """Endpoint tests' kit (see ServingKit), one per test module, with a bucket of its own."""
    return ServingKit(emulator, served_model)
