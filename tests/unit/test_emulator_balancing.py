"""The emulator's load balancing, its pure parts: the HttpCode matcher, the target health state machine, round
robin over healthy targets (failing open), weighted forwarding, redirect Locations, listener rule conditions, the
ALB Lambda event and response contract, and the Lambda execution environment's line protocol."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from mlops_cli.emulator.balancing import function_runtime, health, lambda_events, redirect, rules
from mlops_cli.emulator.balancing.health import CheckResult, TargetHealth
from mlops_cli.emulator.balancing.matcher import Matcher
from mlops_cli.emulator.balancing.messages import Request
from mlops_cli.emulator.balancing.routing import RoundRobin, WeightedChoice, eligible
from mlops_cli.emulator.balancing.targets import CheckSettings, TargetKey

# ------------------------------------------------------------------------------------------------------ matcher


@pytest.mark.parametrize(
    ("text", "passing", "failing"),
    [
        ("200", [200], [201, 204, 404, 500]),
        ("200-299", [200, 250, 299], [199, 300, 404]),
        ("200,204", [200, 204], [201, 203, 205]),
        ("200-299, 404", [200, 299, 404], [300, 403, 405]),
        (None, [200], [201]),  # the default
        ("", [200], [204]),
    ],
)
def test_matcher_accepts_codes_lists_and_ranges(text: str | None, passing: list[int], failing: list[int]) -> None:
    matcher = Matcher.parse(text)
    assert all(matcher.matches(code) for code in passing)
    assert not any(matcher.matches(code) for code in failing)


@pytest.mark.parametrize("text", ["abc", "20", "200-", "299-200", "200;204", "2000"])
def test_matcher_refuses_what_is_not_a_code_or_range(text: str) -> None:
    with pytest.raises(ValueError, match="HttpCode"):
        Matcher.parse(text)


# ------------------------------------------------------------------------------------------------------- health

OK = CheckResult.success("answered 200")
REFUSED = CheckResult.failed("connection refused")


def feed(target: TargetHealth, *results: CheckResult, healthy: int = 3, unhealthy: int = 2) -> list[str]:
    states = []
    for result in results:
        target.record(result, healthy, unhealthy)
        states.append(target.state)
    return states


def test_a_new_target_is_registering_until_checked_and_healthy_after_one_success() -> None:
    target = TargetHealth()
    assert target.verdict == health.REGISTERING
    assert target.verdict.as_target_health() == {
        "State": "initial",
        "Reason": "Elb.RegistrationInProgress",
        "Description": "Target registration is in progress",
    }
    assert feed(target, OK, healthy=5) == ["healthy"]  # AWS: "it must pass one health check"
    assert target.verdict.as_target_health() == {"State": "healthy"}


def test_a_new_target_failing_its_checks_turns_unhealthy_at_the_unhealthy_threshold() -> None:
    target = TargetHealth()
    assert feed(target, REFUSED, REFUSED, unhealthy=2) == ["initial", "unhealthy"]
    assert target.verdict == health.Verdict("unhealthy", "Target.FailedHealthChecks", "Health checks failed")


def test_initial_checking_reason_after_a_first_failure() -> None:
    target = TargetHealth()
    feed(target, REFUSED, unhealthy=3)
    assert target.verdict == health.INITIAL_CHECKS
    assert target.verdict.description == "Initial health checks in progress"


def test_thresholds_count_consecutive_results_only() -> None:
    target = TargetHealth()
    states = feed(target, OK, REFUSED, OK, REFUSED, REFUSED, OK, OK, REFUSED, OK, OK, OK, healthy=3, unhealthy=2)
    assert states == [
        "healthy",
        "healthy",  # one failure is below the unhealthy threshold
        "healthy",
        "healthy",
        "unhealthy",  # two in a row
        "unhealthy",
        "unhealthy",
        "unhealthy",  # a failure starts the count of successes again
        "unhealthy",
        "unhealthy",
        "healthy",  # three in a row
    ]


def test_an_unhealthy_target_reports_its_latest_failure() -> None:
    target = TargetHealth()
    feed(target, CheckResult.timed_out("slow"), CheckResult.timed_out("slow"))
    assert target.verdict == health.Verdict("unhealthy", "Target.Timeout", "Request timed out")
    feed(target, CheckResult.mismatch(503))
    assert target.verdict == health.Verdict(
        "unhealthy", "Target.ResponseCodeMismatch", "Health checks failed with these codes: [503]"
    )


def test_a_network_load_balancer_reports_every_failure_as_failed_health_checks() -> None:
    assert CheckResult.mismatch(500).for_network_load_balancer().reason == "Target.FailedHealthChecks"
    assert CheckResult.timed_out("slow").for_network_load_balancer().reason == "Target.FailedHealthChecks"
    assert OK.for_network_load_balancer() is OK


def test_check_settings_follow_the_target_group() -> None:
    group = SimpleNamespace(
        target_type="ip",
        health_check_enabled=False,  # ignored: only Lambda target groups can turn checks off
        health_check_protocol="HTTP",
        protocol="HTTP",
        health_check_port="traffic-port",
        health_check_path="/health",
        health_check_interval_seconds=5,
        health_check_timeout_seconds=2,
        healthy_threshold_count="3",  # moto keeps these as text
        unhealthy_threshold_count="2",
        matcher={"HttpCode": "200-299"},
    )
    settings = CheckSettings.of(group)
    assert (settings.enabled, settings.protocol, settings.interval, settings.healthy_threshold) == (True, "HTTP", 5, 3)
    assert settings.port_for(TargetKey("127.0.0.1", 8080)) == 8080
    assert settings.matcher.matches(204)
    group.health_check_port = "9000"
    assert CheckSettings.of(group).port_for(TargetKey("127.0.0.1", 8080)) == 9000
    group.target_type = "lambda"
    assert (CheckSettings.of(group).enabled, CheckSettings.of(group).protocol) == (False, "LAMBDA")


# ------------------------------------------------------------------------------------------------------ routing


def test_round_robin_alternates_over_the_healthy_targets() -> None:
    robin: RoundRobin[str] = RoundRobin()
    both = eligible([("a", "healthy"), ("b", "healthy"), ("c", "unhealthy"), ("d", "initial")])
    assert both == ["a", "b"]
    assert [robin.pick(both) for _ in range(4)] == ["a", "b", "a", "b"]
    only_a = eligible([("a", "healthy"), ("b", "unhealthy")])
    assert [robin.pick(only_a) for _ in range(3)] == ["a", "a", "a"]
    assert robin.pick([]) is None


def test_no_healthy_target_fails_open_to_every_registered_one() -> None:
    targets = [("a", "unhealthy"), ("b", "initial"), ("c", "draining"), ("d", "unused"), ("e", "unavailable")]
    assert eligible(targets) == ["a", "b", "e"]  # never a deregistered or stopped target
    assert eligible([]) == []


def test_weighted_forwarding_spreads_by_weight() -> None:
    choice: WeightedChoice[str] = WeightedChoice()
    picks = [choice.pick([("blue", 3), ("green", 1), ("off", 0)]) for _ in range(8)]
    assert picks.count("blue") == 6 and picks.count("green") == 2 and "off" not in picks
    assert picks[:4].count("green") == 1  # spread out, not bunched
    assert choice.pick([("off", 0)]) is None


# ----------------------------------------------------------------------------------------------------- redirect

ORIGINAL = redirect.OriginalUrl(protocol="HTTP", host="shop.example.com", port="80", path="/cart/7", query="a=1")


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}, "https://shop.example.com:443/cart/7?a=1"),
        ({"StatusCode": "HTTP_302", "Path": "/new/#{path}"}, "http://shop.example.com:80/new/cart/7?a=1"),
        ({"Host": "www.#{host}", "Query": "#{query}&v=2"}, "http://www.shop.example.com:80/cart/7?a=1&v=2"),
        ({"Protocol": "#{protocol}", "Port": "#{port}", "Query": ""}, "http://shop.example.com:80/cart/7"),
        ({"Path": "/#{host}/#{port}"}, "http://shop.example.com:80/shop.example.com/80?a=1"),
    ],
)
def test_redirect_location_keeps_or_rewrites_each_component(config: dict[str, str], expected: str) -> None:
    assert redirect.location(config, ORIGINAL) == expected


def test_redirect_status() -> None:
    assert redirect.status({"StatusCode": "HTTP_301"}) == 301
    assert redirect.status({"StatusCode": "HTTP_302"}) == 302


# -------------------------------------------------------------------------------------------------------- rules


def make_request(
    method: str = "GET",
    path: str = "/",
    query: str = "",
    body: bytes = b"",
    client_ip: str = "127.0.0.1",
    **headers: str,
) -> Request:
    return Request(
        method=method,
        path=path,
        query=query,
        headers=[
            ("Host", "api.example.com:8080"),
            *((name.replace("_", "-"), value) for name, value in headers.items()),
        ],
        body=body,
        client_ip=client_ip,
        listener_protocol="HTTPS",
        listener_port=443,
        local_port=40123,
    )


@pytest.mark.parametrize(
    ("condition", "matches"),
    [
        ({"Field": "path-pattern", "Values": ["/api/*"]}, True),
        ({"Field": "path-pattern", "PathPatternConfig": {"Values": ["/API/*"]}}, False),  # paths are case-sensitive
        ({"Field": "path-pattern", "Values": ["/api/v?/predict"]}, True),
        ({"Field": "host-header", "HostHeaderConfig": {"Values": ["*.EXAMPLE.com"]}}, True),  # hosts are not
        ({"Field": "host-header", "Values": ["other.example.com"]}, False),
        ({"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": ["POST", "PUT"]}}, True),
        ({"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "X-Tenant", "Values": ["blue*"]}}, True),
        ({"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "X-Other", "Values": ["*"]}}, False),
        ({"Field": "query-string", "QueryStringConfig": {"Values": [{"Key": "version", "Value": "2"}]}}, True),
        ({"Field": "query-string", "QueryStringConfig": {"Values": [{"Value": "nope"}]}}, False),
        ({"Field": "source-ip", "SourceIpConfig": {"Values": ["127.0.0.0/8"]}}, True),
        ({"Field": "source-ip", "SourceIpConfig": {"Values": ["10.0.0.0/8"]}}, False),
    ],
)
def test_rule_conditions(condition: dict[str, Any], matches: bool) -> None:
    request = make_request("POST", "/api/v2/predict", "version=2&x=1", X_Tenant="blue-team")
    assert rules.condition_matches(condition, request) is matches


def _action(kind: str, order: int | None = None) -> Any:
    data: dict[str, Any] = {"Type": kind}
    if order is not None:
        data["Order"] = order
    return SimpleNamespace(data=data)


def test_the_first_matching_rule_by_priority_wins_else_the_default_actions() -> None:
    def rule(priority: Any, path: str, kind: str, default: bool = False) -> Any:
        conditions = [] if default else [{"Field": "path-pattern", "Values": [path]}]
        return SimpleNamespace(priority=priority, conditions=conditions, actions=[_action(kind)], is_default=default)

    default_actions = [_action("forward", 2), _action("authenticate-oidc", 1)]
    listener = SimpleNamespace(
        rules={
            "r10": rule(10, "/api/*", "fixed-response"),
            "r5": rule(5, "/api/admin*", "redirect"),
            "default": rule("default", "", "forward", default=True),
        },
        default_actions=default_actions,
    )
    assert rules.actions_for(listener, make_request(path="/api/admin/x"))[0].data["Type"] == "redirect"
    assert rules.actions_for(listener, make_request(path="/api/x"))[0].data["Type"] == "fixed-response"
    assert [a.data["Type"] for a in rules.actions_for(listener, make_request(path="/"))] == [
        "authenticate-oidc",  # in Order
        "forward",
    ]


# ------------------------------------------------------------------------------------------- Lambda contract


def test_the_event_passes_text_as_is_and_adds_the_forwarded_headers() -> None:
    request = make_request("POST", "/invocations", "a=1&a=2&b=%20x", b'{"x": 1}', Content_Type="application/json")
    event = lambda_events.event(request, "arn:tg")
    assert event["requestContext"] == {"elb": {"targetGroupArn": "arn:tg"}}
    assert (event["httpMethod"], event["path"], event["body"], event["isBase64Encoded"]) == (
        "POST",
        "/invocations",
        '{"x": 1}',
        False,
    )
    assert event["queryStringParameters"] == {"a": "2", "b": "%20x"}  # the last value, not decoded
    headers = event["headers"]
    assert headers["host"] == "api.example.com:8080" and headers["content-type"] == "application/json"
    assert (headers["x-forwarded-for"], headers["x-forwarded-proto"], headers["x-forwarded-port"]) == (
        "127.0.0.1",
        "https",
        "443",
    )
    assert headers["x-amzn-trace-id"].startswith("Root=1-")
    assert all(name == name.lower() for name in headers)


def test_the_event_base64_encodes_binary_bodies_and_can_carry_multiple_values() -> None:
    request = make_request("POST", "/", "a=1&a=2", b"\x00\x01", Content_Type="application/octet-stream")
    event = lambda_events.event(request, "arn:tg", multi_value=True)
    assert (event["body"], event["isBase64Encoded"]) == (base64.b64encode(b"\x00\x01").decode(), True)
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"]}
    assert event["multiValueHeaders"]["content-type"] == ["application/octet-stream"]
    assert "headers" not in event and "queryStringParameters" not in event


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b'{"x": 1}', {"Content_Type": "application/json", "Content_Encoding": "gzip"}),  # AWS: any Content-Encoding
        (b'{"x": "\xff"}', {"Content_Type": "application/json"}),  # text that is not UTF-8: its bytes, unreplaced
    ],
)
def test_the_event_base64_encodes_encoded_and_non_utf8_text_bodies(body: bytes, headers: dict[str, str]) -> None:
    event = lambda_events.event(make_request("POST", "/", "", body, **headers), "arn:tg")
    assert (event["body"], event["isBase64Encoded"]) == (base64.b64encode(body).decode(), True)


def test_the_health_check_event_is_what_aws_documents() -> None:
    assert lambda_events.health_check_event("arn:tg", "/health") == {
        "requestContext": {"elb": {"targetGroupArn": "arn:tg"}},
        "httpMethod": "GET",
        "path": "/health",
        "queryStringParameters": {},
        "headers": {"user-agent": "ELB-HealthChecker/2.0"},
        "body": "",
        "isBase64Encoded": False,
    }


def test_the_functions_response_becomes_the_http_answer() -> None:
    answer = lambda_events.answer(
        {
            "statusCode": 201,
            "statusDescription": "201 Created",
            "headers": {"Content-Type": "application/json", "Connection": "keep-alive"},
            "body": base64.b64encode(b"\x89PNG").decode(),
            "isBase64Encoded": True,
        }
    )
    assert (answer.status, answer.reason, answer.body) == (201, "Created", b"\x89PNG")
    assert answer.headers == [("Content-Type", "application/json")]  # hop-by-hop headers are not honoured
    bare = lambda_events.answer({"statusCode": 204})
    assert (bare.status, bare.reason, bare.body) == (204, "No Content", b"")


@pytest.mark.parametrize(
    "result",
    [
        None,
        "ok",
        {"body": "no status"},
        {"statusCode": "abc"},
        {"statusCode": 700},
        {"statusCode": 200, "body": "x" * (1024 * 1024 + 1)},
    ],
)
def test_a_response_the_load_balancer_cannot_send_is_invalid(result: Any) -> None:
    with pytest.raises(lambda_events.InvalidResponse):
        lambda_events.answer(result)


# ---------------------------------------------------------------------------------- Lambda execution environment


def test_the_execution_environment_speaks_json_lines_and_keeps_prints_out_of_the_protocol(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(
        "import os\n"
        "def handler(event, context):\n"
        "    print('hello from the function')\n"
        "    if event.get('fail'):\n"
        "        raise ValueError('asked to fail')\n"
        "    return {'statusCode': 200, 'name': context.function_name, 'left': context.get_remaining_time_in_millis() > 0,"
        " 'env': os.environ.get('ENDPOINT_NAME')}\n"
    )
    requests = [
        {"requestId": "1", "event": {}, "timeoutMs": 3000},
        {"requestId": "2", "event": {"fail": True}, "timeoutMs": 3000},
    ]
    script = Path(function_runtime.__file__)
    run = subprocess.run(
        [
            sys.executable,
            "-I",
            "-u",
            str(script),
            "--code-dir",
            str(tmp_path),
            "--handler",
            "app.handler",
            "--function-name",
            "fn",
        ],
        input="".join(json.dumps(request) + "\n" for request in requests),
        capture_output=True,
        text=True,
        env={"ENDPOINT_NAME": "churn"},
        timeout=30,
        check=True,
    )
    replies = [json.loads(line) for line in run.stdout.splitlines()]
    assert replies[0] == {"ready": True}
    assert replies[1] == {"result": {"statusCode": 200, "name": "fn", "left": True, "env": "churn"}}
    assert replies[2]["error"]["errorType"] == "ValueError"
    assert replies[2]["error"]["errorMessage"] == "asked to fail"
    assert run.stderr.count("hello from the function") == 2
    assert "Traceback" in run.stderr


def test_the_execution_environment_reports_a_handler_it_cannot_import(tmp_path: Path) -> None:
    script = Path(function_runtime.__file__)
    run = subprocess.run(
        [sys.executable, "-I", "-u", str(script), "--code-dir", str(tmp_path), "--handler", "missing.handler"],
        input="",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    [reply] = [json.loads(line) for line in run.stdout.splitlines()]
    assert reply["initError"]["errorType"] == "Runtime.ImportModuleError"
    assert "Unable to import module 'missing'" in reply["initError"]["errorMessage"]
    assert run.returncode == 1
