"""`mlops deploy`: serve an approved model version from a SageMaker endpoint, update it safely, roll it back."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from mlops_cli.commands.common import ACCEPT_OPTION, DATA_OPTION, FILE_OPTION, Invocation, command
from mlops_cli.errors import Interrupted
from mlops_cli.ui import deploy_views as views

app = typer.Typer(
    help="Endpoints: deploy the newest approved model version (apply), check it (status), call it (invoke), "
    "go back one version (rollback), remove it (delete).",
    no_args_is_help=True,
)
T = TypeVar("T")
TIMEOUT = typer.Option(None, "--timeout", min=1, help="Give up waiting after this many seconds (exit 4).")


def _watched(run: Invocation, action: Callable[[Any], T]) -> T:
    from mlops_cli.ui.jobs import JobWatch

    try:
        with JobWatch(run.out, show_logs=False) as observer:
            return action(observer)
    except KeyboardInterrupt:
        raise Interrupted(
            "Stopped waiting; the endpoint change goes on in AWS.", hint="Follow it with `mlops deploy status`."
        ) from None


@command(app, "apply")
def apply(
    run: Invocation,
    version: int | None = typer.Option(
        None,
        "--version",
        min=1,
        help="Model version (lifts a rollback's pin); default: the newest approved, or the version a rollback pinned.",
    ),
    timeout: float | None = TIMEOUT,
) -> None:
    """Create or update the endpoint to serve a model version, with the alarms, rollout and autoscaling of the
    config. Nothing changed: nothing is created."""
    from mlops_cli.services import deploy

    result = _watched(
        run,
        lambda observe: deploy.apply(run.clients, run.config, version_number=version, observe=observe, timeout=timeout),
    )
    run.out.result(result, lambda: views.apply_view(result))


@command(app, "status")
def status(run: Invocation) -> None:
    """The endpoint's state, model version, variants, instances, autoscaling, alarms and last rollout."""
    from mlops_cli.services import deploy

    result = deploy.status(run.clients, run.config)
    run.out.result(result, lambda: views.status_view(result))


@command(app, "invoke")
def invoke(
    run: Invocation,
    data: str | None = DATA_OPTION,
    file: Path | None = FILE_OPTION,
    accept: str = ACCEPT_OPTION,
) -> None:
    """Send rows to the endpoint and print each prediction: binary, the label and its probability; multiclass, the
    label and its probability (--json: every class's); regression, the value."""
    from mlops_cli.services import deploy
    from mlops_cli.services.requests import request_body

    body, content_type = request_body(data, file, run.config.dataset)
    prediction = deploy.invoke(run.clients, run.config, body, content_type, accept)
    run.out.result(prediction.body, lambda: views.prediction_view(prediction))


@command(app, "rollback")
def rollback(run: Invocation, timeout: float | None = TIMEOUT) -> None:
    """Deploy the version that was deployed before the current one, and pin it: `deploy apply` and `pipeline run`
    keep serving it until `deploy apply --version N`."""
    from mlops_cli.services import deploy

    result = _watched(run, lambda observe: deploy.rollback(run.clients, run.config, observe=observe, timeout=timeout))
    run.out.result(result, lambda: views.apply_view(result))


@command(app, "delete")
def delete(run: Invocation) -> None:
    """Delete the endpoint with its autoscaling, alarms, configs and models (the registry stays)."""
    from mlops_cli.services import deploy

    if not run.confirm(f"Delete endpoint {run.config.names().prefix} (it stops serving)?"):
        raise typer.Exit(1)
    result = deploy.delete(run.clients, run.config)
    run.out.result(result, lambda: views.delete_view(result))
