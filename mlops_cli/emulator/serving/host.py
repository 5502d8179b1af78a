"""The endpoints this emulator serves, across accounts and regions, and the control-plane operations on them
(the checks and error messages are AWS's). The API methods in `api` call these with moto's SageMaker backend."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from moto.core.utils import utcnow
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import FakeEndpoint, FakeEndpointConfig

from mlops_cli.emulator import alarms, autoscaling
from mlops_cli.emulator.jobs.runtime import announce, runtime
from mlops_cli.emulator.serving import deploy, invocations
from mlops_cli.emulator.serving.endpoint import IN_PROGRESS, Endpoint
from mlops_cli.emulator.serving.fleet import Fleet, fleet_folder
from mlops_cli.emulator.serving.plans import FleetPlan, plan_fleet, retained
from mlops_cli.emulator.serving.rollout import rollout_of

Key = tuple[str, str, str]  # account, region, endpoint name


class Host:
    def __init__(self) -> None:
        self._endpoints: dict[Key, Endpoint] = {}
        self._lock = threading.Lock()

    def get(self, account_id: str, region: str, name: str) -> Endpoint | None:
        with self._lock:
            return self._endpoints.get((account_id, region, name))

    # ------------------------------------------------------------------------------------------- operations

    def create(self, backend: Any, request: dict[str, Any]) -> str:
        name, config_name = request["EndpointName"], request["EndpointConfigName"]
        account_id, region = backend.account_id, backend.region_name
        _refuse_existing(backend, name)
        config = _config(backend, config_name)
        deployment_config = request.get("DeploymentConfig")
        _check_alarms(account_id, region, deployment_config)
        fake = FakeEndpoint(  # type: ignore[abstract]
            account_id=account_id,
            region_name=region,
            endpoint_name=name,
            endpoint_config_name=config_name,
            production_variants=config.production_variants,
            data_capture_config=config.data_capture_config,
            tags=request.get("Tags") or [],
        )
        fake.endpoint_status = "Creating"
        endpoint = Endpoint(fake, account_id, region)
        endpoint.last_deployment_config = deployment_config
        fleet = self._fleet(endpoint, plan_fleet(backend, config), None)
        endpoint.pending, endpoint.pending_since = fleet, utcnow()
        with self._lock:
            _refuse_existing(backend, name)  # again: a concurrent CreateEndpoint may have won meanwhile
            self._endpoints[(account_id, region, name)] = endpoint
            backend.endpoints[name] = fake
        announce(f"endpoint {name}: creating from endpoint config {config_name}; work folder {fleet.folder}")
        deploy.start_thread(endpoint, deploy.create, fleet)
        return str(fake.arn)

    def update(self, backend: Any, request: dict[str, Any]) -> str:
        endpoint = self._existing(backend, request["EndpointName"])
        with endpoint.lock:
            if endpoint.status == "Failed":
                raise ValidationError(f'Cannot update failed endpoint "{endpoint.arn}".')
            if endpoint.status != "InService" or endpoint.active is None:
                raise ValidationError(f'Cannot update in-progress endpoint "{endpoint.arn}".')
            config = _config(backend, request["EndpointConfigName"])
            if request.get("RetainDeploymentConfig"):
                deployment_config = endpoint.last_deployment_config
            else:
                deployment_config = request.get("DeploymentConfig")
            _check_alarms(endpoint.account_id, endpoint.region, deployment_config)
            old = endpoint.active
            plan = plan_fleet(backend, config)
            if request.get("RetainAllVariantProperties"):
                excluded = {
                    item["VariantPropertyType"] for item in request.get("ExcludeRetainedVariantProperties") or []
                }
                plan = retained(plan, old.plan, excluded)
            _check_scaled_variants(endpoint, old.plan, plan)
            new = self._fleet(endpoint, plan, old)
            endpoint.pending, endpoint.pending_since, endpoint.pending_status = new, utcnow(), "Creating"
            if deployment_config:
                endpoint.last_deployment_config = deployment_config
            endpoint.set_status("Updating", failure_reason=None)
        rollout = rollout_of(deployment_config, sum(variant.instance_count for variant in plan.variants))
        announce(
            f"endpoint {endpoint.name}: updating to endpoint config {config.endpoint_config_name} "
            f"({len(rollout.steps)} traffic step(s)); work folder {new.folder}"
        )
        deploy.start_thread(endpoint, deploy.update, old, new, rollout)
        return endpoint.arn

    def delete(self, backend: Any, name: str) -> None:
        endpoint = self._existing(backend, name)
        with endpoint.lock:
            if endpoint.status in IN_PROGRESS:
                raise ValidationError(f'Cannot update in-progress endpoint "{endpoint.arn}".')
            endpoint.abandoned = True
            endpoint.route()  # no new invocation reaches it from here on
            fleets = endpoint.fleets()
            with self._lock:
                self._endpoints.pop((endpoint.account_id, endpoint.region, name), None)
                backend.endpoints.pop(name, None)
        for fleet in fleets:
            fleet.drain()
            fleet.stop()
        autoscaling.forget_endpoint(endpoint.account_id, endpoint.region, name)
        announce(f"endpoint {name} deleted")

    def describe(self, backend: Any, name: str) -> dict[str, Any]:
        return self._existing(backend, name).describe()

    def update_weights_and_capacities(self, backend: Any, request: dict[str, Any]) -> str:
        endpoint = self._existing(backend, request["EndpointName"])
        with endpoint.lock:
            if endpoint.status != "InService" or endpoint.active is None:
                raise ValidationError(f'Cannot update in-progress endpoint "{endpoint.arn}".')
            servers = endpoint.active.servers
            desired = request["DesiredWeightsAndCapacities"]
            names = [item["VariantName"] for item in desired]
            for variant in names:
                if names.count(variant) > 1:
                    raise ValidationError(f'The variant name "{variant}" was non-unique within the request.')
                if variant not in servers:
                    raise ValidationError(
                        f'The variant name(s) "{variant}" is/are not present within endpoint configuration '
                        f'"{endpoint.fake.endpoint_config_name}".'
                    )
            for item in desired:
                plan = servers[item["VariantName"]].plan
                if item.get("DesiredWeight") is not None:
                    plan.weight = float(item["DesiredWeight"])
                if item.get("DesiredInstanceCount") is not None:
                    plan.instance_count = int(item["DesiredInstanceCount"])
            endpoint.activate(endpoint.active)  # refreshes what DescribeEndpoint reports
            endpoint.set_status("InService")
        return endpoint.arn

    def invoke(self, account_id: str, region: str, request: invocations.Request) -> invocations.Result:
        return invocations.invoke(self.get(account_id, region, request.endpoint), account_id, region, request)

    def stop_all(self) -> None:
        """Stop every fleet at once and forget every endpoint: the emulator resets or shuts down."""
        with self._lock:
            endpoints, self._endpoints = list(self._endpoints.values()), {}
        for endpoint in endpoints:
            with endpoint.lock:
                endpoint.abandoned = True
                endpoint.route()
                fleets = endpoint.fleets()
            for fleet in fleets:
                fleet.stop(graceful=False)

    # ------------------------------------------------------------------------------------------------ helpers

    def _existing(self, backend: Any, name: str) -> Endpoint:
        endpoint = self.get(backend.account_id, backend.region_name, name)
        if endpoint is None:
            arn = FakeEndpoint.arn_formatter(name, backend.account_id, backend.region_name)
            raise ValidationError(f'Could not find endpoint "{arn}".')
        return endpoint

    def _fleet(self, endpoint: Endpoint, plan: FleetPlan, current: Fleet | None) -> Fleet:
        folder = fleet_folder(runtime.settings.work_dir, endpoint.name, plan.config_name)
        if current is not None and current.folder == folder:  # an update to the config it runs already
            folder = _free_folder(folder)
        return Fleet(endpoint.name, plan, folder, endpoint.account_id, endpoint.region)


def _free_folder(folder: Path) -> Path:
    index = 2
    while folder.with_name(f"{folder.name}.{index}").exists():
        index += 1
    return folder.with_name(f"{folder.name}.{index}")


def _refuse_existing(backend: Any, name: str) -> None:
    if name in backend.endpoints:  # moto would overwrite it
        arn = FakeEndpoint.arn_formatter(name, backend.account_id, backend.region_name)
        raise ValidationError(f'Cannot create already existing endpoint "{arn}".')


def _config(backend: Any, name: str) -> Any:
    config = backend.endpoint_configs.get(name)
    if config is None:
        arn = FakeEndpointConfig.arn_formatter(name, backend.account_id, backend.region_name)
        raise ValidationError(f'Could not find endpoint configuration "{arn}".')
    return config


def _check_alarms(account_id: str, region: str, deployment_config: dict[str, Any] | None) -> None:
    rollback = (deployment_config or {}).get("AutoRollbackConfiguration") or {}
    names = [alarm["AlarmName"] for alarm in rollback.get("Alarms") or []]
    unknown = alarms.missing(account_id, region, names)
    if unknown:
        raise ValidationError(
            f"The CloudWatch alarm(s) {', '.join(unknown)} of AutoRollbackConfiguration do not exist."
        )


def _check_scaled_variants(endpoint: Endpoint, current: FleetPlan, new: FleetPlan) -> None:
    """An update may not remove a variant registered with Application Auto Scaling, or change its instance type."""
    blocked = []
    for variant in autoscaling.scaled_variants(endpoint.account_id, endpoint.region, endpoint.name):
        old, replacement = current.variant(variant), new.variant(variant)
        if old is not None and (replacement is None or replacement.instance_type != old.instance_type):
            blocked.append(variant)
    if blocked:
        raise ValidationError(
            f"The variant(s) {blocked} of endpoint {endpoint.name} are registered as scalable targets with "
            f"Application Auto Scaling: deregister them (DeleteScalingPolicy, DeregisterScalableTarget) before an "
            f"update removes them or changes their instance type."
        )


host = Host()
