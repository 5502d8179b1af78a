"""A rollback sticks: `deploy rollback` pins the version it goes back to, so neither `deploy apply` without
--version nor `pipeline run` brings back the newest approved version; `deploy apply --version N` lifts the pin.

moto lacks UpdateEndpoint (the emulator has it): here it switches the endpoint to the new config at once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from mlops_cli.aws.session import AwsClients
from mlops_cli.config.models import Config
from mlops_cli.errors import PreconditionFailed
from mlops_cli.services import deploy, pipeline, register
from tests.unit.test_cli_errors import run
from tests.unit.test_pipeline import newest_first, region  # noqa: F401 (autouse fixtures)
from tests.unit.test_register_runs import preprocessed, registry_config, trained


@pytest.fixture
def config() -> Config:
    return registry_config("deploy.autoscaling.enabled=false", "deploy.data_capture.enabled=false")


@pytest.fixture(autouse=True)
def update_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from moto.sagemaker.responses import SageMakerResponse

    def update(self: Any) -> str:
        endpoint = self.sagemaker_backend.endpoints[self._get_param("EndpointName")]
        endpoint.endpoint_config_name = self._get_param("EndpointConfigName")
        return json.dumps({"EndpointArn": endpoint.arn})

    monkeypatch.setattr(SageMakerResponse, "update_endpoint", update, raising=False)
    yield


def _ignore(*args: Any) -> None:
    pass


def _apply(clients: AwsClients, config: Config, version: int | None = None) -> deploy.DeployResult:
    return deploy.apply(clients, config, version_number=version, observe=_ignore)


@pytest.fixture
def two_approved(clients: AwsClients, config: Config) -> None:
    preprocessed(clients, config)
    for _ in range(2):
        registration = register.register_model(clients, config, trained(clients, config))
        assert registration.version.status == "Approved"


def test_a_rollback_is_not_undone_by_apply_or_the_pipeline(
    clients: AwsClients, config: Config, two_approved: None
) -> None:
    assert _apply(clients, config, 1).version == 1
    assert _apply(clients, config).version == 2  # the newest approved
    rolled = deploy.rollback(clients, config, observe=_ignore)
    assert (rolled.version, rolled.previous_version) == (1, 2)
    again = _apply(clients, config)
    assert (again.version, again.action.value) == (1, "unchanged")
    result = pipeline.run(clients, config, pipeline.Options(stages=["deploy"]), lambda event: None)
    stage = result.stages[0]
    assert result.exit_code == 0 and (stage.status, stage.figures["model_version"]) == ("skipped", 1)

    assert rolled.pin is not None and "version 1 is pinned" in rolled.pin  # each output says so
    assert again.pin is not None and "the newest approved version, 2, waits" in again.pin
    assert "pinned" in stage.summary and any("version 1 is pinned" in w for w in stage.warnings)
    assert deploy.status(clients, config).pinned_version == 1


def test_apply_with_a_version_lifts_the_pin(clients: AwsClients, config: Config, two_approved: None) -> None:
    _apply(clients, config, 1)
    _apply(clients, config)
    deploy.rollback(clients, config, observe=_ignore)
    moved = _apply(clients, config, 2)
    assert moved.version == 2 and moved.pin == "the pin on version 1 (set by `mlops deploy rollback`) is lifted"
    assert deploy.status(clients, config).pinned_version is None
    assert _apply(clients, config).pin is None


def test_a_pinned_version_rejected_since_is_not_served_silently(
    clients: AwsClients, config: Config, two_approved: None
) -> None:
    _apply(clients, config, 1)
    _apply(clients, config)
    deploy.rollback(clients, config, observe=_ignore)
    register.set_approval(clients, config, 1, "Rejected", "leaks a feature")
    with pytest.raises(PreconditionFailed, match=r"pinned to version 1 .* Rejected") as refused:
        _apply(clients, config)
    assert "--version N" in (refused.value.hint or "")


def test_rollback_says_so_in_its_output(
    clients: AwsClients, config: Config, two_approved: None, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.unit.conftest import CONFIGS

    _apply(clients, config, 1)
    _apply(clients, config)
    settings = ["--set", "aws.endpoint_url=", "--set", "storage.encryption=s3"]
    settings += ["--set", "deploy.autoscaling.enabled=false", "--set", "deploy.data_capture.enabled=false"]
    capsys.readouterr()
    assert run(["--json", "deploy", "rollback", "-c", str(CONFIGS / "local.yaml"), *settings]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["version"] == 1 and "pinned" in out["pin"]
