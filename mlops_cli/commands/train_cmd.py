"""`mlops train`: SageMaker training jobs with our model, hyperparameter tuning, and evaluation on the test split."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from mlops_cli.commands.common import Invocation, command
from mlops_cli.commands.watching import LOGS, TIMEOUT, WAIT, watch
from mlops_cli.ui import job_views as views

if TYPE_CHECKING:
    from mlops_cli.services.jobs import JobState

app = typer.Typer(
    help="Training: train the model (run), tune it (tune), score it on the test split (evaluate); follow, list, stop.\n\n"
    "In this group, `--set hyperparameters.NAME=VALUE` is short for `--set train.hyperparameters.NAME=VALUE`.",
    no_args_is_help=True,
)
GROUP = "train"
TRAINING_JOB = typer.Option(
    None, "--training-job", help="This training job's model; default: latest (see --tuning-job for what it means)."
)
TUNING_JOB = typer.Option(
    None,
    "--tuning-job",
    help="The best trial of this tuning job. Default (latest): the best trial of the newest tuning job when it is "
    "newer than the newest training job, else that training job.",
)
DATA_JOB = typer.Option(
    None, "--data-job", help="Train on this preprocessing job's output; default: the newest completed one."
)


def _scoped(run: Invocation) -> Invocation:
    run.options.overrides = [
        f"train.{item}" if item.startswith("hyperparameters.") else item for item in run.options.overrides
    ]
    return run


@command(app, "run")
def run_job(
    run: Invocation,
    wait: bool = WAIT,
    data_job: str | None = DATA_JOB,
    timeout: float | None = TIMEOUT,
    logs: bool = LOGS,
) -> None:
    """Start a new training job on the latest preprocessed data; records the data's S3 URIs and versions."""
    from mlops_cli.services import jobs, train

    run = _scoped(run)
    started = train.start_training(run.clients, run.config, processing_job=data_job)
    if not wait:
        details = {
            "data": started.data.processing_job,
            "hyperparameters": started.hyperparameters,
            "model": started.model_prefix,
        }
        run.out.result(started, lambda: views.started_view("training", started.job_name, details, GROUP))
        return
    run.out.info(f"Started training job {started.job_name} on the output of {started.data.processing_job}")
    state = watch(run, "training", started.job_name, group=GROUP, timeout=timeout, logs=logs)
    _record(run, state)
    result = train.training_result(state)
    run.out.result(result, lambda: views.training_result_view(result))
    jobs.raise_if_failed(state)


@command(app, "tune")
def tune(
    run: Invocation,
    wait: bool = WAIT,
    max_jobs: int | None = typer.Option(
        None, "--max-jobs", min=1, help="Trials to run (default: train.tuning.max_jobs)."
    ),
    data_job: str | None = DATA_JOB,
    timeout: float | None = TIMEOUT,
) -> None:
    """Start a hyperparameter tuning job over train.tuning.ranges, with the objective from train.objective."""
    from mlops_cli.services import jobs, train

    run = _scoped(run)
    started = train.start_tuning(run.clients, run.config, max_jobs=max_jobs, processing_job=data_job)
    if not wait:
        details = {"trials": started.max_jobs, "in parallel": started.max_parallel, "objective": started.objective}
        run.out.result(started, lambda: views.started_view("tuning", started.job_name, details, GROUP))
        return
    run.out.info(f"Started tuning job {started.job_name}: {started.max_jobs} trials, {started.objective}")
    state = watch(run, "tuning", started.job_name, group=GROUP, timeout=timeout, logs=False)
    result = train.tuning_result(run.clients, state)
    _record(run, *(trial["job_name"] for trial in result.trials))
    run.out.result(result, lambda: views.tuning_result_view(result))
    jobs.raise_if_failed(state)


@command(app, "evaluate")
def evaluate(
    run: Invocation,
    job: str | None = typer.Argument(None, help="Training job (the same as --training-job)."),
    training_job: str | None = TRAINING_JOB,
    tuning_job: str | None = TUNING_JOB,
    wait: bool = WAIT,
    timeout: float | None = TIMEOUT,
) -> None:
    """Score the test split with a trained model: evaluation.json and the task's charts next to it (binary: ROC,
    precision-recall, calibration, confusion matrix; multiclass: confusion matrix; regression: predicted vs actual,
    residuals). Default model: the best trial of the newest tuning job when it is newer than the newest training job, else
    that training job."""
    from mlops_cli.errors import UsageError
    from mlops_cli.services import jobs, train

    if job and training_job not in (None, job):
        raise UsageError(f"The training job is given twice ({job} and --training-job {training_job}): give one.")
    train.check_model_names(job or training_job, tuning_job)  # before the clients (and the emulator) start
    started = train.start_evaluation(run.clients, run.config, job or training_job, tuning_job=tuning_job)
    if not wait:
        details = {
            "training job": f"{started.training_job} ({started.chosen})",
            "model": started.model_uri,
            "test data": started.test_uri,
            "output": started.output_uri,
        }
        run.out.result(started, lambda: views.started_view("evaluation", started.job_name, details, GROUP))
        return
    run.out.info(f"Started evaluation job {started.job_name} for {started.training_job} ({started.chosen})")
    state = watch(run, "processing", started.job_name, group=GROUP, timeout=timeout)
    jobs.raise_if_failed(state)
    _record(run, started.training_job)  # adds the evaluation to the run's record
    evaluation = train.read_evaluation(run.clients, started.output_uri)
    run.out.result({"run": started, "evaluation": evaluation}, lambda: views.evaluation_view(started, evaluation))


@command(app, "status")
def status(
    run: Invocation,
    job: str | None = typer.Argument(None, help="Training or tuning job; default: the newest training job."),
) -> None:
    """Show a training (or tuning) job: status, metrics, hyperparameters, model location, failure reason."""
    from mlops_cli.services import jobs

    state = jobs.describe_any(run.clients, job or _newest(run), (jobs.Kind.TRAINING, jobs.Kind.TUNING))
    run.out.result(state, lambda: views.state_view(state))


@command(app, "logs")
def logs_command(
    run: Invocation,
    job: str | None = typer.Argument(None, help="Training job; default: the newest."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing until the job ends."),
) -> None:
    """Print a training job's log (from CloudWatch Logs)."""
    from mlops_cli.commands.log_printing import print_logs

    print_logs(run, "training", job or _newest(run), follow=follow, group=GROUP)


@command(app, "list")
def list_jobs(run: Invocation, limit: int = typer.Option(20, "--limit", min=1, max=100)) -> None:
    """List the newest training jobs with their objective metric."""
    from mlops_cli.services import jobs, train

    summaries = jobs.list_jobs(run.clients, jobs.Kind.TRAINING, run.config.names().prefix, limit)
    metric = run.config.train.objective.metric
    for summary in summaries:
        state = jobs.describe_job(run.clients, jobs.Kind.TRAINING, summary["TrainingJobName"])
        value = train.training_result(state).metrics.get(metric)
        summary["objective"] = f"{metric}={value:.4f}" if value is not None else ""
    run.out.result(summaries, lambda: views.jobs_view("training", summaries, "TrainingJobStatus", "TrainingJobName"))


@command(app, "stop")
def stop(run: Invocation, job: str = typer.Argument(..., help="Training or tuning job name.")) -> None:
    """Stop a running training or tuning job."""
    from mlops_cli.services import jobs

    if not run.confirm(f"Stop job {job}?"):
        raise typer.Exit(1)
    kind = jobs.describe_any(run.clients, job, (jobs.Kind.TRAINING, jobs.Kind.TUNING)).kind
    state = jobs.stop_job(run.clients, kind, job)
    run.out.result(state, lambda: f"{kind.capitalize()} job {job} is {state.status}.")


def _record(run: Invocation, *runs: str | JobState) -> None:
    """Track ended runs in the project's experiment. Failing to record never fails the training: any `mlops
    register` command records what is missing."""
    from mlops_cli.errors import MlopsError
    from mlops_cli.services import experiments

    for job in runs:
        try:
            recorded = experiments.record_run(run.clients, run.config, job)
        except MlopsError as exc:
            run.out.warn(f"{exc.message} The run is recorded later by `mlops register runs`.")
            return
        if recorded.action in ("created", "updated"):
            run.out.info(f"Recorded {recorded.job_name} in experiment {experiments.experiment_name(run.config)}.")


def _newest(run: Invocation) -> str:
    from mlops_cli.errors import PreconditionFailed
    from mlops_cli.services import jobs, train

    summaries = jobs.list_jobs(run.clients, jobs.Kind.TRAINING, train.job_prefix(run.config), 1)
    if not summaries:
        raise PreconditionFailed("There is no training job yet.", hint="Start one with `mlops train run`.")
    return str(summaries[0]["TrainingJobName"])
