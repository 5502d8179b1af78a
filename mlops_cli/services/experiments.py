"""Every training run tracked in SageMaker Experiments, with plain boto3 (no SageMaker SDK).

Layout in AWS, all named from the config and the job, so finding a run needs no local state:
- the project's experiment `<project>-<env>`;
- a trial per run, named after its training job (a `train run` job, or one trial of a tuning job);
- in that trial, our trial component `<job>-mlops` with the hyperparameters (Parameters), the data it read with the
  S3 version of every object (InputArtifacts), the model and its evaluation (OutputArtifacts), the final metrics
  (`sagemaker-metrics` BatchPutMetrics), status, start and end times, and tags;
- SageMaker's own component for the job (`<job>-aws-training-job`, created by AWS for every training job), associated
  with the same trial when it exists.

Recording is idempotent and crash-safe: the component is created `InProgress` and gets the run's final status as
the very last step, so a component that still says `InProgress` after its job ended is recorded again. `train run`
records its run once the job has ended; every `register` command records the runs that are not recorded yet (so runs
started with `--no-wait` are tracked too).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mlops_cli.aws.errors import aws_errors, get_or_none
from mlops_cli.aws.session import AwsClients
from mlops_cli.aws.tags import as_key_value, from_key_value
from mlops_cli.config.models import Config, Objective
from mlops_cli.config.tasks import natural_goal
from mlops_cli.errors import OperationFailed, PreconditionFailed, UsageError
from mlops_cli.services import jobs
from mlops_cli.services.convergence import Action, Control, ControlResult, converge

STAGE = "register"
COMPONENT_SUFFIX = "-mlops"
AWS_COMPONENT_SUFFIX = "-aws-training-job"  # the name SageMaker gives the component it creates for a training job
COMPONENT_DISPLAY_NAME = "mlops-run"
JOB_DISPLAY_NAME = "training-job"
CONTEXT_PREFIX = "mlops:"  # Parameters that describe the run rather than configure the model
ENDED = ("Completed", "Failed", "Stopped")
MANIFEST = "input-manifest"
MAX_ARTIFACTS = 60  # per map, an API limit
METRICS_PER_CALL = 10  # BatchPutMetrics takes 1-10 metrics per call
METRIC_MAX_AGE = dt.timedelta(days=13)  # BatchPutMetrics refuses timestamps older than two weeks
_MISSING = ("ResourceNotFound", "ValidationException")  # AWS says the former, moto the latter


@dataclass
class RecordResult:
    job_name: str
    trial: str
    trial_component: str
    action: str  # created | updated | unchanged | skipped


@dataclass
class DataObject:
    name: str  # <channel>/<file name>
    uri: str
    version_id: str | None


@dataclass
class Run:
    """One training run as its experiment records it (or, before it is recorded, as the training job shows it)."""

    job_name: str
    status: str
    recorded: bool
    created: dt.datetime | None = None
    started: dt.datetime | None = None
    ended: dt.datetime | None = None
    hyperparameters: dict[str, str | float] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    data: dict[str, str] = field(default_factory=dict)  # channel -> S3 URI
    data_objects: list[DataObject] = field(default_factory=list)  # every object read, with its version
    data_job: str | None = None
    tuning_job: str | None = None
    manifest: str | None = None
    model: str | None = None
    evaluation: str | None = None
    trial_component: str | None = None


@dataclass
class CompareRow:
    name: str
    a: Any
    b: Any
    same: bool
    difference: float | None = None  # b - a, for numbers


@dataclass
class Comparison:
    a: str
    b: str
    hyperparameters: list[CompareRow]
    metrics: list[CompareRow]
    data: list[CompareRow]
    model: list[CompareRow]
    runs: list[Run] = field(default_factory=list, repr=False)


def experiment_name(config: Config) -> str:
    return config.names().prefix


def component_name(job_name: str) -> str:
    """Lowercase: BatchPutMetrics only accepts lowercase trial component names."""
    return f"{job_name}{COMPONENT_SUFFIX}".lower()


# --- the experiment and a run's trial ------------------------------------------------------------------------------


def ensure_experiment(clients: AwsClients, config: Config) -> list[ControlResult]:
    """The project's experiment with the standard tags: created, tagged, or left alone."""
    sagemaker = clients.client("sagemaker")
    name = experiment_name(config)
    tags = config.standard_tags(STAGE)
    found: dict[str, Any] = {}

    def read() -> str | None:
        if not found:
            found.update(_find_experiment(clients, name) or {})
        return found.get("ExperimentArn")

    def create() -> None:
        created = get_or_none(
            f"creating experiment {name}",
            ("ValidationException",),
            sagemaker.create_experiment,
            ExperimentName=name,
            Description=f"Training runs of {config.project} ({config.environment}), recorded by mlops",
            Tags=as_key_value(tags),
        )
        if created is None:  # Search lags behind writes: the experiment may exist already, which is what we want
            with aws_errors(f"describing experiment {name}"):
                created = sagemaker.describe_experiment(ExperimentName=name)
        found["ExperimentArn"] = created["ExperimentArn"]

    def read_tags() -> dict[str, str] | None:
        arn = read()
        if arn is None:
            return None
        with aws_errors(f"reading the tags of experiment {name}"):
            actual = from_key_value(sagemaker.list_tags(ResourceArn=arn).get("Tags"))
        return {key: actual[key] for key in tags if key in actual} or None

    def write_tags() -> None:
        with aws_errors(f"tagging experiment {name}"):
            sagemaker.add_tags(ResourceArn=read(), Tags=as_key_value(tags))

    return converge(
        [
            Control("experiment", name, lambda: name if read() else None, create),
            Control("experiment tags", tags, read_tags, write_tags, parent="experiment"),
        ]
    )


def _find_experiment(clients: AwsClients, name: str) -> dict[str, Any] | None:
    # DescribeExperiment is the obvious call, but moto answers it with a server error for an unknown name
    with aws_errors(f"looking for experiment {name}"):
        results = clients.client("sagemaker").search(
            Resource="Experiment",
            SearchExpression={"Filters": [{"Name": "ExperimentName", "Operator": "Equals", "Value": name}]},
        )["Results"]
    return next((r["Experiment"] for r in results if r["Experiment"]["ExperimentName"] == name), None)


def ensure_trial(clients: AwsClients, config: Config, job_name: str) -> Action:
    sagemaker = clients.client("sagemaker")
    found = get_or_none(f"describing trial {job_name}", _MISSING, sagemaker.describe_trial, TrialName=job_name)
    if found is not None:
        return Action.UNCHANGED
    with aws_errors(f"creating trial {job_name}"):
        sagemaker.create_trial(
            TrialName=job_name,
            ExperimentName=experiment_name(config),
            Tags=as_key_value({**config.standard_tags(STAGE), "mlops:training-job": job_name}),
        )
    return Action.CREATED


def start_run(clients: AwsClients, config: Config, job_name: str) -> dict[str, str]:
    """The `ExperimentConfig` of a new training job: SageMaker then files its own trial component for the job in
    the run's trial. The experiment and the trial must exist before the job is created."""
    ensure_experiment(clients, config)
    ensure_trial(clients, config, job_name)
    return {
        "ExperimentName": experiment_name(config),
        "TrialName": job_name,
        "TrialComponentDisplayName": JOB_DISPLAY_NAME,
    }


# --- recording a run -----------------------------------------------------------------------------------------------


def record_run(clients: AwsClients, config: Config, job: str | jobs.JobState) -> RecordResult:
    """Record one ended training run in the experiment, or complete its record: a run recorded before its
    evaluation existed gets the evaluation added. Running it again changes nothing."""
    state = job if isinstance(job, jobs.JobState) else jobs.describe_job(clients, jobs.Kind.TRAINING, job)
    name = component_name(state.name)
    if state.status not in ENDED:
        return RecordResult(state.name, state.name, name, "skipped")
    sagemaker = clients.client("sagemaker")
    existing = _describe_component(clients, name)
    if existing is not None and existing.get("Status", {}).get("PrimaryStatus") in ENDED:
        outputs = existing.get("OutputArtifacts") or {}
        if "evaluation" in outputs or "model" not in outputs:
            return RecordResult(state.name, state.name, name, "unchanged")
        evaluation = existing_evaluation(clients, outputs["model"]["Value"])
        if evaluation is None:
            return RecordResult(state.name, state.name, name, "unchanged")
        with aws_errors(f"adding the evaluation to trial component {name}"):
            sagemaker.update_trial_component(
                TrialComponentName=name,
                OutputArtifacts={**outputs, "evaluation": {"Value": evaluation, "MediaType": "application/json"}},
            )
        return RecordResult(state.name, state.name, name, "updated")
    ensure_experiment(clients, config)
    _record(clients, config, state, existing)
    return RecordResult(state.name, state.name, name, "created" if existing is None else "updated")


def _record(clients: AwsClients, config: Config, state: jobs.JobState, existing: dict[str, Any] | None) -> None:
    sagemaker = clients.client("sagemaker")
    d = state.description
    name = component_name(state.name)
    ensure_trial(clients, config, state.name)
    started = d.get("TrainingStartTime") or state.created
    ended = d.get("TrainingEndTime") or d.get("LastModifiedTime") or state.ended
    if existing is None:
        request: dict[str, Any] = {
            "TrialComponentName": name,
            "DisplayName": COMPONENT_DISPLAY_NAME,
            "Status": {"PrimaryStatus": "InProgress", "Message": "being recorded by mlops"},
            "Parameters": _parameters(state),
            "InputArtifacts": _input_artifacts(clients, state),
            "OutputArtifacts": _output_artifacts(clients, state),
            "Tags": as_key_value({**config.standard_tags(STAGE), "mlops:training-job": state.name}),
        }
        if started:
            request["StartTime"] = started
        with aws_errors(f"creating trial component {name}"):
            sagemaker.create_trial_component(**request)
    _put_metrics(clients, name, state, ended)
    in_trial = _components_in_trial(clients, state.name)
    for component in (f"{state.name}{AWS_COMPONENT_SUFFIX}", name):
        if component in in_trial or (component != name and _describe_component(clients, component) is None):
            continue
        with aws_errors(f"adding trial component {component} to trial {state.name}"):
            sagemaker.associate_trial_component(TrialComponentName=component, TrialName=state.name)
    status: dict[str, Any] = {"PrimaryStatus": state.status}
    if message := (state.failure_reason or d.get("SecondaryStatus")):
        status["Message"] = str(message)[:1024]
    final: dict[str, Any] = {"TrialComponentName": name, "Status": status}
    if ended:
        final["EndTime"] = ended
    with aws_errors(f"completing trial component {name}"):  # last: marks the record complete
        sagemaker.update_trial_component(**final)


def record_pending(
    clients: AwsClients, config: Config, *, limit: int = 20, include: Iterable[str] = ()
) -> list[RecordResult]:
    """Record the newest `limit` ended training runs that the experiment does not hold yet (and `include`, which
    are checked fully, evaluation included). Returns what was recorded or completed."""
    summaries = jobs.list_jobs(clients, jobs.Kind.TRAINING, config.names().prefix, limit)
    recorded = _recorded_components(clients, config, summaries)
    results: list[RecordResult] = []
    extra = [name for name in include if name]
    for summary in summaries:
        job_name = summary["TrainingJobName"]
        if job_name in extra or summary["TrainingJobStatus"] not in ENDED:
            continue
        status = recorded.get(component_name(job_name), "")
        if status is None or status in ENDED:  # None: listed without a status (moto), counted as recorded
            continue
        results.append(record_run(clients, config, job_name))
    results += [record_run(clients, config, job_name) for job_name in extra]
    return [result for result in results if result.action not in ("unchanged", "skipped")]


def _recorded_components(clients: AwsClients, config: Config, summaries: list[dict[str, Any]]) -> dict[str, str | None]:
    """Our components in the experiment, by name, with their status: one listing instead of a call per run."""
    if not summaries:
        return {}
    oldest = min(s["CreationTime"] for s in summaries) - dt.timedelta(minutes=1)
    sagemaker = clients.client("sagemaker")
    found: dict[str, str | None] = {}
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"ExperimentName": experiment_name(config), "CreatedAfter": oldest, "MaxResults": 100}
        if token:
            kwargs["NextToken"] = token
        page = get_or_none(
            "listing the experiment's trial components", _MISSING, sagemaker.list_trial_components, **kwargs
        )
        if page is None:  # no experiment yet
            return found
        for item in page.get("TrialComponentSummaries", []):
            found[item["TrialComponentName"]] = item.get("Status", {}).get("PrimaryStatus")
        token = page.get("NextToken")
        if not token:
            return found


def _describe_component(clients: AwsClients, name: str) -> dict[str, Any] | None:
    return get_or_none(
        f"describing trial component {name}",
        _MISSING,
        clients.client("sagemaker").describe_trial_component,
        TrialComponentName=name,
    )


def _components_in_trial(clients: AwsClients, trial: str) -> set[str]:
    with aws_errors(f"listing the trial components of {trial}"):
        pages = clients.client("sagemaker").get_paginator("list_trial_components").paginate(TrialName=trial)
        return {item["TrialComponentName"] for page in pages for item in page["TrialComponentSummaries"]}


def _parameters(state: jobs.JobState) -> dict[str, dict[str, Any]]:
    parameters: dict[str, dict[str, Any]] = {
        name: _parameter_value(value) for name, value in sorted(jobs.user_hyperparameters(state).items())
    }
    context = {
        "data-job": data_job(state),
        "tuning-job": (state.description.get("TuningJobArn") or "").rsplit("/", 1)[-1] or None,
        "instance-type": state.description.get("ResourceConfig", {}).get("InstanceType"),
        "image": state.description.get("AlgorithmSpecification", {}).get("TrainingImage"),
    }
    parameters.update({CONTEXT_PREFIX + key: {"StringValue": value} for key, value in context.items() if value})
    return parameters


def _parameter_value(value: str) -> dict[str, Any]:
    """Numbers as NumberValue, so Studio can chart and sort them; everything else as StringValue."""
    try:
        number = float(value)
    except ValueError:
        return {"StringValue": value}
    return {"NumberValue": number} if number == number and abs(number) != float("inf") else {"StringValue": value}


def _plain(value: dict[str, Any]) -> str | float:
    return float(value["NumberValue"]) if "NumberValue" in value else str(value.get("StringValue", ""))


def _manifest_uri(state: jobs.JobState) -> str:
    output = state.description.get("OutputDataConfig", {}).get("S3OutputPath", "").rstrip("/")
    return f"{output}/{state.name}/input-manifest.json"


def _read_manifest(clients: AwsClients, state: jobs.JobState) -> dict[str, Any] | None:
    """The input-manifest.json `train run` writes next to the model (tuning trials have none)."""
    uri = _manifest_uri(state)
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    found = get_or_none(
        f"reading {uri}", ("NoSuchKey", "404", "NotFound"), clients.client("s3").get_object, Bucket=bucket, Key=key
    )
    return None if found is None else dict(json.loads(found["Body"].read()))


def data_job(state: jobs.JobState) -> str | None:
    # processed/<dataset>/<processing job>/<split>: the processing job is the folder above the channel
    channels = [c["DataSource"]["S3DataSource"]["S3Uri"] for c in state.description.get("InputDataConfig", [])]
    parts = channels[0].rstrip("/").rsplit("/", 2) if channels else []
    return parts[-2] if len(parts) == 3 else None


def _input_artifacts(clients: AwsClients, state: jobs.JobState) -> dict[str, dict[str, str]]:
    """Each channel (its S3 prefix), the manifest, and every object read as `s3://bucket/key?versionId=…`, the S3
    version that was trained on (objects only while the map stays within its 60 entries)."""
    artifacts = {
        c["ChannelName"]: {"Value": c["DataSource"]["S3DataSource"]["S3Uri"], "MediaType": "text/csv"}
        for c in state.description.get("InputDataConfig", [])
    }
    manifest = _read_manifest(clients, state)
    if manifest is None:
        return artifacts
    artifacts[MANIFEST] = {"Value": _manifest_uri(state), "MediaType": "application/json"}
    objects = manifest.get("objects", [])
    if len(artifacts) + len(objects) <= MAX_ARTIFACTS:
        channels = {name: uri.rstrip("/") + "/" for name, uri in manifest.get("channels", {}).items()}
        for item in objects:
            channel = next((n for n, prefix in channels.items() if item["uri"].startswith(prefix)), "data")
            value = item["uri"] + (f"?versionId={item['version_id']}" if item.get("version_id") else "")
            artifacts[f"{channel}/{item['uri'].rsplit('/', 1)[-1]}"] = {"Value": value, "MediaType": "text/csv"}
    return artifacts


def evaluation_uri(model_uri: str) -> str:
    """Where `train evaluate` writes the evaluation of a model: models/<dataset>/<job>/evaluation/evaluation.json."""
    return model_uri.rsplit("/output/", 1)[0] + "/evaluation/evaluation.json"


def existing_evaluation(clients: AwsClients, model_uri: str) -> str | None:
    """The model's evaluation.json if `train evaluate` has written it."""
    uri = evaluation_uri(model_uri)
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    found = get_or_none(
        f"looking for {uri}", ("404", "NoSuchKey", "NotFound"), clients.client("s3").head_object, Bucket=bucket, Key=key
    )
    return None if found is None else uri


def _output_artifacts(clients: AwsClients, state: jobs.JobState) -> dict[str, dict[str, str]]:
    model = state.description.get("ModelArtifacts", {}).get("S3ModelArtifacts") if state.status == "Completed" else None
    if not model:
        return {}
    artifacts = {"model": {"Value": model, "MediaType": "application/gzip"}}
    if evaluation := existing_evaluation(clients, model):
        artifacts["evaluation"] = {"Value": evaluation, "MediaType": "application/json"}
    return artifacts


def _put_metrics(clients: AwsClients, name: str, state: jobs.JobState, ended: dt.datetime | None) -> None:
    """The job's final metrics as one data point each. BatchPutMetrics only takes timestamps from the last two
    weeks, so a run recorded late is stamped now."""
    metrics = state.description.get("FinalMetricDataList", [])
    now = dt.datetime.now(dt.UTC)
    stamp = ended if ended and now - ended < METRIC_MAX_AGE else now
    data = [{"MetricName": m["MetricName"], "Timestamp": stamp, "Step": 0, "Value": float(m["Value"])} for m in metrics]
    client = clients.client("sagemaker-metrics")
    for start in range(0, len(data), METRICS_PER_CALL):
        with aws_errors(f"recording the metrics of {state.name}"):
            answer = client.batch_put_metrics(
                TrialComponentName=name, MetricData=data[start : start + METRICS_PER_CALL]
            )
        if errors := answer.get("Errors"):
            raise OperationFailed(f"While recording the metrics of {state.name}: {errors[0].get('Code')}.")


# --- reading runs back ---------------------------------------------------------------------------------------------


def list_runs(clients: AwsClients, config: Config, *, limit: int = 50) -> list[Run]:
    """The newest training runs, newest first, as their experiment records them; runs not recorded yet (still
    running) come from the training job."""
    summaries = jobs.list_jobs(clients, jobs.Kind.TRAINING, config.names().prefix, limit)
    return [_read_run(clients, summary["TrainingJobName"]) for summary in summaries]


def get_run(clients: AwsClients, config: Config, job_name: str) -> Run:
    """One run, recorded first if it is not yet (unknown jobs: PreconditionFailed, exit 3). The experiment's name
    may be left off the front, as `register runs` shows the runs."""
    prefix = f"{experiment_name(config)}-"
    try:
        state = jobs.describe_job(clients, jobs.Kind.TRAINING, job_name)
    except PreconditionFailed:
        if job_name.startswith(prefix):
            raise
        state = jobs.describe_job(clients, jobs.Kind.TRAINING, prefix + job_name)
        job_name = state.name
    record_run(clients, config, state)
    return _read_run(clients, job_name, state)


def _read_run(clients: AwsClients, job_name: str, state: jobs.JobState | None = None) -> Run:
    component = _describe_component(clients, component_name(job_name))
    if component is None:
        return _run_from_job(state or jobs.describe_job(clients, jobs.Kind.TRAINING, job_name))
    run = run_from_component(job_name, component)
    if not run.metrics:  # the summaries of freshly put metrics can take a moment to appear
        job = state or jobs.describe_job(clients, jobs.Kind.TRAINING, job_name)
        run.metrics = job_metrics(job)
    return run


def run_from_component(job_name: str, component: dict[str, Any]) -> Run:
    """A Run from DescribeTrialComponent's answer: the inverse of what recording writes."""
    parameters = component.get("Parameters") or {}
    inputs = {name: a.get("Value", "") for name, a in (component.get("InputArtifacts") or {}).items()}
    outputs = {name: a.get("Value", "") for name, a in (component.get("OutputArtifacts") or {}).items()}
    objects = []
    for name, value in sorted(inputs.items()):
        if "/" in name:
            uri, _, query = value.partition("?versionId=")
            objects.append(DataObject(name, uri, query or None))
    context = {
        k.removeprefix(CONTEXT_PREFIX): v.get("StringValue")
        for k, v in parameters.items()
        if k.startswith(CONTEXT_PREFIX)
    }
    return Run(
        job_name=job_name,
        status=component.get("Status", {}).get("PrimaryStatus", "Unknown"),
        recorded=component.get("Status", {}).get("PrimaryStatus") in ENDED,
        created=component.get("CreationTime"),
        started=component.get("StartTime"),
        ended=component.get("EndTime"),
        hyperparameters={
            name: _plain(value) for name, value in sorted(parameters.items()) if not name.startswith(CONTEXT_PREFIX)
        },
        metrics={m["MetricName"]: float(m["Last"]) for m in component.get("Metrics") or [] if "Last" in m},
        data={name: value for name, value in inputs.items() if "/" not in name and name != MANIFEST},
        data_objects=objects,
        data_job=context.get("data-job"),
        tuning_job=context.get("tuning-job"),
        manifest=inputs.get(MANIFEST),
        model=outputs.get("model"),
        evaluation=outputs.get("evaluation"),
        trial_component=component.get("TrialComponentName"),
    )


def _run_from_job(state: jobs.JobState) -> Run:
    d = state.description
    model = d.get("ModelArtifacts", {}).get("S3ModelArtifacts") if state.status == "Completed" else None
    return Run(
        job_name=state.name,
        status=state.status,
        recorded=False,
        created=state.created,
        started=d.get("TrainingStartTime"),
        ended=d.get("TrainingEndTime"),
        hyperparameters={
            name: _plain(_parameter_value(value)) for name, value in sorted(jobs.user_hyperparameters(state).items())
        },
        metrics=job_metrics(state),
        data={c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in d.get("InputDataConfig", [])},
        data_job=data_job(state),
        tuning_job=(d.get("TuningJobArn") or "").rsplit("/", 1)[-1] or None,
        model=model,
    )


def job_metrics(state: jobs.JobState) -> dict[str, float]:
    return {m["MetricName"]: float(m["Value"]) for m in state.description.get("FinalMetricDataList", [])}


# --- sorting and comparing (pure) ----------------------------------------------------------------------------------


def sort_runs(runs: list[Run], key: str | None, objective: Objective) -> list[Run]:
    """By a metric (best first: the objective in its goal's direction, another metric in the direction it gets
    better: ascending for logloss, rmse, mae; runs without it last), or by `created` (newest start first, the
    default)."""
    if key is None or key == "created":
        oldest = dt.datetime.min.replace(tzinfo=dt.UTC)
        return sorted(runs, key=lambda r: r.started or r.created or oldest, reverse=True)
    known = sorted({name for run in runs for name in run.metrics})
    if runs and key not in known:
        raise UsageError(f"no run has the metric '{key}'.", hint=f"Sort by one of: created, {', '.join(known)}.")
    ascending = (objective.goal if key == objective.metric else natural_goal(key)) == "minimize"
    metric: str = key
    with_metric = [r for r in runs if metric in r.metrics]
    ordered = sorted(with_metric, key=lambda r: r.metrics[metric], reverse=not ascending)
    return ordered + [r for r in runs if key not in r.metrics]


def compare(a: Run, b: Run) -> Comparison:
    """Two runs side by side: every hyperparameter, metric (with b - a), data input and model output of either."""
    return Comparison(
        a=a.job_name,
        b=b.job_name,
        hyperparameters=_rows(a.hyperparameters, b.hyperparameters),
        metrics=_rows(a.metrics, b.metrics, numeric=True),
        data=_rows(
            {**a.data, "processing job": a.data_job, **{o.name: o.version_id for o in a.data_objects}},
            {**b.data, "processing job": b.data_job, **{o.name: o.version_id for o in b.data_objects}},
        ),
        model=_rows({"model": a.model, "evaluation": a.evaluation}, {"model": b.model, "evaluation": b.evaluation}),
        runs=[a, b],
    )


def _rows(a: dict[str, Any], b: dict[str, Any], *, numeric: bool = False) -> list[CompareRow]:
    rows = []
    for name in sorted(set(a) | set(b)):
        left, right = a.get(name), b.get(name)
        difference = right - left if numeric and left is not None and right is not None else None
        rows.append(CompareRow(name, left, right, left == right, difference))
    return rows
