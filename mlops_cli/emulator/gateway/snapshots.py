"""What a deployment serves. API Gateway freezes an API's resources, methods, integrations, models, validators and
gateway responses when a deployment is created, and a stage serves its deployment until it points at another one;
moto keeps only the live API. A reversible patch of moto's `RestAPI.create_deployment` records a `Snapshot` (deep
copies, in the API's own JSON shapes) on each new deployment object.

The same patch keeps an existing stage when a deployment targets it, as AWS does (only its deploymentId changes);
moto replaces it with a bare stage, dropping its method settings, access log settings and tracing.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Any

from moto.apigateway.models import Deployment, RestAPI

from mlops_cli.emulator.extensions.patching import Patch

_ATTRIBUTE = "_mlops_snapshot"  # on moto's Deployment object; moto's to_json lists its fields, so it never leaks


@dataclass(frozen=True)
class Method:
    """One method of a resource, as GetMethod shows it (camelCase keys of the API)."""

    http_method: str
    authorization_type: str
    api_key_required: bool
    request_parameters: dict[str, bool]
    request_models: dict[str, str]
    request_validator_id: str | None
    integration: dict[str, Any] | None  # GetIntegration's shape, integrationResponses keyed by status code
    method_responses: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Resource:
    path: str  # "/", "/predict", "/items/{id}"
    methods: dict[str, Method]


@dataclass(frozen=True)
class Snapshot:
    deployment_id: str
    resources: tuple[Resource, ...]
    models: dict[str, dict[str, Any]]  # name -> GetModel's shape (schema as text, contentType)
    validators: dict[str, dict[str, Any]]  # id -> GetRequestValidator's shape
    gateway_responses: dict[str, dict[str, Any]]  # responseType -> GetGatewayResponse's shape
    binary_media_types: tuple[str, ...] = ()
    api_key_source: str = "HEADER"
    policy: str | None = None  # the API's resource policy
    execute_api_disabled: bool = False  # disableExecuteApiEndpoint
    account_id: str = ""
    region: str = ""


def take(api: RestAPI) -> Snapshot:
    """The API as it is now (deep copies: later changes to the API do not reach the snapshot)."""
    resources = []
    for resource in list(api.resources.values()):
        methods = {name: _method(method) for name, method in list(resource.resource_methods.items())}
        resources.append(Resource(path=_path(api, resource.id), methods=methods))
    return Snapshot(
        deployment_id="",
        resources=tuple(sorted(resources, key=lambda resource: resource.path)),
        models={name: copy.deepcopy(model.to_json()) for name, model in list(api.models.items())},
        validators={
            validator_id: copy.deepcopy(validator.to_dict())
            for validator_id, validator in list(api.request_validators.items())
        },
        gateway_responses={
            response_type: copy.deepcopy(response.to_json())
            for response_type, response in list(api.gateway_responses.items())
        },
        binary_media_types=tuple(api.binaryMediaTypes or ()),
        api_key_source=api.api_key_source or "HEADER",
        policy=api.policy or None,
        execute_api_disabled=bool(api.disableExecuteApiEndpoint),
        account_id=api.account_id,
        region=api.region_name,
    )


def of(deployment: Deployment) -> Snapshot | None:
    """The deployment's snapshot; None for one created before the patch was applied."""
    snapshot: Snapshot | None = getattr(deployment, _ATTRIBUTE, None)
    return snapshot


def _method(method: Any) -> Method:
    described = copy.deepcopy(method.to_json())
    return Method(
        http_method=described["httpMethod"],
        authorization_type=described.get("authorizationType") or "NONE",
        api_key_required=bool(described.get("apiKeyRequired")),
        request_parameters={
            name: bool(required) for name, required in (described.get("requestParameters") or {}).items()
        },
        request_models=dict(described.get("requestModels") or {}),
        request_validator_id=described.get("requestValidatorId") or None,
        integration=described.get("methodIntegration"),
        method_responses=dict(described.get("methodResponses") or {}),
    )


def _path(api: RestAPI, resource_id: str) -> str:
    """The resource's full path from the API's own resources (moto's get_path goes through the backend)."""
    parts: list[str] = []
    resource = api.resources.get(resource_id)
    while resource is not None and resource.parent_id:
        parts.append(resource.path_part)
        resource = api.resources.get(resource.parent_id)
    return "/" + "/".join(reversed(parts))


def _snapshotting(original: Any) -> Any:
    def create_deployment(
        self: RestAPI, name: str, description: str, stage_variables: dict[str, str] | None = None
    ) -> Deployment:
        snapshot = take(self)  # before the deployment: what it freezes
        existing = self.stages.get(name) if name else None
        deployment = original(self, name, description, stage_variables)
        setattr(deployment, _ATTRIBUTE, dataclasses.replace(snapshot, deployment_id=deployment.id))
        if existing is not None:
            existing.deployment_id = deployment.id
            if stage_variables:
                existing.variables = {**existing.variables, **stage_variables}
            self.stages[name] = existing
        return deployment

    return create_deployment


PATCHES: list[Patch] = [Patch(RestAPI, "create_deployment", _snapshotting)]
