"""`mlops register`: training runs tracked in SageMaker Experiments, and model versions in the Model Registry with
their approval."""

from __future__ import annotations

import typer

from mlops_cli.commands.common import Invocation, command
from mlops_cli.ui import register_views as views

app = typer.Typer(
    help="Experiments and the Model Registry: list and compare training runs (runs, compare), register a trained "
    "model as a version (model), approve or reject it (approve, reject), list versions (list) and show one (show).\n\n"
    "Every command first records the training runs the experiment does not hold yet.",
    no_args_is_help=True,
)
VERSION = typer.Argument(..., help="Version number (1, 2, …), latest or latest-approved.")
REASON = typer.Option(..., "--reason", help="Why; recorded as the version's approval description.")
RECENT = 20  # how many of the newest training runs each command checks for a missing record


def _record_pending(run: Invocation, *, limit: int = RECENT, include: tuple[str, ...] = ()) -> list[str]:
    """Record the runs the experiment lacks (and complete those in `include`). A failure here is a warning: the
    registry does not depend on the experiment."""
    from mlops_cli.errors import MlopsError
    from mlops_cli.services import experiments

    try:
        recorded = experiments.record_pending(run.clients, run.config, limit=limit, include=include)
    except MlopsError as exc:
        run.out.warn(f"Could not record the training runs in the experiment: {exc.message}")
        return []
    for result in recorded:
        run.out.info(f"Recorded run {result.job_name} in experiment {experiments.experiment_name(run.config)}.")
    return [result.job_name for result in recorded]


@command(app, "runs")
def runs(
    run: Invocation,
    sort: str | None = typer.Option(
        None, "--sort", help="A metric (validation:auc, validation:rmse, …): best first. Default: newest first."
    ),
    limit: int = typer.Option(50, "--limit", min=1, max=500, help="How many of the newest runs."),
) -> None:
    """Every training run (each training job and tuning trial) with its hyperparameters and metrics."""
    from mlops_cli.services import experiments

    recorded = _record_pending(run, limit=limit)
    found = experiments.sort_runs(
        experiments.list_runs(run.clients, run.config, limit=limit), sort, run.config.train.objective
    )
    name = experiments.experiment_name(run.config)
    data = {"experiment": name, "sort": sort or "created", "recorded_now": recorded, "runs": found}
    run.out.result(data, lambda: views.runs_view(name, found, sort, run.config.train.objective.metric))


@command(app, "compare")
def compare(
    run: Invocation,
    a: str = typer.Argument(..., help="A training job (run), or a model version (3, latest, latest-approved)."),
    b: str = typer.Argument(..., help="Another training job, or another model version."),
) -> None:
    """Two runs (or the runs of two model versions) side by side: hyperparameters, metrics with the difference,
    data (with versions), model, and whether their training or inference code differs."""
    from mlops_cli.services import experiments, register
    from mlops_cli.ui.output import to_jsonable

    _record_pending(run)
    versions = register.compared_versions(run.clients, run.config, a, b)
    if versions:  # each version's training run
        a, b = str(versions[0].training_job), str(versions[1].training_job)
    comparison = experiments.compare(
        experiments.get_run(run.clients, run.config, a), experiments.get_run(run.clients, run.config, b)
    )
    code = register.compare_code(run.clients, run.config, (comparison.a, comparison.b), versions)
    data = {**to_jsonable(comparison), "code": to_jsonable(code)}
    run.out.result(data, lambda: views.comparison_view(comparison, code))


@command(app, "model")
def model(
    run: Invocation,
    training_job: str = typer.Option(
        "latest",
        "--training-job",
        help="The training job whose model to register: a name, or latest: the best trial of the newest tuning job "
        "when it is newer than the newest training job, else that training job.",
    ),
    tuning_job: str | None = typer.Option(None, "--tuning-job", help="Register the best trial of this tuning job."),
) -> None:
    """Register a trained model as a new version of the project's model package group, approved as
    register.approval says (manual: pending; auto: approved or rejected against register.min_metric). The output
    says which training job was taken and why."""
    from mlops_cli.services import register, train

    train.check_model_names(training_job, tuning_job)  # before the clients (and the emulator) start
    registration = register.register_model(run.clients, run.config, training_job, tuning_job=tuning_job)
    _record_pending(run, include=(registration.version.training_job or "",))
    for warning in registration.warnings:
        run.out.warn(warning)
    run.out.result(registration, lambda: views.registration_view(registration))


@command(app, "approve")
def approve(run: Invocation, version: str = VERSION, reason: str = REASON) -> None:
    """Approve a version for deployment (already approved: nothing changes)."""
    _set_approval(run, version, "Approved", reason)


@command(app, "reject")
def reject(run: Invocation, version: str = VERSION, reason: str = REASON) -> None:
    """Reject a version, so it is never deployed (already rejected: nothing changes)."""
    _set_approval(run, version, "Rejected", reason)


def _set_approval(run: Invocation, version: str, status: str, reason: str) -> None:
    from mlops_cli.services import register

    _record_pending(run)
    change = register.set_approval(run.clients, run.config, version, status, reason)
    for warning in change.warnings:
        run.out.warn(warning)
    run.out.result(change, lambda: views.approval_view(change))


@command(app, "list")
def list_versions(
    run: Invocation, limit: int | None = typer.Option(None, "--limit", min=1, help="Only the newest N versions.")
) -> None:
    """The versions, newest first: status, objective, training job, dates, and which one the endpoint serves."""
    from mlops_cli.services import register

    _record_pending(run)
    listing = register.list_registry(run.clients, run.config, limit=limit)
    run.out.result(listing, lambda: views.listing_view(listing))


@command(app, "show")
def show(run: Invocation, version: str = VERSION) -> None:
    """Everything about a version: status and reason, model, image, environment, metadata, training and test
    metrics (evaluation.json), and whether it is deployed."""
    from mlops_cli.services import register

    _record_pending(run)
    details = register.show_version(run.clients, run.config, version)
    run.out.result(details, lambda: views.version_view(details))
