"""The training stage: training jobs (script mode on the scikit-learn image), tuning jobs, and evaluation jobs."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from typing import Any

from mlops_cli.aws.errors import aws_errors
from mlops_cli.aws.images import sklearn_image_uri
from mlops_cli.aws.session import AwsClients
from mlops_cli.aws.tags import as_key_value
from mlops_cli.config.hyperparameters import DEFAULT_ALGORITHM, HYPERPARAMETERS, hyperparameter_problem
from mlops_cli.config.models import Config
from mlops_cli.config.tasks import job_metrics
from mlops_cli.errors import PreconditionFailed, UsageError
from mlops_cli.services import experiments, jobs, preprocess
from mlops_cli.services.code import (
    Scripts,
    bundle_files,
    bundle_sha256,
    scripts,
    sourcedir_tarball,
    upload_bundle,
)
from mlops_cli.services.processing import INPUT_DIR, OUTPUT_DIR, ProcessingSpec, start_processing_job, vpc_config
from mlops_cli.services.roles import ensure_execution_role
from mlops_cli.services.security import job_encryption_key

STAGE = "train"
ENTRY_POINT = "train.py"
SERVING_CODE = "inference.py"  # train.py packs it into model.tar.gz (code/) for the serving container
MAX_METRIC_DEFINITIONS = 40  # SageMaker's limit on a training job's MetricDefinitions


def metric_definitions(task: str) -> list[dict[str, str]]:
    """What SageMaker reads from a training job's log for the task: train.py prints `validation:auc=0.851234;`."""
    names = job_metrics(task)
    assert len(names) <= MAX_METRIC_DEFINITIONS
    return [{"Name": name, "Regex": f"{re.escape(name)}=([-+0-9.eE]+);"} for name in names]


@dataclass
class TrainingData:
    processing_job: str
    channels: dict[str, str]  # channel name -> S3 URI
    manifest: list[dict[str, str]]  # every input object with its version, as trained on


@dataclass
class TrainRun:
    job_name: str
    hyperparameters: dict[str, str]
    data: TrainingData
    model_prefix: str
    manifest_uri: str


@dataclass
class TuneRun:
    job_name: str
    max_jobs: int
    max_parallel: int
    objective: str
    data: TrainingData


@dataclass
class EvaluateRun:
    job_name: str
    training_job: str
    model_uri: str
    test_uri: str
    output_uri: str
    chosen: str = ""  # why this training job (ModelChoice.reason)


@dataclass
class TrainingResult:
    job_name: str
    status: str
    metrics: dict[str, float] = field(default_factory=dict)
    model_uri: str | None = None
    hyperparameters: dict[str, str] = field(default_factory=dict)
    data_job: str | None = None


def job_prefix(config: Config) -> str:
    return f"{config.names().prefix}-trn-"


def _encode(value: Any) -> str:
    # the SageMaker SDK JSON-encodes every hyperparameter; the training toolkit json.loads each one
    return json.dumps(value)


def _hyperparameters(config: Config, overrides: dict[str, str] | None = None) -> dict[str, Any]:
    """The config's hyperparameters with `overrides` (text), each checked by the rules the config's are. A team's
    train.script takes its own: an override is read as a JSON value when it is one (3, 0.5, true), else as text."""
    merged: dict[str, Any] = {**config.train.hyperparameters}
    if config.train.script is not None:
        return {**merged, **{name: _scalar(raw) for name, raw in (overrides or {}).items()}}
    algorithm = str((overrides or {}).get("algorithm", merged.get("algorithm", DEFAULT_ALGORITHM)))
    task = config.dataset.resolved_task
    for name, raw in (overrides or {}).items():
        if problem := hyperparameter_problem(name, raw, (algorithm,), task):
            raise UsageError(problem)
        kind = HYPERPARAMETERS[name]
        if name == "max_depth" and raw.strip().lower() in ("", "none"):
            merged[name] = None  # no limit
        else:  # the text passed the rule: a whole number may be written 3.0
            merged[name] = int(float(raw)) if kind is int else kind(raw)
    return merged


def _scalar(raw: str) -> Any:
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    return value if isinstance(value, str | int | float | bool) or value is None else raw


CODE_CHANNEL = "code"
CODE_CHANNEL_SOURCEDIR = f"/opt/ml/input/data/{CODE_CHANNEL}/sourcedir.tar.gz"


def code_delivery(config: Config, code_uri: str) -> tuple[str, list[dict[str, Any]]]:
    """(sagemaker_submit_directory, extra input channels). An isolated container has no network, so the toolkit
    cannot download the code itself: SageMaker delivers it as the "code" input channel and the toolkit unpacks it
    from there, as the SageMaker SDK does for jobs with network isolation."""
    if not config.network.isolation:
        return code_uri, []
    channel = {
        "ChannelName": CODE_CHANNEL,
        "DataSource": {
            "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": code_uri, "S3DataDistributionType": "FullyReplicated"}
        },
        "InputMode": "File",
    }
    return CODE_CHANNEL_SOURCEDIR, [channel]


def _reserved(clients: AwsClients, config: Config, submit_directory: str, job_name: str | None) -> dict[str, str]:
    reserved = {
        "sagemaker_program": _encode(training_scripts(config).entry_point),
        "sagemaker_submit_directory": _encode(submit_directory),
        "sagemaker_region": _encode(clients.region),
        "sagemaker_container_log_level": "20",
    }
    if job_name:
        reserved["sagemaker_job_name"] = _encode(job_name)
    return reserved


def training_data(clients: AwsClients, config: Config, processing_job: str | None = None) -> TrainingData:
    """The train and validation splits of a preprocessing job (the latest completed one by default), with the
    version of every object in them."""
    if processing_job:
        state = jobs.describe_job(clients, jobs.Kind.PROCESSING, processing_job)
        if state.status != "Completed":
            raise PreconditionFailed(f"Preprocessing job {processing_job} is {state.status}, not Completed.")
    else:
        state = preprocess.latest_completed(clients, config)
    outputs = preprocess.job_outputs(state)
    channels = {name: outputs[name] for name in ("train", "validation")}
    s3 = clients.client("s3")
    manifest = []
    with aws_errors(f"listing the data of {state.name}"):
        for uri in channels.values():
            bucket, _, prefix = uri.removeprefix("s3://").partition("/")
            for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix + "/"):
                manifest += [
                    {"uri": f"s3://{bucket}/{v['Key']}", "version_id": v["VersionId"], "etag": v["ETag"]}
                    for v in page.get("Versions", [])
                    if v["IsLatest"]
                ]
    if not manifest:
        raise PreconditionFailed(f"Preprocessing job {state.name} wrote no training data.")
    return TrainingData(processing_job=state.name, channels=channels, manifest=manifest)


def _definition(
    clients: AwsClients,
    config: Config,
    data: TrainingData,
    role_arn: str,
    key_arn: str | None,
    code_channels: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """What a training job and a tuning job's trials share."""
    train = config.train
    bucket = config.names(clients.account_id).data_bucket
    definition: dict[str, Any] = {
        "AlgorithmSpecification": {
            "TrainingImage": sklearn_image_uri(clients.region, train.framework_version),
            "TrainingInputMode": "File",
            "MetricDefinitions": metric_definitions(config.dataset.resolved_task),
        },
        "RoleArn": role_arn,
        "InputDataConfig": [
            {
                "ChannelName": name,
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": uri,
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
                "ContentType": "text/csv",
                "InputMode": "File",
            }
            for name, uri in data.channels.items()
        ]
        + (code_channels or []),
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/models/{config.dataset.name}"},
        "ResourceConfig": {
            "InstanceType": train.instance_type,
            "InstanceCount": train.instance_count,
            "VolumeSizeInGB": train.volume_size_gb,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": train.max_runtime_minutes * 60},
        "EnableNetworkIsolation": config.network.isolation,
        "EnableInterContainerTrafficEncryption": train.instance_count > 1,
    }
    if key_arn:
        definition["OutputDataConfig"]["KmsKeyId"] = key_arn
        definition["ResourceConfig"]["VolumeKmsKeyId"] = key_arn
    if vpc := vpc_config(config):
        definition["VpcConfig"] = vpc
    return definition


def training_scripts(config: Config) -> Scripts:
    """train.py with the serving code it packs into the model, or the team's train.script."""
    return scripts(config, config.train.script, ENTRY_POINT, shared=(SERVING_CODE,))


def training_sourcedir(config: Config) -> dict[str, bytes]:
    """The training job's code bundle: one sourcedir.tar.gz, as the training toolkit downloads it."""
    return {"sourcedir.tar.gz": sourcedir_tarball(training_scripts(config).files)}


def _prepare(
    clients: AwsClients, config: Config, processing_job: str | None
) -> tuple[TrainingData, str, str | None, str]:
    sklearn_image_uri(clients.region, config.train.framework_version)  # a bad region fails before any call
    data = training_data(clients, config, processing_job)
    key_arn = job_encryption_key(clients, config)
    role = ensure_execution_role(clients, config, key_arn)
    code = upload_bundle(clients, config, training_sourcedir(config))
    return data, role.arn, key_arn, code.s3_prefix + "sourcedir.tar.gz"


def _inputs(clients: AwsClients, config: Config, data: TrainingData) -> dict[str, Any]:
    return {
        "data": data.processing_job,
        "objects": sorted(data.manifest, key=lambda o: o["uri"]),
        "code": bundle_sha256(training_sourcedir(config)),
        "image": sklearn_image_uri(clients.region, config.train.framework_version),
    }


def training_digest(
    clients: AwsClients, config: Config, data: TrainingData, overrides: dict[str, str] | None = None
) -> str:
    """A training job's `mlops:input-digest` tag: its data (every object with its version), code, image and
    hyperparameters. Starts and uploads nothing."""
    encoded = {name: _encode(value) for name, value in sorted(_hyperparameters(config, overrides).items())}
    return jobs.input_digest({**_inputs(clients, config, data), "hyperparameters": encoded})


def tuning_jobs(config: Config, max_jobs: int | None = None) -> int:
    """Trials a tuning job runs. Grid runs every combination of its categorical ranges, and SageMaker refuses a
    MaxNumberOfTrainingJobs other than the grid's size."""
    tuning = config.train.tuning
    if tuning.strategy != "Grid":
        return max_jobs or tuning.max_jobs
    if max_jobs is not None and max_jobs != tuning.grid_size:
        raise UsageError(
            f"Grid tuning runs every combination of its ranges, {tuning.grid_size} here: --max-jobs must be "
            f"{tuning.grid_size} or left out (SageMaker refuses another MaxNumberOfTrainingJobs)."
        )
    return tuning.grid_size


def tuning_digest(clients: AwsClients, config: Config, data: TrainingData, max_jobs: int | None = None) -> str:
    """A tuning job's `mlops:input-digest` tag: its data, code and image, static hyperparameters, ranges, strategy,
    limits and objective. Starts and uploads nothing."""
    tuning = config.train.tuning
    jobs_total = tuning_jobs(config, max_jobs)
    static = {name: _encode(value) for name, value in config.train.hyperparameters.items() if name not in tuning.ranges}
    return jobs.input_digest(
        {
            **_inputs(clients, config, data),
            "static": static,
            "ranges": _parameter_ranges(config),
            "strategy": tuning.strategy,
            "limits": [jobs_total, min(tuning.max_parallel, jobs_total)],
            "objective": config.train.objective.model_dump(),
        }
    )


def tuning_job_prefix(config: Config) -> str:
    """What every tuning job name of this config starts with (see ResourceNames.tuning_job_name)."""
    return config.names().tuning_job_prefix


def start_training(
    clients: AwsClients, config: Config, *, overrides: dict[str, str] | None = None, processing_job: str | None = None
) -> TrainRun:
    hyperparameters = _hyperparameters(config, overrides)
    data, role_arn, key_arn, submit_directory = _prepare(clients, config, processing_job)
    names = config.names(clients.account_id)
    job_name = names.job_name("trn", dt.datetime.now(dt.UTC))
    encoded = {name: _encode(value) for name, value in sorted(hyperparameters.items())}
    request = {
        "TrainingJobName": job_name,
        "HyperParameters": {
            **_reserved(clients, config, code_delivery(config, submit_directory)[0], job_name),
            **encoded,
        },
        **_definition(clients, config, data, role_arn, key_arn, code_delivery(config, submit_directory)[1]),
        "Tags": as_key_value(
            {
                **config.standard_tags(STAGE),
                "mlops:dataset": config.dataset.name,
                "mlops:data-job": data.processing_job,
                jobs.INPUT_DIGEST_TAG: training_digest(clients, config, data, overrides),
            }
        ),
    }
    model_prefix = f"{request['OutputDataConfig']['S3OutputPath']}/{job_name}"
    manifest_uri = _write_manifest(clients, model_prefix, data, hyperparameters)
    request["ExperimentConfig"] = experiments.start_run(clients, config, job_name)  # the job joins the run's trial
    with aws_errors(f"creating training job {job_name}"):
        clients.client("sagemaker").create_training_job(**request)
    return TrainRun(job_name, encoded, data, model_prefix, manifest_uri)


def _write_manifest(clients: AwsClients, model_prefix: str, data: TrainingData, hyperparameters: dict) -> str:
    """Which data (URIs and version IDs) and settings a model was trained with, next to the model."""
    uri = f"{model_prefix}/input-manifest.json"
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    body = {
        "processing_job": data.processing_job,
        "channels": data.channels,
        "objects": data.manifest,
        "hyperparameters": hyperparameters,
    }
    with aws_errors(f"writing {uri}"):
        clients.client("s3").put_object(
            Bucket=bucket, Key=key, Body=json.dumps(body, indent=2).encode(), ChecksumAlgorithm="SHA256"
        )
    return uri


def _parameter_ranges(config: Config) -> dict[str, list[dict[str, Any]]]:
    ranges: dict[str, list[dict[str, Any]]] = {
        "IntegerParameterRanges": [],
        "ContinuousParameterRanges": [],
        "CategoricalParameterRanges": [],
    }
    for name, spec in sorted(config.train.tuning.ranges.items()):
        if spec.type == "categorical":
            ranges["CategoricalParameterRanges"].append({"Name": name, "Values": [str(v) for v in spec.values or []]})
            continue
        low, high = float(spec.min or 0), float(spec.max or 0)  # both set: the config checks it
        bounds = (str(int(low)), str(int(high))) if spec.type == "integer" else (str(low), str(high))
        key = "IntegerParameterRanges" if spec.type == "integer" else "ContinuousParameterRanges"
        ranges[key].append({"Name": name, "MinValue": bounds[0], "MaxValue": bounds[1], "ScalingType": spec.scaling})
    return ranges


def start_tuning(
    clients: AwsClients, config: Config, *, max_jobs: int | None = None, processing_job: str | None = None
) -> TuneRun:
    tuning = config.train.tuning
    if not tuning.ranges:
        raise UsageError("train.tuning.ranges is empty: there is nothing to tune.", hint="Add ranges to the config.")
    jobs_total = tuning_jobs(config, max_jobs)
    parallel = min(tuning.max_parallel, jobs_total)
    data, role_arn, key_arn, submit_directory = _prepare(clients, config, processing_job)
    names = config.names(clients.account_id)
    job_name = names.tuning_job_name(dt.datetime.now(dt.UTC))
    static = {name: _encode(value) for name, value in config.train.hyperparameters.items() if name not in tuning.ranges}
    objective = config.train.objective
    request = {
        "HyperParameterTuningJobName": job_name,
        "HyperParameterTuningJobConfig": {
            "Strategy": tuning.strategy,
            "HyperParameterTuningJobObjective": {"Type": objective.goal.capitalize(), "MetricName": objective.metric},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": jobs_total, "MaxParallelTrainingJobs": parallel},
            "ParameterRanges": _parameter_ranges(config),
            "TrainingJobEarlyStoppingType": "Off",
        },
        "TrainingJobDefinition": {
            "StaticHyperParameters": {
                **_reserved(clients, config, code_delivery(config, submit_directory)[0], None),
                **static,
            },
            **{
                k: v
                for k, v in _definition(
                    clients, config, data, role_arn, key_arn, code_delivery(config, submit_directory)[1]
                ).items()
            },
        },
        "Tags": as_key_value(
            {
                **config.standard_tags(STAGE),
                "mlops:dataset": config.dataset.name,
                "mlops:data-job": data.processing_job,
                jobs.INPUT_DIGEST_TAG: tuning_digest(clients, config, data, max_jobs),
            }
        ),
    }
    with aws_errors(f"creating tuning job {job_name}"):
        clients.client("sagemaker").create_hyper_parameter_tuning_job(**request)
    return TuneRun(job_name, jobs_total, parallel, f"{objective.goal} {objective.metric}", data)


def training_result(state: jobs.JobState) -> TrainingResult:
    d = state.description
    return TrainingResult(
        job_name=state.name,
        status=state.status,
        metrics={m["MetricName"]: float(m["Value"]) for m in d.get("FinalMetricDataList", [])},
        model_uri=d.get("ModelArtifacts", {}).get("S3ModelArtifacts") if state.status == "Completed" else None,
        hyperparameters=jobs.user_hyperparameters(state),
        data_job=next((c["DataSource"]["S3DataSource"]["S3Uri"] for c in d.get("InputDataConfig", [])), None),
    )


@dataclass
class TuningResult:
    job_name: str
    status: str
    objective: str
    best_job: str | None
    best_value: float | None
    best_hyperparameters: dict[str, str]
    counters: dict[str, int]
    trials: list[dict[str, Any]]


def tuning_result(clients: AwsClients, state: jobs.JobState) -> TuningResult:
    d = state.description
    best = d.get("BestTrainingJob") or {}
    objective = d["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]
    trials = [
        {
            "job_name": t["TrainingJobName"],
            "status": t["TrainingJobStatus"],
            "objective": t.get("FinalHyperParameterTuningJobObjectiveMetric", {}).get("Value"),
            "hyperparameters": {k: jobs.decode_hyperparameter(v) for k, v in t.get("TunedHyperParameters", {}).items()},
        }
        for t in tuning_trials(clients, state.name)
    ]
    return TuningResult(
        job_name=state.name,
        status=state.status,
        objective=f"{objective['Type'].lower()} {objective['MetricName']}",
        best_job=best.get("TrainingJobName"),
        best_value=best.get("FinalHyperParameterTuningJobObjectiveMetric", {}).get("Value"),
        best_hyperparameters={
            k: jobs.decode_hyperparameter(v) for k, v in best.get("TunedHyperParameters", {}).items()
        },
        counters={k: int(v) for k, v in d.get("TrainingJobStatusCounters", {}).items()},
        trials=trials,
    )


@dataclass
class ModelChoice:
    """Which training job's model a command takes, and why (its output says both)."""

    training_job: str
    reason: str  # "newest training job", "best of tuning job X (validation:auc 0.8348)", "named with --training-job"
    tuning_job: str | None = None
    objective_metric: str | None = None
    objective_value: float | None = None
    state: jobs.JobState | None = field(default=None, repr=False)

    @property
    def job(self) -> jobs.JobState:
        assert self.state is not None  # every ModelChoice is built with its state
        return self.state


LATEST = ("", "latest")


def newest_completed_training(clients: AwsClients, config: Config) -> jobs.JobState | None:
    """The newest completed training job started on its own (`train run`), never a tuning job's trial."""
    return jobs.newest_completed(clients, jobs.Kind.TRAINING, job_prefix(config))


def newest_completed_tuning(clients: AwsClients, config: Config) -> jobs.JobState | None:
    """The newest completed tuning job of this project and environment. Tuning job names keep only the first 17
    characters of `<project>-<env>`, so the tags decide whose it is."""
    owner = {key: value for key, value in config.standard_tags(STAGE).items() if key.startswith("mlops:")}
    return jobs.newest_completed(clients, jobs.Kind.TUNING, tuning_job_prefix(config), tags=owner)


def best_trial(clients: AwsClients, tuning: jobs.JobState, why: str = "") -> ModelChoice:
    """The tuner's best training job (by the objective), as the tuning job reports it."""
    best = tuning.description.get("BestTrainingJob") or {}
    name = best.get("TrainingJobName")
    if not name:
        raise PreconditionFailed(
            f"Tuning job {tuning.name} has no best training job (no trial reported the objective).",
            hint=f"See `mlops train status {tuning.name}`.",
        )
    objective = best.get("FinalHyperParameterTuningJobObjectiveMetric") or {}
    metric, value = objective.get("MetricName"), objective.get("Value")
    score = f" ({metric} {float(value):.4f})" if metric and value is not None else ""
    state = jobs.describe_job(clients, jobs.Kind.TRAINING, name)
    if state.status != "Completed":
        raise PreconditionFailed(f"Training job {name}, the best of {tuning.name}, is {state.status}.")
    return ModelChoice(
        name,
        f"best of tuning job {tuning.name}{score}{why}",
        tuning_job=tuning.name,
        objective_metric=metric,
        objective_value=None if value is None else float(value),
        state=state,
    )


def newest_training_choice(state: jobs.JobState) -> ModelChoice:
    return ModelChoice(state.name, "newest training job", state=state)


def check_model_names(training_job: str | None, tuning_job: str | None) -> bool:
    """Refuse both a training job and a tuning job (before any AWS call); True when a training job is named."""
    named = training_job not in (None, *LATEST)
    if named and tuning_job:
        raise UsageError(
            "--training-job and --tuning-job each name a model: give one of them.",
            hint="--tuning-job takes the best trial of that tuning job.",
        )
    return named


def choose_model(
    clients: AwsClients, config: Config, *, training_job: str | None = None, tuning_job: str | None = None
) -> ModelChoice:
    """The training job whose model evaluate, register and the pipeline take. Named: that training job, or the best
    trial of that tuning job. Otherwise ("latest"): the best trial of the newest completed tuning job when it was
    created after the newest completed training job, else that training job. A tuning job's other trials are never
    "the newest": the tuner's objective decides among them."""
    named = check_model_names(training_job, tuning_job)
    if tuning_job:
        tuning = jobs.describe_job(clients, jobs.Kind.TUNING, tuning_job)
        if tuning.status not in ("Completed", "Stopped"):
            raise PreconditionFailed(
                f"Tuning job {tuning_job} is {tuning.status}; its best trial is known once it has ended.",
                hint=f"Wait for it: `mlops train status {tuning_job}`.",
            )
        return best_trial(clients, tuning, ", named with --tuning-job")
    if named:
        state = jobs.describe_job(clients, jobs.Kind.TRAINING, str(training_job))
        if state.status != "Completed":
            raise PreconditionFailed(
                f"Training job {training_job} is {state.status}; only a completed job has a model.",
                hint="Pick another with `mlops train list`, or train one with `mlops train run --wait`.",
            )
        return ModelChoice(state.name, "named with --training-job", state=state)
    plain = newest_completed_training(clients, config)
    tuned = newest_completed_tuning(clients, config)
    if tuned is not None and (plain is None or _created_after(tuned, plain)):
        return best_trial(clients, tuned)
    if plain is None:
        raise PreconditionFailed(
            "No training job has completed yet.", hint="Run `mlops train run --wait` (or `mlops train tune --wait`)."
        )
    return newest_training_choice(plain)


def _created_after(a: jobs.JobState, b: jobs.JobState) -> bool:
    if a.created is None or b.created is None:
        return b.created is None
    return a.created > b.created


def evaluation_spec(
    config: Config,
    *,
    job_name: str,
    code_uri: str,
    model_uri: str,
    test_uri: str,
    output_uri: str,
    tags: dict[str, str],
) -> ProcessingSpec:
    """The processing job that runs evaluate.py: the same for `train evaluate` and the scheduled pipeline."""
    return ProcessingSpec(
        job_name=job_name,
        script="evaluate.py",
        code_uri=code_uri,
        arguments={
            "--model-dir": f"{INPUT_DIR}/model",
            "--test-dir": f"{INPUT_DIR}/test",
            "--output-dir": f"{OUTPUT_DIR}/evaluation",
        },
        inputs=[
            ("model", model_uri, f"{INPUT_DIR}/model", "FullyReplicated"),
            ("test", test_uri, f"{INPUT_DIR}/test", "FullyReplicated"),
        ],
        outputs={"evaluation": output_uri},
        instance_type=config.train.evaluate_instance_type,
        tags=tags,
    )


def start_evaluation(
    clients: AwsClients,
    config: Config,
    training_job: str | None = None,
    *,
    tuning_job: str | None = None,
    choice: ModelChoice | None = None,
) -> EvaluateRun:
    """A processing job that scores the test split of the training job's data with its model.tar.gz (the job
    `choose_model` picks, unless `choice` is given)."""
    image = sklearn_image_uri(clients.region, config.train.framework_version)
    if choice is None:
        choice = choose_model(clients, config, training_job=training_job, tuning_job=tuning_job)
    state = choice.job
    model_uri, test_uri, output_uri = _evaluation_uris(state)
    key_arn = job_encryption_key(clients, config)
    role = ensure_execution_role(clients, config, key_arn)
    code = upload_bundle(clients, config, bundle_files(config, ("evaluate.py",)))
    names = config.names(clients.account_id)
    job_name = names.job_name("evl", dt.datetime.now(dt.UTC))
    spec = evaluation_spec(
        config,
        job_name=job_name,
        code_uri=code.s3_prefix,
        model_uri=model_uri,
        test_uri=test_uri,
        output_uri=output_uri,
        tags={
            **config.standard_tags(STAGE),
            "mlops:training-job": state.name,
            jobs.INPUT_DIGEST_TAG: evaluation_digest(clients, config, state),
        },
    )
    start_processing_job(clients, config, spec, image=image, role_arn=role.arn, key_arn=key_arn)
    return EvaluateRun(job_name, state.name, model_uri, test_uri, output_uri, choice.reason)


def evaluation_job_prefix(config: Config) -> str:
    return f"{config.names().prefix}-evl-"


def _evaluation_uris(state: jobs.JobState) -> tuple[str, str, str]:
    """The model, the test split of the data it was trained on, and where its evaluation goes."""
    model_uri = state.description["ModelArtifacts"]["S3ModelArtifacts"]
    train_channel = next(c for c in state.description["InputDataConfig"] if c["ChannelName"] == "train")
    test_uri = train_channel["DataSource"]["S3DataSource"]["S3Uri"].rsplit("/", 1)[0] + "/test"
    return model_uri, test_uri, model_uri.rsplit("/output/", 1)[0] + "/evaluation"


def evaluation_digest(clients: AwsClients, config: Config, state: jobs.JobState) -> str:
    """An evaluation job's `mlops:input-digest` tag: the model, the test split, the code, image and instance type.
    Starts and uploads nothing."""
    model_uri, test_uri, output_uri = _evaluation_uris(state)
    return jobs.input_digest(
        {
            "model": model_uri,
            "test": test_uri,
            "output": output_uri,
            "code": bundle_sha256(bundle_files(config, ("evaluate.py",))),
            "image": sklearn_image_uri(clients.region, config.train.framework_version),
            "instance_type": config.train.evaluate_instance_type,
        }
    )


def read_evaluation(clients: AwsClients, output_uri: str) -> dict[str, Any]:
    bucket, _, prefix = output_uri.removeprefix("s3://").partition("/")
    with aws_errors(f"reading {output_uri}/evaluation.json"):
        body = clients.client("s3").get_object(Bucket=bucket, Key=f"{prefix}/evaluation.json")["Body"].read()
    return dict(json.loads(body))


def tuning_trials(clients: AwsClients, tuning_job: str) -> list[dict[str, Any]]:
    with aws_errors(f"listing the trials of {tuning_job}"):
        pages = (
            clients.client("sagemaker")
            .get_paginator("list_training_jobs_for_hyper_parameter_tuning_job")
            .paginate(HyperParameterTuningJobName=tuning_job)
        )
        return [summary for page in pages for summary in page["TrainingJobSummaries"]]
