"""Load balancing wired into moto's ELBv2, as reversible patches:
- every operation that changes listeners, rules, target groups or targets is followed by `plane.reconcile()`, so
  that when CreateListener returns its port is open (and tagged), and when DeleteListener or DeleteLoadBalancer
  returns it is closed;
- DescribeTargetHealth reports the health checks' real state, reason and description (moto: `healthy` at once);
- targets are registered by Id *and* Port, as AWS does (moto keys them by Id alone, so the same IP on two ports
  would be one target), and a Lambda target group takes one function only.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from moto.core.responses import ActionResult
from moto.elbv2.exceptions import ELBClientError, InvalidTargetError, TargetGroupNotFoundError, TargetNotRunning
from moto.elbv2.models import FakeTargetGroup
from moto.elbv2.responses import ELBV2Response

from mlops_cli.emulator.balancing.plane import plane
from mlops_cli.emulator.balancing.targets import TargetKey
from mlops_cli.emulator.extensions.patching import Patch, replace

_CHANGES = (
    "create_listener",
    "modify_listener",
    "delete_listener",
    "delete_load_balancer",
    "create_rule",
    "modify_rule",
    "delete_rule",
    "set_rule_priorities",
    "modify_target_group",
    "modify_target_group_attributes",
    "delete_target_group",
    "register_targets",
    "deregister_targets",
)


def _then_reconcile(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: ELBV2Response, *args: Any, **kwargs: Any) -> Any:
        result = method(self, *args, **kwargs)
        plane.reconcile()
        return result

    return wrapper


def describe_target_health(self: ELBV2Response) -> ActionResult:
    group = self.elbv2_backend.target_groups.get(self._get_param("TargetGroupArn"))
    if group is None:
        raise TargetGroupNotFoundError()
    targets = self._get_param("Targets", []) or []
    return ActionResult({"TargetHealthDescriptions": plane.describe_health(group, targets)})


# ------------------------------------------------------------------------------------- targets by Id and Port


def _registered_key(group: FakeTargetGroup, target: dict[str, Any]) -> TargetKey:
    if target.get("Port") in (None, ""):
        same_id = [key for key in group.targets if isinstance(key, TargetKey) and key.id == target["Id"]]
        if len(same_id) == 1:
            return same_id[0]
    return TargetKey.of(target, group.port)


def register(self: FakeTargetGroup, targets: list[dict[str, Any]]) -> None:
    for target in targets:
        instance = self.ec2_backend.get_instance_by_id(target["Id"])
        if instance is not None and instance.state != "running":
            raise TargetNotRunning(instance_id=target["Id"])
        key = TargetKey.of(target, self.port)
        if self.target_type == "lambda" and any(existing != key for existing in self.targets):
            raise ELBClientError(
                "TooManyTargets", "A target group of target type 'lambda' can have only one Lambda function"
            )
        self.targets[key] = key.as_target()  # type: ignore[index]
        self.deregistered_targets.pop(key, None)  # type: ignore[call-overload]


def deregister(self: FakeTargetGroup, targets: list[dict[str, Any]]) -> None:
    for target in targets:
        key = _registered_key(self, target)
        registered = self.targets.pop(key, None)  # type: ignore[call-overload]
        if not registered:
            raise InvalidTargetError()
        self.deregistered_targets[key] = registered  # type: ignore[index]


def deregister_terminated_instances(self: FakeTargetGroup, instance_ids: list[str]) -> None:
    for key, target in list(self.targets.items()):
        if target["Id"] in instance_ids:
            self.terminated_targets[key] = self.targets.pop(key)


PATCHES: list[Patch] = [
    *(Patch(ELBV2Response, name, _then_reconcile) for name in _CHANGES),
    replace(ELBV2Response, "describe_target_health", describe_target_health),
    replace(FakeTargetGroup, "register", register),
    replace(FakeTargetGroup, "deregister", deregister),
    replace(FakeTargetGroup, "deregister_terminated_instances", deregister_terminated_instances),
]
