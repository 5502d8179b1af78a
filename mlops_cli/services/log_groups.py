"""The control of a CloudWatch Logs group the project writes to, or has AWS write to: it exists, expires after the
config's retention, and is encrypted with the project's KMS key. Storage creates that key and its policy lets
CloudWatch Logs of the region use it for any log group of the account (storage/documents.py `key_policy`), so every
stage's groups take the same key: SageMaker's (storage), the REST API's (gateway), the proxy function's (lb)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlops_cli.aws.errors import aws_errors, get_or_none
from mlops_cli.aws.session import AwsClients
from mlops_cli.config.models import Config
from mlops_cli.errors import PreconditionFailed
from mlops_cli.services.convergence import Control

KeyArn = Callable[[], str]


def project_log_key(clients: AwsClients, config: Config) -> KeyArn | None:
    """The project key's ARN for log groups, read when needed (the alias while the key does not exist yet). None
    when storage does not make the project's own key: with SSE-S3 there is none, and a configured key's policy is
    not the project's, so it may not let CloudWatch Logs use it; the groups' encryption is then left as it is."""
    if config.storage.encryption != "kms" or config.storage.kms_key:
        return None
    alias = config.names(clients.account_id).kms_alias
    kms = clients.client("kms")

    def arn() -> str:
        found = get_or_none(f"reading KMS key {alias}", ("NotFoundException",), kms.describe_key, KeyId=alias)
        return alias if found is None else str(found["KeyMetadata"]["Arn"])

    return arn


def log_group_control(
    clients: AwsClients,
    label: str,
    group: str | Callable[[], str | None],
    *,
    retention_days: int,
    key: KeyArn | None,
    tags: dict[str, str],
    shared: bool = False,
) -> Control:
    """`group` (or a function giving its name, None while what it logs does not exist yet) with `retention_days`
    and `key`.

    A group of the project's own gets exactly these. A `shared` group, which every project of the account writes to
    (SageMaker's job groups), is only ever made stricter, so that two projects never undo each other and each stays
    unchanged on its next run: a key if it has none (one it has is kept), and the retention if it has none or a
    shorter one (a longer one is kept)."""
    logs = clients.client("logs")
    name_of: Callable[[], str | None] = (lambda: group) if isinstance(group, str) else group

    def desired() -> dict[str, Any]:
        return {"retention_days": retention_days, "kms_key": key() if key else None}

    def read() -> dict[str, Any] | None:
        name = name_of()
        if name is None:
            return None
        with aws_errors(f"reading log group {name}"):
            found = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
        match = next((g for g in found if g["logGroupName"] == name), None)
        if match is None:
            return None
        return {"retention_days": match.get("retentionInDays"), "kms_key": match.get("kmsKeyId")}

    def key_ok(actual: dict[str, Any], wanted: dict[str, Any]) -> bool:
        if wanted["kms_key"] is None:  # no project key: the group's encryption is left as it is
            return True
        return actual["kms_key"] is not None if shared else bool(actual["kms_key"] == wanted["kms_key"])

    def retention_ok(actual: dict[str, Any], wanted: dict[str, Any]) -> bool:
        if shared:
            return actual["retention_days"] is not None and actual["retention_days"] >= wanted["retention_days"]
        return bool(actual["retention_days"] == wanted["retention_days"])

    def write() -> None:
        name = name_of()
        if name is None:
            raise PreconditionFailed(f"The {label} has no name yet: what it logs does not exist.")
        current, wanted = read(), desired()
        key_arn = wanted["kms_key"]
        if key_arn is not None and not key_arn.startswith("arn:"):
            raise PreconditionFailed(
                f"KMS key {key_arn} does not exist: log group {name} cannot be encrypted with it.",
                hint="Run `mlops storage init` first.",
            )
        with aws_errors(f"setting log group {name}"):
            if current is None:
                extra = {"kmsKeyId": key_arn} if key_arn else {}
                logs.create_log_group(logGroupName=name, tags=tags, **extra)
            elif key_arn and not key_ok(current, wanted):
                logs.associate_kms_key(logGroupName=name, kmsKeyId=key_arn)
            if current is None or not retention_ok(current, wanted):
                logs.put_retention_policy(logGroupName=name, retentionInDays=retention_days)

    return Control(label, desired, read, write, matches=lambda a, d: key_ok(a, d) and retention_ok(a, d))
