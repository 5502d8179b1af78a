"""Bucket policies: evaluate `Bool` conditions, with `aws:SecureTransport` true for requests to the emulator.

moto's `FakeBucket.get_permission` evaluates only `StringEquals` and counts every other condition as matched, so the
TLS-only statement every secure bucket carries (Deny s3:* when `aws:SecureTransport` is "false") denies every object
call. The emulator is only reachable over loopback, which we treat as a secure channel: `aws:SecureTransport` is
"true", and `Bool`/`BoolIfExists` are evaluated as AWS does. Every other operator keeps moto's behaviour. The stored
policy is untouched, so get_bucket_policy returns it as it was put.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from moto.iam.access_control import IAMPolicyStatement, PermissionResult
from moto.s3.models import FakeBucket

from mlops_cli.emulator.extensions.patching import replace

# Condition keys are case-insensitive in AWS; held lower-case here.
REQUEST_CONTEXT: Mapping[str, str] = {"aws:securetransport": "true"}

# operator -> whether the test holds when the request has no such key (the IfExists variant).
_BOOL_OPERATORS = {"Bool": False, "BoolIfExists": True}


def bool_conditions_hold(condition: Mapping[str, Any], context: Mapping[str, str]) -> bool:
    """Whether every Bool/BoolIfExists test of a statement's Condition block holds for `context`."""
    for operator, tests in condition.items():
        if operator not in _BOOL_OPERATORS:
            continue
        for key, expected in tests.items():
            actual = context.get(key.lower())
            if actual is None:
                if not _BOOL_OPERATORS[operator]:
                    return False
                continue
            values = expected if isinstance(expected, list) else [expected]
            # JSON true and "true" both appear in real policies; several values mean any of them.
            if actual not in {str(value).lower() for value in values}:
                return False
    return True


def statement_permission(
    statement: Mapping[str, Any], action: str, resource: str, context: Mapping[str, str]
) -> PermissionResult:
    if not bool_conditions_hold(statement.get("Condition") or {}, context):
        return PermissionResult.NEUTRAL  # a statement whose condition does not hold does not apply, Allow or Deny
    return IAMPolicyStatement(statement).is_action_permitted(action, resource)


def policy_permission(
    document: Mapping[str, Any], action: str, resource: str, context: Mapping[str, str]
) -> PermissionResult:
    """An explicit Deny wins, then any Allow; otherwise the policy says nothing about the call."""
    statements = document.get("Statement") or []
    if isinstance(statements, dict):
        statements = [statements]
    results = {statement_permission(statement, action, resource, context) for statement in statements}
    if PermissionResult.DENIED in results:
        return PermissionResult.DENIED
    return PermissionResult.PERMITTED if PermissionResult.PERMITTED in results else PermissionResult.NEUTRAL


def get_permission(self: FakeBucket, action: str, resource: str) -> PermissionResult:
    if self.policy is None:
        return PermissionResult.NEUTRAL
    return policy_permission(json.loads(self.policy), action, resource, REQUEST_CONTEXT)


PATCHES = [replace(FakeBucket, "get_permission", get_permission)]
