"""A target group's targets as the emulator reaches them: their identity (Id and Port: AWS registers the same IP
on several ports as several targets), their health check settings, and the local address behind each target.

Only loopback addresses are ever contacted: an `ip` target must be 127.0.0.0/8 or ::1, an `instance` target is
reached at its private IP only if moto gave it a loopback one (in practice never: it stays unhealthy, with the
reason), an `alb` target is the local listener of that Application Load Balancer on the target's port."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlops_cli.emulator.balancing.matcher import Matcher, from_target_group

TRAFFIC_PORT = "traffic-port"


@dataclass(frozen=True, order=True)
class TargetKey:
    id: str
    port: int | None  # None for a Lambda function

    @classmethod
    def of(cls, target: dict[str, Any], default_port: Any = None) -> TargetKey:
        port = target.get("Port", default_port)
        return cls(str(target["Id"]), int(port) if port not in (None, "") else None)

    def as_target(self) -> dict[str, Any]:
        return {"Id": self.id} if self.port is None else {"Id": self.id, "Port": self.port}

    def __str__(self) -> str:
        return self.id if self.port is None else f"{self.id}:{self.port}"


class Unreachable(Exception):
    """The emulator cannot (or must not) reach this target; the message says why."""


@dataclass(frozen=True)
class CheckSettings:
    enabled: bool
    protocol: str  # HTTP, HTTPS (checked as plain HTTP locally), TCP; "LAMBDA" for a Lambda target group
    port: str  # "traffic-port" or a number
    path: str
    interval: float
    timeout: float
    healthy_threshold: int
    unhealthy_threshold: int
    matcher: Matcher

    @classmethod
    def of(cls, group: Any) -> CheckSettings:
        """From moto's FakeTargetGroup (read afresh before every check: ModifyTargetGroup changes it)."""
        lambda_group = group.target_type == "lambda"
        try:
            matcher = from_target_group(getattr(group, "matcher", None))
        except ValueError:
            matcher = Matcher.parse(None)
        return cls(
            # Health checks can be disabled for Lambda target groups only; AWS refuses it for the other types.
            enabled=bool(group.health_check_enabled) if lambda_group else True,
            protocol="LAMBDA" if lambda_group else str(group.health_check_protocol or group.protocol or "HTTP").upper(),
            port=str(group.health_check_port or TRAFFIC_PORT),
            path=str(group.health_check_path or "/"),
            interval=float(group.health_check_interval_seconds or 30),
            timeout=float(group.health_check_timeout_seconds or 5),
            healthy_threshold=int(group.healthy_threshold_count or 5),
            unhealthy_threshold=int(group.unhealthy_threshold_count or 2),
            matcher=matcher,
        )

    def port_for(self, key: TargetKey) -> int | None:
        if self.port == TRAFFIC_PORT or not self.port.isdigit():
            return key.port
        return int(self.port)


def registered(group: Any) -> list[TargetKey]:
    """The targets registered in a moto target group, in registration order."""
    for _attempt in range(5):
        try:
            return [TargetKey.of(target, group.port) for target in list(group.targets.values())]
        except RuntimeError:  # changed by a request thread meanwhile
            continue
    return []


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def instance_state(ec2_backend: Any, instance_id: str) -> str | None:
    instance = ec2_backend.get_instance_by_id(instance_id)
    return None if instance is None else str(instance.state)


def address(
    group: Any, key: TargetKey, port: int | None, ec2_backend: Any, alb_port: Callable[[str, int], int | None]
) -> tuple[str, int]:
    """Where to connect for `key` of moto's target group `group`, on `port` (the traffic port or the health check
    port). `alb_port(load balancer ARN, listener port)` finds the local port of an ALB's listener.
    Raises Unreachable."""
    if port is None:
        raise Unreachable(f"target {key} has no port")
    if group.target_type == "ip":
        if not _loopback(key.id):
            raise Unreachable(
                f"the emulator reaches loopback addresses only (127.0.0.0/8, ::1), not {key.id}: register a "
                f"local server as 127.0.0.1:<port>"
            )
        return key.id, port
    if group.target_type == "instance":
        instance = ec2_backend.get_instance_by_id(key.id)
        if instance is None:
            raise Unreachable(f"instance {key.id} does not exist")
        private_ip = str(instance.private_ip or "")
        if not _loopback(private_ip):
            raise Unreachable(
                f"instance {key.id} is only an emulated EC2 instance: nothing listens at its private IP "
                f"{private_ip or '(none)'}, and the emulator reaches loopback addresses only"
            )
        return private_ip, port
    if group.target_type == "alb":
        local = alb_port(key.id, port)
        if local is None:
            raise Unreachable(f"load balancer {key.id} has no listener on port {port}")
        return "127.0.0.1", local
    raise Unreachable(f"target type {group.target_type} is not reached over the network")
