"""`mlops lb` services against moto in-process: what apply creates, that a second apply changes nothing, the security
settings, ip targets by hand, and delete. Real balancing and health checks are tested on the emulator (e2e)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mlops_cli.aws.session import AwsClients
from mlops_cli.config.models import Config
from mlops_cli.errors import ConfigError, OperationFailed, PreconditionFailed, UsageError
from mlops_cli.services import lb, lb_proxy
from tests.unit.conftest import make_config


def _actions(result: lb.ApplyResult) -> dict[str, str]:
    return {c.name: str(c.action) for c in result.controls}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["lb.scheme=internet-facing"], "certificate_arn"),
        (["lb.type=network"], "lambda"),
        (["lb.target.type=ip"], "targets"),
        (["lb.allowed_cidrs=[10.0.0.1/8]"], "CIDR"),
        (["lb.health_check.matcher=2xx"], "HTTP codes"),
        (["lb.subnets=[subnet-a]"], "two availability zones"),
        (["storage.access_logging=false"], "storage.access_logging"),
    ],
)
def test_unsafe_or_impossible_settings_are_config_errors(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_config(*overrides)


def test_apply_without_an_endpoint_is_a_precondition(clients: AwsClients, config: Config) -> None:
    with pytest.raises(PreconditionFailed, match="deploy apply"):
        lb.apply(clients, config, wait=False)


def test_apply_creates_then_changes_nothing(clients: AwsClients, config: Config, endpoint: str) -> None:
    first = lb.apply(clients, config, wait=False)
    assert set(_actions(first).values()) == {"created"}
    assert first.dns_name and [listener.port for listener in first.listeners] == [80]
    clients.call_log.calls.clear()
    second = lb.apply(clients, config, wait=False)
    assert set(_actions(second).values()) == {"unchanged"}
    assert not clients.call_log.writes(), clients.call_log.writes()


def test_security_settings_of_an_alb_with_a_lambda_target(clients: AwsClients, config: Config, endpoint: str) -> None:
    lb.apply(clients, config, wait=False)
    elbv2, ec2 = clients.client("elbv2"), clients.client("ec2")
    found = lb.find_load_balancer(clients, config)
    assert found is not None and found["Scheme"] == "internal"
    assert len({z["ZoneName"] for z in found["AvailabilityZones"]}) >= 2
    attributes = {
        a["Key"]: a["Value"]
        for a in elbv2.describe_load_balancer_attributes(LoadBalancerArn=found["LoadBalancerArn"])["Attributes"]
    }
    assert attributes["deletion_protection.enabled"] == "true"
    assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"
    assert attributes["routing.http.desync_mitigation_mode"] == "strictest"
    assert attributes["access_logs.s3.enabled"] == "true"
    assert attributes["access_logs.s3.bucket"] == config.names(clients.account_id).log_bucket
    [group] = ec2.describe_security_groups(GroupIds=found["SecurityGroups"])["SecurityGroups"]
    ingress = [(p["FromPort"], r["CidrIp"]) for p in group["IpPermissions"] for r in p["IpRanges"]]
    assert ingress == [(80, "127.0.0.1/32")]

    policy = clients.client("iam").get_role_policy(
        RoleName=lb_proxy.function_name(config), PolicyName=lb_proxy.POLICY_NAME
    )
    document = policy["PolicyDocument"]
    document = json.loads(document) if isinstance(document, str) else document
    endpoint_statement = document["Statement"][0]
    assert endpoint_statement["Resource"] == f"arn:aws:sagemaker:eu-west-1:123456789012:endpoint/{endpoint}"
    assert set(endpoint_statement["Action"]) == {"sagemaker:InvokeEndpoint", "sagemaker:DescribeEndpoint"}
    assert all("*" not in statement["Resource"].split(":")[4] for statement in document["Statement"])

    function_policy = json.loads(
        clients.client("lambda").get_policy(FunctionName=lb_proxy.function_name(config))["Policy"]
    )
    [statement] = function_policy["Statement"]
    tg = lb.find_target_group(clients, config)
    assert tg is not None and tg["TargetType"] == "lambda" and tg["HealthCheckPath"] == "/health"
    assert statement["Principal"] == {"Service": "elasticloadbalancing.amazonaws.com"}
    assert statement["Condition"]["ArnLike"]["AWS:SourceArn"] == tg["TargetGroupArn"]


def test_a_certificate_gives_https_with_a_modern_policy_and_a_redirect(clients: AwsClients, endpoint: str) -> None:
    certificate = clients.client("acm").request_certificate(DomainName="models.example.com")["CertificateArn"]
    config = make_config(
        f"lb.certificate_arn={certificate}", "lb.scheme=internet-facing", "lb.allowed_cidrs=[0.0.0.0/0]"
    )
    result = lb.apply(clients, config, wait=False)
    listeners = {listener.port: listener for listener in result.listeners}
    assert listeners[443].protocol == "HTTPS" and listeners[443].ssl_policy == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert listeners[80].protocol == "HTTP" and listeners[80].action == "redirect to HTTPS:443"
    group_ports = sorted(lb.listener_ports(config.lb))  # type: ignore[arg-type]
    assert group_ports == [80, 443]


def test_ip_targets_listed_and_added_by_hand(clients: AwsClients, endpoint: str) -> None:
    config = make_config(
        "lb.target.type=ip", "lb.target.protocol=HTTP", "lb.target.port=8080", "lb.target.targets=[{id: 172.31.0.10}]"
    )
    lb.apply(clients, config, wait=False)
    tg = lb.find_target_group(clients, config)
    assert tg is not None and (tg["TargetType"], tg["Protocol"], tg["Port"]) == ("ip", "HTTP", 8080)
    assert lb.change_targets(clients, config, ["172.31.0.11:8081"], add=True) == ["172.31.0.11:8081"]
    ids = {(t.id, t.port) for t in lb.registered_targets(clients, tg["TargetGroupArn"])}
    assert ids == {("172.31.0.10", 8080), ("172.31.0.11", 8081)}
    assert set(_actions(lb.apply(clients, config, wait=False)).values()) == {"unchanged"}  # hand-added ones stay
    lb.change_targets(clients, config, ["172.31.0.11:8081"], add=False)
    assert {t.id for t in lb.registered_targets(clients, tg["TargetGroupArn"])} == {"172.31.0.10"}
    with pytest.raises(UsageError):
        lb.change_targets(clients, make_config(), ["1.2.3.4"], add=True)


def test_status_check_counts_healthy_targets(clients: AwsClients, config: Config, endpoint: str) -> None:
    assert not lb.status(clients, config).exists
    lb.apply(clients, config, wait=False)
    status = lb.status(clients, config)
    assert status.exists and len(status.targets) == 1 and status.min_healthy == 1


def test_delete_twice_leaves_nothing(clients: AwsClients, config: Config, endpoint: str) -> None:
    lb.apply(clients, config, wait=False)
    deleted = lb.delete(clients, config).deleted
    assert "load balancer churn-local" in deleted and "function churn-local-lb-proxy" in deleted
    assert lb.delete(clients, config).deleted == []
    elbv2: Any = clients.client("elbv2")
    assert elbv2.describe_load_balancers()["LoadBalancers"] == []
    assert elbv2.describe_target_groups()["TargetGroups"] == []
    assert clients.client("lambda").list_functions()["Functions"] == []
    roles = [r["RoleName"] for r in clients.client("iam").list_roles()["Roles"]]
    assert "churn-local-lb-proxy" not in roles


def test_a_vpc_endpoint_target_registers_its_interfaces_ips(clients: AwsClients, endpoint: str) -> None:
    config = make_config("lb.target.type=vpc_endpoint")
    lb.apply(clients, config, wait=False)
    network = lb.resolve_network(clients, config.lb)  # type: ignore[arg-type]
    found = lb_proxy.find_vpc_endpoint(clients, config, network.vpc_id)
    assert found is not None and found["ServiceName"] == "com.amazonaws.eu-west-1.sagemaker.runtime"
    assert found["PrivateDnsEnabled"] and sorted(found["SubnetIds"]) == network.subnets
    ips = lb_proxy.vpc_endpoint_ips(clients, config, network.vpc_id)
    tg = lb.find_target_group(clients, config)
    assert tg is not None and (tg["TargetType"], tg["Protocol"], tg["Port"]) == ("ip", "HTTPS", 443)
    registered = {(t.id, t.port) for t in lb.registered_targets(clients, tg["TargetGroupArn"])}
    assert ips and registered == {(ip, 443) for ip in ips}
    assert set(_actions(lb.apply(clients, config, wait=False)).values()) == {"unchanged"}
    assert any(item.startswith("vpc endpoint") for item in lb.delete(clients, config).deleted)
    assert lb_proxy.find_vpc_endpoint(clients, config, network.vpc_id) is None


def test_a_network_load_balancer_is_created_with_a_security_group_open_only_to_allowed_cidrs(
    clients: AwsClients, endpoint: str
) -> None:
    config = make_config("lb.type=network", "lb.target.type=ip", "lb.target.targets=[{id: 172.31.0.10}]")
    result = lb.apply(clients, config, wait=False)
    assert _actions(result)["security group"] == "created"
    assert [(x.protocol, x.port) for x in result.listeners] == [("TCP", 80)]
    found = lb.find_load_balancer(clients, config)
    assert found is not None and found["Type"] == "network"
    [group] = clients.client("ec2").describe_security_groups(GroupIds=found["SecurityGroups"])["SecurityGroups"]
    ingress = [(p["FromPort"], r["CidrIp"]) for p in group["IpPermissions"] for r in p["IpRanges"]]
    assert ingress == [(80, "127.0.0.1/32")]
    egress = [
        (p["IpProtocol"], p.get("FromPort"), r["CidrIp"]) for p in group["IpPermissionsEgress"] for r in p["IpRanges"]
    ]
    vpc_cidr = lb.resolve_network(clients, config.lb).cidr  # type: ignore[arg-type]
    assert egress == [("tcp", 443, vpc_cidr)]  # the target's port in the VPC, not everything everywhere
    tg = lb.find_target_group(clients, config)
    assert tg is not None and (tg["Protocol"], tg["HealthCheckProtocol"]) == ("TLS", "TCP")
    assert set(_actions(lb.apply(clients, config, wait=False)).values()) == {"unchanged"}


def test_an_nlb_made_without_a_security_group_must_be_recreated(clients: AwsClients, endpoint: str) -> None:
    config = make_config("lb.type=network", "lb.target.type=ip", "lb.target.targets=[{id: 172.31.0.10}]")
    network = lb.resolve_network(clients, config.lb)  # type: ignore[arg-type]
    clients.client("elbv2").create_load_balancer(
        Name="churn-local", Subnets=network.subnets, Scheme="internal", Type="network"
    )
    with pytest.raises(OperationFailed, match="only when it is created") as failed:
        lb.apply(clients, config, wait=False)
    assert "lb delete" in (failed.value.hint or "")


def test_an_alb_with_a_lambda_target_has_no_egress(clients: AwsClients, config: Config, endpoint: str) -> None:
    lb.apply(clients, config, wait=False)
    found = lb.find_load_balancer(clients, config)
    assert found is not None
    [group] = clients.client("ec2").describe_security_groups(GroupIds=found["SecurityGroups"])["SecurityGroups"]
    assert group["IpPermissionsEgress"] == []  # the function is invoked, not connected to
