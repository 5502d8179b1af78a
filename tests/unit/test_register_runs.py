"""Experiments: every training run recorded in the project's experiment (trial, trial component with parameters,
data versions, artifacts and metrics), idempotently; runs read back, sorted and compared."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from mlops_cli.aws.session import AwsClients
from mlops_cli.config.models import Config
from mlops_cli.errors import UsageError
from mlops_cli.services import experiments, preprocess, train
from tests.unit.conftest import make_config

ACCOUNT, REGION = "123456789012", "eu-west-1"
METRICS = {"validation:auc": 0.91, "validation:accuracy": 0.86, "train:auc": 0.95}


def backend() -> Any:
    from moto.sagemaker.models import sagemaker_backends

    return sagemaker_backends[ACCOUNT][REGION]


def registry_config(*overrides: str) -> Config:
    """The shipped local config with SSE-S3 storage: a versioned bucket is all the jobs need (no KMS key), which
    keeps these tests fast. Storage itself is tested in test_storage_init.py."""
    return make_config("storage.encryption=s3", *overrides)


@pytest.fixture
def config() -> Config:
    return registry_config()


def preprocessed(clients: AwsClients, config: Config) -> str:
    """A completed preprocessing job whose train/validation outputs hold a file each (moto runs nothing)."""
    s3 = clients.client("s3")
    bucket = config.names(ACCOUNT).data_bucket
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="raw/churn/ingest_date=2026-01-05/customers.csv", Body=b"customer_id\n1\n")
    started = preprocess.start_preprocessing(clients, config)
    for split, uri in started.outputs.items():
        key = uri.removeprefix(f"s3://{bucket}/") + "/part-algo-1.csv"
        s3.put_object(Bucket=bucket, Key=key, Body=f"{split}\n".encode())
    return started.job_name


def trained(
    clients: AwsClients, config: Config, metrics: dict[str, float] | None = None, **hyperparameters: str
) -> str:
    """A training job started by the real service; moto completes it at once, and its final metrics are set as the
    job's metric definitions would have found them."""
    started = train.start_training(clients, config, overrides=hyperparameters)
    job = backend().training_jobs[started.job_name]
    job.final_metric_data_list = [
        {"MetricName": name, "Value": value, "Timestamp": dt.datetime.now(dt.UTC)}
        for name, value in (METRICS if metrics is None else metrics).items()
    ]
    return started.job_name


@pytest.fixture
def job(clients: AwsClients, config: Config) -> str:
    preprocessed(clients, config)
    return trained(clients, config)


def test_training_job_joins_the_runs_trial(clients: AwsClients, config: Config, job: str) -> None:
    sagemaker = clients.client("sagemaker")
    described = sagemaker.describe_training_job(TrainingJobName=job)
    assert described["ExperimentConfig"] == {
        "ExperimentName": "churn-local",
        "TrialName": job,
        "TrialComponentDisplayName": "training-job",
    }
    assert sagemaker.describe_trial(TrialName=job)["ExperimentName"] == "churn-local"


def component(clients: AwsClients, job: str) -> dict[str, Any]:
    return dict(clients.client("sagemaker").describe_trial_component(TrialComponentName=f"{job}-mlops"))


def test_a_run_is_recorded_with_its_data_versions_metrics_and_model(
    clients: AwsClients, config: Config, job: str
) -> None:
    first = experiments.record_run(clients, config, job)
    assert (first.action, first.trial, first.trial_component) == ("created", job, f"{job}-mlops")
    recorded = component(clients, job)
    assert recorded["Status"]["PrimaryStatus"] == "Completed"
    parameters = recorded["Parameters"]
    assert parameters["algorithm"] == {"StringValue": "logistic_regression"}
    assert parameters["C"] == {"NumberValue": 1.0}
    assert parameters["mlops:data-job"]["StringValue"].startswith("churn-local-pre-")
    inputs = recorded["InputArtifacts"]
    assert inputs["train"]["Value"].endswith("/train") and inputs["train"]["MediaType"] == "text/csv"
    assert inputs["input-manifest"]["Value"].endswith(f"/models/churn/{job}/input-manifest.json")
    versions = clients.client("s3").list_object_versions(Bucket=config.names(ACCOUNT).data_bucket, Prefix="processed/")
    train_object = next(v for v in versions["Versions"] if v["Key"].endswith("train/part-algo-1.csv"))
    assert inputs["train/part-algo-1.csv"]["Value"].endswith(
        f"{train_object['Key']}?versionId={train_object['VersionId']}"
    )
    assert recorded["OutputArtifacts"] == {
        "model": {
            "Value": f"s3://churn-local-{ACCOUNT}-{REGION}-data/models/churn/{job}/output/model.tar.gz",
            "MediaType": "application/gzip",
        }
    }
    assert {m["MetricName"]: m["Last"] for m in recorded["Metrics"]} == METRICS
    trial_components = clients.client("sagemaker").list_trial_components(TrialName=job)["TrialComponentSummaries"]
    assert [c["TrialComponentName"] for c in trial_components] == [f"{job}-mlops"]

    clients.call_log.calls.clear()
    assert experiments.record_run(clients, config, job).action == "unchanged"
    assert clients.call_log.writes() == {}


def test_the_evaluation_joins_the_record_once_it_exists(clients: AwsClients, config: Config, job: str) -> None:
    experiments.record_run(clients, config, job)
    bucket = config.names(ACCOUNT).data_bucket
    clients.client("s3").put_object(Bucket=bucket, Key=f"models/churn/{job}/evaluation/evaluation.json", Body=b"{}")
    assert experiments.record_run(clients, config, job).action == "updated"
    outputs = component(clients, job)["OutputArtifacts"]
    assert set(outputs) == {"model", "evaluation"}
    assert outputs["evaluation"]["Value"] == f"s3://{bucket}/models/churn/{job}/evaluation/evaluation.json"
    assert experiments.record_run(clients, config, job).action == "unchanged"


def test_an_interrupted_record_is_completed(clients: AwsClients, config: Config, job: str) -> None:
    experiments.record_run(clients, config, job)
    sagemaker = clients.client("sagemaker")
    # the last step of recording never happened
    sagemaker.update_trial_component(TrialComponentName=f"{job}-mlops", Status={"PrimaryStatus": "InProgress"})
    assert experiments.record_run(clients, config, job).action == "updated"
    assert component(clients, job)["Status"]["PrimaryStatus"] == "Completed"


def test_runs_still_running_are_left_for_later(clients: AwsClients, config: Config, job: str) -> None:
    backend().training_jobs[job].training_job_status = "InProgress"
    assert experiments.record_run(clients, config, job).action == "skipped"
    assert experiments.record_pending(clients, config) == []
    [run] = experiments.list_runs(clients, config)
    assert (run.job_name, run.status, run.recorded) == (job, "InProgress", False)
    assert run.hyperparameters["algorithm"] == "logistic_regression"


def test_register_commands_record_runs_started_without_waiting(clients: AwsClients, config: Config, job: str) -> None:
    second = trained(clients, config, {"validation:auc": 0.7})
    recorded = experiments.record_pending(clients, config)
    assert sorted(r.job_name for r in recorded) == sorted([job, second])
    clients.call_log.calls.clear()
    assert experiments.record_pending(clients, config) == []
    assert clients.call_log.writes() == {}


def test_the_experiment_is_created_once_with_its_tags(clients: AwsClients, config: Config) -> None:
    first = experiments.ensure_experiment(clients, config)
    assert [(c.name, c.action.value) for c in first] == [("experiment", "created"), ("experiment tags", "created")]
    sagemaker = clients.client("sagemaker")
    arn = sagemaker.describe_experiment(ExperimentName="churn-local")["ExperimentArn"]
    tags = {t["Key"]: t["Value"] for t in sagemaker.list_tags(ResourceArn=arn)["Tags"]}
    assert tags["mlops:project"] == "churn" and tags["mlops:stage"] == "register"
    again = experiments.ensure_experiment(clients, config)
    assert {c.action.value for c in again} == {"unchanged"}


def test_runs_sorted_by_a_metric_and_compared(clients: AwsClients, config: Config, job: str) -> None:
    other = trained(clients, config, {"validation:auc": 0.95, "validation:accuracy": 0.8}, C="0.5")
    experiments.record_pending(clients, config)
    runs = experiments.sort_runs(experiments.list_runs(clients, config), None, config.train.objective)
    assert [r.job_name for r in runs] == [other, job]  # newest first
    best = experiments.sort_runs(runs, "validation:auc", config.train.objective)
    assert [r.job_name for r in best] == [other, job]
    by_accuracy = experiments.sort_runs(runs, "validation:accuracy", config.train.objective)
    assert [r.job_name for r in by_accuracy] == [job, other]
    with pytest.raises(UsageError, match="validation:nope"):
        experiments.sort_runs(runs, "validation:nope", config.train.objective)

    short = other.removeprefix("churn-local-")  # as `register runs` shows it
    comparison = experiments.compare(
        experiments.get_run(clients, config, job), experiments.get_run(clients, config, short)
    )
    rows = {r.name: r for r in comparison.hyperparameters}
    assert (rows["C"].a, rows["C"].b, rows["C"].same) == (1.0, 0.5, False)
    assert rows["algorithm"].same
    metrics = {r.name: r for r in comparison.metrics}
    assert metrics["validation:auc"].difference == pytest.approx(0.95 - 0.91)
    assert metrics["train:auc"].b is None and metrics["train:auc"].difference is None
    data = {r.name: r for r in comparison.data}
    assert data["train"].same and data["processing job"].same and data["train/part-algo-1.csv"].same
    assert not {r.name: r for r in comparison.model}["model"].same
