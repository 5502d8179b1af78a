"""Unit-test fixtures: services against moto in-process, with the emulator's extensions, so AWS behaviours moto
lacks (a TLS-only bucket policy, EventBridge notifications read back) are the same here as on the emulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from mlops_cli.aws.session import AwsClients
from mlops_cli.config.loader import load_config
from mlops_cli.config.models import Config
from mlops_cli.main import app

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.fixture(scope="session", autouse=True)
def emulator_extensions() -> None:
    from mlops_cli.emulator.extensions import install

    install()


def make_config(*overrides: str) -> Config:
    """The shipped local config without the emulator endpoint (boto3 talks to moto in-process), plus --set's."""
    return load_config(CONFIGS / "local.yaml", ["aws.endpoint_url=", *overrides]).config


def run(args: list[str]) -> int:
    """Run the CLI in-process as `mlops <args>`; return its exit code."""
    try:
        app(args=args)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.fixture
def config() -> Config:
    return make_config()


@pytest.fixture
def clients(config: Config) -> Iterator[AwsClients]:
    with mock_aws():
        yield AwsClients(config.aws, resolve=False)


class RecordingProgress:
    def __init__(self) -> None:
        self.total_bytes = 0
        self.sent = 0
        self.files: list[Any] = []

    def start(self, total_bytes: int, total_files: int) -> None:
        self.total_bytes = total_bytes

    def advance(self, sent_bytes: int) -> None:
        self.sent += sent_bytes

    def file_done(self, item: Any) -> None:
        self.files.append(item)


@pytest.fixture
def progress() -> RecordingProgress:
    return RecordingProgress()


def make_project_key(clients: AwsClients, config: Config) -> None:
    """The project's KMS key and its policy, as `storage init` makes them before any deploy: the stages after deploy
    encrypt their log groups with it."""
    from mlops_cli.services.convergence import converge
    from mlops_cli.services.storage.controls import StorageTarget, storage_controls

    converge([c for c in storage_controls(StorageTarget(clients, config)) if c.name.startswith("encryption key")])


@pytest.fixture
def endpoint(clients: AwsClients, config: Config) -> str:
    """A SageMaker endpoint as moto keeps it: enough for the API to point at; and the project key before it."""
    make_project_key(clients, config)
    sagemaker, name = clients.client("sagemaker"), config.names().prefix
    role = "arn:aws:iam::123456789012:role/sm"
    image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/x:1"
    sagemaker.create_model(ModelName=f"{name}-v1", ExecutionRoleArn=role, PrimaryContainer={"Image": image})
    sagemaker.create_endpoint_config(
        EndpointConfigName=f"{name}-v1-c",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": f"{name}-v1",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-v1-c")
    return name


@pytest.fixture
def aws_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every AWS call (and emulator start) the test makes; each one fails the test."""
    import botocore.client

    calls: list[str] = []

    def record(self: Any, operation: str, params: Any) -> Any:
        calls.append(operation)
        raise AssertionError(f"AWS call {operation} made")

    def no_emulator() -> Any:
        calls.append("emulator start")
        raise AssertionError("the emulator was started")

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", record)
    monkeypatch.setattr("mlops_cli.emulator.manager.ensure_running", no_emulator)
    return calls
