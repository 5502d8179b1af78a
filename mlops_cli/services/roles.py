"""The SageMaker execution role, with a policy generated from the config and scoped to the project's own resources:
its bucket prefixes, its KMS key, its log groups and metrics, and pulls of the scikit-learn image. Never `*:*`, never
a managed `…FullAccess` policy."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mlops_cli.aws.errors import aws_errors, get_or_none
from mlops_cli.aws.images import sklearn_image_uri
from mlops_cli.aws.session import AwsClients
from mlops_cli.aws.tags import as_key_value
from mlops_cli.config.models import Config
from mlops_cli.services.convergence import Control, ControlResult, converge, same_document
from mlops_cli.services.storage.documents import bucket_arn

POLICY_NAME = "mlops-execution"
STAGE = "train"
READ_PREFIXES = ("raw/", "processed/", "code/", "models/")
WRITE_PREFIXES = ("processed/", "models/", "capture/")  # capture/: endpoint data capture
SAGEMAKER_LOG_GROUPS = ("ProcessingJobs", "TrainingJobs", "Endpoints", "TransformJobs")


@dataclass
class RoleResult:
    arn: str
    controls: list[ControlResult]


def service_trust(service: str, account: str) -> dict[str, Any]:
    """A trust policy for one AWS service, acting for this account only (confused-deputy protection)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": service},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": account}},
            }
        ],
    }


def trust_policy(account: str) -> dict[str, Any]:
    return service_trust("sagemaker.amazonaws.com", account)


def project_key_statements(kms_key_arn: str, *, grants: bool) -> list[dict[str, Any]]:
    """Use of the project key. A grant lets SageMaker encrypt the job's volumes; it may be created only for an AWS
    service acting on the caller's behalf (kms:GrantIsForAWSResource), never handed to an arbitrary principal."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ProjectKey",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
            "Resource": kms_key_arn,
        }
    ]
    if grants:
        statements.append(
            {
                "Sid": "ProjectKeyGrantsForAwsServices",
                "Effect": "Allow",
                "Action": "kms:CreateGrant",
                "Resource": kms_key_arn,
                "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
            }
        )
    return statements


def _image_statements(config: Config, clients: AwsClients) -> list[dict[str, Any]]:
    """Pull the scikit-learn image the config names, from its registry account."""
    registry_account = sklearn_image_uri(clients.region, config.train.framework_version).split(".", 1)[0]
    return [
        {
            "Sid": "PullScikitLearnImage",
            "Effect": "Allow",
            "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
            "Resource": f"arn:{clients.partition}:ecr:{clients.region}:{registry_account}:repository/sagemaker-scikit-learn",
        },
        {
            "Sid": "EcrLogin",
            "Effect": "Allow",
            "Action": "ecr:GetAuthorizationToken",
            "Resource": "*",  # this action has no resource type
        },
    ]


def execution_policy(config: Config, clients: AwsClients, kms_key_arn: str | None) -> dict[str, Any]:
    partition, region, account = clients.partition, clients.region, clients.account_id
    bucket = bucket_arn(partition, config.names(account).data_bucket)
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ListProjectPrefixes",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": bucket,
            "Condition": {"StringLike": {"s3:prefix": [f"{p}*" for p in READ_PREFIXES]}},
        },
        {
            "Sid": "ReadProjectData",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:GetObjectVersion"],
            "Resource": [f"{bucket}/{p}*" for p in READ_PREFIXES],
        },
        {
            "Sid": "WriteProjectOutputs",
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
            "Resource": [f"{bucket}/{p}*" for p in WRITE_PREFIXES],
        },
        {
            "Sid": "OwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            "Resource": [
                f"arn:{partition}:logs:{region}:{account}:log-group:/aws/sagemaker/{group}:*"
                for group in SAGEMAKER_LOG_GROUPS
            ],
        },
        {
            "Sid": "OwnMetrics",
            "Effect": "Allow",
            "Action": "cloudwatch:PutMetricData",
            "Resource": "*",  # PutMetricData has no resource type; the namespace condition scopes it
            "Condition": {"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*", "aws/sagemaker/*"]}},
        },
        {
            "Sid": "RolloutAlarms",
            "Effect": "Allow",
            "Action": "cloudwatch:DescribeAlarms",  # blue/green updates watch the endpoint's own alarms
            "Resource": f"arn:{partition}:cloudwatch:{region}:{account}:alarm:{config.names(account).prefix}-*",
        },
    ]
    statements += _image_statements(config, clients)
    if kms_key_arn:
        statements += project_key_statements(kms_key_arn, grants=True)
    if config.network.vpc:
        statements.append(_network_interfaces(config, clients))
    return {"Version": "2012-10-17", "Statement": statements}


def _network_interfaces(config: Config, clients: AwsClients) -> dict[str, Any]:
    partition, region, account = clients.partition, clients.region, clients.account_id
    assert config.network.vpc is not None
    return {
        "Sid": "JobNetworkInterfaces",
        "Effect": "Allow",
        "Action": [
            "ec2:CreateNetworkInterface",
            "ec2:CreateNetworkInterfacePermission",
            "ec2:DeleteNetworkInterface",
            "ec2:DeleteNetworkInterfacePermission",
            "ec2:DescribeNetworkInterfaces",
            "ec2:DescribeVpcs",
            "ec2:DescribeDhcpOptions",
            "ec2:DescribeSubnets",
            "ec2:DescribeSecurityGroups",
        ],
        "Resource": "*",  # SageMaker creates the interfaces; scoped by the subnet condition below
        "Condition": {
            "ForAnyValue:StringEquals": {
                "ec2:Subnet": [
                    f"arn:{partition}:ec2:{region}:{account}:subnet/{subnet}"
                    for subnet in config.network.vpc.subnet_ids
                ]
            }
        },
    }


def ensure_execution_role(clients: AwsClients, config: Config, kms_key_arn: str | None) -> RoleResult:
    """The configured `aws.role_arn`, or the project's generated role converged to the config."""
    if config.aws.role_arn:
        return RoleResult(arn=config.aws.role_arn, controls=[])
    name = config.names(clients.account_id).execution_role
    controls = role_controls(
        clients,
        label="execution role",
        name=name,
        trust=trust_policy(clients.account_id),
        policy_name=POLICY_NAME,
        policy=execution_policy(config, clients, kms_key_arn),
        description="SageMaker jobs of mlops; generated from the project config",
        tags=config.standard_tags(STAGE),
    )
    results = converge(controls)
    arn = f"arn:{clients.partition}:iam::{clients.account_id}:role/{name}"
    return RoleResult(arn=arn, controls=results)


SERVING_POLICY_NAME = "mlops-serving"
SERVING_STAGE = "deploy"


def serving_role_name(config: Config, account: str | None = None) -> str:
    return f"{config.names(account).prefix}-sagemaker-serving"


def serving_policy(config: Config, clients: AwsClients, endpoint: str, kms_key_arn: str | None) -> dict[str, Any]:
    """What the endpoint's model needs and nothing more: read the model artefacts of its dataset (not the raw data,
    not other prefixes), write its own data capture, logs and metrics, and pull the serving image. No write to
    models/: a model that is served cannot replace a registered one."""
    partition, region, account = clients.partition, clients.region, clients.account_id
    bucket = bucket_arn(partition, config.names(account).data_bucket)
    models = f"models/{config.dataset.name}/"
    capture = f"capture/{config.dataset.name}/"
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ReadModelArtefacts",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:GetObjectVersion"],
            "Resource": f"{bucket}/{models}*",
        },
        {
            "Sid": "WriteDataCapture",
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
            "Resource": f"{bucket}/{capture}*",
        },
        {
            "Sid": "OwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            "Resource": f"arn:{partition}:logs:{region}:{account}:log-group:/aws/sagemaker/Endpoints/{endpoint}:*",
        },
        {
            "Sid": "OwnMetrics",
            "Effect": "Allow",
            "Action": "cloudwatch:PutMetricData",
            "Resource": "*",  # PutMetricData has no resource type; the namespace condition scopes it
            "Condition": {"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/Endpoints", "aws/sagemaker/*"]}},
        },
    ]
    statements += _image_statements(config, clients)
    if kms_key_arn:
        # decrypt the model, encrypt the capture files; the endpoint's volume grant is the caller's to create
        statements += project_key_statements(kms_key_arn, grants=False)
    if config.network.vpc:
        statements.append(_network_interfaces(config, clients))
    return {"Version": "2012-10-17", "Statement": statements}


def ensure_serving_role(clients: AwsClients, config: Config, endpoint: str, kms_key_arn: str | None) -> RoleResult:
    """The role the endpoint's model runs with: the configured `aws.role_arn`, or the project's serving role."""
    if config.aws.role_arn:
        return RoleResult(arn=config.aws.role_arn, controls=[])
    name = serving_role_name(config, clients.account_id)
    controls = role_controls(
        clients,
        label="serving role",
        name=name,
        trust=trust_policy(clients.account_id),
        policy_name=SERVING_POLICY_NAME,
        policy=serving_policy(config, clients, endpoint, kms_key_arn),
        description="SageMaker endpoint of mlops; generated from the project config",
        tags=config.standard_tags(SERVING_STAGE),
    )
    results = converge(controls)
    return RoleResult(arn=f"arn:{clients.partition}:iam::{clients.account_id}:role/{name}", controls=results)


def role_controls(
    clients: AwsClients,
    *,
    label: str,
    name: str,
    trust: dict[str, Any],
    policy_name: str,
    policy: dict[str, Any],
    description: str,
    tags: dict[str, str],
) -> list[Control]:
    """A role with its trust policy, and its one inline policy: the two controls every generated role converges."""
    iam = clients.client("iam")

    def read_role() -> dict[str, Any] | None:
        found = get_or_none(f"reading role {name}", ("NoSuchEntity",), iam.get_role, RoleName=name)
        return None if found is None else found["Role"]["AssumeRolePolicyDocument"]

    def write_role() -> None:
        with aws_errors(f"writing role {name}"):
            if read_role() is None:
                iam.create_role(
                    RoleName=name,
                    AssumeRolePolicyDocument=json.dumps(trust),
                    Description=description,
                    MaxSessionDuration=3600,
                    Tags=as_key_value(tags),
                )
            else:
                iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust))

    def read_policy() -> dict[str, Any] | None:
        found = get_or_none(
            f"reading the policy of role {name}",
            ("NoSuchEntity",),
            iam.get_role_policy,
            RoleName=name,
            PolicyName=policy_name,
        )
        if found is None:
            return None
        document = found["PolicyDocument"]
        return json.loads(document) if isinstance(document, str) else document

    def write_policy() -> None:
        with aws_errors(f"setting the policy of role {name}"):
            iam.put_role_policy(RoleName=name, PolicyName=policy_name, PolicyDocument=json.dumps(policy))

    return [
        Control(label, trust, read_role, write_role, matches=same_document),
        Control(f"{label} policy", policy, read_policy, write_policy, matches=same_document, parent=label),
    ]


def delete_role(clients: AwsClients, name: str) -> bool:
    """Delete a role and its inline policies. False when it did not exist."""
    iam = clients.client("iam")
    if get_or_none(f"reading role {name}", ("NoSuchEntity",), iam.get_role, RoleName=name) is None:
        return False
    with aws_errors(f"deleting role {name}"):
        for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
            iam.delete_role_policy(RoleName=name, PolicyName=policy)
        iam.delete_role(RoleName=name)
    return True
