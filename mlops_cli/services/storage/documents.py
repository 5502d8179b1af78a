"""The JSON documents S3 stores for the buckets (policies, lifecycle rules), built from the config. Pure functions."""

from __future__ import annotations

from typing import Any

from mlops_cli.aws.naming import ResourceNames
from mlops_cli.config.models import AccessGrant, Storage

_READ_ACTIONS = ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectAttributes"]
_WRITE_ACTIONS = ["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]


def bucket_arn(partition: str, bucket: str) -> str:
    return f"arn:{partition}:s3:::{bucket}"


def _deny_insecure_transport(arn: str) -> dict[str, Any]:
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": {"AWS": "*"},  # same as "*"; moto's log-permission check needs the mapping form
        "Action": "s3:*",
        "Resource": [arn, f"{arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def _grant_statements(kind: str, index: int, grant: AccessGrant, arn: str, actions: list[str]) -> list[dict]:
    sid = f"{kind}{index + 1}"
    return [
        {
            "Sid": f"{sid}List",
            "Effect": "Allow",
            "Principal": {"AWS": grant.arn},
            "Action": "s3:ListBucket",
            "Resource": arn,
            "Condition": {"StringLike": {"s3:prefix": [f"{prefix}*" for prefix in grant.prefixes]}},
        },
        {
            "Sid": f"{sid}Objects",
            "Effect": "Allow",
            "Principal": {"AWS": grant.arn},
            "Action": actions,
            "Resource": [f"{arn}/{prefix}*" for prefix in grant.prefixes],
        },
    ]


def data_bucket_policy(partition: str, bucket: str, storage: Storage) -> dict[str, Any]:
    """TLS only; each configured reader and writer gets its own prefixes and nothing else."""
    arn = bucket_arn(partition, bucket)
    statements = [_deny_insecure_transport(arn)]
    for index, grant in enumerate(storage.readers):
        statements += _grant_statements("Reader", index, grant, arn, _READ_ACTIONS)
    for index, grant in enumerate(storage.writers):
        statements += _grant_statements("Writer", index, grant, arn, _WRITE_ACTIONS)
    return {"Version": "2012-10-17", "Statement": statements}


# Regions opened before August 2022 deliver load balancer access logs as a regional Elastic Load Balancing account;
# newer ones as the logdelivery service principal (Elastic Load Balancing user guide, "Enable access logs").
ELB_LOG_ACCOUNTS = {
    "us-east-1": "127311923021",
    "us-east-2": "033677994240",
    "us-west-1": "027434742980",
    "us-west-2": "797873946194",
    "af-south-1": "098369216593",
    "ca-central-1": "985666609251",
    "eu-central-1": "054676820928",
    "eu-west-1": "156460612806",
    "eu-west-2": "652711504416",
    "eu-south-1": "635631232127",
    "eu-west-3": "009996457667",
    "eu-north-1": "897822967062",
    "ap-east-1": "754344448648",
    "ap-northeast-1": "582318560864",
    "ap-northeast-2": "600734575887",
    "ap-northeast-3": "383597477331",
    "ap-southeast-1": "114774131450",
    "ap-southeast-2": "783225319266",
    "ap-south-1": "718504428378",
    "me-south-1": "076674570225",
    "sa-east-1": "507241528517",
}


def load_balancer_log_statements(partition: str, log_bucket: str, region: str, account: str, prefix: str) -> list[dict]:
    """ALB logs are written by ELB (a regional account, or its service principal); NLB logs by the log delivery
    service, which also reads the bucket's ACL. Each may write under `<prefix>/AWSLogs/<account>/` only."""
    arn = bucket_arn(partition, log_bucket)
    objects = f"{arn}/{prefix}/AWSLogs/{account}/*"
    elb = ELB_LOG_ACCOUNTS.get(region)
    writer = (
        {"AWS": f"arn:{partition}:iam::{elb}:root"}
        if elb
        else {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}
    )
    return [
        {
            "Sid": "LoadBalancerAccessLogs",
            "Effect": "Allow",
            "Principal": writer,
            "Action": "s3:PutObject",
            "Resource": objects,
        },
        {
            "Sid": "LogDeliveryWrite",
            "Effect": "Allow",
            "Principal": {"Service": "delivery.logs.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": objects,
            "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", "aws:SourceAccount": account}},
        },
        {
            "Sid": "LogDeliveryAclCheck",
            "Effect": "Allow",
            "Principal": {"Service": "delivery.logs.amazonaws.com"},
            "Action": "s3:GetBucketAcl",
            "Resource": arn,
            "Condition": {"StringEquals": {"aws:SourceAccount": account}},
        },
    ]


def log_bucket_policy(
    partition: str,
    log_bucket: str,
    source_bucket: str,
    account: str,
    prefix: str,
    extra_statements: list[dict] | None = None,
) -> dict:
    """Only S3's logging service, writing this account's logs of the data bucket, may put objects; TLS only."""
    arn = bucket_arn(partition, log_bucket)
    return {
        "Version": "2012-10-17",
        "Statement": [
            _deny_insecure_transport(arn),
            {
                "Sid": "S3ServerAccessLogs",
                "Effect": "Allow",
                "Principal": {"Service": "logging.s3.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"{arn}/{prefix}*",
                "Condition": {
                    "ArnLike": {"aws:SourceArn": bucket_arn(partition, source_bucket)},
                    "StringEquals": {"aws:SourceAccount": account},
                },
            },
            *(extra_statements or []),
        ],
    }


def data_lifecycle_rules(storage: Storage, raw_prefix: str) -> list[dict[str, Any]]:
    lifecycle = storage.lifecycle
    rules: list[dict[str, Any]] = [
        {
            "ID": "expire-noncurrent-versions",
            "Status": "Enabled",
            "Filter": {"Prefix": ""},
            "NoncurrentVersionExpiration": {"NoncurrentDays": lifecycle.noncurrent_days},
        },
        {
            "ID": "abort-incomplete-multipart-uploads",
            "Status": "Enabled",
            "Filter": {"Prefix": ""},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": lifecycle.abort_multipart_days},
        },
    ]
    if lifecycle.raw_transitions:
        rules.append(
            {
                "ID": "raw-data-transitions",
                "Status": "Enabled",
                "Filter": {"Prefix": raw_prefix},
                "Transitions": [
                    {"Days": t.days, "StorageClass": t.storage_class}
                    for t in sorted(lifecycle.raw_transitions, key=lambda t: t.days)
                ],
            }
        )
    return rules


def log_lifecycle_rules(retention_days: int, abort_multipart_days: int) -> list[dict[str, Any]]:
    return [
        {
            "ID": "expire-access-logs",
            "Status": "Enabled",
            "Filter": {"Prefix": ""},
            "Expiration": {"Days": retention_days},
            "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": abort_multipart_days},
        }
    ]


def sagemaker_log_groups(names: ResourceNames) -> dict[str, bool]:
    """The log groups SageMaker writes the project's jobs and endpoint to (the endpoint is named like the prefix),
    each with whether it is shared: every project's jobs in the account and region write to the same job groups."""
    return {
        "/aws/sagemaker/ProcessingJobs": True,
        "/aws/sagemaker/TrainingJobs": True,
        "/aws/sagemaker/TransformJobs": True,
        f"/aws/sagemaker/Endpoints/{names.prefix}": False,
    }


def key_policy(partition: str, region: str, account: str) -> dict[str, Any]:
    """The default key policy's statement (IAM policies in the account decide who may use the key), and CloudWatch
    Logs of this region, for this account's log groups only (CloudWatch Logs user guide, "Encrypt log data in
    CloudWatch Logs using AWS KMS": the logs.<region> principal and the aws:logs:arn encryption context)."""
    return {
        "Version": "2012-10-17",
        "Id": "mlops-project-key",
        "Statement": [
            {
                "Sid": "EnableIamPolicies",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "CloudWatchLogs",
                "Effect": "Allow",
                "Principal": {"Service": f"logs.{region}.amazonaws.com"},
                "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                "Resource": "*",
                "Condition": {
                    "ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:{partition}:logs:{region}:{account}:*"}
                },
            },
        ],
    }
