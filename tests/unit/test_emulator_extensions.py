"""The extensions as patches: applied and reverted exactly, and what each changes in moto (in-process moto)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.logs.responses import LogsResponse
from moto.s3.models import FakeBucket
from moto.s3.responses import S3Response

from mlops_cli.emulator import extensions
from mlops_cli.emulator.extensions.patching import Patch, replace

REGION = "eu-west-1"


class Target:
    @staticmethod
    def helper() -> str:
        return "original"

    def method(self) -> str:
        return "original"


def test_patch_applies_once_and_reverts_exactly() -> None:
    raw = vars(Target)["helper"]
    patch = replace(Target, "helper", staticmethod(lambda: "patched"))
    wrap = Patch(Target, "method", lambda original: lambda self: "wrapped " + original(self))

    patch.apply()
    wrap.apply()
    wrap.apply()  # idempotent: wrapping twice would give "wrapped wrapped original"
    assert (Target.helper(), Target().method()) == ("patched", "wrapped original")

    patch.revert()
    wrap.revert()
    assert vars(Target)["helper"] is raw
    assert (Target.helper(), Target().method()) == ("original", "original")


def test_patch_of_a_missing_attribute_fails_loudly() -> None:
    with pytest.raises(KeyError):
        replace(Target, "no_such_attribute", None).apply()


def test_installed_and_suspended_nest_and_restore_what_was_there() -> None:
    # Unit tests install the extensions for the whole session; these blocks must leave that as they found it.
    with extensions.installed():
        with extensions.suspended():
            plain = _current()
            assert not any(patch.applied for patch in extensions.patches())
            with extensions.installed():
                assert all(_current()[target] is not plain[target] for target in plain)
            assert _current() == plain  # moto's own attributes, exactly
        assert all(_current()[target] is not plain[target] for target in plain)
        assert all(patch.applied for patch in extensions.patches())


def _current() -> dict[tuple[type, str], object]:
    # None: an operation moto lacks, which only the extension adds
    return {(patch.owner, patch.name): vars(patch.owner).get(patch.name) for patch in extensions.patches()}


def test_every_known_gap_has_a_patch() -> None:
    names = {(patch.owner, patch.name) for patch in extensions.patches()}
    assert names == {
        (FakeBucket, "get_permission"),
        (FakeBucket, "_log_permissions_enabled_policy"),
        (S3Response, "get_bucket_notification"),
        (S3Response, "get_bucket_logging"),
        (S3Response, "head_object"),
        (S3Response, "_get_checksum"),
        (S3Response, "put_object"),
        (S3Response, "_key_response_post"),
        (LogsResponse, "create_log_group"),
        (LogsResponse, "associate_kms_key"),
    }


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket="churn-dev-data", CreateBucketConfiguration={"LocationConstraint": REGION})
        yield client


TLS_ONLY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": ["arn:aws:s3:::churn-dev-data", "arn:aws:s3:::churn-dev-data/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ],
}


def put_under_tls_only_policy(s3: Any) -> int:
    s3.put_bucket_policy(Bucket="churn-dev-data", Policy=json.dumps(TLS_ONLY))
    try:
        s3.put_object(Bucket="churn-dev-data", Key="k", Body=b"x")
    except s3.exceptions.ClientError as exc:
        return int(exc.response["ResponseMetadata"]["HTTPStatusCode"])
    return 200


def event_bridge_read_back(s3: Any) -> bool:
    config: dict[str, Any] = {"EventBridgeConfiguration": {}}
    s3.put_bucket_notification_configuration(Bucket="churn-dev-data", NotificationConfiguration=config)
    return "EventBridgeConfiguration" in s3.get_bucket_notification_configuration(Bucket="churn-dev-data")


def test_extensions_fix_moto_in_process(s3: Any) -> None:
    with extensions.installed():
        assert put_under_tls_only_policy(s3) == 200
        assert event_bridge_read_back(s3)


def test_moto_alone_still_needs_the_extensions(s3: Any) -> None:
    # If a moto upgrade fixes these, the matching extension can go.
    with extensions.suspended():
        assert put_under_tls_only_policy(s3) == 403
        assert not event_bridge_read_back(s3)
