"""The dataset's batches as they are in the bucket: ingest dates, files, sizes and versions."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

from mlops_cli.aws.errors import aws_errors
from mlops_cli.aws.s3 import require_bucket
from mlops_cli.aws.session import AwsClients
from mlops_cli.config.models import Config

_DATE_PART = re.compile(r"^ingest_date=(\d{4}-\d{2}-\d{2})/")


@dataclass
class BatchFile:
    key: str
    size: int
    versions: int
    last_modified: str
    version_id: str | None


@dataclass
class Batch:
    ingest_date: str
    files: list[BatchFile] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


@dataclass
class Listing:
    bucket: str
    prefix: str
    batches: list[Batch]


def list_batches(clients: AwsClients, config: Config) -> Listing:
    s3 = clients.client("s3")
    bucket = config.names(clients.account_id).data_bucket
    prefix = config.dataset.raw_prefix
    latest: dict[str, dict] = {}
    versions: dict[str, int] = defaultdict(int)
    require_bucket(s3, bucket)
    with aws_errors(f"listing s3://{bucket}/{prefix}"):
        pages = list(s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix))
    for page in pages:
        for version in page.get("Versions", []):
            versions[version["Key"]] += 1
            if version["IsLatest"]:
                latest[version["Key"]] = version
        for marker in page.get("DeleteMarkers", []):
            if marker["IsLatest"]:  # deleted: the data is only in old versions
                latest.pop(marker["Key"], None)
    batches: dict[str, Batch] = {}
    for key, version in sorted(latest.items()):
        match = _DATE_PART.match(key[len(prefix) :])
        date = match.group(1) if match else "(no date)"
        batches.setdefault(date, Batch(date)).files.append(
            BatchFile(
                key=key,
                size=version["Size"],
                versions=versions[key],
                last_modified=version["LastModified"].isoformat(),
                version_id=version.get("VersionId"),
            )
        )
    return Listing(bucket=bucket, prefix=prefix, batches=[batches[d] for d in sorted(batches)])
