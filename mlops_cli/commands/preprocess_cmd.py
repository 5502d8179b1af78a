"""`mlops preprocess`: SageMaker Processing jobs that validate, clean and split the raw batches."""

from __future__ import annotations

import typer

from mlops_cli.commands.common import Invocation, command
from mlops_cli.commands.watching import LOGS, TIMEOUT, WAIT, watch
from mlops_cli.ui import job_views as views

app = typer.Typer(
    help="Preprocessing: run a SageMaker Processing job over the raw batches, follow it, list and stop jobs.",
    no_args_is_help=True,
)
GROUP = "preprocess"


@command(app, "run")
def run_job(
    run: Invocation,
    wait: bool = WAIT,
    dates: list[str] | None = typer.Option(None, "--dates", help="Only these ingest dates (YYYY-MM-DD, repeatable)."),
    all_batches: bool = typer.Option(False, "--all", help="Every batch in the bucket (the default)."),
    instance_count: int | None = typer.Option(
        None, "--instance-count", help="Workers; more than one shards the input."
    ),
    timeout: float | None = TIMEOUT,
    logs: bool = LOGS,
) -> None:
    """Start a new preprocessing job: validate every row against the schema, reject bad ones with their reasons,
    drop duplicates and split train/validation/test by a hash of the key."""
    from mlops_cli.errors import UsageError
    from mlops_cli.services import jobs, preprocess

    if dates and all_batches:
        raise UsageError("--dates and --all exclude each other.")
    started = preprocess.start_preprocessing(run.clients, run.config, dates=dates, instance_count=instance_count)
    if not wait:
        details = {"inputs": ", ".join(started.inputs), "outputs": started.outputs["train"].rsplit("/", 1)[0]}
        run.out.result(started, lambda: views.started_view("processing", started.job_name, details, GROUP))
        return
    run.out.info(f"Started processing job {started.job_name} over {', '.join(started.inputs)}")
    state = watch(run, "processing", started.job_name, group=GROUP, timeout=timeout, logs=logs)
    summary = preprocess.summarize(run.clients, state)
    run.out.result(summary, lambda: views.preprocess_summary_view(summary))
    jobs.raise_if_failed(state)


@command(app, "status")
def status(run: Invocation, job: str | None = typer.Argument(None, help="Job name; default: the newest.")) -> None:
    """Show a preprocessing job: status, failure reason, outputs and (when done) its row counts."""
    from mlops_cli.services import jobs, preprocess

    name = job or _newest(run)
    state = jobs.describe_job(run.clients, jobs.Kind.PROCESSING, name)
    summary = preprocess.summarize(run.clients, state)
    run.out.result(
        {"job": state, "summary": summary},
        lambda: views.preprocess_summary_view(summary) if state.status == "Completed" else views.state_view(state),
    )


@command(app, "logs")
def logs_command(
    run: Invocation,
    job: str | None = typer.Argument(None, help="Job name; default: the newest."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing until the job ends."),
) -> None:
    """Print a preprocessing job's log (from CloudWatch Logs)."""
    from mlops_cli.commands.log_printing import print_logs

    print_logs(run, "processing", job or _newest(run), follow=follow, group=GROUP)


@command(app, "list")
def list_jobs(run: Invocation, limit: int = typer.Option(20, "--limit", min=1, max=100)) -> None:
    """List the newest preprocessing jobs."""
    from mlops_cli.services import jobs, preprocess

    summaries = jobs.list_jobs(run.clients, jobs.Kind.PROCESSING, preprocess.job_prefix(run.config), limit)
    run.out.result(
        summaries, lambda: views.jobs_view("preprocessing", summaries, "ProcessingJobStatus", "ProcessingJobName")
    )


@command(app, "stop")
def stop(run: Invocation, job: str = typer.Argument(..., help="Job name.")) -> None:
    """Stop a running preprocessing job (its outputs are not written)."""
    from mlops_cli.services import jobs

    if not run.confirm(f"Stop processing job {job}?"):
        raise typer.Exit(1)
    state = jobs.stop_job(run.clients, jobs.Kind.PROCESSING, job)
    run.out.result(state, lambda: f"Processing job {job} is {state.status}.")


def _newest(run: Invocation) -> str:
    from mlops_cli.errors import PreconditionFailed
    from mlops_cli.services import jobs, preprocess

    summaries = jobs.list_jobs(run.clients, jobs.Kind.PROCESSING, preprocess.job_prefix(run.config), 1)
    if not summaries:
        raise PreconditionFailed("There is no preprocessing job yet.", hint="Start one with `mlops preprocess run`.")
    return str(summaries[0]["ProcessingJobName"])


schedule_app = typer.Typer(
    help="Run preprocessing by itself: a SageMaker Pipeline started by EventBridge Scheduler and by new data, "
    "or a crontab line.",
    no_args_is_help=True,
)
app.add_typer(schedule_app, name="schedule")


@command(schedule_app, "apply")
def schedule_apply(run: Invocation) -> None:
    """Create or update the pipeline, the schedule, the new-data rule and their roles (again: changes nothing)."""
    from mlops_cli.services import schedule
    from mlops_cli.ui import schedule_views

    result = schedule.apply(run.clients, run.config)
    run.out.result(result, lambda: schedule_views.apply_view(result))


@command(schedule_app, "status")
def schedule_status(run: Invocation, limit: int = typer.Option(5, "--limit", min=1, max=50)) -> None:
    """The schedule's expression, state and next run times, the rule, and the last executions with their steps."""
    from mlops_cli.services import schedule
    from mlops_cli.ui import schedule_views

    result = schedule.status(run.clients, run.config, executions=limit)
    run.out.result(result, lambda: schedule_views.status_view(result))


@command(schedule_app, "run-now")
def schedule_run_now(run: Invocation) -> None:
    """Start a pipeline execution now, over every raw batch."""
    from mlops_cli.services import schedule

    arn = schedule.run_now(run.clients, run.config)
    run.out.result({"execution_arn": arn}, lambda: f"Started {arn}; follow it with `mlops preprocess schedule status`.")


@command(schedule_app, "pause")
def schedule_pause(run: Invocation) -> None:
    """Disable the schedule and the new-data rule (nothing starts until resume)."""
    from mlops_cli.services import schedule

    states = schedule.set_enabled(run.clients, run.config, False)
    run.out.result(states, lambda: ", ".join(f"{k} {v}" for k, v in states.items()))


@command(schedule_app, "resume")
def schedule_resume(run: Invocation) -> None:
    """Enable the schedule and the new-data rule again."""
    from mlops_cli.services import schedule

    states = schedule.set_enabled(run.clients, run.config, True)
    run.out.result(states, lambda: ", ".join(f"{k} {v}" for k, v in states.items()))


@command(schedule_app, "delete")
def schedule_delete(run: Invocation) -> None:
    """Delete the schedule, the rule, the pipeline, their roles and the dead-letter queue (twice succeeds)."""
    from mlops_cli.services import schedule

    if not run.confirm("Delete the preprocessing schedule, rule and pipeline?"):
        raise typer.Exit(1)
    result = schedule.delete(run.clients, run.config)
    run.out.result(result, lambda: "Deleted: " + (", ".join(result.deleted) or "nothing (all absent)"))


@command(schedule_app, "cron-line")
def schedule_cron_line(run: Invocation) -> None:
    """Print a crontab line that runs `mlops preprocess run --wait` for this config under a lock, with a log."""
    from mlops_cli.services import schedule

    line = schedule.cron_line(run.config, run.config_path)
    run.out.result({"cron_line": line}, lambda: line)
