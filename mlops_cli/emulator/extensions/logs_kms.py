"""Log groups encrypted with a customer managed key: AssociateKmsKey, and the check AWS makes of the key.

moto 5.2.5 has no AssociateKmsKey, and CreateLogGroup stores any kmsKeyId. CloudWatch Logs refuses a key that does
not exist, is not enabled, or whose key policy does not let the region's CloudWatch Logs principal
(logs.<region>.amazonaws.com) encrypt and decrypt for that log group (InvalidParameterException), so both calls
check the key the same way here.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any

from moto.logs.exceptions import InvalidParameterException, ResourceNotFoundException
from moto.logs.responses import LogsResponse

from mlops_cli.emulator.extensions.patching import Patch, add

_NEEDED_ACTIONS = ("kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey")


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _statement_allows(statement: dict[str, Any], service: str, action: str, context_arn: str) -> bool:
    principal = statement.get("Principal")
    services = _listed(principal.get("Service")) if isinstance(principal, dict) else []
    if statement.get("Effect") != "Allow" or (principal != "*" and service not in services):
        return False
    if not any(fnmatch.fnmatchcase(action, pattern) for pattern in _listed(statement.get("Action"))):
        return False
    for operator, conditions in (statement.get("Condition") or {}).items():
        for key, expected in conditions.items():
            if key.lower() != "kms:encryptioncontext:aws:logs:arn":
                continue  # other keys are not evaluated here
            if operator in ("ArnLike", "StringLike", "ArnEquals", "StringEquals"):
                wildcard = operator.endswith("Like")
                matches = (
                    fnmatch.fnmatchcase(context_arn, pattern) if wildcard else context_arn == pattern
                    for pattern in _listed(expected)
                )
                if not any(matches):
                    return False
    return True


def key_problem(account: str, region: str, key_id: str, group: str) -> str | None:
    """Why CloudWatch Logs may not use `key_id` for log group `group`; None when it may."""
    from moto.kms.models import kms_backends

    backend = kms_backends[account][region]
    key = backend.keys.get(backend.get_key_id(key_id)) if key_id.startswith("arn:") else None
    context_arn = f"arn:aws:logs:{region}:{account}:log-group:{group}"
    refused = f"The specified KMS key does not exist or is not allowed to be used with Arn '{context_arn}'"
    if key is None or key.key_state != "Enabled":
        return refused  # AWS wants the key's ARN, of a key that exists and is enabled
    found = json.loads(key.policy or "{}").get("Statement") or []
    statements: list[dict[str, Any]] = [found] if isinstance(found, dict) else list(found)
    service = f"logs.{region}.amazonaws.com"
    for action in _NEEDED_ACTIONS:
        if not any(_statement_allows(s, service, action, context_arn) for s in statements):
            return refused
    return None


def _check(response: LogsResponse, group: str, key_id: str) -> None:
    problem = key_problem(response.current_account, response.region, key_id, group)
    if problem:
        raise InvalidParameterException(msg=problem)


def _create_log_group(original: Any) -> Any:
    def create_log_group(self: LogsResponse) -> str:
        key_id = self._get_param("kmsKeyId")
        if key_id:
            _check(self, self._get_param("logGroupName"), key_id)
        result: str = original(self)
        return result

    return create_log_group


def associate_kms_key(self: LogsResponse) -> str:
    group_name = self._get_param("logGroupName")
    key_id = self._get_param("kmsKeyId")
    group = self.logs_backend.groups.get(group_name)
    if group is None:
        raise ResourceNotFoundException()
    _check(self, group_name, key_id)
    group.kms_key_id = key_id
    return ""


PATCHES = [
    Patch(LogsResponse, "create_log_group", _create_log_group),
    add(LogsResponse, "associate_kms_key", associate_kms_key),
]
