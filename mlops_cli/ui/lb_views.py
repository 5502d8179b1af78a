"""How the load balancer looks to a person."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType

from mlops_cli.ui.tables import styled, table


def _listeners(listeners: list[Any]) -> RenderableType:
    rows = [(f"{x.protocol}:{x.port}", x.action, x.url, x.ssl_policy or "") for x in listeners]
    return table("Listeners", ["listener", "action", "address", "TLS policy"], rows)


def _targets(targets: list[Any]) -> RenderableType:
    rows = [(t.id, t.port or "", styled(t.state), t.reason or "", t.description or "") for t in targets]
    return table("Targets", ["target", "port", "health", "reason", "description"], rows)


def apply_view(result: Any) -> RenderableType:
    rows = [("dns name", result.dns_name)] + [(c.name, styled(str(c.action))) for c in result.controls]
    return Group(
        table(f"Load balancer {result.load_balancer}", ["", ""], rows),
        _listeners(result.listeners),
        _targets(result.targets),
    )


def status_view(status: Any) -> RenderableType:
    if not status.exists:
        return f"Load balancer {status.load_balancer} does not exist. Create it with `mlops lb apply`."
    rows = [
        ("type", f"{status.scheme} {status.type}"),
        ("state", status.state),
        ("dns name", status.dns_name),
        ("healthy targets", f"{status.healthy} of {len(status.targets)} (at least {status.min_healthy} wanted)"),
    ]
    return Group(
        table(f"Load balancer {status.load_balancer}", ["", ""], rows),
        _listeners(status.listeners),
        _targets(status.targets),
    )


def delete_view(result: Any) -> RenderableType:
    if not result.deleted:
        return f"Nothing to delete: load balancer {result.load_balancer} and its resources are gone already."
    return Group(f"Deleted for {result.load_balancer}:", *[f"  {item}" for item in result.deleted])
