"""Bucket notifications: `EventBridgeConfiguration` reads back.

moto stores `EventBridgeConfiguration` (and sends events to EventBridge) but leaves it out of
get_bucket_notification_configuration, which therefore answers `{}` and looks like drift to the tool.
"""

from __future__ import annotations

from typing import Any

from moto.s3.responses import S3Response

from mlops_cli.emulator.extensions.patching import Patch, complete_result


def _add_event_bridge(response: S3Response, result: dict[str, Any]) -> None:
    config = response.backend.get_bucket_notification_configuration(response.bucket_name)
    if config is not None and config.event_bridge is not None:
        result["EventBridgeConfiguration"] = {}  # the API's shape: an empty structure means "enabled"


PATCHES = [Patch(S3Response, "get_bucket_notification", complete_result(_add_event_bridge))]
