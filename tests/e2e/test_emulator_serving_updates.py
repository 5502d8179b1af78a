"""UpdateEndpoint (moto lacks it) and DeleteEndpoint on the emulator: blue/green with no failed request, rollback
when the new fleet cannot start or a rollback alarm is in ALARM, deploying a Model Registry version, and no server
left behind. The tests share one endpoint and leave it InService (the last one deletes it); none depends on what
another did, since pytest-xdist may run them on different workers."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from tests.e2e.conftest import ServingKit

pytestmark = pytest.mark.e2e

BLUE_GREEN = {
    "BlueGreenUpdatePolicy": {
        "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 1},
        "TerminationWaitInSeconds": 0,
        "MaximumExecutionTimeoutInSeconds": 600,
    }
}


@pytest.fixture(scope="module")
def endpoint(serving: ServingKit) -> Iterator[str]:
    name = serving.deploy("rollout")
    yield name
    try:
        serving.wait_until(name, lambda d: d["EndpointStatus"] in ("InService", "Failed"))
        serving.sagemaker.delete_endpoint(EndpointName=name)
    except ClientError:
        pass  # deleted by the last test


class Invoker:
    """Invokes the endpoint from a thread until stopped, counting answers and failures."""

    def __init__(self, serving: ServingKit, endpoint: str) -> None:
        self.serving, self.endpoint = serving, endpoint
        self.answered = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Invoker:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        body = self.serving.model.json_body(1)
        while not self._stop.is_set():
            try:
                self.serving.invoke(self.endpoint, body)
                self.answered += 1
            except Exception as exc:
                self.failures.append(repr(exc))
            time.sleep(0.01)  # leave the cores to the fleet being started


def config_name(serving: ServingKit, prefix: str, **environment: str) -> str:
    name = serving.name(prefix)
    serving.create_config(name, serving.create_model(name, **environment))
    return name


def test_an_update_switches_fleets_without_a_failed_request(serving: ServingKit, endpoint: str) -> None:
    before = serving.describe(endpoint)["EndpointConfigName"]
    old_pids = serving.server_pids(endpoint)
    assert old_pids
    # The new model answers at most one row per request, which tells the two fleets apart.
    new_config = config_name(serving, "one-row", MLOPS_MAX_ROWS="1")
    with Invoker(serving, endpoint) as invoker:
        time.sleep(0.3)
        serving.sagemaker.update_endpoint(
            EndpointName=endpoint, EndpointConfigName=new_config, DeploymentConfig=BLUE_GREEN
        )
        updating = serving.describe(endpoint)
        assert updating["EndpointStatus"] == "Updating"
        assert updating["EndpointConfigName"] == before  # the old config until the update completes
        assert updating["PendingDeploymentSummary"]["EndpointConfigName"] == new_config
        with pytest.raises(ClientError, match="Cannot update in-progress endpoint"):
            serving.sagemaker.update_endpoint(EndpointName=endpoint, EndpointConfigName=new_config)
        described = serving.wait_until(endpoint, lambda d: d["EndpointStatus"] == "InService")
        time.sleep(0.3)
    assert invoker.failures == []
    assert invoker.answered > 10
    assert described["EndpointConfigName"] == new_config
    assert described["LastDeploymentConfig"] == BLUE_GREEN
    assert "FailureReason" not in described and "PendingDeploymentSummary" not in described
    with pytest.raises(ClientError) as too_many:
        serving.invoke(endpoint, serving.model.json_body(2))
    assert too_many.value.response["OriginalStatusCode"] == 400
    assert "too many rows: 2" in too_many.value.response["OriginalMessage"]
    assert not set(old_pids) & set(serving.server_pids(endpoint))  # the old fleet's servers are gone


def test_an_update_to_a_model_that_cannot_load_rolls_back(serving: ServingKit, endpoint: str) -> None:
    before = serving.describe(endpoint)["EndpointConfigName"]
    broken = serving.name("broken")
    serving.create_config(broken, serving.create_model(broken, url=serving.broken_model_url))
    with Invoker(serving, endpoint) as invoker:
        serving.sagemaker.update_endpoint(EndpointName=endpoint, EndpointConfigName=broken)
        described = serving.wait_until(endpoint, lambda d: d["EndpointStatus"] == "InService")
    assert invoker.failures == []
    assert described["EndpointConfigName"] == before
    assert "did not pass the ping health check" in described["FailureReason"]
    assert serving.invoke(endpoint, serving.model.json_body(1))["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_a_rollback_alarm_in_alarm_while_baking_rolls_back(serving: ServingKit, endpoint: str) -> None:
    before = serving.describe(endpoint)["EndpointConfigName"]
    alarm = serving.name("4xx")
    serving.cloudwatch.put_metric_alarm(
        AlarmName=alarm,
        Namespace="AWS/SageMaker",
        MetricName="Invocation4XXErrors",
        Dimensions=[{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": "AllTraffic"}],
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching",
    )
    with pytest.raises(ClientError):  # one client error: the alarm's metric crosses its threshold
        serving.invoke(endpoint, b'{"instances": []}')
    guarded = {**BLUE_GREEN, "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": alarm}]}}
    serving.sagemaker.update_endpoint(
        EndpointName=endpoint, EndpointConfigName=config_name(serving, "guarded"), DeploymentConfig=guarded
    )
    described = serving.wait_until(endpoint, lambda d: d["EndpointStatus"] == "InService")
    assert described["EndpointConfigName"] == before
    assert alarm in described["FailureReason"] and "rolled back" in described["FailureReason"]
    [state] = serving.cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"]
    assert state["StateValue"] == "ALARM"
    with pytest.raises(ClientError, match="do not exist"):
        serving.sagemaker.update_endpoint(
            EndpointName=endpoint,
            EndpointConfigName=before,
            DeploymentConfig={**BLUE_GREEN, "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "nope"}]}},
        )


def test_a_model_registry_version_is_deployed_with_its_inference_specification(
    serving: ServingKit, endpoint: str
) -> None:
    group = serving.name("registry")
    serving.sagemaker.create_model_package_group(ModelPackageGroupName=group)
    package = serving.sagemaker.create_model_package(
        ModelPackageGroupName=group,
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [
                {"Image": serving.IMAGE, "ModelDataUrl": serving.model_url, "Environment": serving.ENVIRONMENT}
            ],
            "SupportedContentTypes": ["application/json", "text/csv"],
            "SupportedResponseMIMETypes": ["application/json", "text/csv"],
        },
    )["ModelPackageArn"]
    serving.sagemaker.create_model(
        ModelName=group, ExecutionRoleArn=serving.ROLE, Containers=[{"ModelPackageName": package}]
    )
    serving.create_config(group, group)
    serving.sagemaker.update_endpoint(EndpointName=endpoint, EndpointConfigName=group)
    described = serving.wait_until(endpoint, lambda d: d["EndpointStatus"] == "InService")
    assert described["EndpointConfigName"] == group
    answer = serving.invoke(endpoint, serving.model.json_body(2))  # two rows: the package's model has no row limit
    assert len(json.loads(answer["Body"].read())["predictions"]) == 2


def test_an_update_may_not_change_a_scaled_variant_instance_type(serving: ServingKit, endpoint: str) -> None:
    resource = f"endpoint/{endpoint}/variant/AllTraffic"
    target: dict[str, Any] = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": resource,
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
    }
    serving.autoscaling.register_scalable_target(**target, MinCapacity=1, MaxCapacity=2)
    bigger = serving.name("bigger")
    serving.create_config(bigger, serving.create_model(bigger), instance_type="ml.m5.xlarge")
    with pytest.raises(ClientError, match="scalable targets"):
        serving.sagemaker.update_endpoint(EndpointName=endpoint, EndpointConfigName=bigger)
    serving.autoscaling.deregister_scalable_target(**target)
    assert serving.describe(endpoint)["EndpointStatus"] == "InService"


def test_delete_stops_the_servers_and_the_endpoint_is_gone(serving: ServingKit, endpoint: str) -> None:
    assert serving.server_pids(endpoint)
    serving.sagemaker.delete_endpoint(EndpointName=endpoint)
    assert serving.server_pids(endpoint) == []
    with pytest.raises(ClientError) as raised:
        serving.invoke(endpoint, serving.model.json_body(1))
    assert raised.value.response["Error"]["Code"] == "ValidationError"
    with pytest.raises(ClientError, match="Could not find endpoint"):
        serving.describe(endpoint)
    with pytest.raises(ClientError, match="Could not find endpoint"):
        serving.sagemaker.delete_endpoint(EndpointName=endpoint)
