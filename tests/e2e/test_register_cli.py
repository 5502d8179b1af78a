"""`mlops register` end to end: the CLI against the emulator, which really trains. Experiments (runs recorded by
`train run`, and later by `register` for runs started without waiting), model versions, manual and automatic
approval, and the documented exit codes.

Assertions marked EMULATOR-FIX need the emulator's UpdateModelPackage to keep the fields a call leaves out, as AWS
documents (moto 5.2.5 wipes CustomerMetadataProperties on every update)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.e2e.test_storage_cli import Cli

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def project(emulator: Any) -> Cli:
    cli = Cli(f"rg{int(time.time() * 1000) % 10**9}", "register.approval=manual")  # the gate under test
    cli.json("storage", "init")
    cli.json("storage", "upload", "data/churn")
    cli.json("preprocess", "run", "--wait")
    return cli


@pytest.fixture(scope="module")
def runs(project: Cli, emulator_client: Any) -> dict[str, str]:
    """Three runs: one waited for (recorded by `train run`), two started without waiting (recorded later)."""
    waited = project.json("train", "run", "--wait")["job_name"]
    other = project.json("train", "run", "--set", "hyperparameters.C=0.05")["job_name"]
    third = project.json("train", "run", "--set", "hyperparameters.class_weight=balanced")["job_name"]
    sagemaker = emulator_client("sagemaker")
    for job in (other, third):
        sagemaker.get_waiter("training_job_completed_or_stopped").wait(
            TrainingJobName=job, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
        )
    return {"waited": waited, "other": other, "third": third}


@pytest.fixture(scope="module")
def emulator_client(emulator: Any) -> Any:  # module scope: the fixtures above share it
    import boto3
    from botocore.config import Config

    def make(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=emulator.endpoint_url,
            region_name="eu-west-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )

    return make


def test_train_run_records_its_run_in_the_experiment(project: Cli, runs: dict[str, str], emulator_client: Any) -> None:
    sagemaker = emulator_client("sagemaker")
    job = runs["waited"]
    assert sagemaker.describe_training_job(TrainingJobName=job)["ExperimentConfig"]["ExperimentName"] == (
        f"{project.project}-local"
    )
    component = sagemaker.describe_trial_component(TrialComponentName=f"{job}-mlops")
    assert component["Status"]["PrimaryStatus"] == "Completed"
    assert component["Parameters"]["algorithm"] == {"StringValue": "logistic_regression"}
    metrics = {m["MetricName"]: m["Last"] for m in component["Metrics"]}
    described = sagemaker.describe_training_job(TrainingJobName=job)
    assert metrics == {m["MetricName"]: m["Value"] for m in described["FinalMetricDataList"]}
    objects = {k: v["Value"] for k, v in component["InputArtifacts"].items() if "/" in k}
    assert objects and all("?versionId=" in uri for uri in objects.values())
    assert component["OutputArtifacts"]["model"]["Value"] == described["ModelArtifacts"]["S3ModelArtifacts"]
    in_trial = sagemaker.list_trial_components(TrialName=job)["TrialComponentSummaries"]
    assert f"{job}-mlops" in {c["TrialComponentName"] for c in in_trial}


def test_runs_lists_every_run_with_hyperparameters_and_metrics(
    project: Cli, runs: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    listed = project.json("register", "runs", "--sort", "validation:auc")
    assert listed["experiment"] == f"{project.project}-local" and listed["sort"] == "validation:auc"
    by_name = {run["job_name"]: run for run in listed["runs"]}
    assert set(runs.values()) <= set(by_name)
    for job in runs.values():
        run = by_name[job]
        assert run["recorded"] and run["status"] == "Completed"
        assert run["hyperparameters"]["algorithm"] == "logistic_regression"
        assert 0.5 < run["metrics"]["validation:auc"] <= 1
        assert run["model"].endswith(f"/{job}/output/model.tar.gz") and run["data"]["train"].endswith("/train")
    assert set(listed["recorded_now"]) <= {runs["other"], runs["third"]}
    aucs = [run["metrics"]["validation:auc"] for run in listed["runs"] if "validation:auc" in run["metrics"]]
    assert aucs == sorted(aucs, reverse=True)
    assert by_name[runs["other"]]["hyperparameters"]["C"] == 0.05
    monkeypatch.setenv("COLUMNS", "200")
    human = project("register", "runs")
    short = runs["waited"].removeprefix(f"{project.project}-local-")
    assert human.returncode == 0 and short in human.stdout and "validation:auc" in human.stdout


def test_compare_puts_two_runs_side_by_side(
    project: Cli, runs: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    compared = project.json("register", "compare", runs["waited"], runs["other"])
    assert (compared["a"], compared["b"]) == (runs["waited"], runs["other"])
    hyperparameters = {row["name"]: row for row in compared["hyperparameters"]}
    assert (hyperparameters["C"]["a"], hyperparameters["C"]["b"], hyperparameters["C"]["same"]) == (1.0, 0.05, False)
    assert hyperparameters["algorithm"]["same"]
    auc = next(row for row in compared["metrics"] if row["name"] == "validation:auc")
    assert auc["difference"] == pytest.approx(auc["b"] - auc["a"])
    data = {row["name"]: row for row in compared["data"]}
    assert data["train"]["same"] and data["processing job"]["same"]
    assert not next(row for row in compared["model"] if row["name"] == "model")["same"]
    monkeypatch.setenv("COLUMNS", "200")
    prefix = f"{project.project}-local-"  # as `register runs` shows the names
    human = project("register", "compare", runs["waited"].removeprefix(prefix), runs["other"].removeprefix(prefix))
    assert human.returncode == 0 and "Hyperparameters" in human.stdout and "differs" in human.stdout


@pytest.fixture(scope="module")
def manual(project: Cli, runs: dict[str, str]) -> dict[str, Any]:
    """Version 1 from the first run, registered twice (the second time unchanged), then approved twice."""
    job = runs["waited"]
    registered = project.json("register", "model", "--training-job", job)
    again = project.json("register", "model", "--training-job", job)
    approved = project.json("register", "approve", "1", "--reason", "ok")
    approved_again = project.json("register", "approve", "1", "--reason", "ok")
    return {"registered": registered, "again": again, "approved": approved, "approved_again": approved_again}


@pytest.fixture(scope="module")
def automatic(project: Cli, runs: dict[str, str], manual: dict[str, Any]) -> dict[str, Any]:
    """The second run under min_metric 0.99 (rejected), the third under 0.5 (approved)."""
    auto = ("--set", "register.approval=auto")
    training = ("register", "model", "--training-job")
    return {
        "rejected": project.json(*training, runs["other"], *auto, "--set", "register.min_metric=0.99"),
        "approved": project.json(*training, runs["third"], *auto, "--set", "register.min_metric=0.5"),
    }


def test_manual_registration_leaves_version_1_pending_until_approved(
    manual: dict[str, Any], runs: dict[str, str], emulator_client: Any
) -> None:
    job = runs["waited"]
    registered, version = manual["registered"], manual["registered"]["version"]
    assert (registered["action"], version["number"], version["status"]) == ("created", 1, "PendingManualApproval")
    assert version["training_job"] == job and version["model_data_url"].endswith(f"/{job}/output/model.tar.gz")
    assert version["environment"]["SAGEMAKER_PROGRAM"] == "inference.py"
    assert version["objective_metric"] == "validation:auc" and version["objective"] > 0.5
    assert (manual["again"]["action"], manual["again"]["version"]["number"]) == ("unchanged", 1)

    approved = manual["approved"]
    assert (approved["action"], approved["previous_status"]) == ("updated", "PendingManualApproval")
    assert approved["version"]["status"] == "Approved" and approved["version"]["approval_description"] == "ok"
    assert manual["approved_again"]["action"] == "unchanged"
    package = emulator_client("sagemaker").describe_model_package(ModelPackageName=version["arn"])
    assert package["ModelApprovalStatus"] == "Approved" and package["ApprovalDescription"] == "ok"


def test_show_has_the_version_its_training_metrics_and_deployment(
    project: Cli, manual: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    shown = project.json("register", "show", "1")
    version = manual["registered"]["version"]
    assert shown["version"]["arn"] == version["arn"] and shown["version"]["status"] == "Approved"
    assert shown["training_metrics"]["validation:auc"] == pytest.approx(version["objective"])
    assert shown["deployed"] is False and shown["deployment"] is None
    monkeypatch.setenv("COLUMNS", "200")
    human = project("register", "show", "latest-approved")
    assert human.returncode == 0 and "Model version" in human.stdout and "inference.py" in human.stdout


def test_automatic_approval_rejects_below_and_approves_above_min_metric(
    project: Cli, runs: dict[str, str], automatic: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    rejected = automatic["rejected"]
    assert rejected["action"] == "created" and rejected["version"]["status"] == "Rejected"
    reason = rejected["version"]["approval_description"]
    assert "validation:auc" in reason and "is below the minimum 0.99" in reason
    assert rejected["decision"] == {"status": "Rejected", "reason": reason}
    approved = automatic["approved"]
    assert approved["version"]["status"] == "Approved"
    assert "meets the minimum 0.5" in approved["version"]["approval_description"]
    listing = project.json("register", "list")
    statuses = {v["training_job"]: v["status"] for v in listing["versions"]}
    assert statuses == {runs["waited"]: "Approved", runs["other"]: "Rejected", runs["third"]: "Approved"}
    assert [v["number"] for v in listing["versions"]] == [3, 2, 1]
    assert listing["deployment"] is None and listing["deployed_versions"] == []
    monkeypatch.setenv("COLUMNS", "200")
    human = project("register", "list")
    assert human.returncode == 0 and "Rejected" in human.stdout and "no endpoint deployed" in human.stdout


def test_updates_keep_what_a_version_was_registered_with(
    project: Cli, manual: dict[str, Any], automatic: dict[str, Any], emulator_client: Any
) -> None:
    """EMULATOR-FIX: AWS's UpdateModelPackage changes only the fields it is given; moto 5.2.5 drops the others."""
    version = manual["registered"]["version"]
    package = emulator_client("sagemaker").describe_model_package(ModelPackageName=version["arn"])
    assert package["CustomerMetadataProperties"] == version["metadata"]
    assert package["ModelPackageDescription"] == version["description"]
    assert project.json("register", "show", "1")["version"]["objective"] == version["objective"]
    assert automatic["approved"]["version"]["objective"] > 0.5  # the decision's reason is set by an update


def test_errors_have_their_exit_codes(emulator: Any) -> None:
    fresh = Cli(f"rn{int(time.time() * 1000) % 10**9}")  # nothing trained, nothing registered
    nothing = fresh("register", "model", "--json")
    assert nothing.returncode == 3 and "train run" in nothing.stderr
    assert json.loads(nothing.stdout)["error"]["exit_code"] == 3
    unknown = fresh("register", "approve", "99", "--reason", "ok")
    assert unknown.returncode == 3 and "no version 99" in unknown.stderr
    assert fresh("register", "show", "latest-approved").returncode == 3
    no_reason = fresh("register", "reject", "1")
    assert no_reason.returncode == 2 and "--reason" in no_reason.stderr
    assert fresh("register", "show", "v1").returncode == 2
    assert fresh("register", "compare", "no-such-run", "other").returncode == 3
