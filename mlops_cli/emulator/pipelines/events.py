"""S3 object-created events reach EventBridge rules, and rules start SageMaker pipelines.

moto delivers S3 events to every bus's rules and raises on a SageMaker target (swallowing the error, so the other
targets of that rule and of later rules get nothing). Here: S3 sends its EventBridge event (detail with object.etag
and reason PutObject/CompleteMultipartUpload/...) to the default bus's rules; a rule's SageMaker pipeline targets
start the pipeline with their SageMakerPipelineParameters, and its other targets keep moto's delivery."""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from typing import Any

from moto.events.models import Rule
from moto.s3 import notifications

from mlops_cli.emulator.extensions.patching import Patch, replace
from mlops_cli.emulator.jobs.runtime import announce
from mlops_cli.emulator.pipelines import targets

_REASONS = {
    "Put": "PutObject",
    "Post": "PostObject",
    "Copy": "CopyObject",
    "CompleteMultipartUpload": "CompleteMultipartUpload",
}


def s3_event(account_id: str, bucket: Any, event_name: str, key: Any) -> dict[str, Any]:
    from moto.core.utils import unix_time
    from moto.events.utils import _BASE_EVENT_MESSAGE

    event: dict[str, Any] = copy.deepcopy(dict(_BASE_EVENT_MESSAGE))
    parts = event_name.split(":")
    etag = key.etag.replace('"', "")
    event.update(
        {
            "detail-type": notifications._detail_type(event_name),
            "source": "aws.s3",
            "account": account_id,
            "time": unix_time(),
            "region": bucket.region_name,
            "resources": [bucket.arn],
        }
    )
    event["detail"] = {
        "version": "0",
        "bucket": {"name": bucket.name},
        "object": {"key": key.name, "size": key.size, "etag": etag, "eTag": etag, "version-id": key.version_id},
        "requester": account_id,
        "reason": _REASONS.get(parts[2], parts[2]) if len(parts) > 2 else parts[-1],
    }
    return event


def send_event_bridge_message(account_id: str, bucket: Any, event_name: str, key: Any) -> None:
    try:
        from moto.events.models import events_backends

        event = s3_event(account_id, bucket, event_name, key)
        bus = events_backends[account_id][bucket.region_name].event_buses.get("default")
        for rule in list(bus.rules.values()) if bus is not None else []:
            try:
                rule.send_to_targets(event, transform_input=False)  # type: ignore[arg-type]
            except Exception as exc:  # one rule's target must not keep the event from the others
                announce(f"rule {rule.name}: delivering {event_name} for s3://{bucket.name}/{key.name} failed: {exc}")
    except Exception as exc:  # asynchronous in AWS: the S3 request succeeds anyway
        announce(f"S3 event {event_name} for s3://{bucket.name}/{key.name} not delivered: {exc}")


def _send_to_targets(original: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(original)
    def send_to_targets(self: Rule, original_event: dict[str, Any], transform_input: bool = True) -> None:
        if self.state != "ENABLED" or not self.event_pattern.matches_event(original_event):  # type: ignore[arg-type]
            return
        others = []
        for target in self.targets:
            if targets.pipeline_of(target.get("Arn", "")):
                targets.start(target["Arn"], targets.parameters_of(target), f"rule {self.name}")
            else:
                others.append(target)
        if others:
            clone = copy.copy(self)
            clone.targets = others
            original(clone, original_event, transform_input)

    return send_to_targets


PATCHES: list[Patch] = [
    replace(notifications, "_send_event_bridge_message", send_event_bridge_message),  # type: ignore[arg-type]
    Patch(Rule, "send_to_targets", _send_to_targets),
]
