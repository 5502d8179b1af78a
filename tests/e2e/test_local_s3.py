"""S3 through the emulator, as the storage stage uses it. Each extension's test fails against plain moto 5.2.5."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

REGION = "eu-west-1"

pytestmark = pytest.mark.e2e

MB = 1024 * 1024
ROLE = "arn:aws:iam::123456789012:role/churn-dev-train"


@pytest.fixture
def s3(emulator_client: Callable[..., Any]) -> Any:
    return emulator_client("s3")


def new_bucket(s3: Any) -> str:
    name = f"test-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    return name


def tls_only(bucket: str, secure_transport: str = "false") -> dict[str, Any]:
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": secure_transport}},
    }


def role_statements(bucket: str) -> list[dict[str, Any]]:
    return [
        {
            "Sid": "ReadersList",
            "Effect": "Allow",
            "Principal": {"AWS": [ROLE]},
            "Action": "s3:ListBucket",
            "Resource": f"arn:aws:s3:::{bucket}",
            "Condition": {"StringLike": {"s3:prefix": ["data/*", "features/*"]}},
        },
        {
            "Sid": "ReadersGet",
            "Effect": "Allow",
            "Principal": {"AWS": [ROLE]},
            "Action": ["s3:GetObject"],
            "Resource": [f"arn:aws:s3:::{bucket}/data/*"],
        },
    ]


def put_policy(s3: Any, bucket: str, *statements: dict[str, Any]) -> dict[str, Any]:
    policy = {"Version": "2012-10-17", "Statement": list(statements)}
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    return policy


def test_tls_only_policy_does_not_lock_out_the_emulator(s3: Any) -> None:
    bucket = new_bucket(s3)
    policy = put_policy(s3, bucket, tls_only(bucket), *role_statements(bucket))

    s3.put_object(Bucket=bucket, Key="data/a.csv", Body=b"a,b\n1,2\n")
    assert s3.get_object(Bucket=bucket, Key="data/a.csv")["Body"].read() == b"a,b\n1,2\n"
    s3.head_object(Bucket=bucket, Key="data/a.csv")
    s3.copy_object(Bucket=bucket, Key="data/b.csv", CopySource={"Bucket": bucket, "Key": "data/a.csv"})
    deleted = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "data/a.csv"}, {"Key": "data/b.csv"}]})
    assert not deleted.get("Errors")
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]) == policy  # kept exactly as put


def test_bool_conditions_are_evaluated(s3: Any) -> None:
    bucket = new_bucket(s3)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    # Over the emulator's loopback "secure channel" a Deny on SecureTransport=true applies.
    put_policy(s3, bucket, tls_only(bucket, secure_transport="true"))
    with pytest.raises(ClientError) as denied:
        s3.get_object(Bucket=bucket, Key="k")
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    # An Allow whose condition does not hold simply does not apply: it must not deny.
    allow_insecure_only = {**tls_only(bucket), "Effect": "Allow", "Sid": "AllowInsecure"}
    put_policy(s3, bucket, allow_insecure_only)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"


def test_event_bridge_notifications_read_back(s3: Any) -> None:
    bucket = new_bucket(s3)
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}})
    config = s3.get_bucket_notification_configuration(Bucket=bucket)
    assert config["EventBridgeConfiguration"] == {}

    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    assert "EventBridgeConfiguration" not in s3.get_bucket_notification_configuration(Bucket=bucket)


def test_other_notifications_still_round_trip(s3: Any, emulator_client: Callable[..., Any]) -> None:
    bucket = new_bucket(s3)
    queue_url = emulator_client("sqs").create_queue(QueueName=f"q-{bucket}")["QueueUrl"]
    queue_arn = emulator_client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    topic_arn = emulator_client("sns").create_topic(Name=f"t-{bucket}")["TopicArn"]
    queue = {"Id": "q", "QueueArn": queue_arn["Attributes"]["QueueArn"], "Events": ["s3:ObjectCreated:*"]}
    topic = {"Id": "t", "TopicArn": topic_arn, "Events": ["s3:ObjectRemoved:*"]}
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [queue],
            "TopicConfigurations": [topic],
            "EventBridgeConfiguration": {},
        },
    )
    config = s3.get_bucket_notification_configuration(Bucket=bucket)
    assert config["QueueConfigurations"] == [queue]
    assert config["TopicConfigurations"] == [topic]
    assert config["EventBridgeConfiguration"] == {}


def test_sha256_checksums_on_put_get_head(s3: Any) -> None:
    bucket = new_bucket(s3)
    body = b"tenure_months,plan\n3,basic\n"
    expected = base64.b64encode(hashlib.sha256(body).digest()).decode()

    put = s3.put_object(Bucket=bucket, Key="k", Body=body, ChecksumAlgorithm="SHA256")
    got = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    head = s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")

    assert put["ChecksumSHA256"] == got["ChecksumSHA256"] == head["ChecksumSHA256"] == expected
    assert got["Body"].read() == body


def test_multipart_upload_has_composite_checksum_and_metadata(s3: Any, tmp_path: Path) -> None:
    bucket = new_bucket(s3)
    data = hashlib.sha256(b"seed").digest() * (20 * MB // 32)  # 20 MB, 4 parts of 5 MB
    source = tmp_path / "batch.csv"
    source.write_bytes(data)
    part_size = 5 * MB
    transfer = TransferConfig(multipart_threshold=part_size, multipart_chunksize=part_size)

    s3.upload_file(
        str(source),
        bucket,
        "raw/batch.csv",
        ExtraArgs={"ChecksumAlgorithm": "SHA256", "Metadata": {"batch": "2024-06-01"}},
        Config=transfer,
    )

    parts = [hashlib.sha256(data[i : i + part_size]).digest() for i in range(0, len(data), part_size)]
    composite = base64.b64encode(hashlib.sha256(b"".join(parts)).digest()).decode() + f"-{len(parts)}"
    head = s3.head_object(Bucket=bucket, Key="raw/batch.csv", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == composite
    assert head["ChecksumType"] == "COMPOSITE"
    assert head["Metadata"] == {"batch": "2024-06-01"}
    assert head["ContentLength"] == len(data)
    got = s3.get_object(Bucket=bucket, Key="raw/batch.csv", ChecksumMode="ENABLED")
    got["Body"].close()
    assert got["ChecksumSHA256"] == composite


@pytest.mark.parametrize(
    "key_format",
    [{"PartitionedPrefix": {"PartitionDateSource": "EventTime"}}, {"SimplePrefix": {}}],
    ids=["partitioned", "simple"],
)
def test_access_logging_to_a_tls_only_log_bucket(s3: Any, key_format: dict[str, Any]) -> None:
    data, logs = new_bucket(s3), new_bucket(s3)
    log_delivery = {
        "Sid": "S3ServerAccessLogsPolicy",
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": [f"arn:aws:s3:::{logs}/access/*"],
        "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}},
    }
    put_policy(s3, logs, tls_only(logs), log_delivery)
    enabled = {"TargetBucket": logs, "TargetPrefix": "access/", "TargetObjectKeyFormat": key_format}

    s3.put_bucket_logging(Bucket=data, BucketLoggingStatus={"LoggingEnabled": enabled})

    assert s3.get_bucket_logging(Bucket=data)["LoggingEnabled"] == enabled


def test_logging_still_requires_the_log_delivery_permission(s3: Any) -> None:
    data, logs = new_bucket(s3), new_bucket(s3)
    put_policy(s3, logs, tls_only(logs))
    with pytest.raises(ClientError) as refused:
        s3.put_bucket_logging(
            Bucket=data, BucketLoggingStatus={"LoggingEnabled": {"TargetBucket": logs, "TargetPrefix": "x/"}}
        )
    assert refused.value.response["Error"]["Code"] == "InvalidTargetBucketForLogging"


def test_a_wrong_client_checksum_is_refused(s3: Any) -> None:
    bucket = new_bucket(s3)
    wrong = base64.b64encode(hashlib.sha256(b"other bytes").digest()).decode()
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket=bucket, Key="k", Body=b"the bytes", ChecksumAlgorithm="SHA256", ChecksumSHA256=wrong)
    assert refused.value.response["Error"]["Code"] == "BadDigest"
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)  # nothing was stored
    right = base64.b64encode(hashlib.sha256(b"the bytes").digest()).decode()
    s3.put_object(Bucket=bucket, Key="k", Body=b"the bytes", ChecksumAlgorithm="SHA256", ChecksumSHA256=right)
    assert s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")["ChecksumSHA256"] == right
