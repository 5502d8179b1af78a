"""Every control of the storage stage, in the order `init` converges them: the project KMS key, the access-log
bucket, then the data bucket and its settings."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlops_cli.aws.errors import aws_errors, get_or_none
from mlops_cli.aws.s3 import NO_BUCKET
from mlops_cli.aws.session import AwsClients
from mlops_cli.aws.tags import as_key_value, as_tag_key_value, from_key_value
from mlops_cli.config.models import Config
from mlops_cli.errors import PreconditionFailed
from mlops_cli.services.convergence import Control, same_document
from mlops_cli.services.log_groups import log_group_control
from mlops_cli.services.storage import documents

STAGE = "storage"
_PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


@dataclass
class StorageTarget:
    """The names and clients one storage run works with."""

    clients: AwsClients
    config: Config

    @property
    def names(self) -> Any:
        return self.config.names(self.clients.account_id)

    @property
    def s3(self) -> Any:
        return self.clients.client("s3")

    @property
    def kms(self) -> Any:
        return self.clients.client("kms")

    @property
    def tags(self) -> dict[str, str]:
        return self.config.standard_tags(STAGE)


def storage_controls(target: StorageTarget) -> list[Control]:
    config, names = target.config, target.names
    controls: list[Control] = []
    key = _KeyControl(target)
    own_key = config.storage.encryption == "kms" and not config.storage.kms_key
    if own_key:
        controls += [key.control(), key.policy()]
    if config.storage.access_logging:
        log_bucket = _Bucket(target, names.log_bucket, "log bucket")
        controls += log_bucket.base_controls(encryption={"SSEAlgorithm": "AES256"})  # log delivery needs SSE-S3
        controls += [
            log_bucket.versioning(),  # an overwritten or deleted log stays recoverable: the audit trail is kept
            log_bucket.lifecycle(
                documents.log_lifecycle_rules(
                    config.storage.log_retention_days, config.storage.lifecycle.abort_multipart_days
                )
            ),
            log_bucket.policy(
                documents.log_bucket_policy(
                    target.clients.partition,
                    names.log_bucket,
                    names.data_bucket,
                    target.clients.account_id,
                    names.access_log_prefix(),
                    _load_balancer_logs(target),
                )
            ),
            log_bucket.tagging(target.tags),
        ]
    bucket = _Bucket(target, names.data_bucket, "bucket")
    controls += bucket.base_controls(encryption=key.encryption_setting)
    controls.append(bucket.versioning())
    controls.append(
        bucket.policy(documents.data_bucket_policy(target.clients.partition, names.data_bucket, config.storage))
    )
    if config.storage.access_logging:
        controls.append(bucket.logging(names.log_bucket, names.access_log_prefix()))
    controls += [
        bucket.lifecycle(documents.data_lifecycle_rules(config.storage, config.dataset.raw_prefix)),
        bucket.eventbridge(),
        bucket.tagging(target.tags),
    ]
    # SageMaker creates its log groups without expiry or a customer key; storage owns the key, so it sets both
    controls += [
        log_group_control(
            target.clients,
            f"log group {group}",
            group,
            retention_days=config.storage.job_log_retention_days,
            key=key.arn if own_key else None,
            tags=target.tags,
            shared=shared,
        )
        for group, shared in documents.sagemaker_log_groups(names).items()
    ]
    return controls


def _load_balancer_logs(target: StorageTarget) -> list[dict[str, Any]]:
    """With `lb.access_logs`, the log bucket also takes the load balancer's access logs (under lb-access/)."""
    lb = target.config.lb
    if lb is None or not lb.access_logs:
        return []
    return documents.load_balancer_log_statements(
        target.clients.partition, target.names.log_bucket, target.clients.region, target.clients.account_id, "lb-access"
    )


class _Bucket:
    """The controls of one bucket. Every read treats a missing bucket as a missing setting."""

    def __init__(self, target: StorageTarget, name: str, label: str) -> None:
        self.target, self.name, self.label = target, name, label
        self.s3 = target.s3

    def _get(self, operation: str, absent: tuple[str, ...]) -> Any:
        return get_or_none(
            f"reading {operation} of bucket {self.name}",
            (*NO_BUCKET, *absent),
            getattr(self.s3, operation),
            Bucket=self.name,
        )

    def _put(self, what: str, operation: str, **kwargs: Any) -> Callable[[], None]:
        def write() -> None:
            with aws_errors(f"setting {what} on bucket {self.name}"):
                getattr(self.s3, operation)(Bucket=self.name, **kwargs)

        return write

    def _control(
        self, setting: str, desired: Any, read: Callable[[], Any], write: Callable[[], None], **kw: Any
    ) -> Control:
        name = f"{self.label} {setting}"
        return Control(name, desired, read, write, parent=self.label, **kw)

    def base_controls(self, encryption: Any) -> list[Control]:
        return [
            Control(
                self.label,
                {"name": self.name, "region": self.target.clients.region},
                self._read_bucket,
                self._create,
            ),
            self._control(
                "ownership",
                "BucketOwnerEnforced",
                self._read_ownership,
                self._put(
                    "object ownership",
                    "put_bucket_ownership_controls",
                    OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                ),
            ),
            self._control(
                "public access block",
                _PUBLIC_ACCESS_BLOCK,
                self._read_public_access_block,
                self._put(
                    "the public access block",
                    "put_public_access_block",
                    PublicAccessBlockConfiguration=_PUBLIC_ACCESS_BLOCK,
                ),
            ),
            self._control("encryption", encryption, self._read_encryption, self._write_encryption(encryption)),
        ]

    def _read_bucket(self) -> dict[str, str] | None:
        if self._get("head_bucket", ()) is None:
            return None
        location = self._get("get_bucket_location", ())
        region = (location or {}).get("LocationConstraint") or "us-east-1"
        return {"name": self.name, "region": "eu-west-1" if region == "EU" else region}

    def _create(self) -> None:
        existing = self._read_bucket()
        region = self.target.clients.region
        if existing is not None:
            raise PreconditionFailed(
                f"Bucket {self.name} exists in {existing['region']}, not in {region}.",
                hint="Set aws.region to the bucket's region, or choose another storage.bucket.",
            )
        kwargs: dict[str, Any] = {"Bucket": self.name, "ObjectOwnership": "BucketOwnerEnforced"}
        if region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        with aws_errors(f"creating bucket {self.name}"):
            self.s3.create_bucket(**kwargs)
            self.s3.get_waiter("bucket_exists").wait(Bucket=self.name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})

    def _read_ownership(self) -> str | None:
        response = self._get("get_bucket_ownership_controls", ("OwnershipControlsNotFoundError",))
        rules = (response or {}).get("OwnershipControls", {}).get("Rules", [])
        return rules[0]["ObjectOwnership"] if rules else None

    def _read_public_access_block(self) -> dict[str, bool] | None:
        response = self._get("get_public_access_block", ("NoSuchPublicAccessBlockConfiguration",))
        return None if response is None else response["PublicAccessBlockConfiguration"]

    def _read_encryption(self) -> dict[str, Any] | None:
        response = self._get("get_bucket_encryption", ("ServerSideEncryptionConfigurationNotFoundError",))
        if response is None:
            return None
        rule = response["ServerSideEncryptionConfiguration"]["Rules"][0]
        default = rule.get("ApplyServerSideEncryptionByDefault", {})
        setting = {"SSEAlgorithm": default.get("SSEAlgorithm")}
        if default.get("KMSMasterKeyID"):
            setting["KMSMasterKeyID"] = default["KMSMasterKeyID"]
        if setting["SSEAlgorithm"] != "AES256":
            setting["BucketKeyEnabled"] = bool(rule.get("BucketKeyEnabled"))
        return setting

    def _write_encryption(self, encryption: Any) -> Callable[[], None]:
        def write() -> None:
            setting = encryption() if callable(encryption) else encryption
            default = {k: v for k, v in setting.items() if k != "BucketKeyEnabled"}
            rule: dict[str, Any] = {"ApplyServerSideEncryptionByDefault": default}
            if "BucketKeyEnabled" in setting:
                rule["BucketKeyEnabled"] = setting["BucketKeyEnabled"]
            self._put(
                "default encryption",
                "put_bucket_encryption",
                ServerSideEncryptionConfiguration={"Rules": [rule]},
            )()

        return write

    def versioning(self) -> Control:
        def read() -> str | None:
            response = self._get("get_bucket_versioning", ())
            return None if response is None else response.get("Status", "Disabled")

        write = self._put("versioning", "put_bucket_versioning", VersioningConfiguration={"Status": "Enabled"})
        return self._control("versioning", "Enabled", read, write)

    def policy(self, document: dict[str, Any]) -> Control:
        def read() -> dict[str, Any] | None:
            response = self._get("get_bucket_policy", ("NoSuchBucketPolicy",))
            return None if response is None else json.loads(response["Policy"])

        write = self._put("the bucket policy", "put_bucket_policy", Policy=json.dumps(document))
        return self._control("policy", document, read, write, matches=same_document)

    def logging(self, target_bucket: str, prefix: str) -> Control:
        desired = {"TargetBucket": target_bucket, "TargetPrefix": prefix}

        def read() -> dict[str, str] | None:
            response = self._get("get_bucket_logging", ())
            enabled = (response or {}).get("LoggingEnabled")
            return None if not enabled else {k: enabled.get(k) for k in desired}

        write = self._put(
            "access logging",
            "put_bucket_logging",
            BucketLoggingStatus={
                "LoggingEnabled": {
                    **desired,
                    # date-partitioned keys make the logs cheap to query with Athena
                    "TargetObjectKeyFormat": {"PartitionedPrefix": {"PartitionDateSource": "EventTime"}},
                }
            },
        )
        return self._control("access logging", desired, read, write)

    def lifecycle(self, rules: list[dict[str, Any]]) -> Control:
        def read() -> list[dict[str, Any]] | None:
            response = self._get("get_bucket_lifecycle_configuration", ("NoSuchLifecycleConfiguration",))
            return None if response is None else response["Rules"]

        write = self._put(
            "lifecycle rules", "put_bucket_lifecycle_configuration", LifecycleConfiguration={"Rules": rules}
        )
        return self._control("lifecycle", rules, read, write, matches=same_document)

    def eventbridge(self) -> Control:
        def current() -> dict[str, Any] | None:
            response = self._get("get_bucket_notification_configuration", ())
            if response is None:
                return None
            return {k: v for k, v in response.items() if k != "ResponseMetadata"}

        def read() -> bool | None:
            configuration = current()
            return None if configuration is None else "EventBridgeConfiguration" in configuration

        def write() -> None:
            # the put replaces the whole configuration: keep the topic/queue/lambda targets someone else set
            configuration = {**(current() or {}), "EventBridgeConfiguration": {}}
            self._put(
                "EventBridge notifications",
                "put_bucket_notification_configuration",
                NotificationConfiguration=configuration,
            )()

        return self._control("eventbridge notifications", True, read, write)

    def tagging(self, tags: dict[str, str]) -> Control:
        def current() -> dict[str, str] | None:
            response = self._get("get_bucket_tagging", ("NoSuchTagSet",))
            return None if response is None else from_key_value(response["TagSet"])

        def write() -> None:
            merged = {**(current() or {}), **tags}  # tags someone else added stay
            self._put("tags", "put_bucket_tagging", Tagging={"TagSet": as_key_value(merged)})()

        return self._control(
            "tags", tags, current, write, matches=lambda actual, desired: desired.items() <= actual.items()
        )


class _KeyControl:
    """The project's KMS key (alias, enabled, rotation on), and the bucket encryption setting that uses it."""

    def __init__(self, target: StorageTarget) -> None:
        self.target = target
        self.kms = target.kms
        self.storage = target.config.storage
        self.alias = target.names.kms_alias

    @property
    def key_ref(self) -> str:
        return self.storage.kms_key or self.alias

    def _describe(self) -> dict[str, Any] | None:
        response = get_or_none(
            f"reading KMS key {self.key_ref}",
            ("NotFoundException",),
            self.kms.describe_key,
            KeyId=self.key_ref,
        )
        return None if response is None else response["KeyMetadata"]

    def encryption_setting(self) -> dict[str, Any]:
        if self.storage.encryption == "s3":
            return {"SSEAlgorithm": "AES256"}
        metadata = self._describe()
        key_id = metadata["Arn"] if metadata else self.key_ref
        # the bucket key cuts KMS requests (and their cost) by reusing a data key per bucket
        return {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_id, "BucketKeyEnabled": True}

    def arn(self) -> str:
        metadata = self._describe()
        return str(metadata["Arn"]) if metadata else self.key_ref

    def policy(self) -> Control:
        """The key policy: the account's IAM policies decide who uses the key (the default policy's statement), and
        CloudWatch Logs may use it for this account's log groups in this region."""
        clients = self.target.clients
        document = documents.key_policy(clients.partition, clients.region, clients.account_id)

        def read() -> dict[str, Any] | None:
            metadata = self._describe()
            if metadata is None:
                return None
            with aws_errors(f"reading the policy of KMS key {self.alias}"):
                return json.loads(self.kms.get_key_policy(KeyId=metadata["KeyId"], PolicyName="default")["Policy"])

        def write() -> None:
            metadata = self._describe()
            if metadata is None:
                raise PreconditionFailed(f"KMS key {self.alias} does not exist.", hint="Run `mlops storage init`.")
            with aws_errors(f"setting the policy of KMS key {self.alias}"):
                self.kms.put_key_policy(KeyId=metadata["KeyId"], PolicyName="default", Policy=json.dumps(document))

        return Control(
            "encryption key policy",
            document,
            read,
            write,
            matches=same_document,
            parent="encryption key",
        )

    def control(self) -> Control:
        desired = {"alias": self.alias, "state": "Enabled", "rotation": True}

        def read() -> dict[str, Any] | None:
            metadata = self._describe()
            if metadata is None:
                return None
            with aws_errors(f"reading rotation of KMS key {self.alias}"):
                rotation = self.kms.get_key_rotation_status(KeyId=metadata["KeyId"])["KeyRotationEnabled"]
            return {"alias": self.alias, "state": metadata["KeyState"], "rotation": rotation}

        def write() -> None:
            metadata = self._describe()
            with aws_errors(f"creating KMS key {self.alias}"):
                if metadata is None:
                    metadata = self.kms.create_key(
                        Description=f"mlops data key for {self.target.config.project}/{self.target.config.environment}",
                        KeyUsage="ENCRYPT_DECRYPT",
                        KeySpec="SYMMETRIC_DEFAULT",
                        Tags=as_tag_key_value(self.target.tags),
                    )["KeyMetadata"]
                    self.kms.create_alias(AliasName=self.alias, TargetKeyId=metadata["KeyId"])
                if metadata["KeyState"] != "Enabled":
                    raise PreconditionFailed(
                        f"KMS key {self.alias} is {metadata['KeyState']}.",
                        hint="Cancel its deletion or enable it (aws kms cancel-key-deletion / enable-key), "
                        "then run `mlops storage init` again.",
                    )
                self.kms.enable_key_rotation(KeyId=metadata["KeyId"])

        return Control("encryption key", desired, read, write)
