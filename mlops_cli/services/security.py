"""Encryption settings shared by the SageMaker jobs: the project key that storage created (or the configured one)."""

from __future__ import annotations

from mlops_cli.aws.errors import get_or_none
from mlops_cli.aws.session import AwsClients
from mlops_cli.config.models import Config
from mlops_cli.errors import PreconditionFailed


def job_encryption_key(clients: AwsClients, config: Config) -> str | None:
    """The KMS key ARN that job volumes and outputs are encrypted with; None with SSE-S3 storage."""
    if config.storage.encryption != "kms":
        return None
    key_ref = config.storage.kms_key or config.names().kms_alias
    kms = clients.client("kms")
    found = get_or_none(f"reading KMS key {key_ref}", ("NotFoundException",), kms.describe_key, KeyId=key_ref)
    if found is None:
        raise PreconditionFailed(f"KMS key {key_ref} does not exist.", hint="Run `mlops storage init` first.")
    return str(found["KeyMetadata"]["Arn"])
