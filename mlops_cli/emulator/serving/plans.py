"""What a fleet will run, read from the control plane when CreateEndpoint or UpdateEndpoint is called (as in AWS,
later changes to the model or the endpoint config do not reach a running fleet): per production variant, its
model's container, with a `ModelPackageName` container resolved through the model package's
InferenceSpecification. A model the emulator cannot serve gets a `problem`, which fails the fleet like AWS fails an
endpoint it cannot start."""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Any

DEFAULT_STARTUP_TIMEOUT = 240.0  # seconds; ContainerStartupHealthCheckTimeoutInSeconds overrides it


@dataclass(frozen=True)
class ContainerSpec:
    image: str
    model_data_url: str | None
    environment: dict[str, str]
    isolated: bool = False  # the model's EnableNetworkIsolation: the container has no network


@dataclass
class VariantPlan:
    name: str
    model_name: str
    container: ContainerSpec | None
    problem: str | None
    instance_type: str
    instance_count: int
    weight: float
    startup_timeout: float
    instance_id: str = field(default_factory=lambda: "i-" + "".join(random.choices("0123456789abcdef", k=17)))


@dataclass(frozen=True)
class CaptureSettings:
    """An endpoint config's DataCaptureConfig, as the capture writer uses it."""

    enabled: bool
    percentage: int
    destination: str
    kms_key_id: str | None
    capture_input: bool
    capture_output: bool
    csv_types: tuple[str, ...]
    json_types: tuple[str, ...]
    raw: dict[str, Any]

    @classmethod
    def parse(cls, config: dict[str, Any] | None) -> CaptureSettings | None:
        if not config:
            return None
        modes = {option.get("CaptureMode") for option in config.get("CaptureOptions") or []}
        headers = config.get("CaptureContentTypeHeader") or {}
        return cls(
            enabled=bool(config.get("EnableCapture", True)),
            percentage=int(config.get("InitialSamplingPercentage", 0)),
            destination=str(config.get("DestinationS3Uri", "")).rstrip("/"),
            kms_key_id=config.get("KmsKeyId"),
            capture_input=bool(modes & {"Input", "InputAndOutput"}),
            capture_output=bool(modes & {"Output", "InputAndOutput"}),
            csv_types=tuple(headers.get("CsvContentTypes") or ()),
            json_types=tuple(headers.get("JsonContentTypes") or ()),
            raw=config,
        )

    def summary(self) -> dict[str, Any]:
        """DescribeEndpoint's DataCaptureConfigSummary."""
        summary: dict[str, Any] = {
            "EnableCapture": self.enabled,
            "CaptureStatus": "Started" if self.enabled else "Stopped",
            "CurrentSamplingPercentage": self.percentage,
            "DestinationS3Uri": self.destination,
        }
        if self.kms_key_id:
            summary["KmsKeyId"] = self.kms_key_id
        return summary


@dataclass
class FleetPlan:
    config_name: str
    variants: list[VariantPlan]
    capture: CaptureSettings | None

    def variant(self, name: str) -> VariantPlan | None:
        return next((variant for variant in self.variants if variant.name == name), None)


def plan_fleet(backend: Any, config: Any) -> FleetPlan:
    """The fleet for moto's endpoint config object `config`."""
    variants = [_plan_variant(backend, variant) for variant in config.production_variants]
    return FleetPlan(config.endpoint_config_name, variants, CaptureSettings.parse(config.data_capture_config))


def retained(plan: FleetPlan, current: FleetPlan, excluded: set[str]) -> FleetPlan:
    """UpdateEndpoint's RetainAllVariantProperties: variants that exist in both keep the current instance count
    and weight, and the endpoint keeps its data capture, unless ExcludeRetainedVariantProperties names them."""
    variants = []
    for variant in plan.variants:
        old = current.variant(variant.name)
        if old is not None:
            if "DesiredInstanceCount" not in excluded:
                variant = replace(variant, instance_count=old.instance_count)
            if "DesiredWeight" not in excluded:
                variant = replace(variant, weight=old.weight)
        variants.append(variant)
    capture = plan.capture if "DataCaptureConfig" in excluded else current.capture
    return FleetPlan(plan.config_name, variants, capture)


def _plan_variant(backend: Any, variant: dict[str, Any]) -> VariantPlan:
    container, problem = None, None
    try:
        container = _container(backend, variant["ModelName"])
    except Unservable as exc:
        problem = str(exc)
    return VariantPlan(
        name=variant["VariantName"],
        model_name=variant["ModelName"],
        container=container,
        problem=problem,
        instance_type=variant.get("InstanceType") or "serverless",
        instance_count=int(variant.get("InitialInstanceCount") or 1),
        weight=float(variant.get("InitialVariantWeight", 1.0)),
        startup_timeout=float(variant.get("ContainerStartupHealthCheckTimeoutInSeconds") or DEFAULT_STARTUP_TIMEOUT),
    )


class Unservable(Exception):
    """A model the emulator cannot start."""


def _container(backend: Any, model_name: str) -> ContainerSpec:
    model = backend._models.get(model_name)  # moto's own dict: describe_model would raise for a deleted model
    if model is None:
        raise Unservable(f'Could not find model "{model_name}".')
    containers = model.containers or ([model.primary_container] if model.primary_container else [])
    if len(containers) != 1:
        raise Unservable(
            f"model {model_name} has {len(containers)} containers; the emulator serves single-container models"
        )
    container = containers[0]
    isolated = bool(model.enable_network_isolation)
    if container.get("ModelPackageName"):
        return replace(_from_model_package(backend, container), isolated=isolated)
    data_source = container.get("ModelDataSource")
    if data_source and not container.get("ModelDataUrl"):
        raise Unservable(f"model {model_name}: the emulator serves ModelDataUrl (model.tar.gz), not ModelDataSource")
    return ContainerSpec(
        image=str(container.get("Image") or ""),
        model_data_url=container.get("ModelDataUrl"),
        environment=dict(container.get("Environment") or {}),
        isolated=isolated,
    )


def _from_model_package(backend: Any, container: dict[str, Any]) -> ContainerSpec:
    name = container["ModelPackageName"]
    try:
        package = backend.describe_model_package(name)
    except Exception as exc:  # moto's ValidationError for a package that does not exist
        raise Unservable(f"model package {name} cannot be read: {exc}") from exc
    specification = package.inference_specification or {}
    package_containers = specification.get("Containers") or []
    if len(package_containers) != 1:
        raise Unservable(
            f"model package {name} has {len(package_containers)} containers; the emulator serves single-container "
            f"models"
        )
    source = package_containers[0]
    # The model's own Environment adds to (and overrides) the package's, as in AWS.
    environment = {**(source.get("Environment") or {}), **(container.get("Environment") or {})}
    return ContainerSpec(
        image=str(source.get("Image") or container.get("Image") or ""),
        model_data_url=source.get("ModelDataUrl") or container.get("ModelDataUrl"),
        environment=environment,
    )
