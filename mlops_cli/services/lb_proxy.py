"""What a load balancer's targets are, per the patterns AWS documents for SageMaker-served inference behind ELB:
- `lambda`: a small proxy function (mlops_cli/functions/endpoint_proxy.py) that invokes the endpoint, with a role
  that may invoke (and describe, for health checks) that endpoint only, and a permission that lets only this target
  group call it;
- `vpc_endpoint`: the interface VPC endpoint of the SageMaker runtime (or of a private API), whose network interfaces'
  IPs are registered as `ip` targets, one per zone;
- `ip` / `instance`: the targets the config lists.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import time
import zipfile
from pathlib import Path
from typing import Any

from mlops_cli.aws.errors import aws_errors, error_code, get_or_none
from mlops_cli.aws.session import AwsClients
from mlops_cli.config.models import Config, LoadBalancer
from mlops_cli.services.convergence import Control, same_document
from mlops_cli.services.deploy import endpoint_name
from mlops_cli.services.log_groups import log_group_control, project_log_key
from mlops_cli.services.roles import role_controls, service_trust

STAGE = "lb"
POLICY_NAME = "mlops-lb-proxy"
PROXY_SOURCE = Path(__file__).resolve().parents[1] / "functions" / "endpoint_proxy.py"
HANDLER = "endpoint_proxy.handler"
RUNTIME = "python3.12"
PERMISSION_ID = "elb-target-group"
_FIXED_TIME = (2020, 1, 1, 0, 0, 0)  # zip entries carry no build time: the same code gives the same package
_NOT_FOUND = ("ResourceNotFoundException",)


def function_name(config: Config) -> str:
    return f"{config.names().prefix}-lb-proxy"


def proxy_package() -> bytes:
    """The function's deployment package: the proxy module alone (the Lambda runtime has boto3)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo("endpoint_proxy.py", date_time=_FIXED_TIME)
        info.external_attr = 0o644 << 16
        archive.writestr(info, PROXY_SOURCE.read_bytes())
    return buffer.getvalue()


def code_sha256(package: bytes) -> str:
    """Lambda's CodeSha256: base64 of the package's SHA-256."""
    return base64.b64encode(hashlib.sha256(package).digest()).decode()


def proxy_policy(clients: AwsClients, config: Config) -> dict[str, Any]:
    partition, region, account = clients.partition, clients.region, clients.account_id
    endpoint = f"arn:{partition}:sagemaker:{region}:{account}:endpoint/{endpoint_name(config)}"
    log_group = f"arn:{partition}:logs:{region}:{account}:log-group:/aws/lambda/{function_name(config)}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "InvokeProjectEndpoint",
                "Effect": "Allow",
                "Action": ["sagemaker:InvokeEndpoint", "sagemaker:DescribeEndpoint"],
                "Resource": endpoint,
            },
            {
                "Sid": "OwnLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": f"{log_group}:*",
            },
        ],
    }


def function_controls(clients: AwsClients, config: Config, lb: LoadBalancer) -> list[Control]:
    """The proxy function's role, log group and function (code, handler, environment)."""
    lam = clients.client("lambda")
    name = function_name(config)
    role_arn = f"arn:{clients.partition}:iam::{clients.account_id}:role/{name}"
    package = proxy_package()
    desired = {
        "CodeSha256": code_sha256(package),
        "Handler": HANDLER,
        "Runtime": RUNTIME,
        "Role": role_arn,
        "Timeout": 30,
        "Environment": {"ENDPOINT_NAME": endpoint_name(config), "HEALTH_PATH": lb.health_check.path},
    }

    def read() -> dict[str, Any] | None:
        found = get_or_none(f"reading function {name}", _NOT_FOUND, lam.get_function_configuration, FunctionName=name)
        if found is None:
            return None
        current = {k: found.get(k) for k in ("CodeSha256", "Handler", "Runtime", "Role", "Timeout")}
        current["Environment"] = (found.get("Environment") or {}).get("Variables", {})
        return current

    def write() -> None:
        settings = {
            "Handler": HANDLER,
            "Runtime": RUNTIME,
            "Role": role_arn,
            "Timeout": 30,
            "MemorySize": 256,
            "Environment": {"Variables": desired["Environment"]},
            "Description": f"Forwards load balancer requests to SageMaker endpoint {endpoint_name(config)} (mlops)",
        }
        current = read()
        with aws_errors(f"writing function {name}"):
            if current is None:
                _with_new_role(
                    lambda: lam.create_function(
                        FunctionName=name, Code={"ZipFile": package}, Tags=config.standard_tags(STAGE), **settings
                    )
                )
                return
            if current["CodeSha256"] != desired["CodeSha256"]:
                lam.update_function_code(FunctionName=name, ZipFile=package)
                lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1})
            _with_new_role(lambda: lam.update_function_configuration(FunctionName=name, **settings))

    controls = role_controls(
        clients,
        label="proxy role",
        name=name,
        trust=service_trust("lambda.amazonaws.com", clients.account_id),
        policy_name=POLICY_NAME,
        policy=proxy_policy(clients, config),
        description=f"The load balancer's proxy function invokes endpoint {endpoint_name(config)} with it; by mlops",
        tags=config.standard_tags(STAGE),
    )
    # created before the function, so Lambda never makes it without retention or key
    controls.append(
        log_group_control(
            clients,
            "proxy log group",
            f"/aws/lambda/{name}",
            retention_days=config.gateway.logging.retention_days,
            key=project_log_key(clients, config),
            tags=config.standard_tags(STAGE),
        )
    )
    controls.append(Control("proxy function", desired, read, write))
    return controls


def _with_new_role(call: Any) -> None:
    """Lambda refuses a role for a few seconds after it is created: retry while it says so."""
    for attempt in range(10):
        try:
            call()
            return
        except Exception as exc:  # retried while the new role propagates; anything else goes up
            if error_code(exc) != "InvalidParameterValueException" or attempt == 9:
                raise
            time.sleep(2)


def function_arn(clients: AwsClients, config: Config) -> str:
    return f"arn:{clients.partition}:lambda:{clients.region}:{clients.account_id}:function:{function_name(config)}"


def permission_control(clients: AwsClients, config: Config, target_group_arn: Any) -> Control:
    """Only this target group (through the ELB service) may invoke the function."""
    lam, name = clients.client("lambda"), function_name(config)

    def desired() -> dict[str, Any]:
        return {
            "Action": "lambda:InvokeFunction",
            "Principal": {"Service": "elasticloadbalancing.amazonaws.com"},
            "SourceArn": target_group_arn(),
        }

    def read() -> dict[str, Any] | None:
        found = get_or_none(f"reading the policy of {name}", _NOT_FOUND, lam.get_policy, FunctionName=name)
        if found is None:
            return None
        statement = next((s for s in json.loads(found["Policy"])["Statement"] if s.get("Sid") == PERMISSION_ID), None)
        if statement is None:
            return None
        condition = statement.get("Condition", {}).get("ArnLike", {})
        return {
            "Action": statement.get("Action"),
            "Principal": statement.get("Principal"),
            "SourceArn": condition.get("AWS:SourceArn"),
        }

    def write() -> None:
        with aws_errors(f"allowing the target group to invoke {name}"):
            if read() is not None:
                lam.remove_permission(FunctionName=name, StatementId=PERMISSION_ID)
            lam.add_permission(
                FunctionName=name,
                StatementId=PERMISSION_ID,
                Action="lambda:InvokeFunction",
                Principal="elasticloadbalancing.amazonaws.com",
                SourceArn=target_group_arn(),
            )

    return Control(
        "proxy invoke permission",
        desired,
        read,
        write,
        matches=same_document,
        parent="proxy function",
    )


def delete_function(clients: AwsClients, config: Config) -> list[str]:
    from mlops_cli.services.roles import delete_role

    name, deleted = function_name(config), []
    lam, logs = clients.client("lambda"), clients.client("logs")
    if get_or_none(f"deleting function {name}", _NOT_FOUND, lam.delete_function, FunctionName=name) is not None:
        deleted.append(f"function {name}")
    log_group = f"/aws/lambda/{name}"
    if get_or_none(f"deleting {log_group}", _NOT_FOUND, logs.delete_log_group, logGroupName=log_group) is not None:
        deleted.append(f"log group {log_group}")
    if delete_role(clients, name):
        deleted.append(f"role {name}")
    return deleted


# --- vpc_endpoint targets ----------------------------------------------------------------------------------------


def vpc_endpoint_service(clients: AwsClients, lb: LoadBalancer) -> str:
    service = "sagemaker.runtime" if lb.target.service == "sagemaker-runtime" else "execute-api"
    return f"com.amazonaws.{clients.region}.{service}"


def find_vpc_endpoint(clients: AwsClients, config: Config, vpc_id: str) -> dict[str, Any] | None:
    assert config.lb is not None
    with aws_errors("finding the interface VPC endpoint"):
        found = clients.client("ec2").describe_vpc_endpoints(
            Filters=[
                {"Name": "vpc-id", "Values": [vpc_id]},
                {"Name": "service-name", "Values": [vpc_endpoint_service(clients, config.lb)]},
                {"Name": "tag:mlops:project", "Values": [config.project]},
                {"Name": "tag:mlops:environment", "Values": [config.environment]},
            ]
        )["VpcEndpoints"]
    live = [e for e in found if e.get("State", "").lower() not in ("deleted", "deleting")]
    return live[0] if live else None


def vpc_endpoint_control(clients: AwsClients, config: Config, vpc_id: str, subnets: list[str]) -> Control:
    assert config.lb is not None
    lb = config.lb
    desired = {"subnets": sorted(subnets), "private_dns": True}

    def read() -> dict[str, Any] | None:
        found = find_vpc_endpoint(clients, config, vpc_id)
        if found is None:
            return None
        return {"subnets": sorted(found.get("SubnetIds", [])), "private_dns": bool(found.get("PrivateDnsEnabled"))}

    def write() -> None:
        ec2 = clients.client("ec2")
        found = find_vpc_endpoint(clients, config, vpc_id)
        with aws_errors("writing the interface VPC endpoint"):
            if found is None:
                tags = [{"Key": k, "Value": v} for k, v in config.standard_tags(STAGE).items()]
                ec2.create_vpc_endpoint(
                    VpcEndpointType="Interface",
                    VpcId=vpc_id,
                    ServiceName=vpc_endpoint_service(clients, lb),
                    SubnetIds=subnets,
                    **({"SecurityGroupIds": lb.target.security_group_ids} if lb.target.security_group_ids else {}),
                    PrivateDnsEnabled=True,
                    TagSpecifications=[{"ResourceType": "vpc-endpoint", "Tags": tags}],
                )
            else:
                current = set(found.get("SubnetIds", []))
                ec2.modify_vpc_endpoint(
                    VpcEndpointId=found["VpcEndpointId"],
                    AddSubnetIds=sorted(set(subnets) - current),
                    RemoveSubnetIds=sorted(current - set(subnets)),
                    PrivateDnsEnabled=True,
                )

    return Control("vpc endpoint", desired, read, write)


def vpc_endpoint_ips(clients: AwsClients, config: Config, vpc_id: str) -> list[str]:
    """The private IPs of the endpoint's network interfaces, one per zone."""
    found = find_vpc_endpoint(clients, config, vpc_id)
    if found is None or not found.get("NetworkInterfaceIds"):
        return []
    with aws_errors("reading the VPC endpoint's network interfaces"):
        interfaces = clients.client("ec2").describe_network_interfaces(
            NetworkInterfaceIds=found["NetworkInterfaceIds"]
        )["NetworkInterfaces"]
    return sorted(i["PrivateIpAddress"] for i in interfaces)


def delete_vpc_endpoint(clients: AwsClients, config: Config, vpc_id: str) -> list[str]:
    found = find_vpc_endpoint(clients, config, vpc_id)
    if found is None:
        return []
    with aws_errors("deleting the interface VPC endpoint"):
        clients.client("ec2").delete_vpc_endpoints(VpcEndpointIds=[found["VpcEndpointId"]])
    return [f"vpc endpoint {found['VpcEndpointId']}"]
