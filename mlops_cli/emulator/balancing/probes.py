"""One health check of one target, as the target group's settings say: an HTTP GET of the health check path whose
status must match Matcher.HttpCode (HTTPS is checked as plain HTTP: local targets have no certificates), a TCP
connection, or for a Lambda target an invocation with the health check event whose statusCode must match.
A check never takes longer than HealthCheckTimeoutSeconds."""

from __future__ import annotations

import http.client
import socket
from collections.abc import Callable
from typing import Any

from mlops_cli.emulator.balancing import lambda_events
from mlops_cli.emulator.balancing.health import CheckResult
from mlops_cli.emulator.balancing.targets import CheckSettings, TargetKey, Unreachable, address

USER_AGENT = lambda_events.HEALTH_CHECK_USER_AGENT


def http_check(host: str, port: int, settings: CheckSettings) -> CheckResult:
    connection = http.client.HTTPConnection(host, port, timeout=settings.timeout)
    try:
        connection.request(
            "GET",
            settings.path,
            headers={"Host": f"{host}:{port}", "User-Agent": USER_AGENT, "Connection": "close"},
        )
        response = connection.getresponse()
        response.read()
    except TimeoutError:
        return CheckResult.timed_out(f"no answer from {host}:{port}{settings.path} within {settings.timeout:g} s")
    except (OSError, http.client.HTTPException) as exc:
        return CheckResult.failed(f"GET {host}:{port}{settings.path}: {type(exc).__name__}: {exc}")
    finally:
        connection.close()
    if not settings.matcher.matches(response.status):
        return CheckResult.mismatch(response.status)
    return CheckResult.success(f"GET {settings.path} answered HTTP {response.status}")


def tcp_check(host: str, port: int, settings: CheckSettings) -> CheckResult:
    try:
        with socket.create_connection((host, port), timeout=settings.timeout):
            return CheckResult.success(f"TCP connection to {host}:{port} established")
    except TimeoutError:
        return CheckResult.timed_out(f"no TCP connection to {host}:{port} within {settings.timeout:g} s")
    except OSError as exc:
        return CheckResult.failed(f"TCP connection to {host}:{port}: {exc}")


def lambda_check(group: Any, key: TargetKey, settings: CheckSettings, account_id: str, region: str) -> CheckResult:
    from mlops_cli.emulator.balancing.functions import functions

    event = lambda_events.health_check_event(group.arn, settings.path)
    outcome = functions.invoke(key.id, account_id, region, event, timeout=settings.timeout)
    if outcome.kind == "timeout":
        return CheckResult.timed_out(outcome.message)
    if outcome.kind == "unavailable":
        return CheckResult.failed(outcome.message, f"Health checks failed (emulator: {outcome.message})")
    if not outcome.ok:
        return CheckResult.failed(f"the function failed: {outcome.message}")
    try:
        answer = lambda_events.answer(outcome.result)
    except lambda_events.InvalidResponse as exc:
        return CheckResult.failed(f"the function's response is not valid: {exc}")
    if not settings.matcher.matches(answer.status):
        return CheckResult.mismatch(answer.status)
    return CheckResult.success(f"the function answered {answer.status}")


def check(
    group: Any,
    key: TargetKey,
    settings: CheckSettings,
    *,
    network: bool,
    ec2_backend: Any,
    alb_port: Callable[[str, int], int | None],
) -> CheckResult:
    """One health check of `key` in moto's target group `group`; `network` for a Network Load Balancer's."""
    if group.target_type == "lambda":
        return lambda_check(group, key, settings, group.account_id, group.region_name)
    try:
        host, port = address(group, key, settings.port_for(key), ec2_backend, alb_port)
    except Unreachable as exc:
        return CheckResult.failed(str(exc), f"Health checks failed (emulator: {exc})")
    result = tcp_check(host, port, settings) if settings.protocol == "TCP" else http_check(host, port, settings)
    return result.for_network_load_balancer() if network else result
