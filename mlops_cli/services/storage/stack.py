"""`init`, `status` and `delete` of the storage stage."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlops_cli.aws.errors import aws_errors
from mlops_cli.aws.s3 import bucket_exists
from mlops_cli.aws.session import AwsClients
from mlops_cli.config.models import Config
from mlops_cli.errors import PreconditionFailed
from mlops_cli.services.convergence import ControlResult, State, converge, inspect
from mlops_cli.services.storage.controls import StorageTarget, storage_controls


@dataclass
class StorageReport:
    bucket: str
    log_bucket: str | None
    region: str
    controls: list[ControlResult]

    @property
    def drifted(self) -> list[ControlResult]:
        return [c for c in self.controls if c.state is not State.OK]


@dataclass
class DeleteReport:
    bucket: str
    deleted: bool  # False: it was already gone
    versions_deleted: int = 0
    kept: list[str] = field(default_factory=list)


def _report(target: StorageTarget, results: list[ControlResult]) -> StorageReport:
    names = target.names
    return StorageReport(
        bucket=names.data_bucket,
        log_bucket=names.log_bucket if target.config.storage.access_logging else None,
        region=target.clients.region,
        controls=results,
    )


def init_storage(clients: AwsClients, config: Config) -> StorageReport:
    """Converge the data bucket, its log bucket and key to the config."""
    target = StorageTarget(clients, config)
    return _report(target, converge(storage_controls(target)))


def storage_status(clients: AwsClients, config: Config) -> StorageReport:
    """Every control, expected against actual. Changes nothing."""
    target = StorageTarget(clients, config)
    return _report(target, inspect(storage_controls(target)))


def delete_storage(clients: AwsClients, config: Config, *, delete_data: bool) -> DeleteReport:
    """Delete the data bucket. Refuses while it holds any object version unless `delete_data`.

    The access-log bucket and the KMS key stay: logs are the audit trail, and a key may still be needed to read
    copies of the data made elsewhere."""
    target = StorageTarget(clients, config)
    names = target.names
    s3, bucket = target.s3, names.data_bucket
    kept = [names.log_bucket] if config.storage.access_logging else []
    if config.storage.encryption == "kms" and not config.storage.kms_key:
        kept.append(names.kms_alias)
    if not bucket_exists(s3, bucket):
        return DeleteReport(bucket=bucket, deleted=False, kept=kept)
    deleted = 0
    with aws_errors(f"emptying bucket {bucket}"):
        paginator = s3.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=bucket):
            victims = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
            ]
            if victims and not delete_data:
                raise PreconditionFailed(
                    f"Bucket {bucket} holds data; nothing was deleted.",
                    hint="Run `mlops storage delete --delete-data --yes` to delete every object version with it.",
                )
            for start in range(0, len(victims), 1000):
                s3.delete_objects(Bucket=bucket, Delete={"Objects": victims[start : start + 1000], "Quiet": True})
            deleted += len(victims)
    with aws_errors(f"deleting bucket {bucket}"):
        s3.delete_bucket(Bucket=bucket)
    return DeleteReport(bucket=bucket, deleted=True, versions_deleted=deleted, kept=kept)
