"""How the REST API looks to a person."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType

from mlops_cli.ui.tables import styled, table


def apply_view(result: Any) -> RenderableType:
    rows: list[tuple[str, Any]] = [
        ("url", result.url),
        ("auth", result.auth),
        ("deployment id", f"{result.deployment} ({'new' if result.deployed else 'unchanged'})"),
    ]
    rows += [(c.name, styled(str(c.action))) for c in result.controls]
    return table(f"REST API {result.api_id}", ["", ""], rows)


def status_view(status: Any) -> RenderableType:
    if not status.exists:
        return f"REST API {status.api} does not exist. Create it with `mlops gateway apply`."
    rows: list[tuple[str, Any]] = [
        ("api", f"{status.api} ({status.api_id})"),
        ("url", status.url),
        ("stage", status.stage),
        ("auth", status.auth),
    ]
    if status.throttle:
        rows.append(("throttle", f"{status.throttle['rate']:g} requests/s, burst {status.throttle['burst']}"))
    if status.usage_plan:
        quota = status.usage_plan.get("quota") or {}
        rows.append(("usage plan", f"{status.keys} key(s); quota {quota.get('limit')} per {quota.get('period')}"))
    if status.logging:
        log = status.logging
        rows.append(
            ("logging", f"{log['level']}, metrics {'on' if log['metrics'] else 'off'}, access log {log['access_log']}")
        )
    rows.append(("tracing", "on" if status.tracing else "off"))
    if status.last_deployment:
        d = status.last_deployment
        rows.append(("last deployment", f"{d['id']} at {d['createdDate']:%Y-%m-%d %H:%M:%S} ({d['description']})"))
    rows.append(("config", styled("ok") if status.up_to_date else f"drift: {', '.join(status.drift)}"))
    return table(f"REST API {status.api}", ["", ""], rows)


def keys_view(keys: list[Any], reveal: bool, title: str = "API keys") -> RenderableType:
    columns = ["id", "name", "enabled", "created"] + (["value"] if reveal else [])
    rows = []
    for key in keys:
        created = f"{key.created:%Y-%m-%d %H:%M}" if key.created else "-"
        rows.append([key.id, key.name, "yes" if key.enabled else "no", created] + ([key.value] if reveal else []))
    if not reveal and keys:
        return Group(table(title, columns, rows), "Values are hidden; add --reveal to print them.")
    return table(title, columns, rows)


def delete_view(result: Any) -> RenderableType:
    if not result.deleted:
        return f"Nothing to delete: REST API {result.api} and its resources are gone already."
    return Group(f"Deleted for {result.api}:", *[f"  {item}" for item in result.deleted])
