"""What `mlops deploy` asks for: prediction requests, rollout settings, alarms."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops_cli.config.models import Config
from mlops_cli.errors import UsageError
from mlops_cli.services import deploy
from mlops_cli.services.requests import request_body, request_from_csv, request_from_json
from tests.unit.conftest import make_config


def test_json_requests_are_always_instances() -> None:
    assert json.loads(request_from_json('{"plan": "pro"}', "x")) == {"instances": [{"plan": "pro"}]}
    assert json.loads(request_from_json('[{"plan": "pro"}]', "x")) == {"instances": [{"plan": "pro"}]}
    assert json.loads(request_from_json('{"instances": []}', "x")) == {"instances": []}
    with pytest.raises(UsageError, match="not JSON"):
        request_from_json("{nope", "--data")


def test_csv_with_a_header_is_reordered_to_the_features(config: Config) -> None:
    text = "churned,plan,customer_id," + ",".join(n for n in config.dataset.features if n != "plan") + "\n"
    text += "yes,pro,C1," + ",".join(str(i) for i in range(len(config.dataset.features) - 1)) + "\n"
    body = request_from_csv(text, config.dataset).decode()
    [row] = [line.split(",") for line in body.splitlines()]
    assert len(row) == len(config.dataset.features)  # no key, no target
    assert row[list(config.dataset.features).index("plan")] == "pro"
    headerless = "1,2,3\n"
    assert request_from_csv(headerless, config.dataset).decode() == headerless


def test_request_body_needs_exactly_one_source(config: Config, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="exactly one"):
        request_body(None, None, config.dataset)
    rows = tmp_path / "rows.json"
    rows.write_text('[{"plan": "basic"}]')
    assert request_body(None, rows, config.dataset) == (b'{"instances": [{"plan": "basic"}]}', "application/json")


def test_alarms_watch_the_endpoint_variant() -> None:
    config = make_config("deploy.alarms={error_5xx_per_minute: 3, latency_p99_ms: 500}")
    alarms = deploy.alarm_definitions(config, "churn-local")
    errors, latency = alarms["churn-local-5xx-errors"], alarms["churn-local-p99-latency"]
    assert errors["MetricName"] == "Invocation5XXErrors" and errors["Threshold"] == 3.0
    assert latency["ExtendedStatistic"] == "p99" and latency["Threshold"] == 500_000.0  # microseconds
    assert {d["Name"] for d in errors["Dimensions"]} == {"EndpointName", "VariantName"}


@pytest.mark.parametrize(
    ("mode", "key", "value"),
    [
        ("canary", "CanarySize", {"Type": "CAPACITY_PERCENT", "Value": 10}),
        ("linear", "LinearStepSize", {"Type": "CAPACITY_PERCENT", "Value": 25}),
    ],
)
def test_rollout_modes(mode: str, key: str, value: dict) -> None:
    # a canary or linear step is at most half the fleet: two instances at least
    config = make_config(f"deploy.rollout.mode={mode}", "deploy.instance_count=2", "deploy.autoscaling.min=2")
    policy = deploy._deployment_config(config, ["a"])
    routing = policy["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing["Type"] == mode.upper() and routing[key] == value
    assert policy["AutoRollbackConfiguration"] == {"Alarms": [{"AlarmName": "a"}]}


def test_prod_needs_two_instances() -> None:
    from mlops_cli.config.loader import load_config
    from mlops_cli.errors import ConfigError

    with pytest.raises(ConfigError, match="at least 2 in prod"):
        load_config(
            Path(__file__).resolve().parents[2] / "configs" / "prod.yaml",
            ["deploy.instance_count=1", "deploy.autoscaling.min=1", "deploy.rollout.mode=all_at_once"],
        )
