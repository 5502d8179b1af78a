"""Small S3 helpers shared by several stages."""

from __future__ import annotations

from typing import Any

from mlops_cli.aws.errors import get_or_none
from mlops_cli.errors import PreconditionFailed

NO_BUCKET = ("NoSuchBucket", "404")


def bucket_exists(s3: Any, bucket: str) -> bool:
    return get_or_none(f"looking up bucket {bucket}", NO_BUCKET, s3.head_bucket, Bucket=bucket) is not None


def require_bucket(s3: Any, bucket: str) -> None:
    if not bucket_exists(s3, bucket):
        raise PreconditionFailed(f"Bucket {bucket} does not exist.", hint="Run `mlops storage init` first.")
