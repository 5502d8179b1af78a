"""From a URL to what serves it: `/restapis/<api id>/<stage>/_user_request_/<resource path>` names the API and the
stage; the stage's deployment names the snapshot; the snapshot's resources and methods match the path and the HTTP
method (literal paths first, then `{name}` and greedy `{name+}` path parameters; ANY when the method has no own).
Anything that does not resolve is API Gateway's MISSING_AUTHENTICATION_TOKEN (403 "Missing Authentication Token"),
which is what AWS answers for unknown paths and methods too."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlops_cli.emulator.gateway.errors import EmulatorError, GatewayError

if TYPE_CHECKING:  # snapshots imports moto's API Gateway: not before the first gateway request
    from mlops_cli.emulator.gateway import snapshots

PREFIX = "/restapis/"
_URL = re.compile(r"^/restapis/(?P<api>[^/]+)/(?P<stage>[^/]+)/_user_request_(?P<path>/.*)?$")
_PARAMETER = re.compile(r"^\{(?P<name>[^}+]+)(?P<greedy>\+)?\}$")


@dataclass(frozen=True)
class Target:
    api_id: str
    stage: str
    path: str  # "/predict"; "/" for the root


@dataclass(frozen=True)
class Deployed:
    """The API's stage and the deployment it serves."""

    account_id: str
    region: str
    backend: Any  # moto's APIGatewayBackend of the API's account and region
    api: Any  # moto's RestAPI
    stage: Any  # moto's Stage (live: method settings and access logs apply as they are now)
    snapshot: snapshots.Snapshot


@dataclass(frozen=True)
class Route:
    resource: snapshots.Resource
    method: snapshots.Method
    path_parameters: dict[str, str]


def parse(path_info: str) -> Target | None:
    """The gateway request a path names; None for every other request (moto's)."""
    match = _URL.match(path_info)
    if not match:
        return None
    return Target(match["api"], match["stage"], match["path"] or "/")


def locate(target: Target) -> Deployed:
    """The API (looked up in every account and region moto holds), its stage, and the stage's snapshot."""
    from moto.apigateway.models import apigateway_backends

    from mlops_cli.emulator.gateway import snapshots

    for account_id, regions in list(apigateway_backends.items()):
        for region, backend in list(regions.items()):
            api = backend.apis.get(target.api_id)
            if api is None:
                continue
            stage = api.stages.get(target.stage)
            deployment = api.deployments.get(stage.deployment_id or "") if stage is not None else None
            if deployment is None:
                break
            snapshot = snapshots.of(deployment)
            if snapshot is None:
                raise EmulatorError(
                    f"deployment {deployment.id} of API {api.id} was created before the emulator's API Gateway "
                    "could record what it serves; create a new deployment of the stage"
                )
            return Deployed(account_id, region, backend, api, stage, snapshot)
    raise GatewayError("MISSING_AUTHENTICATION_TOKEN", "Missing Authentication Token")


def match(snapshot: snapshots.Snapshot, path: str, http_method: str) -> Route:
    """The resource and method for the request path and HTTP method."""
    segments = _segments(path)
    candidates = []
    for resource in snapshot.resources:
        parameters = _match_path(_segments(resource.path), segments)
        if parameters is not None:
            literal = sum(1 for part in _segments(resource.path) if not _PARAMETER.match(part))
            candidates.append((literal, -len(_segments(resource.path)), resource, parameters))
    if candidates:
        # the most literal resource; without the method, API Gateway does not fall back to another resource
        _literal, _depth, resource, parameters = min(candidates, key=lambda c: (-c[0], c[1]))
        method = resource.methods.get(http_method.upper()) or resource.methods.get("ANY")
        if method is not None:
            return Route(resource, method, parameters)
    raise GatewayError("MISSING_AUTHENTICATION_TOKEN", "Missing Authentication Token")


def _segments(path: str) -> list[str]:
    return [part for part in path.split("/") if part]


def _match_path(pattern: list[str], segments: list[str]) -> dict[str, str] | None:
    parameters: dict[str, str] = {}
    for index, part in enumerate(pattern):
        parameter = _PARAMETER.match(part)
        if parameter and parameter["greedy"]:
            rest = segments[index:]
            if not rest or index != len(pattern) - 1:
                return None
            parameters[parameter["name"]] = "/".join(rest)
            return parameters
        if index >= len(segments):
            return None
        if parameter:
            parameters[parameter["name"]] = segments[index]
        elif part != segments[index]:
            return None
    return parameters if len(pattern) == len(segments) else None
