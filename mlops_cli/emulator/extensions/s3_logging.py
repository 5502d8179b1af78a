"""Server access logging: `TargetObjectKeyFormat` reads back, and a secure log bucket is accepted as a target.

moto 5.2.5 accepts `TargetObjectKeyFormat` (e.g. PartitionedPrefix) and stores it, but get_bucket_logging leaves it
out. Its check that the target bucket lets `logging.s3.amazonaws.com` write crashes (HTTP 500) on any statement
whose Principal is a string, such as the TLS-only `"Principal": "*"` Deny, and ignores Resource lists and
wildcard actions; the replacement reads the policy as IAM does.
"""

from __future__ import annotations

import json
from typing import Any

from moto.iam.access_control import IAMPolicyStatement
from moto.s3.models import FakeBucket
from moto.s3.responses import S3Response

from mlops_cli.emulator.extensions.patching import Patch, complete_result, replace

LOGGING_SERVICE = "logging.s3.amazonaws.com"


def _add_key_format(response: S3Response, result: dict[str, Any]) -> None:
    logging = response.backend.get_bucket_logging(response.bucket_name)
    key_format = (logging or {}).get("TargetObjectKeyFormat")
    if key_format and "LoggingEnabled" in result:
        # Parsed from XML: <SimplePrefix/> is None, <PartitionedPrefix> holds PartitionDateSource.
        result["LoggingEnabled"]["TargetObjectKeyFormat"] = {name: value or {} for name, value in key_format.items()}


def _principal_services(statement: dict[str, Any]) -> list[str]:
    principal = statement.get("Principal")
    services = principal.get("Service", []) if isinstance(principal, dict) else []
    return [services] if isinstance(services, str) else list(services)


def log_delivery_allowed(target_bucket: FakeBucket, target_prefix: str | None) -> bool:
    """Whether the target bucket's policy lets the log delivery service put objects under the prefix."""
    if not target_bucket.policy:
        return False
    statements = json.loads(target_bucket.policy).get("Statement") or []
    log_object = f"arn:{target_bucket.partition}:s3:::{target_bucket.name}/{target_prefix or ''}log-object"
    for statement in [statements] if isinstance(statements, dict) else statements:
        if statement.get("Effect") != "Allow" or LOGGING_SERVICE not in _principal_services(statement):
            continue
        matcher = IAMPolicyStatement(statement)
        if matcher._check_element_matches("Action", "s3:PutObject") and matcher._check_element_matches(
            "Resource", log_object
        ):
            return True
    return False


PATCHES = [
    Patch(S3Response, "get_bucket_logging", complete_result(_add_key_format)),
    replace(FakeBucket, "_log_permissions_enabled_policy", staticmethod(log_delivery_allowed)),
]
