"""`mlops lb`: an Application or Network Load Balancer in front of the model, with health-checked targets."""

from __future__ import annotations

import typer

from mlops_cli.commands.common import Invocation, command
from mlops_cli.errors import OperationFailed
from mlops_cli.ui import lb_views as views

app = typer.Typer(
    help="A load balancer in front of the model: create or update it (apply), see its listeners and target health "
    "(status), add or remove ip/instance targets (targets), remove it (delete).",
    no_args_is_help=True,
)
targets_app = typer.Typer(help="Targets of ip/instance target groups: ID or ID:PORT.", no_args_is_help=True)
app.add_typer(targets_app, name="targets")


@command(app, "apply")
def apply(
    run: Invocation,
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait until every target passes its health checks."),
    timeout: float = typer.Option(300, "--timeout", min=1, help="Give up waiting after this many seconds (exit 4)."),
) -> None:
    """Create or update the security group, load balancer, target group, targets (the proxy function for lambda)
    and listeners. Nothing changed: nothing is touched."""
    from mlops_cli.services import lb
    from mlops_cli.ui.jobs import Waiting

    with Waiting(run.out, "Load balancer: converging, then waiting for healthy targets"):
        result = lb.apply(run.clients, run.config, wait=wait, timeout=timeout)
    for warning in result.warnings:
        run.out.warn(warning)
    run.out.result(result, lambda: views.apply_view(result))


@command(app, "status")
def status(
    run: Invocation,
    check: bool = typer.Option(
        False, "--check", help="Exit 1 when a target is unhealthy or fewer than lb.min_healthy are healthy (cron)."
    ),
) -> None:
    """The load balancer's state and DNS name, its listeners, and every target's health with the reason."""
    from mlops_cli.services import lb

    result = lb.status(run.clients, run.config)
    run.out.result(result, lambda: views.status_view(result))
    if check and not result.ok:
        raise OperationFailed(
            f"{result.healthy} of {len(result.targets)} target(s) healthy (at least {result.min_healthy} wanted)."
            if result.exists
            else f"Load balancer {result.load_balancer} does not exist."
        )


@command(targets_app, "add")
def targets_add(run: Invocation, targets: list[str] = typer.Argument(..., help="ID or ID:PORT, one or more.")) -> None:
    """Register targets (they receive traffic once healthy)."""
    from mlops_cli.services import lb

    changed = lb.change_targets(run.clients, run.config, targets, add=True)
    run.out.result({"added": changed}, lambda: "Added: " + ", ".join(changed))


@command(targets_app, "remove")
def targets_remove(
    run: Invocation, targets: list[str] = typer.Argument(..., help="ID or ID:PORT, one or more.")
) -> None:
    """Deregister targets: they stop receiving new requests at once."""
    from mlops_cli.services import lb

    changed = lb.change_targets(run.clients, run.config, targets, add=False)
    run.out.result({"removed": changed}, lambda: "Removed: " + ", ".join(changed))


@command(app, "delete")
def delete(run: Invocation) -> None:
    """Delete the listeners, load balancer (deletion protection is turned off first), target group, security group,
    proxy function and its role."""
    from mlops_cli.services import lb

    if not run.confirm(f"Delete load balancer {run.config.names().prefix} (clients lose this entry point)?"):
        raise typer.Exit(1)
    result = lb.delete(run.clients, run.config)
    run.out.result(result, lambda: views.delete_view(result))
