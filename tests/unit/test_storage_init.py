"""`storage init` converges every control: absent -> created, again -> unchanged (no write call), drift -> updated."""

from __future__ import annotations

import json

from mlops_cli.aws.session import AwsClients
from mlops_cli.config.models import Config
from mlops_cli.services.convergence import Action, State
from mlops_cli.services.storage.stack import init_storage, storage_status
from tests.unit.conftest import make_config

EXPECTED_CONTROLS = [
    "encryption key",
    "encryption key policy",
    "log bucket",
    "log bucket ownership",
    "log bucket public access block",
    "log bucket encryption",
    "log bucket versioning",
    "log bucket lifecycle",
    "log bucket policy",
    "log bucket tags",
    "bucket",
    "bucket ownership",
    "bucket public access block",
    "bucket encryption",
    "bucket versioning",
    "bucket policy",
    "bucket access logging",
    "bucket lifecycle",
    "bucket eventbridge notifications",
    "bucket tags",
    "log group /aws/sagemaker/ProcessingJobs",
    "log group /aws/sagemaker/TrainingJobs",
    "log group /aws/sagemaker/TransformJobs",
    "log group /aws/sagemaker/Endpoints/churn-local",
]


def actions(report) -> dict[str, Action]:
    return {c.name: c.action for c in report.controls}


def test_first_run_creates_every_control(clients: AwsClients, config: Config) -> None:
    report = init_storage(clients, config)
    assert [c.name for c in report.controls] == EXPECTED_CONTROLS
    assert set(actions(report).values()) == {Action.CREATED}
    assert report.bucket == "churn-local-123456789012-eu-west-1-data"


def test_second_run_is_unchanged_and_makes_no_write_call(clients: AwsClients, config: Config) -> None:
    init_storage(clients, config)
    clients.call_log.calls.clear()
    report = init_storage(clients, config)
    assert set(actions(report).values()) == {Action.UNCHANGED}
    assert clients.call_log.total() > 0  # it did look
    assert clients.call_log.writes() == {}


def test_bucket_is_secured_as_configured(clients: AwsClients, config: Config) -> None:
    report = init_storage(clients, config)
    s3, kms = clients.client("s3"), clients.client("kms")
    bucket, logs = report.bucket, report.log_bucket
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert all(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values())
    owner = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"][0]["ObjectOwnership"]
    assert owner == "BucketOwnerEnforced"
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    key = kms.describe_key(KeyId="alias/churn-local-data")["KeyMetadata"]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key["Arn"]}
    assert rule["BucketKeyEnabled"] is True
    assert kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"] is True
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    deny = policy["Statement"][0]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    logging = s3.get_bucket_logging(Bucket=bucket)["LoggingEnabled"]
    assert logging["TargetBucket"] == logs and logging["TargetPrefix"] == f"s3-access/{bucket}/"
    log_policy = json.loads(s3.get_bucket_policy(Bucket=logs)["Policy"])
    writer = next(s for s in log_policy["Statement"] if s["Effect"] == "Allow")
    assert writer["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert writer["Condition"]["ArnLike"]["aws:SourceArn"] == f"arn:aws:s3:::{bucket}"
    assert "EventBridgeConfiguration" in s3.get_bucket_notification_configuration(Bucket=bucket)
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
    assert tags["mlops:project"] == "churn" and tags["mlops:stage"] == "storage" and tags["team"] == "ml"
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert {r["ID"] for r in rules} == {"expire-noncurrent-versions", "abort-incomplete-multipart-uploads"}


def test_drift_is_reported_then_repaired(clients: AwsClients, config: Config) -> None:
    init_storage(clients, config)
    s3 = clients.client("s3")
    bucket = config.names(clients.account_id).data_bucket
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    s3.delete_public_access_block(Bucket=bucket)
    s3.delete_bucket_policy(Bucket=bucket)

    status = storage_status(clients, config)
    drifted = {c.name: c.state for c in status.drifted}
    assert drifted == {
        "bucket versioning": State.DRIFT,
        "bucket public access block": State.MISSING,
        "bucket policy": State.MISSING,
    }

    report = init_storage(clients, config)
    changed = {name: action for name, action in actions(report).items() if action is not Action.UNCHANGED}
    assert changed == {
        "bucket versioning": Action.UPDATED,
        "bucket public access block": Action.UPDATED,
        "bucket policy": Action.UPDATED,
    }
    assert storage_status(clients, config).drifted == []


def test_status_of_nothing_reports_everything_missing(clients: AwsClients, config: Config) -> None:
    status = storage_status(clients, config)
    assert {c.state for c in status.controls} == {State.MISSING}
    assert clients.call_log.writes() == {}


def test_foreign_tags_and_notifications_are_kept(clients: AwsClients, config: Config) -> None:
    init_storage(clients, config)
    s3, sqs = clients.client("s3"), clients.client("sqs")
    bucket = config.names(clients.account_id).data_bucket
    queue_arn = sqs.get_queue_attributes(
        QueueUrl=sqs.create_queue(QueueName="q")["QueueUrl"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={"QueueConfigurations": [{"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"]}]},
    )
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "owner", "Value": "someone"}]})
    init_storage(clients, config)
    notification = s3.get_bucket_notification_configuration(Bucket=bucket)
    assert "EventBridgeConfiguration" in notification and notification["QueueConfigurations"]
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
    assert tags["owner"] == "someone" and tags["mlops:stage"] == "storage"


def test_sse_s3_and_readers_writers(clients: AwsClients, config: Config) -> None:
    config = make_config(
        "storage.encryption=s3",
        "storage.readers=[{arn: 'arn:aws:iam::123456789012:role/analyst', prefixes: [processed/]}]",
    )
    report = init_storage(clients, config)
    assert "encryption key" not in actions(report)
    s3 = clients.client("s3")
    rule = s3.get_bucket_encryption(Bucket=report.bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    policy = json.loads(s3.get_bucket_policy(Bucket=report.bucket)["Policy"])
    reader = [s for s in policy["Statement"] if s.get("Principal") == {"AWS": "arn:aws:iam::123456789012:role/analyst"}]
    assert {s["Sid"] for s in reader} == {"Reader1List", "Reader1Objects"}
    objects = next(s for s in reader if s["Sid"] == "Reader1Objects")
    assert objects["Resource"] == [f"arn:aws:s3:::{report.bucket}/processed/*"]
    assert "s3:PutObject" not in objects["Action"]
