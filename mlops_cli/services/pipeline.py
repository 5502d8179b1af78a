"""`mlops pipeline run`: every stage in order, each one skipped when what it would produce is already there.

    storage → upload → preprocess → train (or tune) → evaluate → register → approve → deploy → gateway → lb → smoke

AWS is the state, so a skip decision reads AWS, never a local file:
- storage: every control of the bucket stack is unchanged;
- upload: every file of the data folder is in the bucket with the same content;
- preprocess: the newest completed processing job carries the `mlops:input-digest` a new one would (the same raw
  objects, each at the same version, the same code, image and arguments);
- train: the newest completed training job (tuning job with `--tune`) carries the digest a new one would (the newest
  preprocessing output, each object at the same version, the same code, image and hyperparameters or ranges);
- evaluate: that training job's model has its evaluation.json (a completed evaluation job wrote it);
- preprocess, train (tune) and evaluate wait for a job of theirs still InProgress with the digest a new one would
  carry (the run that started it was interrupted, or goes on elsewhere) instead of starting the same work twice;
- the model the later stages take: the job the train stage ran, else what `latest` means for every command
  (`train.choose_model`: the best trial of the newest tuning job when it is newer than the newest training job);
- register: a model version holds that training job's model;
- approve: that version is decided already (`auto` decides a pending one; `manual` waits for a person);
- deploy, gateway, lb: their `apply` changed nothing (deploy keeps a version pinned by `deploy rollback`);
- smoke never skips: a few rows of the test split go through the API (and the load balancer), and must get the
  answer the endpoint gives.

A stage that fails stops the run; the result holds every stage run so far and the error with its exit code.
Concurrent runs for one project and environment (in one account and region) on one machine are refused by
`pipeline_lock`, whichever config file each run was given.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_cli.config.models import Config
from mlops_cli.errors import (
    AwsUnreachable,
    Interrupted,
    MlopsError,
    OperationFailed,
    PreconditionFailed,
    UsageError,
)

if TYPE_CHECKING:
    from mlops_cli.aws.session import AwsClients
    from mlops_cli.services.jobs import JobState
    from mlops_cli.services.register import ModelVersion
    from mlops_cli.services.train import ModelChoice

STAGES = (
    "storage",
    "upload",
    "preprocess",
    "train",
    "evaluate",
    "register",
    "approve",
    "deploy",
    "gateway",
    "lb",
    "smoke",
)
RAN, SKIPPED, FAILED, WAITING = "ran", "skipped", "failed", "waiting"
SMOKE_ROWS = 3


def select_stages(start: str | None = None, end: str | None = None) -> list[str]:
    """The stages from `start` to `end` (both included). A name that is not a stage is a usage error."""
    for option, name in (("--from", start), ("--to", end)):
        if name is not None and name not in STAGES:
            raise UsageError(f"{option} {name!r} is not a stage.", hint=f"The stages, in order: {', '.join(STAGES)}.")
    first = STAGES.index(start) if start else 0
    last = STAGES.index(end) if end else len(STAGES) - 1
    if first > last:
        raise UsageError(f"--from {start} comes after --to {end}.", hint=f"The stages, in order: {', '.join(STAGES)}.")
    return list(STAGES[first : last + 1])


# --- results and progress --------------------------------------------------------------------------------------


@dataclass
class StageResult:
    stage: str
    status: str  # ran | skipped | failed | waiting
    seconds: float = 0.0
    summary: str = ""  # what it did, or why it did nothing
    figures: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    hint: str | None = None  # what to do next (the command that approves a waiting version, …)


@dataclass
class PipelineError:
    stage: str
    exit_code: int
    type: str
    message: str
    hint: str | None


@dataclass
class PipelineResult:
    project: str
    environment: str
    stages: list[StageResult]
    seconds: float = 0.0
    error: PipelineError | None = None
    exception: MlopsError | None = field(default=None, repr=False)

    @property
    def exit_code(self) -> int:
        return self.error.exit_code if self.error else 0


@dataclass
class StageStarted:
    stage: str
    number: int  # 1-based, among the stages of this run
    total: int
    elapsed: float  # seconds since the run started


@dataclass
class StageEnded:
    result: StageResult
    number: int
    total: int
    elapsed: float


@dataclass
class JobProgress:
    """A job or endpoint being waited for (what the jobs' and endpoints' wait observers get)."""

    state: Any
    lines: list[Any]


@dataclass
class Note:
    stage: str
    message: str


Event = StageStarted | StageEnded | JobProgress | Note
Observer = Callable[[Event], None]


@dataclass
class Options:
    stages: list[str] = field(default_factory=lambda: list(STAGES))
    data: Path | None = None  # the folder the upload stage sends; None: the stage is skipped (see data_reason)
    data_reason: str | None = None
    tune: bool = False
    timeout: float | None = None  # per wait
    logs: bool = False  # stream the jobs' logs through JobProgress
    config_path: str = "CONFIG"  # for the commands in hints
    training_job: str | None = None  # the model the stages after train take (train.choose_model); default latest
    tuning_job: str | None = None


def resolve_data(config: Config, given: Path | None, cwd: Path | None = None) -> tuple[Path | None, str | None]:
    """The folder to upload: `--data`, else data/<dataset> under the current folder when it exists. A `--data`
    that does not exist is a usage error; a missing default skips the upload stage (the reason is returned)."""
    if given is not None:
        if not given.exists():
            raise UsageError(f"--data {given}: no such file or folder.")
        return given, None
    default = (cwd or Path.cwd()) / "data" / config.dataset.name
    if default.is_dir():
        return default, None
    return None, f"no data folder: {default} does not exist (give --data PATH)"


def check_options(config: Config, options: Options) -> None:
    """What can be refused before any AWS call."""
    if options.tune and "train" in options.stages and not config.train.tuning.ranges:
        raise UsageError(
            "--tune needs train.tuning.ranges in the config: there is nothing to tune.",
            hint="Add ranges under train.tuning, or run without --tune.",
        )
    from mlops_cli.services.train import check_model_names

    named = check_model_names(options.training_job, options.tuning_job) or bool(options.tuning_job)
    if named and "train" in options.stages:
        raise UsageError(
            "--training-job and --tuning-job choose the model of the stages after train, and this run trains one.",
            hint="Add --from evaluate (or a later stage).",
        )


# --- the lock --------------------------------------------------------------------------------------------------


def lock_path(config: Config, account: str, region: str) -> Path:
    """<user cache>/mlops/locks/pipeline-<project>-<env>-<hash of project, env, account and region>.lock

    Keyed on what the run changes (the resources of one project and environment in one account and region), not on
    the config file: two copies of one config, or two files for the same environment, share the lock."""
    import platformdirs

    key = json.dumps([config.project, config.environment, account, region])
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    folder = Path(platformdirs.user_cache_dir("mlops")) / "locks"
    return folder / f"pipeline-{config.project}-{config.environment}-{digest}.lock"


@contextmanager
def pipeline_lock(config: Config, account: str, region: str) -> Iterator[Path]:
    """Held for the whole run: a second run for the same project, environment, account and region on this machine
    fails at once (exit 3), naming the lock file and the pid that holds it (written next to it, in <lock>.pid)."""
    import filelock

    path = lock_path(config, account, region)
    path.parent.mkdir(parents=True, exist_ok=True)
    pid_file = path.with_name(path.name + ".pid")
    lock = filelock.FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        try:
            holder = pid_file.read_text().strip() or "unknown"
        except OSError:
            holder = "unknown"
        raise PreconditionFailed(
            f"Another `mlops pipeline run` of {config.project}/{config.environment} holds the lock {path} "
            f"(pid {holder}).",
            hint="Wait for it to end; this run changed nothing. A lock whose process is gone is released by itself.",
        ) from None
    try:
        pid_file.write_text(f"{os.getpid()}\n")
        yield path
    finally:
        try:
            if pid_file.read_text().strip() == str(os.getpid()):
                pid_file.unlink()
        except OSError:
            pass
        lock.release()


# --- the run ---------------------------------------------------------------------------------------------------


class _Context:
    """What one stage hands to the next; each getter finds it in AWS when the stage that makes it did not run."""

    def __init__(self, clients: AwsClients, config: Config, options: Options, observe: Observer) -> None:
        self.clients, self.config, self.options, self.observe = clients, config, options, observe
        self.stage = ""
        self.processing_job: str | None = None
        self.choice: ModelChoice | None = None
        self.version: ModelVersion | None = None
        self.registered_now = False
        self.awaiting_approval: str | None = None  # the reason deploying waits, when it does
        self.lb_url: str | None = None

    def note(self, message: str) -> None:
        self.observe(Note(self.stage, message))

    def wait(self, kind: str, name: str) -> JobState:
        from mlops_cli.services import jobs

        return jobs.wait_job(
            self.clients,
            jobs.Kind(kind),
            name,
            observe=lambda state, lines: self.observe(JobProgress(state, lines)),
            timeout=self.options.timeout,
            follow_logs=self.options.logs,
        )

    @property
    def training(self) -> JobState | None:
        return self.choice.state if self.choice else None

    def model(self) -> ModelChoice:
        """The training job whose model the later stages take: the one the train stage ran, else what `latest`
        means for every command (train.choose_model)."""
        if self.choice is None:
            from mlops_cli.services import train

            options = self.options
            self.choice = train.choose_model(
                self.clients, self.config, training_job=options.training_job, tuning_job=options.tuning_job
            )
        return self.choice

    def training_job(self) -> JobState:
        return self.model().job

    def record(self, *job_names: str) -> list[str]:
        """Track runs in the experiment; failing to record is a warning (`mlops register runs` catches up)."""
        from mlops_cli.services import experiments

        warnings = []
        for name in job_names:
            try:
                experiments.record_run(self.clients, self.config, name)
            except MlopsError as exc:
                warnings.append(f"{exc.message} The run is recorded later by `mlops register runs`.")
                break
        return warnings


def run(clients: AwsClients, config: Config, options: Options, observe: Observer) -> PipelineResult:
    """Run the selected stages in order; stop at the first failure (the result holds it, with its exit code)."""
    ctx = _Context(clients, config, options, observe)
    result = PipelineResult(config.project, config.environment, [])
    started = time.monotonic()
    total = len(options.stages)
    for number, stage in enumerate(options.stages, start=1):
        ctx.stage = stage
        observe(StageStarted(stage, number, total, time.monotonic() - started))
        began = time.monotonic()
        error: MlopsError | None = None
        try:
            outcome = _STAGES[stage](ctx)
        except MlopsError as exc:
            error = exc
            outcome = StageResult(stage, FAILED, summary=exc.message, hint=exc.hint)
        except KeyboardInterrupt:
            error = Interrupted(
                f"Interrupted during {stage}; what was started goes on in AWS.",
                hint="Run `mlops pipeline run` again: it continues where it stopped.",
            )
            outcome = StageResult(stage, FAILED, summary="interrupted", hint=error.hint)
        outcome.seconds = round(time.monotonic() - began, 2)
        result.stages.append(outcome)
        observe(StageEnded(outcome, number, total, time.monotonic() - started))
        if error is not None:
            result.exception = error
            result.error = PipelineError(stage, error.exit_code, type(error).__name__, error.message, error.hint)
            break
    result.seconds = round(time.monotonic() - started, 2)
    return result


# --- the stages ------------------------------------------------------------------------------------------------


def _storage(ctx: _Context) -> StageResult:
    from mlops_cli.services.storage.stack import init_storage

    report = init_storage(ctx.clients, ctx.config)
    counts: dict[str, int] = {}
    for control in report.controls:
        action = control.action.value if control.action else "unchanged"
        counts[action] = counts.get(action, 0) + 1
    figures = {"bucket": report.bucket, **counts}
    if set(counts) <= {"unchanged"}:
        return StageResult(
            "storage", SKIPPED, summary=f"all {len(report.controls)} controls unchanged", figures=figures
        )
    changed = ", ".join(f"{n} {action}" for action, n in sorted(counts.items()) if action != "unchanged")
    return StageResult("storage", RAN, summary=f"bucket {report.bucket}: {changed}", figures=figures)


class _UploadNotes:
    """The upload's progress as notes (a line per file sent)."""

    def __init__(self, ctx: _Context) -> None:
        self.ctx = ctx

    def start(self, total_bytes: int, total_files: int) -> None:
        if total_files:
            self.ctx.note(f"uploading {total_files} file(s), {total_bytes} bytes")

    def advance(self, sent_bytes: int) -> None:
        pass

    def file_done(self, item: Any) -> None:
        self.ctx.note(f"uploaded {item.path} to {item.key}")


def _upload(ctx: _Context) -> StageResult:
    from mlops_cli.services.storage.upload import plan_upload, run_upload

    if ctx.options.data is None:
        return StageResult("upload", SKIPPED, summary=ctx.options.data_reason or "no data folder given")
    report = plan_upload(ctx.clients, ctx.config, [ctx.options.data], date=None, force=False)
    report = run_upload(ctx.clients, ctx.config, report, _UploadNotes(ctx))
    figures = {"files_uploaded": report.files_sent, "files_there": report.skipped, "bytes": report.bytes_sent}
    if report.files_sent == 0:
        return StageResult(
            "upload", SKIPPED, summary=f"0 files uploaded: all {report.skipped} are in the bucket", figures=figures
        )
    dates = ", ".join(sorted({item.ingest_date for item in report.items if item.verified}))
    return StageResult(
        "upload", RAN, summary=f"{report.files_sent} file(s) uploaded (batches {dates})", figures=figures
    )


def _preprocess(ctx: _Context) -> StageResult:
    from mlops_cli.services import jobs, preprocess

    digest, count = preprocess.current_digest(ctx.clients, ctx.config)
    existing = jobs.find_existing(ctx.clients, jobs.Kind.PROCESSING, preprocess.job_prefix(ctx.config), digest)
    if existing.up_to_date and existing.newest is not None:
        newest = existing.newest
        ctx.processing_job = newest.name
        summary = preprocess.summarize(ctx.clients, newest)
        return StageResult(
            "preprocess",
            SKIPPED,
            summary=f"{newest.name} already read these {count} raw objects with this code and settings",
            figures=_preprocess_figures(summary),
        )

    def start() -> str:
        name = preprocess.start_preprocessing(ctx.clients, ctx.config).job_name
        ctx.note(f"started processing job {name} over {count} raw object(s)")
        return name

    name, reason = _resume_or_start(
        ctx,
        existing,
        "processing job",
        start,
        "new or changed raw data, code or settings" if existing.newest else "no completed preprocessing job yet",
    )
    state = ctx.wait("processing", name)
    jobs.raise_if_failed(state)
    ctx.processing_job = state.name
    summary = preprocess.summarize(ctx.clients, state)
    return StageResult("preprocess", RAN, summary=f"{state.name} ({reason})", figures=_preprocess_figures(summary))


def _resume_or_start(ctx: _Context, existing: Any, job: str, start: Callable[[], str], reason: str) -> tuple[str, str]:
    """The job already running with these inputs (after Ctrl-C, say) is waited for, never started twice; else
    `start` starts one. Returns the job's name and why it runs."""
    if existing.running is not None:
        name = existing.running.name
        ctx.note(f"{job} {name} is already running with these inputs: waiting for it")
        return name, "resumed: it was running with these inputs"
    return start(), reason


def _preprocess_figures(summary: Any) -> dict[str, Any]:
    return {
        "processing_job": summary.job_name,
        "rows_in": summary.rows_in,
        "rows_out": summary.rows_out,
        "rejected": summary.rejected,
        "splits": summary.splits,
    }


def _train(ctx: _Context) -> StageResult:
    from mlops_cli.services import jobs, train

    data = train.training_data(ctx.clients, ctx.config, ctx.processing_job)
    if ctx.options.tune:
        return _tune(ctx, data)
    digest = train.training_digest(ctx.clients, ctx.config, data)
    existing = jobs.find_existing(ctx.clients, jobs.Kind.TRAINING, train.job_prefix(ctx.config), digest)
    if existing.up_to_date and existing.newest is not None:
        summary = f"{existing.newest.name} already trained on {data.processing_job} with these hyperparameters and code"
        return _up_to_date(ctx, existing.newest, summary)

    def start() -> str:
        name = train.start_training(ctx.clients, ctx.config, processing_job=data.processing_job).job_name
        ctx.note(f"started training job {name} on the output of {data.processing_job}")
        return name

    name, reason = _resume_or_start(
        ctx,
        existing,
        "training job",
        start,
        "new data, hyperparameters or code" if existing.newest else "no completed training job yet",
    )
    state = ctx.wait("training", name)
    warnings = ctx.record(state.name)
    jobs.raise_if_failed(state)
    ctx.choice = train.newest_training_choice(state)
    return StageResult(
        "train", RAN, summary=f"{state.name} ({reason})", figures=_training_figures(ctx), warnings=warnings
    )


def _up_to_date(ctx: _Context, job: JobState, summary: str) -> StageResult:
    """The train stage found its job up to date: later stages take what `latest` means (which may be a newer
    tuning job's best trial, or a newer training job), and the summary says so when that is another job."""
    choice = ctx.model()
    if choice.training_job != job.name:
        summary += f"; the model taken: {choice.training_job} ({choice.reason})"
    return StageResult("train", SKIPPED, summary=summary, figures=_training_figures(ctx))


def _tune(ctx: _Context, data: Any) -> StageResult:
    from mlops_cli.services import jobs, train

    digest = train.tuning_digest(ctx.clients, ctx.config, data)
    existing = jobs.find_existing(ctx.clients, jobs.Kind.TUNING, train.tuning_job_prefix(ctx.config), digest)
    if existing.up_to_date and existing.newest is not None:
        summary = f"{existing.newest.name} already tuned on {data.processing_job} with these ranges and code"
        return _up_to_date(ctx, existing.newest, summary)

    def start() -> str:
        started = train.start_tuning(ctx.clients, ctx.config, processing_job=data.processing_job)
        ctx.note(f"started tuning job {started.job_name}: {started.max_jobs} trials, {started.objective}")
        return started.job_name

    name, reason = _resume_or_start(
        ctx,
        existing,
        "tuning job",
        start,
        "new data, ranges or code" if existing.newest else "no completed tuning job yet",
    )
    state = ctx.wait("tuning", name)
    trials = train.tuning_result(ctx.clients, state).trials
    warnings = ctx.record(*(trial["job_name"] for trial in trials if trial["status"] in jobs.TERMINAL))
    jobs.raise_if_failed(state)
    ctx.choice = train.best_trial(ctx.clients, state)
    figures = {**_training_figures(ctx), "trials": len(trials)}
    summary = f"{state.name}: {len(trials)} trials ({reason}); the model taken: {ctx.model().training_job}"
    return StageResult("train", RAN, summary=summary, figures=figures, warnings=warnings)


def _training_figures(ctx: _Context) -> dict[str, Any]:
    from mlops_cli.services import train

    choice = ctx.model()
    metric = ctx.config.train.objective.metric
    result = train.training_result(choice.job)
    figures = {"tuning_job": choice.tuning_job} if choice.tuning_job else {}
    return {
        **figures,
        "training_job": choice.training_job,
        "chosen": choice.reason,
        metric.replace(":", "_"): result.metrics.get(metric),
    }


def _evaluate(ctx: _Context) -> StageResult:
    from mlops_cli.services import experiments, jobs, train

    choice = ctx.model()
    state = choice.job
    model_uri = state.description["ModelArtifacts"]["S3ModelArtifacts"]
    warnings: list[str] = []
    if (existing := experiments.existing_evaluation(ctx.clients, model_uri)) is not None:
        evaluation = train.read_evaluation(ctx.clients, existing.rsplit("/", 1)[0])
        status, summary = SKIPPED, f"{state.name} has its evaluation already"
    else:
        digest = train.evaluation_digest(ctx.clients, ctx.config, state)
        prefix = train.evaluation_job_prefix(ctx.config)
        running = jobs.find_existing(ctx.clients, jobs.Kind.PROCESSING, prefix, digest).running
        if running is not None:
            name, output_uri = running.name, _evaluation_output(running)
            ctx.note(f"evaluation job {name} of {state.name} is already running: waiting for it")
            summary = f"{name} scored {state.name} on the test split (resumed: it was running)"
        else:
            started = train.start_evaluation(ctx.clients, ctx.config, choice=choice)
            name, output_uri = started.job_name, started.output_uri
            ctx.note(f"started evaluation job {name} for {state.name} ({choice.reason})")
            summary = f"{name} scored {state.name} on the test split"
        job = ctx.wait("processing", name)
        jobs.raise_if_failed(job)
        warnings = ctx.record(state.name)  # adds the evaluation to the run's record
        evaluation = train.read_evaluation(ctx.clients, output_uri)
        status = RAN
    metrics = evaluation.get("metrics", {})
    metric = ctx.config.train.objective.metric.split(":", 1)[1]  # the test split's figure of the objective
    figures = {
        "training_job": state.name,
        "chosen": choice.reason,
        f"test_{metric}": metrics.get(metric),
        "test_rows": evaluation.get("rows"),
    }
    return StageResult("evaluate", status, summary=summary, figures=figures, warnings=warnings)


def _evaluation_output(state: JobState) -> str:
    outputs = state.description.get("ProcessingOutputConfig", {}).get("Outputs", [])
    return str(next(o["S3Output"]["S3Uri"] for o in outputs if o["OutputName"] == "evaluation"))


def _register(ctx: _Context) -> StageResult:
    from mlops_cli.services import register

    choice = ctx.model()
    state = choice.job
    registration = register.register_model(ctx.clients, ctx.config, choice=choice)
    version = registration.version
    ctx.version, ctx.registered_now = version, registration.action == "created"
    figures = {
        "model_version": version.number,
        "approval": version.status,
        "training_job": state.name,
        "chosen": choice.reason,
    }
    if registration.action == "unchanged":
        return StageResult(
            "register",
            SKIPPED,
            summary=f"version {version.number} holds {state.name} already",
            figures=figures,
            warnings=registration.warnings,
        )
    return StageResult(
        "register",
        RAN,
        summary=f"version {version.number} of {registration.group}: {version.status}",
        figures=figures,
        warnings=registration.warnings,
    )


def _approve(ctx: _Context) -> StageResult:
    from mlops_cli.services import register

    version = ctx.version
    if version is None:
        state = ctx.training_job()
        version = register.find_version(ctx.clients, ctx.config, state)
        if version is None:
            raise PreconditionFailed(
                f"Training job {state.name} has no model version yet.",
                hint="Register it first: `mlops pipeline run --from register`.",
            )
    number, policy = version.number, ctx.config.registry.approval
    figures = {"model_version": number, "approval": version.status, "policy": policy}
    if version.status == register.PENDING and policy == "auto":
        objective = ctx.config.train.objective
        decision = register.decide_approval(ctx.config.registry, objective, version.objective)
        change = register.set_approval(
            ctx.clients, ctx.config, number, decision.status, decision.reason or "Automatic approval."
        )
        version = change.version
        figures["approval"] = version.status
        return _decided(ctx, version, figures, RAN, change.warnings)
    if version.status == register.PENDING:
        ctx.awaiting_approval = f"version {number} waits for approval"
        return StageResult(
            "approve",
            WAITING,
            summary=f"version {number} is {register.PENDING} (register.approval: manual)",
            figures=figures,
            hint=f"mlops register approve {number} -c {ctx.options.config_path} --reason '…'",
        )
    return _decided(ctx, version, figures, RAN if ctx.registered_now else SKIPPED, [])


def _decided(
    ctx: _Context, version: ModelVersion, figures: dict[str, Any], status: str, warnings: list[str]
) -> StageResult:
    from mlops_cli.services import register

    reason = version.approval_description or "no reason recorded"
    if status == SKIPPED:
        summary = f"version {version.number} is {version.status} already ({reason})"
    else:
        summary = f"version {version.number} {version.status}: {reason}"
    if version.status == register.REJECTED:
        warnings = [
            *warnings,
            f"Version {version.number} is rejected; the endpoint serves the newest approved version.",
        ]
    return StageResult("approve", status, summary=summary, figures=figures, warnings=warnings)


def _deploy(ctx: _Context) -> StageResult:
    from mlops_cli.services import deploy, register

    if ctx.awaiting_approval and not register.approved_versions(ctx.clients, ctx.config):
        ctx.awaiting_approval = f"no model version is approved yet ({ctx.awaiting_approval})"
        return _waiting(ctx, "deploy")
    ctx.awaiting_approval = None
    result = deploy.apply(
        ctx.clients,
        ctx.config,
        observe=lambda state, lines: ctx.observe(JobProgress(state, lines)),
        timeout=ctx.options.timeout,
    )
    figures = {
        "endpoint": result.endpoint,
        "model_version": result.version,
        "previous_version": result.previous_version,
    }
    if result.pin:  # a rollback pinned the version: the newest approved one waits (deploy.PIN_TAG)
        figures["pinned"] = result.pin
    warnings = [f"Endpoint {result.endpoint}: {result.pin}."] if result.pin else []
    changed = [c.name for c in result.controls if c.action is not None and c.action.value != "unchanged"]
    if result.action.value == "unchanged" and not changed:
        pinned = " (pinned by `mlops deploy rollback`)" if result.pin else ""
        return StageResult(
            "deploy",
            SKIPPED,
            summary=f"{result.endpoint} serves version {result.version} already{pinned}",
            figures=figures,
            warnings=warnings,
        )
    what = f"endpoint {result.action.value}" if result.action.value != "unchanged" else "endpoint unchanged"
    extra = f"; {', '.join(changed)} converged" if changed else ""
    return StageResult(
        "deploy",
        RAN,
        summary=f"{result.endpoint} serves version {result.version} ({what}{extra})",
        figures=figures,
        warnings=warnings,
    )


def _waiting(ctx: _Context, stage: str) -> StageResult:
    if stage != "deploy":
        return StageResult(stage, WAITING, summary="waits for deploy")
    return StageResult(
        stage,
        WAITING,
        summary=f"waits: {ctx.awaiting_approval}",
        hint=f"Approve a version, then run `mlops pipeline run -c {ctx.options.config_path} --from deploy`.",
    )


def _gateway(ctx: _Context) -> StageResult:
    from mlops_cli.services import gateway

    if ctx.awaiting_approval:
        return _waiting(ctx, "gateway")
    result = gateway.apply(ctx.clients, ctx.config)
    changed = [c.name for c in result.controls if c.action is not None and c.action.value != "unchanged"]
    figures = {"api_url": f"{result.url}/predict", "deployment": result.deployment, "auth": result.auth}
    if not result.deployed and not changed:
        return StageResult(
            "gateway", SKIPPED, summary="the API matches the config", figures=figures, warnings=result.warnings
        )
    summary = f"{len(changed)} control(s) converged" + (
        "; deployed to stage " + result.stage if result.deployed else ""
    )
    return StageResult("gateway", RAN, summary=summary, figures=figures, warnings=result.warnings)


def _lb(ctx: _Context) -> StageResult:
    if ctx.config.lb is None:
        return StageResult("lb", SKIPPED, summary="no load balancer in the config (lb)")
    if ctx.awaiting_approval:
        return _waiting(ctx, "lb")
    from mlops_cli.services import lb

    result = lb.apply(ctx.clients, ctx.config)
    ctx.lb_url = result.url
    figures = {"lb_dns_name": result.dns_name, "lb_url": result.url}
    if not result.changed:
        return StageResult("lb", SKIPPED, summary="the load balancer matches the config", figures=figures)
    return StageResult("lb", RAN, summary=f"load balancer {result.dns_name} converged", figures=figures)


def _smoke(ctx: _Context) -> StageResult:
    from mlops_cli.services import deploy, gateway

    if ctx.awaiting_approval:
        return _waiting(ctx, "smoke")
    source, records = _sample_records(ctx)
    body = json.dumps({"instances": records}).encode()
    retrying = _smoke_retries(ctx)
    json_in_out = ("application/json", "application/json")
    direct = retrying.call(deploy.invoke, ctx.clients, ctx.config, body, *json_in_out).body
    through_api = retrying.call(gateway.invoke, ctx.clients, ctx.config, body, *json_in_out).body
    predictions = direct.get("predictions", []) if isinstance(direct, dict) else []
    api_agrees = through_api == direct
    figures: dict[str, Any] = {
        "rows_from": source,
        "predictions": len(predictions),
        "api_matches_endpoint": api_agrees,
        "first_prediction": predictions[0] if predictions else None,
    }
    warnings: list[str] = []
    lb_agrees = None
    if ctx.lb_url:
        lb_answer = retrying.call(_post_lb, ctx, f"{ctx.lb_url.rstrip('/')}/invocations", body)
        if lb_answer is None:
            warnings.append(f"The load balancer's URL {ctx.lb_url} cannot be reached from here: not checked.")
        else:
            lb_agrees = lb_answer == direct
            figures["lb_matches_endpoint"] = lb_agrees
    if len(predictions) != len(records):
        raise OperationFailed(f"The endpoint answered {len(predictions)} predictions for {len(records)} rows.")
    shipped_handler = ctx.config.deploy.inference is None  # a team's handler answers in its own way
    if shipped_handler and (problem := prediction_shape_problem(ctx.config.dataset.resolved_task, predictions)):
        raise OperationFailed(f"The endpoint's answer does not fit the task: {problem}.")
    if not api_agrees:
        raise OperationFailed(
            f"The API and the endpoint answered differently for the same {len(records)} rows.",
            hint="Compare `mlops gateway invoke` with `mlops deploy invoke`.",
        )
    if lb_agrees is False:
        raise OperationFailed(
            f"The load balancer and the endpoint answered differently for the same {len(records)} rows.",
            hint="See `mlops lb status`.",
        )
    checked = "API" + (" and load balancer" if lb_agrees else "")
    return StageResult(
        "smoke",
        RAN,
        summary=f"{len(predictions)} predictions through the {checked}, the same as the endpoint's",
        figures=figures,
        warnings=warnings,
    )


# What each prediction of the shipped inference handler holds, by task (the key is echoed besides)
PREDICTION_FIELDS: dict[str, dict[str, type]] = {
    "binary": {"label": str, "probability": float},
    "multiclass": {"label": str, "probabilities": dict},
    "regression": {"value": float},
}


def prediction_shape_problem(task: str, predictions: list[Any]) -> str | None:
    """Why these predictions are not what the shipped handler answers for the task, or None."""
    for row, prediction in enumerate(predictions, 1):
        if not isinstance(prediction, dict):
            return f"prediction {row} is not a JSON object"
        for name, kind in PREDICTION_FIELDS[task].items():
            value = prediction.get(name)
            number_given = isinstance(value, int | float) and not isinstance(value, bool)
            if not (number_given if kind is float else isinstance(value, kind)):
                wanted = ", ".join(PREDICTION_FIELDS[task])
                return f"prediction {row} has no {name} ({task} predictions hold {wanted})"
        if task == "multiclass" and prediction["label"] not in prediction["probabilities"]:
            return f"prediction {row}: its label {prediction['label']!r} has no probability"
    return None


def _post_lb(ctx: _Context, url: str, body: bytes) -> Any:
    """The load balancer's JSON answer; None when its address cannot be reached from this machine."""
    from mlops_cli.aws.errors import RETRY_LATER_HTTP
    from mlops_cli.aws.execute_api import send

    try:
        answer = send(
            ctx.clients.session,
            "POST",
            url,
            body,
            {"Content-Type": "application/json", "Accept": "application/json"},
            proxies=ctx.clients.proxies_for(url),
            timeout=30,
        )
    except OperationFailed:
        return None
    if not 200 <= answer.status < 300:
        # 502/503/504/429: the targets are not (yet) answering; the smoke stage asks again for a while
        error = AwsUnreachable if answer.status in RETRY_LATER_HTTP else OperationFailed
        raise error(f"The load balancer answered {answer.status}: {answer.body[:500].decode(errors='replace')}")
    return json.loads(answer.body)


SMOKE_PATIENCE = 90.0  # seconds the smoke stage asks again while a door answers 503 (a fresh deployment settling)


def _smoke_retries(ctx: _Context) -> Any:
    """Asks again while the endpoint, the API or the load balancer answers "unavailable" (503 and the like), then
    fails with the last answer."""
    from mlops_cli.aws.errors import Outage

    def notify(seconds_down: float, error: MlopsError) -> None:
        ctx.note(f"{error.message} Asking again ({seconds_down:.0f} s).")

    return Outage(patience=SMOKE_PATIENCE, notify=notify)


def _sample_records(ctx: _Context) -> tuple[str, list[dict[str, str]]]:
    """The first rows of the newest test split (of the model's data when known), else of the newest raw batch:
    their features, as the request records a client sends."""
    from mlops_cli.services import preprocess

    uri = None
    if ctx.training is not None:
        channel = next(
            (c for c in ctx.training.description.get("InputDataConfig", []) if c["ChannelName"] == "train"), None
        )
        if channel:
            uri = channel["DataSource"]["S3DataSource"]["S3Uri"].rsplit("/", 1)[0] + "/test"
    if uri is None:
        try:
            uri = preprocess.job_outputs(preprocess.latest_completed(ctx.clients, ctx.config)).get("test")
        except PreconditionFailed:
            uri = None
    if uri is None:
        bucket = ctx.config.names(ctx.clients.account_id).data_bucket
        uri = f"s3://{bucket}/{ctx.config.dataset.raw_prefix}"
        records = _first_rows(ctx, uri, newest_first=True)
    else:
        records = _first_rows(ctx, uri, newest_first=False)
    if not records:
        raise PreconditionFailed(f"There are no rows under {uri} to send.", hint="Run the preprocess stage first.")
    return uri, records


def _first_rows(ctx: _Context, uri: str, *, newest_first: bool) -> list[dict[str, str]]:
    from mlops_cli.aws.errors import aws_errors

    s3 = ctx.clients.client("s3")
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    features = list(ctx.config.dataset.features)
    with aws_errors(f"reading rows under {uri}"):
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix.rstrip("/") + "/")
        keys = sorted((o["Key"] for page in pages for o in page.get("Contents", [])), reverse=newest_first)
        records: list[dict[str, str]] = []
        for key in (k for k in keys if k.endswith(".csv")):
            text = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
            for row in csv.DictReader(io.StringIO(text)):
                if all(name in row for name in features):
                    records.append({name: row[name] for name in features})
                if len(records) == SMOKE_ROWS:
                    return records
    return records


_STAGES: dict[str, Callable[[_Context], StageResult]] = {
    "storage": _storage,
    "upload": _upload,
    "preprocess": _preprocess,
    "train": _train,
    "evaluate": _evaluate,
    "register": _register,
    "approve": _approve,
    "deploy": _deploy,
    "gateway": _gateway,
    "lb": _lb,
    "smoke": _smoke,
}
