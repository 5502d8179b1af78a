"""The Model Registry: the group and versions moto stores faithfully (creation, metadata, inference specification,
approval on creation, idempotent registration, look-ups) and the approval policy as a pure function.

moto 5.2.5's UpdateModelPackage wipes the fields a call leaves out (the emulator fixes that; the end-to-end tests
check it), so tests here that update a version assert only what the update itself sets."""

from __future__ import annotations

import re

import pytest

from mlops_cli.aws.session import AwsClients
from mlops_cli.config.models import Config, Objective, Register
from mlops_cli.errors import PreconditionFailed, UsageError
from mlops_cli.services import register
from mlops_cli.services.convergence import Action
from tests.unit.test_register_runs import ACCOUNT, REGION, preprocessed, registry_config, trained

MAXIMIZE = Objective(metric="validation:auc", goal="maximize")
MINIMIZE = Objective(metric="validation:logloss", goal="minimize")


@pytest.fixture
def config() -> Config:
    return registry_config("register.approval=manual")  # local.yaml approves automatically; these test the gate


@pytest.fixture
def job(clients: AwsClients, config: Config) -> str:
    preprocessed(clients, config)
    return trained(clients, config)


def test_manual_approval_leaves_every_version_pending() -> None:
    decision = register.decide_approval(Register(approval="manual", min_metric=0.8), MAXIMIZE, 0.99)
    assert decision == register.ApprovalDecision("PendingManualApproval", None)


@pytest.mark.parametrize(
    ("objective", "value", "status", "words"),
    [
        (MAXIMIZE, 0.91, "Approved", "validation:auc 0.9100 meets the minimum 0.8"),
        (MAXIMIZE, 0.80, "Approved", "meets the minimum 0.8"),
        (
            MAXIMIZE,
            0.79,
            "Rejected",
            "validation:auc 0.7900 is below the minimum 0.8 (register.min_metric, goal maximize)",
        ),
        (MINIMIZE, 0.30, "Approved", "validation:logloss 0.3000 meets the maximum 0.8"),
        (MINIMIZE, 0.81, "Rejected", "validation:logloss 0.8100 is above the maximum 0.8"),
        (MAXIMIZE, None, "Rejected", "the training job reported no validation:auc"),
    ],
)
def test_automatic_approval_compares_the_objective_with_the_threshold(
    objective: Objective, value: float | None, status: str, words: str
) -> None:
    decision = register.decide_approval(Register(approval="auto", min_metric=0.8), objective, value)
    assert decision.status == status
    assert decision.reason is not None and words in decision.reason


def test_group_is_created_tagged_and_then_left_alone(clients: AwsClients, config: Config) -> None:
    first = register.ensure_model_package_group(clients, config)
    assert [(c.name, c.action) for c in first] == [
        ("model package group", Action.CREATED),
        ("model package group tags", Action.CREATED),
    ]
    sagemaker = clients.client("sagemaker")
    arn = sagemaker.describe_model_package_group(ModelPackageGroupName="churn-local")["ModelPackageGroupArn"]
    sagemaker.delete_tags(ResourceArn=arn, TagKeys=["mlops:stage"])
    again = register.ensure_model_package_group(clients, config)
    assert [c.action for c in again] == [Action.UNCHANGED, Action.UPDATED]
    tags = {t["Key"]: t["Value"] for t in sagemaker.list_tags(ResourceArn=arn)["Tags"]}
    assert tags["mlops:stage"] == "register" and tags["mlops:project"] == "churn"
    clients.call_log.calls.clear()
    assert {c.action for c in register.ensure_model_package_group(clients, config)} == {Action.UNCHANGED}
    assert clients.call_log.writes() == {}


def test_a_version_carries_serving_spec_metadata_and_stays_pending(
    clients: AwsClients, config: Config, job: str
) -> None:
    registration = register.register_model(clients, config)
    version = registration.version
    assert (registration.action, version.number, version.status) == ("created", 1, "PendingManualApproval")
    assert version.training_job == job and version.objective == pytest.approx(0.91)
    assert version.model_data_url == f"s3://churn-local-{ACCOUNT}-{REGION}-data/models/churn/{job}/output/model.tar.gz"
    assert version.image == "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3"
    assert version.environment == {
        "SAGEMAKER_PROGRAM": "inference.py",
        "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
        "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
        "SAGEMAKER_REGION": "eu-west-1",
    }
    metadata = version.metadata
    assert metadata["data-job"].startswith("churn-local-pre-") and metadata["dataset"] == "churn"
    assert re.fullmatch(r"[0-9a-f]{64}", metadata["code-sha256"])
    assert metadata["objective-metric"] == "validation:auc" and float(metadata["objective-value"]) == 0.91
    assert metadata["data-manifest"].endswith(f"/models/churn/{job}/input-manifest.json")
    # no evaluation yet: no model quality metrics, and the caller is told
    assert version.metrics_uri is None and registration.evaluation is None
    assert "train evaluate" in registration.warnings[0]
    described = clients.client("sagemaker").describe_model_package(ModelPackageName=version.arn)
    spec = described["InferenceSpecification"]
    assert spec["SupportedContentTypes"] == spec["SupportedResponseMIMETypes"] == ["application/json", "text/csv"]
    assert spec["Containers"][0]["FrameworkVersion"] == "1.4-2"
    assert described["ModelPackageGroupName"] == "churn-local"


def test_registering_the_same_job_again_creates_nothing(clients: AwsClients, config: Config, job: str) -> None:
    first = register.register_model(clients, config, job)
    clients.call_log.calls.clear()
    again = register.register_model(clients, config, "latest")
    assert (again.action, again.version.number, again.version.arn) == ("unchanged", 1, first.version.arn)
    assert clients.call_log.writes() == {}
    second_job = trained(clients, config)
    assert register.register_model(clients, config, second_job).version.number == 2


def test_the_evaluation_becomes_the_model_quality_metrics(clients: AwsClients, config: Config, job: str) -> None:
    bucket = config.names(ACCOUNT).data_bucket
    key = f"models/churn/{job}/evaluation/evaluation.json"
    clients.client("s3").put_object(Bucket=bucket, Key=key, Body=b'{"metrics": {"auc": 0.9}}')
    registration = register.register_model(clients, config)
    assert registration.warnings == [] and registration.version.metrics_uri == f"s3://{bucket}/{key}"
    described = clients.client("sagemaker").describe_model_package(ModelPackageName=registration.version.arn)
    assert described["ModelMetrics"] == {
        "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": f"s3://{bucket}/{key}"}}
    }
    details = register.show_version(clients, config, "1")
    assert details.evaluation == {"metrics": {"auc": 0.9}} and details.training_metrics["validation:auc"] == 0.91


@pytest.mark.parametrize(("threshold", "status"), [("0.99", "Rejected"), ("0.5", "Approved")])
def test_automatic_approval_records_the_decision_and_its_reason(
    clients: AwsClients, job: str, threshold: str, status: str
) -> None:
    config = registry_config("register.approval=auto", f"register.min_metric={threshold}")
    registration = register.register_model(clients, config)
    assert registration.version.status == status and registration.decision is not None
    assert registration.version.approval_description == registration.decision.reason
    assert "validation:auc 0.9100" in (registration.version.approval_description or "")
    assert threshold.rstrip("0") in (registration.version.approval_description or "")


def test_approve_and_reject_with_a_reason(clients: AwsClients, config: Config, job: str) -> None:
    register.register_model(clients, config)
    approved = register.set_approval(clients, config, 1, "Approved", "looks good")
    assert (approved.action, approved.previous_status, approved.version.status) == (
        "updated",
        "PendingManualApproval",
        "Approved",
    )
    assert approved.version.approval_description == "looks good"
    clients.call_log.calls.clear()
    again = register.set_approval(clients, config, "1", "Approved", "still good")
    assert again.action == "unchanged" and clients.call_log.writes() == {}
    rejected = register.set_approval(clients, config, "latest", "Rejected", "drift found")
    assert rejected.version.status == "Rejected" and rejected.version.approval_description == "drift found"
    with pytest.raises(UsageError, match="reason"):
        register.set_approval(clients, config, 1, "Approved", "  ")


def test_versions_by_number_latest_and_latest_approved(clients: AwsClients, config: Config, job: str) -> None:
    with pytest.raises(PreconditionFailed, match="no approved version"):
        register.get_version(clients, config, "latest-approved")
    assert register.approved_versions(clients, config) == []
    register.register_model(clients, config)
    register.register_model(clients, config, trained(clients, config))
    register.set_approval(clients, config, 1, "Approved", "ok")
    assert register.get_version(clients, config, "latest").number == 2
    assert register.get_version(clients, config, "latest-approved").number == 1
    assert [v.number for v in register.list_versions(clients, config)] == [2, 1]
    register.set_approval(clients, config, 2, "Approved", "ok")
    approved = register.approved_versions(clients, config)
    assert [v.number for v in approved] == [2, 1]
    assert approved[0].model_data_url.endswith("/output/model.tar.gz") and approved[0].image
    with pytest.raises(PreconditionFailed, match="no version 7") as missing:
        register.get_version(clients, config, 7)
    assert missing.value.exit_code == 3
    with pytest.raises(UsageError, match="not a model version"):
        register.get_version(clients, config, "v1")


def test_without_a_completed_training_job_there_is_nothing_to_register(clients: AwsClients, config: Config) -> None:
    with pytest.raises(PreconditionFailed, match="No training job has completed") as failed:
        register.register_model(clients, config)
    assert failed.value.exit_code == 3 and "train run" in (failed.value.hint or "")


def test_the_listing_shows_which_version_the_endpoint_serves(clients: AwsClients, config: Config, job: str) -> None:
    assert register.list_registry(clients, config).deployment is None
    version = register.register_model(clients, config).version
    register.register_model(clients, config, trained(clients, config))
    sagemaker = clients.client("sagemaker")
    role = f"arn:aws:iam::{ACCOUNT}:role/churn-local-sagemaker-execution"
    sagemaker.create_model(
        ModelName="churn-local-v1", ExecutionRoleArn=role, PrimaryContainer={"ModelPackageName": version.arn}
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName="churn-local-v1-abc",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "churn-local-v1",
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName="churn-local", EndpointConfigName="churn-local-v1-abc")
    listing = register.list_registry(clients, config)
    assert listing.deployed_versions == [1] and [v.number for v in listing.versions] == [2, 1]
    assert listing.deployment is not None and listing.deployment.variants[0].model == "churn-local-v1"
    assert register.show_version(clients, config, 1).deployed
    warning = register.set_approval(clients, config, 1, "Rejected", "bad").warnings
    assert "deployed" in warning[0]
