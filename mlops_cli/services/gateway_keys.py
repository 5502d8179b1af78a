"""API keys of the REST API's usage plan: list, create, revoke, and the value a client sends. A key's value is only
ever read when the caller asks for it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlops_cli.aws.errors import aws_errors, get_or_none
from mlops_cli.aws.session import AwsClients
from mlops_cli.config.models import Config
from mlops_cli.errors import PreconditionFailed, UsageError
from mlops_cli.services.gateway_definition import STAGE, names_of

_NOT_FOUND = ("NotFoundException",)
KEY_NAME_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


@dataclass
class ApiKey:
    id: str
    name: str
    enabled: bool
    created: Any
    value: str | None = None  # only with --reveal


def find_usage_plan(clients: AwsClients, config: Config) -> dict[str, Any] | None:
    name = names_of(config).usage_plan
    with aws_errors("listing usage plans"):
        for page in clients.client("apigateway").get_paginator("get_usage_plans").paginate():
            for plan in page["items"]:
                if plan["name"] == name:
                    return dict(plan)
    return None


def plan_keys(clients: AwsClients, plan_id: str, *, reveal: bool = False) -> list[dict[str, Any]]:
    """The API keys of a usage plan, with their values only when `reveal`."""
    apigw = clients.client("apigateway")
    keys = []
    with aws_errors("listing the usage plan's API keys"):
        for page in apigw.get_paginator("get_usage_plan_keys").paginate(usagePlanId=plan_id):
            for item in page["items"]:
                key = get_or_none(
                    "reading an API key", _NOT_FOUND, apigw.get_api_key, apiKey=item["id"], includeValue=reveal
                )
                if key is not None:
                    keys.append(dict(key))
    return keys


def _plan(clients: AwsClients, config: Config) -> dict[str, Any]:
    if config.gateway.auth != "api_key":
        raise UsageError(f"gateway.auth is '{config.gateway.auth}': API keys are used with auth 'api_key' only.")
    plan = find_usage_plan(clients, config)
    if plan is None:
        raise PreconditionFailed(
            f"Usage plan {names_of(config).usage_plan} does not exist.", hint="Run `mlops gateway apply`."
        )
    return plan


def list_keys(clients: AwsClients, config: Config, *, reveal: bool = False) -> list[ApiKey]:
    plan = _plan(clients, config)
    keys = [_key(item, reveal) for item in plan_keys(clients, plan["id"], reveal=reveal)]
    return sorted(keys, key=lambda key: key.name)


def _key(item: dict[str, Any], reveal: bool) -> ApiKey:
    return ApiKey(
        item["id"],
        item["name"],
        bool(item.get("enabled")),
        item.get("createdDate"),
        item.get("value") if reveal else None,
    )


def create_key(clients: AwsClients, config: Config, name: str, *, reveal: bool = False) -> ApiKey:
    """A new enabled key in the usage plan, named `<project>-<env>-<name>` unless `name` already starts so."""
    import re

    prefix = names_of(config).prefix
    short = name.removeprefix(f"{prefix}-")
    if not re.match(KEY_NAME_PATTERN, short):
        raise UsageError(f"Key name {short!r}: use 1-64 letters, digits, '-' or '_'.")
    full = f"{prefix}-{short}"
    plan = _plan(clients, config)
    if any(key["name"] == full for key in plan_keys(clients, plan["id"])):
        raise UsageError(f"The usage plan already has a key named {full}.", hint="Pick another name.")
    apigw = clients.client("apigateway")
    with aws_errors(f"creating API key {full}"):
        created = apigw.create_api_key(
            name=full,
            description=f"A caller of {names_of(config).api} (mlops)",
            enabled=True,
            tags=config.standard_tags(STAGE),
        )
        apigw.create_usage_plan_key(usagePlanId=plan["id"], keyId=created["id"], keyType="API_KEY")
    return _key(created, reveal)


def find_key(clients: AwsClients, config: Config, key: str) -> dict[str, Any]:
    """A key of the plan by id or name (with or without the project prefix)."""
    plan = _plan(clients, config)
    prefix = names_of(config).prefix
    for item in plan_keys(clients, plan["id"]):
        if item["id"] == key or item["name"] in (key, f"{prefix}-{key}"):
            return item
    raise PreconditionFailed(f"No API key {key!r} in the usage plan.", hint="See `mlops gateway keys list`.")


def delete_key(clients: AwsClients, plan_id: str, key_id: str) -> None:
    apigw = clients.client("apigateway")
    get_or_none("detaching an API key", _NOT_FOUND, apigw.delete_usage_plan_key, usagePlanId=plan_id, keyId=key_id)
    get_or_none("deleting an API key", _NOT_FOUND, apigw.delete_api_key, apiKey=key_id)


def show_key(clients: AwsClients, config: Config, key: str, *, reveal: bool = False) -> ApiKey:
    item = find_key(clients, config, key)
    if reveal:
        with aws_errors("reading an API key's value"):
            item = clients.client("apigateway").get_api_key(apiKey=item["id"], includeValue=True)
    return _key(item, reveal)


def revoke_key(clients: AwsClients, config: Config, key: str) -> ApiKey:
    """Remove a key from the plan and delete it: requests with it get 403 from then on."""
    plan = _plan(clients, config)
    item = find_key(clients, config, key)
    delete_key(clients, plan["id"], item["id"])
    return _key(item, False)


def key_value(clients: AwsClients, config: Config, key: str | None = None) -> str:
    """The value of a key (by default the first enabled one) for a request through the API."""
    if key is not None:
        item = find_key(clients, config, key)
    else:
        enabled = [k for k in plan_keys(clients, _plan(clients, config)["id"]) if k.get("enabled")]
        if not enabled:
            raise PreconditionFailed(
                "The usage plan has no enabled API key.", hint="Create one: `mlops gateway keys create`."
            )
        item = sorted(enabled, key=lambda k: k["name"])[0]
    return str(show_key(clients, config, item["id"], reveal=True).value)
