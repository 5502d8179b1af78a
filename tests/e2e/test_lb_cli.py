"""`mlops lb` end to end on the emulator: a load balancer whose listener really forwards, to a proxy function in
front of a real endpoint, and to two ip targets of which one fails and comes back; apply twice, delete twice."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_deploy_cli import clean_records
from tests.e2e.test_emulator_balancing import EchoServer, wait_for
from tests.e2e.test_storage_cli import ROOT, Cli

pytestmark = pytest.mark.e2e

INTERVAL, THRESHOLD = 5, 2  # configs/local.yaml: AWS's shortest health check interval and thresholds


def post(url: str, body: bytes, content_type: str = "application/json") -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type}, method="POST")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def forward_url(status: dict[str, Any]) -> str:
    [listener] = [x for x in status["listeners"] if x["action"] == "forward"]
    return str(listener["url"])


@pytest.fixture(scope="module")
def served(emulator: Any) -> Cli:
    """A project whose endpoint serves (approved automatically, as configs/local.yaml says)."""
    cli = Cli(f"lb{int(time.time() * 1000) % 10**9}")
    cli.json("storage", "init")
    cli.json("storage", "upload", "data/churn")
    cli.json("preprocess", "run", "--wait")
    cli.json("train", "run", "--wait")
    cli.json("register", "model")
    cli.json("deploy", "apply")
    return cli


def test_a_lambda_target_in_front_of_the_endpoint(served: Cli, emulator_client: Any) -> None:
    applied = served.json("lb", "apply")
    assert {c["action"] for c in applied["controls"]} == {"created"}
    status = served.json("lb", "status", "--check")
    assert status["state"] == "active" and status["dns_name"]
    assert [t["state"] for t in status["targets"]] == ["healthy"]
    records = clean_records(3)
    code, body = post(forward_url(status) + "/invocations", json.dumps({"instances": records}).encode())
    assert code == 200, body
    through_lb = json.loads(body)["predictions"]
    direct = served.json("deploy", "invoke", "--data", json.dumps({"instances": records}))["predictions"]
    assert through_lb == direct

    again = served.json("lb", "apply")
    assert {c["action"] for c in again["controls"]} == {"unchanged"}

    elbv2 = emulator_client("elbv2")
    [balancer] = elbv2.describe_load_balancers(Names=[f"{served.project}-local"])["LoadBalancers"]
    attributes = {
        a["Key"]: a["Value"]
        for a in elbv2.describe_load_balancer_attributes(LoadBalancerArn=balancer["LoadBalancerArn"])["Attributes"]
    }
    assert attributes["deletion_protection.enabled"] == "true"
    assert attributes["access_logs.s3.enabled"] == "true"
    assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"
    [group] = emulator_client("ec2").describe_security_groups(GroupIds=balancer["SecurityGroups"])["SecurityGroups"]
    assert [r["CidrIp"] for p in group["IpPermissions"] for r in p["IpRanges"]] == ["127.0.0.1/32"]

    served.json("lb", "delete", "--yes")
    assert served.json("lb", "delete", "--yes")["deleted"] == []
    assert not [
        b for b in elbv2.describe_load_balancers()["LoadBalancers"] if b["LoadBalancerName"].startswith(served.project)
    ]
    assert not [
        t for t in elbv2.describe_target_groups()["TargetGroups"] if t["TargetGroupName"].startswith(served.project)
    ]
    functions = emulator_client("lambda").list_functions()["Functions"]
    assert not [f for f in functions if f["FunctionName"].startswith(served.project)]


def test_a_failing_ip_target_is_reported_and_skipped_until_it_recovers(emulator: Any, tmp_path: Path) -> None:
    servers = [EchoServer("a").start(), EchoServer("b").start()]
    overlay = tmp_path / "ip.yaml"
    targets = ", ".join(f"{{id: 127.0.0.1, port: {s.port}}}" for s in servers)
    overlay.write_text(
        f"extends: {ROOT / 'configs/local.yaml'}\n"
        f"lb: {{target: {{type: ip, protocol: HTTP, port: {servers[0].port}, targets: [{targets}]}}}}\n"
    )
    cli = Cli(f"ip{int(time.time() * 1000) % 10**9}")

    def run(*args: str) -> Any:
        return cli(*args, config=str(overlay))

    assert run("storage", "init").returncode == 0  # the log bucket the access logs go to
    applied = run("lb", "apply", "--json")
    assert applied.returncode == 0, applied.stderr
    url = forward_url(json.loads(applied.stdout)) + "/invocations"
    answered = {json.loads(post(url, b"{}")[1])["server"] for _ in range(4)}
    assert answered == {"a", "b"}  # round robin over both

    servers[1].stop()
    stopped = time.monotonic()

    def unhealthy() -> Any:
        status = json.loads(run("lb", "status", "--json").stdout)
        bad = [t for t in status["targets"] if t["state"] == "unhealthy"]
        return bad and status

    status = wait_for(unhealthy, INTERVAL * (THRESHOLD + 1) + 5, "the stopped target reported unhealthy")
    assert time.monotonic() - stopped <= INTERVAL * (THRESHOLD + 1) + 5
    [bad] = [t for t in status["targets"] if t["state"] == "unhealthy"]
    assert bad["port"] == servers[1].port and bad["reason"].startswith("Target.")
    check = run("lb", "status", "--check")
    assert check.returncode == 1 and "1 of 2" in check.stderr
    assert {json.loads(post(url, b"{}")[1])["server"] for _ in range(4)} == {"a"}  # only the healthy one serves

    servers[1].start()  # on the same port
    wait_for(
        lambda: all(t["state"] == "healthy" for t in json.loads(run("lb", "status", "--json").stdout)["targets"]),
        INTERVAL * (THRESHOLD + 1) + 5,
        "the restarted target healthy again",
    )
    assert run("lb", "status", "--check").returncode == 0
    assert run("lb", "delete", "--yes").returncode == 0
    for server in servers:
        server.stop()
