"""Every log group the tool makes or has AWS write to expires and is encrypted with the project's KMS key: the REST
API's access and execution logs, the load balancer's proxy function, SageMaker's (storage's tests cover those)."""

from __future__ import annotations

from typing import Any

import pytest

from mlops_cli.aws.session import AwsClients
from mlops_cli.config.models import Config
from mlops_cli.emulator.extensions.logs_kms import key_problem
from mlops_cli.errors import PreconditionFailed
from mlops_cli.services import gateway, lb
from mlops_cli.services.convergence import Action, ControlResult
from mlops_cli.services.gateway_definition import GatewayNames, names_of
from mlops_cli.services.lb_proxy import function_name
from tests.unit.conftest import make_config

ACCOUNT = "123456789012"
LOG_CONTROLS = ("access log group", "execution log group", "proxy log group")


def _project_key(clients: AwsClients, config: Config) -> str:
    return str(clients.client("kms").describe_key(KeyId=config.names().kms_alias)["KeyMetadata"]["Arn"])


def _groups(clients: AwsClients) -> dict[str, dict[str, Any]]:
    return {g["logGroupName"]: g for g in clients.client("logs").describe_log_groups()["logGroups"]}


def _log_actions(controls: list[ControlResult]) -> dict[str, Action | None]:
    return {c.name: c.action for c in controls if c.name in LOG_CONTROLS}


def _apply_both(clients: AwsClients, config: Config) -> tuple[gateway.ApplyResult, Any]:
    return gateway.apply(clients, config), lb.apply(clients, config, wait=False)


def _names(clients: AwsClients, config: Config, api_id: str) -> list[str]:
    return [
        names_of(config).access_log_group,
        GatewayNames.execution_log_group(api_id, config.gateway.stage),
        f"/aws/lambda/{function_name(config)}",
    ]


def test_the_api_and_proxy_function_log_groups_take_the_project_key_and_expire(
    clients: AwsClients, config: Config, endpoint: str
) -> None:
    api, balancer = _apply_both(clients, config)
    assert _log_actions(api.controls) == {"access log group": Action.CREATED, "execution log group": Action.CREATED}
    assert _log_actions(balancer.controls) == {"proxy log group": Action.CREATED}
    key, groups = _project_key(clients, config), _groups(clients)
    for name in _names(clients, config, api.api_id):
        assert groups[name]["kmsKeyId"] == key, name
        assert groups[name]["retentionInDays"] == config.gateway.logging.retention_days, name
        # the key policy storage writes lets CloudWatch Logs use the key for this group (the emulator's check)
        assert key_problem(ACCOUNT, "eu-west-1", key, name) is None

    clients.call_log.calls.clear()
    api, balancer = _apply_both(clients, config)
    assert set(_log_actions([*api.controls, *balancer.controls]).values()) == {Action.UNCHANGED}
    assert not clients.call_log.writes(), clients.call_log.writes()


def test_a_group_made_without_the_key_or_retention_gets_both(
    clients: AwsClients, config: Config, endpoint: str
) -> None:
    """API Gateway and Lambda create their groups themselves when they log first, with neither."""
    api, _ = _apply_both(clients, config)
    logs = clients.client("logs")
    names = _names(clients, config, api.api_id)
    for name in names:
        logs.delete_log_group(logGroupName=name)
        logs.create_log_group(logGroupName=name)

    api, balancer = _apply_both(clients, config)
    assert set(_log_actions([*api.controls, *balancer.controls]).values()) == {Action.UPDATED}
    key, groups = _project_key(clients, config), _groups(clients)
    assert {(groups[n]["kmsKeyId"], groups[n]["retentionInDays"]) for n in names} == {(key, 90)}


def test_a_changed_retention_is_applied_to_every_group(clients: AwsClients, config: Config, endpoint: str) -> None:
    api, _ = _apply_both(clients, config)
    longer = make_config("gateway.logging.retention_days=365")
    api, balancer = _apply_both(clients, longer)
    assert set(_log_actions([*api.controls, *balancer.controls]).values()) == {Action.UPDATED}
    groups = _groups(clients)
    assert {groups[n]["retentionInDays"] for n in _names(clients, longer, api.api_id)} == {365}


def test_without_a_project_key_the_groups_still_expire(clients: AwsClients, endpoint: str) -> None:
    """SSE-S3 storage has no key; a configured key's policy is not the project's to open to CloudWatch Logs."""
    configured = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    for config in (make_config("storage.encryption=s3"), make_config(f"storage.kms_key={configured}")):
        api, _ = _apply_both(clients, config)
        groups = _groups(clients)
        for name in _names(clients, config, api.api_id):
            assert groups[name]["retentionInDays"] == 90 and "kmsKeyId" not in groups[name], name


def test_a_missing_project_key_is_a_precondition_that_names_storage_init(clients: AwsClients, config: Config) -> None:
    from mlops_cli.services.log_groups import log_group_control, project_log_key

    control = log_group_control(
        clients, "proxy log group", "/aws/lambda/x", retention_days=90, key=project_log_key(clients, config), tags={}
    )
    with pytest.raises(PreconditionFailed, match="alias/churn-local-data does not exist") as raised:
        control.write()
    assert raised.value.exit_code == 3 and "mlops storage init" in str(raised.value)
    assert "/aws/lambda/x" not in _groups(clients)


def test_jobs_and_an_endpoint_logging_into_the_groups_leave_storage_unchanged(
    clients: AwsClients, config: Config
) -> None:
    """What a pipeline run does to SageMaker's groups between two `storage init`s, as the emulator does it: jobs and
    the endpoint's server create their streams (and would create a missing group) and write to them."""
    import time

    from mlops_cli.emulator.jobs.logs import PROCESSING_GROUP, TRAINING_GROUP, JobLog
    from mlops_cli.emulator.serving.logs import LogStream
    from mlops_cli.services.storage.stack import init_storage

    init_storage(clients, config)
    logs = clients.client("logs")
    for group in (PROCESSING_GROUP, TRAINING_GROUP):
        job = JobLog(logs, group, "churn-local-job", ["algo-1", "algo-2"], time.time())
        job.write("algo-1", "validation:auc=0.9")
        job.close()
        events = logs.get_log_events(logGroupName=group, logStreamName=job.streams["algo-1"])["events"]
        assert [e["message"] for e in events] == ["validation:auc=0.9"]
    server = LogStream(logs, "/aws/sagemaker/Endpoints/churn-local", "AllTraffic/i-0123")
    server.open()
    server.write("model loaded")
    server.close()

    clients.call_log.calls.clear()
    again = init_storage(clients, config)
    assert {c.action for c in again.controls} == {Action.UNCHANGED}
    assert not clients.call_log.writes(), clients.call_log.writes()
