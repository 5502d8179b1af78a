"""Load balancers that balance on the emulator: listeners listen on 127.0.0.1 (URL in the listener's tag
`mlops:emulator-url`), requests go round robin to the healthy targets, health checks really run, a redirect answers
301, a Lambda target runs mlops_cli/functions/endpoint_proxy.py in front of a real endpoint, an NLB forwards TCP.
Each test fails against plain moto 5.2.5, where nothing listens and every target is `healthy` at once.

Health checks use AWS's shortest interval (5 s) and thresholds (2), so that the requests are valid on AWS too.
"""

from __future__ import annotations

import http.client
import io
import itertools
import json
import socket
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from mlops_cli.emulator import manager
from tests.e2e.conftest import REGION, ServingKit

pytestmark = pytest.mark.e2e

URL_TAG = "mlops:emulator-url"
INTERVAL = 5  # AWS's minimum HealthCheckIntervalSeconds
THRESHOLD = 2  # AWS's minimum healthy and unhealthy threshold counts
SLACK = 3.0  # seconds for scheduling on a busy machine
PROXY_SOURCE = Path(__file__).resolve().parents[2] / "mlops_cli" / "functions" / "endpoint_proxy.py"


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """`condition()`'s first truthy value, polled every 0.2 s; fails after `timeout` seconds with the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {timeout:g} s (last: {value!r})"
        time.sleep(0.2)


class EchoServer:
    """A tiny target on 127.0.0.1: /health answers 200, any other path says which server answered."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.port = 0
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> EchoServer:
        name = self.name

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.path == "/health":
                    payload = b"ok"
                else:
                    payload = json.dumps(
                        {
                            "server": name,
                            "method": self.command,
                            "path": self.path,
                            "body": body.decode(),
                            "x-forwarded-proto": self.headers.get("X-Forwarded-Proto"),
                            "x-forwarded-port": self.headers.get("X-Forwarded-Port"),
                        }
                    ).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def target(self) -> dict[str, Any]:
        return {"Id": "127.0.0.1", "Port": self.port}


class Balancers:
    """Clients, a VPC with two subnets in two zones and a security group, and the steps the tool performs."""

    def __init__(self, client: Callable[..., Any]) -> None:
        self.ec2, self.elb = client("ec2"), client("elbv2")
        self.unique = uuid.uuid4().hex[:8]
        self.vpc = self.ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
        self.subnets = [
            self.ec2.create_subnet(VpcId=self.vpc, CidrBlock=f"10.20.{index}.0/24", AvailabilityZone=f"{REGION}{zone}")[
                "Subnet"
            ]["SubnetId"]
            for index, zone in ((1, "a"), (2, "b"))
        ]
        self.security_group = self.ec2.create_security_group(
            GroupName=f"lb-{self.unique}", Description="load balancer", VpcId=self.vpc
        )["GroupId"]
        # the listeners admit only what the security group does: the test's client is on loopback
        self.ec2.authorize_security_group_ingress(
            GroupId=self.security_group, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "127.0.0.1/32"}]}]
        )

    def name(self, prefix: str) -> str:
        return f"{prefix}-{self.unique}"

    def load_balancer(self, prefix: str, kind: str = "application") -> str:
        extra = {"SecurityGroups": [self.security_group]} if kind == "application" else {}
        return str(
            self.elb.create_load_balancer(Name=self.name(prefix), Subnets=self.subnets, Type=kind, **extra)[
                "LoadBalancers"
            ][0]["LoadBalancerArn"]
        )

    def target_group(self, prefix: str, **settings: Any) -> str:
        return str(
            self.elb.create_target_group(Name=self.name(prefix), **settings)["TargetGroups"][0]["TargetGroupArn"]
        )

    def listener(self, balancer: str, protocol: str, port: int, action: dict[str, Any]) -> tuple[str, str]:
        """(listener ARN, its local URL from the tag)."""
        arn = self.elb.create_listener(LoadBalancerArn=balancer, Protocol=protocol, Port=port, DefaultActions=[action])[
            "Listeners"
        ][0]["ListenerArn"]
        [description] = self.elb.describe_tags(ResourceArns=[arn])["TagDescriptions"]
        tags = {tag["Key"]: tag["Value"] for tag in description["Tags"]}
        return str(arn), tags[URL_TAG]

    def health(self, group: str) -> dict[str, dict[str, str]]:
        """TargetHealth by "id:port" (or id, for a Lambda function)."""
        descriptions = self.elb.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]
        return {
            ":".join(str(part) for part in (d["Target"]["Id"], d["Target"].get("Port")) if part is not None): d[
                "TargetHealth"
            ]
            for d in descriptions
        }

    def state_of(self, group: str, target: str) -> str | None:
        found = self.health(group).get(target)
        return found["State"] if found else None


@pytest.fixture(scope="module")
def balancers(emulator: manager.EmulatorInfo) -> Balancers:
    from tests.e2e.conftest import _emulator_client

    return Balancers(lambda service: _emulator_client(emulator, service))


def request(url: str, method: str = "GET", path: str = "/", body: bytes | None = None, **headers: str) -> Any:
    """One request (redirects not followed): (status, headers, body)."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def served_by(url: str, count: int) -> list[str]:
    answers = []
    for _ in range(count):
        status, _headers, body = request(url, path="/predict")
        assert status == 200, body
        answers.append(json.loads(body)["server"])
    return answers


def port_is_closed(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


# ------------------------------------------------------------------------------------------------------ ALB + ip


@pytest.fixture
def echo_servers() -> Iterator[list[EchoServer]]:
    servers = [EchoServer("a").start(), EchoServer("b").start()]
    yield servers
    for server in servers:
        server.stop()


def test_alb_balances_over_healthy_targets_and_follows_their_health(
    balancers: Balancers, echo_servers: list[EchoServer]
) -> None:
    a, b = echo_servers
    balancer = balancers.load_balancer("alb")
    group = balancers.target_group(
        "ip",
        Protocol="HTTP",
        Port=80,
        VpcId=balancers.vpc,
        TargetType="ip",
        HealthCheckPath="/health",
        HealthCheckIntervalSeconds=INTERVAL,
        HealthCheckTimeoutSeconds=2,
        HealthyThresholdCount=THRESHOLD,
        UnhealthyThresholdCount=THRESHOLD,
        Matcher={"HttpCode": "200-299"},
    )
    balancers.elb.register_targets(TargetGroupArn=group, Targets=[a.target, b.target])
    not_in_use = balancers.health(group)  # no listener forwards to it yet
    assert {health["Reason"] for health in not_in_use.values()} == {"Target.NotInUse"}
    assert len(not_in_use) == 2  # the same IP on two ports is two targets

    listener, url = balancers.listener(balancer, "HTTP", 80, {"Type": "forward", "TargetGroupArn": group})
    assert url.startswith("http://127.0.0.1:")
    # Checks start at once when a listener starts using the group, and one success makes a new target healthy.
    wait_for(
        lambda: {h["State"] for h in balancers.health(group).values()} == {"healthy"}, SLACK + 2, "both targets healthy"
    )

    answers = served_by(url, 6)
    assert set(answers) == {"a", "b"}
    assert all(first != second for first, second in itertools.pairwise(answers)), answers
    status, _headers, body = request(url, "POST", "/predict?x=1", b"{}", **{"Content-Type": "application/json"})
    echoed = json.loads(body)
    assert (status, echoed["method"], echoed["path"], echoed["body"]) == (200, "POST", "/predict?x=1", "{}")
    assert (echoed["x-forwarded-proto"], echoed["x-forwarded-port"]) == ("http", "80")

    b.stop()
    target_b = f"127.0.0.1:{b.port}"
    wait_for(
        lambda: balancers.state_of(group, target_b) == "unhealthy",
        INTERVAL * THRESHOLD + INTERVAL + SLACK,
        "the stopped target unhealthy",
    )
    health_b = balancers.health(group)[target_b]
    assert health_b["Reason"] == "Target.FailedHealthChecks"
    assert health_b["Description"] == "Health checks failed"
    assert served_by(url, 4) == ["a"] * 4  # no traffic to the unhealthy target, and every request succeeds

    b.start()  # the same port again
    wait_for(
        lambda: balancers.state_of(group, target_b) == "healthy",
        INTERVAL * THRESHOLD + INTERVAL + SLACK,
        "the restarted target healthy again",
    )
    assert set(served_by(url, 4)) == {"a", "b"}

    balancers.elb.deregister_targets(TargetGroupArn=group, Targets=[b.target])
    assert served_by(url, 4) == ["a"] * 4  # a deregistered target gets no traffic at once
    assert balancers.health(group)[target_b]["State"] == "draining"

    balancers.elb.delete_listener(ListenerArn=listener)
    assert port_is_closed(url)
    balancers.elb.delete_load_balancer(LoadBalancerArn=balancer)
    balancers.elb.delete_target_group(TargetGroupArn=group)


def test_redirect_and_fixed_response_listeners(balancers: Balancers) -> None:
    balancer = balancers.load_balancer("redirect")
    redirect = {
        "Type": "redirect",
        "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"},
    }
    _listener, url = balancers.listener(balancer, "HTTP", 80, redirect)
    status, headers, body = request(url, path="/shop/cart?item=7&n=2", Host="shop.example.com")
    assert status == 301
    assert headers["Location"] == "https://shop.example.com:443/shop/cart?item=7&n=2"
    assert b"301 Moved Permanently" in body

    fixed = {
        "Type": "fixed-response",
        "FixedResponseConfig": {
            "StatusCode": "503",
            "ContentType": "application/json",
            "MessageBody": '{"down": true}',
        },
    }
    _listener, fixed_url = balancers.listener(balancer, "HTTP", 8080, fixed)
    status, headers, body = request(fixed_url, path="/anything")
    assert (status, headers["Content-Type"], json.loads(body)) == (503, "application/json", {"down": True})

    balancers.elb.delete_load_balancer(LoadBalancerArn=balancer)  # closes both listeners
    assert port_is_closed(url) and port_is_closed(fixed_url)


def test_nlb_forwards_tcp_to_an_ip_target(balancers: Balancers, echo_servers: list[EchoServer]) -> None:
    a, _b = echo_servers
    balancer = balancers.load_balancer("nlb", kind="network")
    group = balancers.target_group(
        "tcp",
        Protocol="TCP",
        Port=80,
        VpcId=balancers.vpc,
        TargetType="ip",
        HealthCheckIntervalSeconds=INTERVAL,
        HealthCheckTimeoutSeconds=2,
        HealthyThresholdCount=THRESHOLD,
        UnhealthyThresholdCount=THRESHOLD,
    )
    balancers.elb.register_targets(TargetGroupArn=group, Targets=[a.target])
    listener, url = balancers.listener(balancer, "TCP", 80, {"Type": "forward", "TargetGroupArn": group})
    wait_for(lambda: balancers.state_of(group, f"127.0.0.1:{a.port}") == "healthy", SLACK + 2, "TCP check passed")
    status, _headers, body = request(url, path="/over-tcp")
    assert (status, json.loads(body)["server"], json.loads(body)["path"]) == (200, "a", "/over-tcp")
    balancers.elb.delete_listener(ListenerArn=listener)
    assert port_is_closed(url)
    balancers.elb.delete_load_balancer(LoadBalancerArn=balancer)


def test_an_instance_target_is_unhealthy_with_the_reason_never_a_false_success(balancers: Balancers) -> None:
    image = balancers.ec2.describe_images()["Images"][0]["ImageId"]
    instance = balancers.ec2.run_instances(
        ImageId=image, MinCount=1, MaxCount=1, SubnetId=balancers.subnets[0], InstanceType="t3.micro"
    )["Instances"][0]["InstanceId"]
    balancer = balancers.load_balancer("inst")
    group = balancers.target_group(
        "inst",
        Protocol="HTTP",
        Port=80,
        VpcId=balancers.vpc,
        TargetType="instance",
        HealthCheckIntervalSeconds=INTERVAL,
        HealthCheckTimeoutSeconds=2,
        HealthyThresholdCount=THRESHOLD,
        UnhealthyThresholdCount=THRESHOLD,
    )
    balancers.elb.register_targets(TargetGroupArn=group, Targets=[{"Id": instance}])
    _listener, url = balancers.listener(balancer, "HTTP", 80, {"Type": "forward", "TargetGroupArn": group})
    target = f"{instance}:80"
    assert balancers.state_of(group, target) == "initial"
    wait_for(lambda: balancers.state_of(group, target) == "unhealthy", INTERVAL + SLACK, "the instance unhealthy")
    health = balancers.health(group)[target]
    assert health["Reason"] == "Target.FailedHealthChecks"
    assert instance in health["Description"] and "loopback" in health["Description"]
    status, headers, _body = request(url)  # fails open to the only target, which cannot be reached
    assert (status, headers["Server"]) == (502, "awselb/2.0")
    balancers.elb.delete_load_balancer(LoadBalancerArn=balancer)


# ---------------------------------------------------------------------------------------- ALB + Lambda proxy


def proxy_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(PROXY_SOURCE, "endpoint_proxy.py")
    return buffer.getvalue()


def test_lambda_target_runs_the_endpoint_proxy_in_front_of_a_real_endpoint(
    balancers: Balancers, serving: ServingKit, emulator_client: Callable[..., Any]
) -> None:
    endpoint = serving.deploy("behind-lb")
    iam, lambdas = emulator_client("iam"), emulator_client("lambda")
    role = iam.create_role(
        RoleName=balancers.name("proxy"),
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )["Role"]["Arn"]
    function = lambdas.create_function(  # moto stores it without Docker; the emulator runs the code itself
        FunctionName=balancers.name("proxy"),
        Runtime="python3.12",
        Role=role,
        Handler="endpoint_proxy.handler",
        Code={"ZipFile": proxy_zip()},
        Timeout=30,
        Environment={"Variables": {"ENDPOINT_NAME": endpoint, "HEALTH_PATH": "/health"}},
    )["FunctionArn"]
    group = balancers.target_group(
        "fn",
        TargetType="lambda",
        HealthCheckEnabled=True,
        HealthCheckPath="/health",
        HealthCheckIntervalSeconds=INTERVAL,
        HealthCheckTimeoutSeconds=4,
        HealthyThresholdCount=THRESHOLD,
        UnhealthyThresholdCount=THRESHOLD,
    )
    lambdas.add_permission(
        FunctionName=function,
        StatementId="elb",
        Action="lambda:InvokeFunction",
        Principal="elasticloadbalancing.amazonaws.com",
        SourceArn=group,
    )
    balancers.elb.register_targets(TargetGroupArn=group, Targets=[{"Id": function}])
    balancer = balancers.load_balancer("fn")
    listener, url = balancers.listener(balancer, "HTTP", 80, {"Type": "forward", "TargetGroupArn": group})

    wait_for(lambda: balancers.state_of(group, function) == "healthy", SLACK + 5, "the function's health check")
    [description] = balancers.elb.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]
    assert description["Target"] == {"Id": function}

    status, headers, body = request(
        url, "POST", "/invocations", serving.model.json_body(2), **{"Content-Type": "application/json"}
    )
    assert status == 200, body
    assert headers["Content-Type"] == "application/json"
    predictions = json.loads(body)["predictions"]
    assert [p["customer_id"] for p in predictions] == [r["customer_id"] for r in serving.model.records[:2]]

    status, _headers, body = request(
        url, "POST", "/invocations", b'{"instances": [{"plan": "enterprise"}]}', **{"Content-Type": "application/json"}
    )
    assert status == 400  # the model's own status, through InvokeEndpoint's ModelError
    assert "missing feature 'tenure_months'" in json.loads(body)["message"]
    assert request(url, "GET", "/invocations")[0] == 405
    status, _headers, body = request(url, "GET", "/health")
    assert (status, json.loads(body)) == (200, {"status": "ok", "endpoint": endpoint})
    code = serving.work_dir / "functions" / balancers.name("proxy")
    assert [path.name for path in code.glob("*/endpoint_proxy.py")] == ["endpoint_proxy.py"]

    def logged() -> list[str]:
        group = f"/aws/lambda/{balancers.name('proxy')}"
        events = serving.logs.filter_log_events(logGroupName=group)["events"]
        return [event["message"] for event in events]

    wait_for(lambda: any(m.startswith("START RequestId: ") for m in logged()), 5, "the function's log")

    balancers.elb.delete_listener(ListenerArn=listener)
    assert port_is_closed(url)
    assert balancers.health(group)[function]["Reason"] == "Target.NotInUse"
    balancers.elb.delete_load_balancer(LoadBalancerArn=balancer)
    serving.sagemaker.delete_endpoint(EndpointName=endpoint)


FAULTY = """
import time


def handler(event, context):
    if event["path"] == "/slow":
        time.sleep(5)  # past the function's Timeout of 1 s
    raise RuntimeError("the function failed on " + event["path"])
"""


def test_a_failing_lambda_is_a_bad_gateway_and_fails_its_health_checks(
    balancers: Balancers, emulator_client: Callable[..., Any]
) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("faulty.py", FAULTY)
    trust = {
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    }
    role = emulator_client("iam").create_role(
        RoleName=balancers.name("faulty"), AssumeRolePolicyDocument=json.dumps(trust)
    )
    function = emulator_client("lambda").create_function(
        FunctionName=balancers.name("faulty"),
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="faulty.handler",
        Code={"ZipFile": buffer.getvalue()},
        Timeout=1,
    )["FunctionArn"]
    group = balancers.target_group(
        "faulty",
        TargetType="lambda",
        HealthCheckEnabled=True,
        HealthCheckPath="/health",
        HealthCheckIntervalSeconds=INTERVAL,
        HealthCheckTimeoutSeconds=3,
        HealthyThresholdCount=THRESHOLD,
        UnhealthyThresholdCount=THRESHOLD,
    )
    balancers.elb.register_targets(TargetGroupArn=group, Targets=[{"Id": function}])
    balancer = balancers.load_balancer("faulty")
    _listener, url = balancers.listener(balancer, "HTTP", 80, {"Type": "forward", "TargetGroupArn": group})

    status, headers, _body = request(url, "POST", "/boom")
    assert (status, headers["Server"]) == (502, "awselb/2.0")
    assert "the function failed on /boom" in headers["X-Mlops-Emulator-Reason"]
    started = time.monotonic()
    status, headers, _body = request(url, "POST", "/slow")
    assert status == 502 and time.monotonic() - started < 4  # cut off at the function's Timeout
    assert "timed out" in headers["X-Mlops-Emulator-Reason"]

    wait_for(lambda: balancers.state_of(group, function) == "unhealthy", INTERVAL + SLACK, "the function unhealthy")
    assert balancers.health(group)[function]["Reason"] == "Target.FailedHealthChecks"
    balancers.elb.delete_load_balancer(LoadBalancerArn=balancer)


# --------------------------------------------------------------------------------------------------- reset


def function_environments(work_dir: Path) -> list[int]:
    """Pids of the Lambda execution environments running code from this emulator's work folder."""
    marker = str(work_dir / "functions") + "/"
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def hello_function(kit: Balancers, lambdas: Any, iam: Any) -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.py", "def handler(event, context):\n    return {'statusCode': 200, 'body': 'hello'}\n")
    trust = {
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    }
    role = iam.create_role(RoleName=kit.name("hello"), AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    return str(
        lambdas.create_function(
            FunctionName=kit.name("hello"),
            Runtime="python3.12",
            Role=role,
            Handler="hello.handler",
            Code={"ZipFile": buffer.getvalue()},
        )["FunctionArn"]
    )


def test_reset_and_down_close_every_listener_and_function_environment(private_home: Path) -> None:
    from tests.e2e.conftest import _emulator_client

    info = manager.ensure_running()
    kit = Balancers(lambda service: _emulator_client(info, service))
    function = hello_function(kit, _emulator_client(info, "lambda"), _emulator_client(info, "iam"))
    group = kit.target_group("hello", TargetType="lambda")
    kit.elb.register_targets(TargetGroupArn=group, Targets=[{"Id": function}])
    _listener, url = kit.listener(kit.load_balancer("reset"), "HTTP", 80, {"Type": "forward", "TargetGroupArn": group})
    assert request(url)[::2] == (200, b"hello")  # health checks are off: a Lambda target gets traffic regardless
    assert kit.health(group)[function]["Reason"] == "Target.HealthCheckDisabled"
    assert function_environments(info.work_dir)
    manager.reset()
    assert port_is_closed(url)
    assert function_environments(info.work_dir) == []

    kit = Balancers(lambda service: _emulator_client(info, service))  # the reset wiped the VPC too
    _listener, url = kit.listener(
        kit.load_balancer("down"), "HTTP", 80, {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}
    )
    assert request(url)[0] == 200
    manager.stop()
    assert port_is_closed(url)
