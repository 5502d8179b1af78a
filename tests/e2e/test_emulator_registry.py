"""The Model Registry on the emulator as AWS documents it. Each test fails against plain moto 5.2.5, which wipes
omitted fields on UpdateModelPackage, lacks DeleteModelPackage(Group), reuses version numbers, and answers 500 to
tags on a version ARN."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.e2e

IMAGE = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3"


@pytest.fixture
def sagemaker(emulator_client: Callable[..., Any]) -> Any:
    return emulator_client("sagemaker")


@pytest.fixture
def group(sagemaker: Any) -> str:
    name = f"churn-{uuid.uuid4().hex[:8]}"
    sagemaker.create_model_package_group(ModelPackageGroupName=name, ModelPackageGroupDescription="churn models")
    return name


def create_version(sagemaker: Any, group: str, **extra: Any) -> str:
    arn: str = sagemaker.create_model_package(
        ModelPackageGroupName=group,
        ModelPackageDescription="logistic regression, AUC 0.86",
        InferenceSpecification={
            "Containers": [{"Image": IMAGE, "ModelDataUrl": "s3://bucket/models/model.tar.gz"}],
            "SupportedContentTypes": ["application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        ModelMetrics={"ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": "s3://b/e.json"}}},
        CustomerMetadataProperties={"training_job": "churn-train-1", "auc": "0.86"},
        **extra,
    )["ModelPackageArn"]
    return arn


def test_update_model_package_keeps_every_field_the_call_omits(sagemaker: Any, group: str) -> None:
    arn = create_version(sagemaker, group)
    assert sagemaker.describe_model_package(ModelPackageName=arn)["ModelApprovalStatus"] == "PendingManualApproval"

    sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved", ApprovalDescription="ok")
    described = sagemaker.describe_model_package(ModelPackageName=arn)
    assert described["ModelApprovalStatus"] == "Approved"
    assert described["ApprovalDescription"] == "ok"
    assert described["ModelPackageDescription"] == "logistic regression, AUC 0.86"
    assert described["CustomerMetadataProperties"] == {"training_job": "churn-train-1", "auc": "0.86"}
    assert described["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"] == "s3://b/e.json"
    assert described["InferenceSpecification"]["Containers"][0]["Image"] == IMAGE
    assert "LastModifiedTime" in described

    sagemaker.update_model_package(
        ModelPackageArn=arn, CustomerMetadataProperties={"deployed": "yes"}, CustomerMetadataPropertiesToRemove=["auc"]
    )
    described = sagemaker.describe_model_package(ModelPackageName=arn)
    assert described["CustomerMetadataProperties"] == {"training_job": "churn-train-1", "deployed": "yes"}
    assert (described["ModelApprovalStatus"], described["ApprovalDescription"]) == ("Approved", "ok")

    with pytest.raises(ClientError):
        sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Maybe")


def test_versions_and_groups_can_be_deleted_and_numbers_are_not_reused(sagemaker: Any, group: str) -> None:
    first, second, third = (create_version(sagemaker, group) for _ in range(3))
    with pytest.raises(ClientError) as conflict:
        sagemaker.delete_model_package_group(ModelPackageGroupName=group)
    assert conflict.value.response["Error"]["Code"] == "ConflictException"

    sagemaker.delete_model_package(ModelPackageName=second)
    with pytest.raises(ClientError):
        sagemaker.describe_model_package(ModelPackageName=second)
    fourth = create_version(sagemaker, group)
    assert fourth.endswith("/4")
    listed = sagemaker.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]
    assert sorted(item["ModelPackageVersion"] for item in listed) == [1, 3, 4]
    assert sagemaker.describe_model_package(ModelPackageName=third)["ModelPackageVersion"] == 3

    for arn in (first, third, fourth):
        sagemaker.delete_model_package(ModelPackageName=arn)
    sagemaker.delete_model_package_group(ModelPackageGroupName=group)
    with pytest.raises(ClientError, match="does not exist"):
        sagemaker.describe_model_package_group(ModelPackageGroupName=group)
    with pytest.raises(ClientError, match="does not exist"):
        sagemaker.delete_model_package_group(ModelPackageGroupName=group)


def test_tags_on_a_model_package_version(sagemaker: Any, group: str) -> None:
    arn = create_version(sagemaker, group, Tags=[{"Key": "mlops:project", "Value": "churn"}])
    sagemaker.add_tags(ResourceArn=arn, Tags=[{"Key": "stage", "Value": "candidate"}])
    sagemaker.add_tags(ResourceArn=arn, Tags=[{"Key": "stage", "Value": "production"}])  # replaces the value
    tags = sagemaker.list_tags(ResourceArn=arn)["Tags"]
    assert sorted((tag["Key"], tag["Value"]) for tag in tags) == [("mlops:project", "churn"), ("stage", "production")]

    sagemaker.delete_tags(ResourceArn=arn, TagKeys=["stage"])
    assert sagemaker.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "mlops:project", "Value": "churn"}]

    untagged = create_version(sagemaker, group)
    assert sagemaker.list_tags(ResourceArn=untagged)["Tags"] == []
    sagemaker.add_tags(ResourceArn=untagged, Tags=[{"Key": "stage", "Value": "candidate"}])
    assert sagemaker.list_tags(ResourceArn=untagged)["Tags"] == [{"Key": "stage", "Value": "candidate"}]
