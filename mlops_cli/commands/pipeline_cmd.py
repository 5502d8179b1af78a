"""`mlops pipeline`: every stage in order, each skipped when it is up to date — for day one and for cron."""

from __future__ import annotations

from pathlib import Path

import typer

from mlops_cli.commands.common import Invocation, command
from mlops_cli.ui import pipeline_views as views

STAGE_LIST = "storage, upload, preprocess, train, evaluate, register, approve, deploy, gateway, lb, smoke"

app = typer.Typer(
    help=f"The whole chain in one command: {STAGE_LIST}; each stage skips what is up to date.",
    no_args_is_help=True,
)


@command(app, "run")
def run_pipeline(
    run: Invocation,
    start: str | None = typer.Option(None, "--from", help=f"First stage to run ({STAGE_LIST})."),
    end: str | None = typer.Option(None, "--to", help="Last stage to run."),
    data: Path | None = typer.Option(
        None, "--data", help="Folder the upload stage sends; default: data/<dataset.name> here, if it exists."
    ),
    tune: bool = typer.Option(False, "--tune", help="Tune (train.tuning) instead of one training job."),
    training_job: str | None = typer.Option(
        None,
        "--training-job",
        help="With --from evaluate or later: the model to take. Default (latest): the best trial of the newest "
        "tuning job when it is newer than the newest training job, else that training job.",
    ),
    tuning_job: str | None = typer.Option(
        None, "--tuning-job", help="With --from evaluate or later: take the best trial of this tuning job."
    ),
    timeout: float | None = typer.Option(
        None, "--timeout", min=1, help="Give up any one wait after this many seconds (exit 4; the work goes on)."
    ),
) -> None:
    """Run every stage in order, skipping what is already up to date, and print what each did. Stops at the first
    failure with its exit code. Two runs for one project and environment on one machine at once (whatever
    config file each was given): the second exits 3."""
    from mlops_cli.services import pipeline

    stages = pipeline.select_stages(start, end)  # a bad name is refused before the config is even read
    config = run.config
    folder, reason = pipeline.resolve_data(config, data)
    options = pipeline.Options(
        stages=stages,
        data=folder,
        data_reason=reason,
        tune=tune,
        timeout=timeout,
        logs=run.out.verbose,
        config_path=str(run.config_path),
        training_job=training_job,
        tuning_job=tuning_job,
    )
    pipeline.check_options(config, options)
    clients = run.clients
    with (
        pipeline.pipeline_lock(config, clients.account_id, clients.region),
        views.PipelineProgress(run.out, show_logs=run.out.verbose) as progress,
    ):
        result = pipeline.run(clients, config, options, observe=progress)
    if result.error is not None:
        run.out.error(result.error.message.replace("[", r"\["))
        if result.error.hint:
            run.out.stderr.print(result.error.hint.replace("[", r"\["))
    run.out.result(result, lambda: views.summary_view(result))
    if result.error is not None:
        raise typer.Exit(result.error.exit_code)
