"""The bucket-policy evaluation the emulator puts in place of moto's (pure functions, no server)."""

from __future__ import annotations

from typing import Any

import pytest
from moto.iam.access_control import PermissionResult

from mlops_cli.emulator.extensions.s3_bucket_policy import (
    REQUEST_CONTEXT,
    bool_conditions_hold,
    policy_permission,
)

BUCKET = "arn:aws:s3:::churn-dev-data"
OBJECT = f"{BUCKET}/data/a.csv"


def statement(effect: str, condition: dict[str, Any] | None = None, action: str = "s3:*") -> dict[str, Any]:
    result: dict[str, Any] = {"Effect": effect, "Principal": "*", "Action": action, "Resource": [BUCKET, f"{BUCKET}/*"]}
    if condition is not None:
        result["Condition"] = condition
    return result


def permission(*statements: dict[str, Any], action: str = "s3:GetObject") -> PermissionResult:
    return policy_permission({"Statement": list(statements)}, action, OBJECT, REQUEST_CONTEXT)


@pytest.mark.parametrize(
    ("condition", "holds"),
    [
        ({"Bool": {"aws:SecureTransport": "false"}}, False),
        ({"Bool": {"aws:SecureTransport": "true"}}, True),
        ({"Bool": {"aws:SecureTransport": True}}, True),  # JSON boolean
        ({"Bool": {"AWS:SecureTransport": "TRUE"}}, True),  # keys and values are case-insensitive
        ({"Bool": {"aws:SecureTransport": ["false", "true"]}}, True),  # any of several values
        ({"Bool": {"aws:MultiFactorAuthPresent": "false"}}, False),  # key absent: Bool does not hold
        ({"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}, True),  # ... BoolIfExists does
        ({"StringLike": {"s3:prefix": ["data/*"]}}, True),  # other operators are left to moto
    ],
)
def test_bool_conditions(condition: dict[str, Any], holds: bool) -> None:
    assert bool_conditions_hold(condition, REQUEST_CONTEXT) is holds


def test_tls_only_deny_does_not_apply_to_the_emulator() -> None:
    assert permission(statement("Deny", {"Bool": {"aws:SecureTransport": "false"}})) is PermissionResult.NEUTRAL


def test_deny_whose_condition_holds_denies() -> None:
    assert permission(statement("Deny", {"Bool": {"aws:SecureTransport": "true"}})) is PermissionResult.DENIED


def test_allow_whose_condition_fails_is_neutral_not_denied() -> None:
    allow = statement("Allow", {"Bool": {"aws:SecureTransport": "false"}})
    assert permission(allow) is PermissionResult.NEUTRAL


def test_explicit_deny_wins_over_allow() -> None:
    deny_get = statement("Deny", action="s3:GetObject")
    assert permission(statement("Allow"), deny_get) is PermissionResult.DENIED
    assert permission(statement("Allow"), deny_get, action="s3:PutObject") is PermissionResult.PERMITTED


def test_role_allow_with_string_like_condition_still_allows() -> None:
    allow = {
        "Effect": "Allow",
        "Principal": {"AWS": ["arn:aws:iam::123456789012:role/reader"]},
        "Action": ["s3:GetObject"],
        "Resource": f"{BUCKET}/data/*",
        "Condition": {"StringLike": {"s3:prefix": ["data/*"]}},
    }
    tls = statement("Deny", {"Bool": {"aws:SecureTransport": "false"}})
    assert permission(tls, allow) is PermissionResult.PERMITTED


def test_single_statement_object_and_empty_policy() -> None:
    deny = statement("Deny")
    assert policy_permission({"Statement": deny}, "s3:GetObject", OBJECT, REQUEST_CONTEXT) is PermissionResult.DENIED
    assert policy_permission({}, "s3:GetObject", OBJECT, REQUEST_CONTEXT) is PermissionResult.NEUTRAL
