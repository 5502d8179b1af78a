"""Secure by default, checked as an auditor would: the policies the tool writes, read back from AWS (moto)."""

from __future__ import annotations

import json
import os
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops_cli.aws.session import AwsClients
from mlops_cli.config.models import Config
from mlops_cli.services import roles
from mlops_cli.services.convergence import Action
from mlops_cli.services.storage.stack import init_storage
from tests.unit.conftest import make_config

ACCOUNT = "123456789012"
KEY = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def _statements(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for statement in document["Statement"]:
        actions = statement["Action"]
        yield {**statement, "Action": [actions] if isinstance(actions, str) else actions}


def _grants(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in _statements(document) if any(a in ("kms:CreateGrant", "kms:*") for a in s["Action"])]


# --- KMS grants ----------------------------------------------------------------------------------------------------


def test_every_generated_policy_grants_kms_create_grant_only_for_aws_resources(
    clients: AwsClients, config: Config
) -> None:
    vpc = make_config("network.vpc={subnet_ids: [subnet-1], security_group_ids: [sg-1]}")
    documents = [
        roles.execution_policy(config, clients, KEY),
        roles.execution_policy(vpc, clients, KEY),
        roles.serving_policy(config, clients, "churn-local", KEY),
    ]
    granting = [s for document in documents for s in _grants(document)]
    assert granting, "the jobs' role needs grants for encrypted volumes"
    for statement in granting:
        assert statement["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}, statement


# --- the serving role ----------------------------------------------------------------------------------------------


def test_the_serving_role_reads_only_its_model_artefacts_and_writes_only_capture_logs_and_metrics(
    clients: AwsClients, config: Config
) -> None:
    first = roles.ensure_serving_role(clients, config, "churn-local", KEY)
    assert first.arn == f"arn:aws:iam::{ACCOUNT}:role/churn-local-sagemaker-serving"
    assert {c.action for c in first.controls} == {Action.CREATED}
    assert {c.action for c in roles.ensure_serving_role(clients, config, "churn-local", KEY).controls} == {
        Action.UNCHANGED
    }
    iam = clients.client("iam")
    name = "churn-local-sagemaker-serving"
    trust = iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    document = iam.get_role_policy(RoleName=name, PolicyName=roles.SERVING_POLICY_NAME)["PolicyDocument"]
    document = json.loads(document) if isinstance(document, str) else document
    bucket = f"arn:aws:s3:::churn-local-{ACCOUNT}-eu-west-1-data"
    s3_reads = {r for s in _statements(document) if "s3:GetObject" in s["Action"] for r in _resources(s)}
    s3_writes = {r for s in _statements(document) if "s3:PutObject" in s["Action"] for r in _resources(s)}
    assert s3_reads == {f"{bucket}/models/churn/*"}  # not raw/, not processed/, not code/
    assert s3_writes == {f"{bucket}/capture/churn/*"}  # never models/: a served model cannot replace one
    assert not any("s3:ListBucket" in s["Action"] for s in _statements(document))
    logs = [s for s in _statements(document) if "logs:PutLogEvents" in s["Action"]]
    assert [_resources(s) for s in logs] == [
        [f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/aws/sagemaker/Endpoints/churn-local:*"]
    ]
    assert any("kms:Decrypt" in s["Action"] and _resources(s) == [KEY] for s in _statements(document))
    assert any("cloudwatch:PutMetricData" in s["Action"] for s in _statements(document))
    jobs = roles.execution_policy(config, clients, KEY)
    assert any("s3:PutObject" in s["Action"] and f"{bucket}/models/*" in _resources(s) for s in _statements(jobs))


def _resources(statement: dict[str, Any]) -> list[str]:
    resources = statement["Resource"]
    return [resources] if isinstance(resources, str) else list(resources)


def test_the_endpoints_model_runs_with_the_serving_role(clients: AwsClients, config: Config) -> None:
    from types import SimpleNamespace

    from mlops_cli.services import deploy

    serving = roles.ensure_serving_role(clients, config, deploy.endpoint_name(config), None).arn
    version = SimpleNamespace(number=1, arn=f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:model-package/churn-local/1")
    sagemaker = clients.client("sagemaker")
    jobs_role = f"arn:aws:iam::{ACCOUNT}:role/churn-local-sagemaker-execution"
    # a model made earlier with the jobs' role cannot be changed: the serving role's model is a sibling of it
    sagemaker.create_model(ModelName="churn-local-v1", ExecutionRoleArn=jobs_role, PrimaryContainer={"Image": "x"})
    name = deploy._ensure_model(clients, config, version, serving)
    assert name != "churn-local-v1" and name.startswith("churn-local-v1-")
    assert sagemaker.describe_model(ModelName=name)["ExecutionRoleArn"] == serving
    assert deploy._ensure_model(clients, config, version, serving) == name


def test_deploy_apply_gives_the_model_the_serving_role(
    clients: AwsClients, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    from mlops_cli.services import deploy

    created: list[str] = []

    class Stop(Exception):
        pass

    def capture(clients: AwsClients, config: Config, version: Any, role_arn: str) -> str:
        created.append(role_arn)
        raise Stop

    config = make_config("storage.encryption=s3")
    version = SimpleNamespace(number=1, arn="arn:aws:sagemaker:eu-west-1:123456789012:model-package/churn-local/1")
    monkeypatch.setattr(deploy, "_select_version", lambda *args: version)
    monkeypatch.setattr(deploy, "_ensure_model", capture)
    with pytest.raises(Stop):
        deploy.apply(clients, config, observe=lambda *args: None)
    assert created == [f"arn:aws:iam::{ACCOUNT}:role/churn-local-sagemaker-serving"]


# --- storage: the audit trail --------------------------------------------------------------------------------------


def test_the_access_log_bucket_is_versioned(clients: AwsClients, config: Config) -> None:
    report = init_storage(clients, config)
    assert clients.client("s3").get_bucket_versioning(Bucket=report.log_bucket)["Status"] == "Enabled"


def test_the_key_policy_lets_cloudwatch_logs_use_the_key_for_this_accounts_log_groups_only(
    clients: AwsClients, config: Config
) -> None:
    init_storage(clients, config)
    kms = clients.client("kms")
    key_id = kms.describe_key(KeyId=config.names().kms_alias)["KeyMetadata"]["KeyId"]
    policy = json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])
    [logs] = [s for s in policy["Statement"] if s.get("Principal") == {"Service": "logs.eu-west-1.amazonaws.com"}]
    assert set(logs["Action"]) == {
        "kms:Encrypt*",
        "kms:Decrypt*",
        "kms:ReEncrypt*",
        "kms:GenerateDataKey*",
        "kms:Describe*",
    }
    assert logs["Condition"] == {
        "ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:eu-west-1:{ACCOUNT}:*"}
    }
    # the account keeps control of its key (a policy without it would lock everyone out)
    assert any(s.get("Principal") == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"} for s in policy["Statement"])


def test_sagemaker_log_groups_expire_and_are_encrypted_with_the_project_key(
    clients: AwsClients, config: Config
) -> None:
    init_storage(clients, config)
    key = clients.client("kms").describe_key(KeyId=config.names().kms_alias)["KeyMetadata"]["Arn"]
    logs = clients.client("logs")
    groups = {g["logGroupName"]: g for g in logs.describe_log_groups(logGroupNamePrefix="/aws/sagemaker/")["logGroups"]}
    expected = [
        "/aws/sagemaker/Endpoints/churn-local",
        "/aws/sagemaker/ProcessingJobs",
        "/aws/sagemaker/TrainingJobs",
        "/aws/sagemaker/TransformJobs",
    ]
    assert sorted(groups) == expected
    assert {(g["retentionInDays"], g["kmsKeyId"]) for g in groups.values()} == {(365, key)}

    # someone removes a retention: the next init puts it back; the project's own group follows the config exactly,
    # while a shared job group is never shortened (another project may need its logs kept longer)
    logs.delete_retention_policy(logGroupName="/aws/sagemaker/TrainingJobs")
    report = init_storage(clients, make_config("storage.job_log_retention_days=30"))
    changed = {c.name.removeprefix("log group "): c.action for c in report.controls if c.name.startswith("log group")}
    assert changed == {
        "/aws/sagemaker/ProcessingJobs": Action.UNCHANGED,
        "/aws/sagemaker/TrainingJobs": Action.UPDATED,
        "/aws/sagemaker/TransformJobs": Action.UNCHANGED,
        "/aws/sagemaker/Endpoints/churn-local": Action.UPDATED,
    }
    retention = {
        g["logGroupName"]: g["retentionInDays"]
        for g in logs.describe_log_groups(logGroupNamePrefix="/aws/sagemaker/")["logGroups"]
    }
    assert retention == {
        "/aws/sagemaker/Endpoints/churn-local": 30,
        "/aws/sagemaker/ProcessingJobs": 365,
        "/aws/sagemaker/TrainingJobs": 30,
        "/aws/sagemaker/TransformJobs": 365,
    }


def test_two_projects_in_one_account_never_undo_each_others_shared_log_groups(clients: AwsClients) -> None:
    first, second = make_config(), make_config("project=other", "storage.job_log_retention_days=90")
    init_storage(clients, first)
    init_storage(clients, second)
    again = init_storage(clients, first)
    shared = [c for c in again.controls if c.name.startswith("log group /aws/sagemaker/") and "Endpoints" not in c.name]
    assert {c.action for c in shared} == {Action.UNCHANGED}
    kms, logs = clients.client("kms"), clients.client("logs")
    first_key = kms.describe_key(KeyId=first.names().kms_alias)["KeyMetadata"]["Arn"]
    second_key = kms.describe_key(KeyId=second.names().kms_alias)["KeyMetadata"]["Arn"]
    groups = {g["logGroupName"]: g for g in logs.describe_log_groups(logGroupNamePrefix="/aws/sagemaker/")["logGroups"]}
    assert groups["/aws/sagemaker/TrainingJobs"]["kmsKeyId"] == first_key  # the key it had is kept
    assert groups["/aws/sagemaker/TrainingJobs"]["retentionInDays"] == 365  # the longer retention is kept
    assert groups["/aws/sagemaker/Endpoints/other-local"]["kmsKeyId"] == second_key
    assert groups["/aws/sagemaker/Endpoints/other-local"]["retentionInDays"] == 90


def test_a_log_retention_cloudwatch_does_not_offer_is_a_config_error() -> None:
    from mlops_cli.errors import ConfigError

    with pytest.raises(ConfigError, match="CloudWatch Logs retention period"):
        make_config("storage.job_log_retention_days=42")


def test_with_sse_s3_the_log_groups_still_expire(clients: AwsClients) -> None:
    config = make_config("storage.encryption=s3")
    init_storage(clients, config)
    groups = clients.client("logs").describe_log_groups(logGroupNamePrefix="/aws/sagemaker/")["logGroups"]
    assert len(groups) == 4 and all(g["retentionInDays"] == 365 and "kmsKeyId" not in g for g in groups)


# --- HTTPS in production -------------------------------------------------------------------------------------------

PROD = Path(__file__).resolve().parents[2] / "configs" / "prod.yaml"


def _prod(*overrides: str) -> Config:
    from mlops_cli.config.loader import load_config

    return load_config(PROD, list(overrides)).config


def test_the_shipped_prod_config_serves_https_and_redirects_http() -> None:
    from mlops_cli.services import lb

    config = _prod()
    assert config.lb is not None and config.lb.certificate_arn
    listeners = lb.listener_definitions(config.lb, "tg")
    assert listeners[443]["Protocol"] == "HTTPS"
    assert listeners[80]["DefaultActions"][0]["RedirectConfig"]["Protocol"] == "HTTPS"


@pytest.mark.parametrize(
    ("load", "message"),
    [
        (lambda: _prod("lb.certificate_arn=null"), "prod.yaml:.* lb: certificate_arn is required in prod"),
        (lambda: make_config("lb.scheme=internet-facing"), "needs certificate_arn"),
        (
            lambda: make_config(
                "lb.scheme=internet-facing",
                "lb.type=network",
                "lb.target.type=ip",
                "lb.target.targets=[{id: 10.0.0.1}]",
            ),
            "needs certificate_arn",
        ),
        (lambda: _prod("lb.certificate_arn=null", "lb.allow_plain_http=true"), "needs plain_http_reason"),
        (lambda: _prod("lb.allow_plain_http=true", "lb.plain_http_reason=mesh terminates TLS"), "contradicts"),
    ],
)
def test_plain_http_in_production_is_refused_unless_explained(load: Any, message: str) -> None:
    from mlops_cli.errors import ConfigError

    with pytest.raises(ConfigError, match=message) as refused:
        load()
    assert refused.value.exit_code == 2


def test_explained_plain_http_is_accepted_and_apply_warns(clients: AwsClients, endpoint: str) -> None:
    from mlops_cli.services import lb

    reason = "TLS ends at the service mesh in front of it"
    prod = _prod("lb.certificate_arn=null", "lb.allow_plain_http=true", f"lb.plain_http_reason={reason}")
    assert prod.lb is not None and prod.lb.certificate_arn is None
    config = make_config("lb.scheme=internet-facing", "lb.allow_plain_http=true", f"lb.plain_http_reason={reason}")
    result = lb.apply(clients, config, wait=False)
    assert [(x.protocol, x.port) for x in result.listeners] == [("HTTP", 80)]
    [warning] = result.warnings
    assert "unencrypted" in warning and reason in warning
    assert lb.warnings(make_config().lb) == []  # type: ignore[arg-type]


# --- API Gateway's roles -------------------------------------------------------------------------------------------


def test_the_gateway_roles_trust_api_gateway_in_the_documented_form(
    clients: AwsClients, config: Config, endpoint: str
) -> None:
    from mlops_cli.services import gateway
    from mlops_cli.services import gateway_definition as gd

    gateway.apply(clients, config)
    iam = clients.client("iam")
    documented = [{"Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    for role in (gd.names_of(config).role, gateway.ACCOUNT_LOGS_ROLE):
        trust = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
        # no condition on a key API Gateway is not documented to send: it would fail closed
        assert trust["Statement"] == documented, role


# --- load balancer security groups, enforced by the emulator's listeners -----------------------------------------


@pytest.fixture
def plane() -> Iterator[Any]:
    """The emulator's load balancing plane over moto in-process: real listeners on 127.0.0.1."""
    from mlops_cli.emulator.balancing.plane import plane as the_plane

    yield the_plane
    the_plane.stop_all()


def _listener_url(clients: AwsClients, config: Config) -> str:
    from mlops_cli.services import lb

    found = lb.find_load_balancer(clients, config)
    assert found is not None
    [listener] = [x for x in lb.status(clients, config).listeners if x.action.startswith("forward")]
    return listener.url


def _http_status(url: str) -> int | str:
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request("GET", "/health")
        return connection.getresponse().status
    except (ConnectionError, http.client.HTTPException):
        return "dropped"
    finally:
        connection.close()


def test_an_alb_listener_drops_clients_outside_its_allowed_cidrs(
    clients: AwsClients, endpoint: str, plane: Any
) -> None:
    from mlops_cli.services import lb

    config = make_config("lb.allowed_cidrs=[10.0.0.0/8]")  # loopback, where the client is, is not among them
    lb.apply(clients, config, wait=False)
    plane.reconcile()
    assert _http_status(_listener_url(clients, config)) == "dropped"
    [listener] = clients.client("elbv2").describe_listeners(
        LoadBalancerArn=lb.find_load_balancer(clients, config)["LoadBalancerArn"]  # type: ignore[index]
    )["Listeners"]
    assert plane.admits(listener["ListenerArn"], "10.1.2.3")  # a source the security group admits
    assert not plane.admits(listener["ListenerArn"], "11.1.2.3")


class _Echo:
    """A TCP target that echoes what it reads and counts the clients that sent something (health checks send
    nothing)."""

    def __init__(self) -> None:
        import socketserver
        import threading

        self.served = 0
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                if data := self.request.recv(1024):
                    owner.served += 1
                    self.request.sendall(data)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _tcp_exchange(url: str) -> bytes:
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as connection:
        try:
            connection.sendall(b"ping")
            return connection.recv(1024)
        except ConnectionError:
            return b""


@pytest.mark.parametrize(("cidrs", "expected"), [("[127.0.0.0/8]", b"ping"), ("[192.168.0.0/16]", b"")])
def test_an_nlb_listener_admits_only_its_allowed_cidrs(
    clients: AwsClients, endpoint: str, plane: Any, cidrs: str, expected: bytes
) -> None:
    from mlops_cli.services import lb

    echo = _Echo()
    try:
        config = make_config(
            "lb.type=network",
            "lb.target.type=ip",
            "lb.target.protocol=TCP",
            f"lb.target.port={echo.port}",
            "lb.target.targets=[{id: 127.0.0.1}]",
            f"lb.allowed_cidrs={cidrs}",
        )
        lb.apply(clients, config, wait=False)
        plane.reconcile()
        assert _tcp_exchange(_listener_url(clients, config)) == expected
        assert echo.served == (1 if expected else 0)  # a dropped client never reaches a target
    finally:
        echo.close()


def test_an_nlb_without_a_security_group_admits_everyone_and_an_alb_without_one_no_one(
    clients: AwsClients, plane: Any
) -> None:
    ec2, elbv2 = clients.client("ec2"), clients.client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.30.{i}.0/24", AvailabilityZone=f"eu-west-1{z}")["Subnet"][
            "SubnetId"
        ]
        for i, z in ((1, "a"), (2, "b"))
    ]
    listeners = {}
    for kind in ("network", "application"):
        arn = elbv2.create_load_balancer(Name=f"bare-{kind[:3]}", Subnets=subnets, Type=kind)["LoadBalancers"][0][
            "LoadBalancerArn"
        ]
        listeners[kind] = elbv2.create_listener(
            LoadBalancerArn=arn,
            Protocol="TCP" if kind == "network" else "HTTP",
            Port=80,
            DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}]
            if kind == "application"
            else [{"Type": "forward", "TargetGroupArn": _tcp_group(elbv2, vpc)}],
        )["Listeners"][0]["ListenerArn"]
    plane.reconcile()
    assert plane.admits(listeners["network"], "203.0.113.9")
    assert not plane.admits(listeners["application"], "127.0.0.1")


def _tcp_group(elbv2: Any, vpc: str) -> str:
    return str(
        elbv2.create_target_group(Name="bare-tcp", Protocol="TCP", Port=80, VpcId=vpc, TargetType="ip")["TargetGroups"][
            0
        ]["TargetGroupArn"]
    )


# --- network isolation ---------------------------------------------------------------------------------------------

CODE_URI = "s3://churn-local-123456789012-eu-west-1-data/code/" + "a" * 64 + "/sourcedir.tar.gz"


def _captured_requests(
    clients: AwsClients, config: Config, monkeypatch: pytest.MonkeyPatch, tuning: bool
) -> dict[str, Any]:
    from mlops_cli.services import experiments, train

    data = train.TrainingData(
        "churn-local-prep-1", {"train": "s3://b/processed/train", "validation": "s3://b/processed/validation"}, []
    )
    role = f"arn:aws:iam::{ACCOUNT}:role/churn-local-sagemaker-execution"
    monkeypatch.setattr(train, "_prepare", lambda *args: (data, role, None, CODE_URI))
    monkeypatch.setattr(train, "_write_manifest", lambda *args: "s3://b/m.json")
    monkeypatch.setattr(train, "training_digest", lambda *args, **kwargs: "d")
    monkeypatch.setattr(train, "tuning_digest", lambda *args, **kwargs: "d")
    monkeypatch.setattr(experiments, "start_run", lambda *args: {})
    captured: dict[str, Any] = {}

    class Sent(Exception):
        pass

    def capture(params: dict[str, Any], **_: Any) -> None:
        captured.update(params)
        raise Sent

    sagemaker = clients.client("sagemaker")
    operation = "CreateHyperParameterTuningJob" if tuning else "CreateTrainingJob"
    sagemaker.meta.events.register(f"provide-client-params.sagemaker.{operation}", capture)
    with pytest.raises(Sent):
        if tuning:
            train.start_tuning(clients, config)
        else:
            train.start_training(clients, config)
    return captured["TrainingJobDefinition"] if tuning else captured


@pytest.mark.parametrize("tuning", [False, True])
def test_an_isolated_job_gets_its_code_as_an_input_channel(
    clients: AwsClients, monkeypatch: pytest.MonkeyPatch, tuning: bool
) -> None:
    config = make_config("network.isolation=true")
    request = _captured_requests(clients, config, monkeypatch, tuning)
    hyperparameters = request["StaticHyperParameters" if tuning else "HyperParameters"]
    assert request["EnableNetworkIsolation"] is True
    assert json.loads(hyperparameters["sagemaker_submit_directory"]) == "/opt/ml/input/data/code/sourcedir.tar.gz"
    channels = {c["ChannelName"]: c for c in request["InputDataConfig"]}
    assert list(channels) == ["train", "validation", "code"]
    assert channels["code"]["DataSource"]["S3DataSource"] == {
        "S3DataType": "S3Prefix",
        "S3Uri": CODE_URI,
        "S3DataDistributionType": "FullyReplicated",
    }


def test_a_job_with_network_access_downloads_its_code_itself(
    clients: AwsClients, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = _captured_requests(clients, config, monkeypatch, tuning=False)
    assert json.loads(request["HyperParameters"]["sagemaker_submit_directory"]) == CODE_URI
    assert [c["ChannelName"] for c in request["InputDataConfig"]] == ["train", "validation"]


def test_the_registry_finds_the_code_digest_of_an_isolated_job() -> None:
    from mlops_cli.services import register

    isolated = {
        "HyperParameters": {"sagemaker_submit_directory": '"/opt/ml/input/data/code/sourcedir.tar.gz"'},
        "InputDataConfig": [
            {"ChannelName": "train", "DataSource": {"S3DataSource": {"S3Uri": "s3://b/processed/train"}}},
            {"ChannelName": "code", "DataSource": {"S3DataSource": {"S3Uri": CODE_URI}}},
        ],
    }
    assert register._code_digest(isolated) == "a" * 64


def test_the_prod_config_isolates_its_jobs() -> None:
    assert _prod().network.isolation is True


def test_an_isolated_container_has_no_aws_endpoint_nor_credentials() -> None:
    from mlops_cli.emulator.jobs.run import ISOLATED_ENDPOINT, container_environment

    env = container_environment("eu-west-1", {}, isolated=True)
    assert env["AWS_ENDPOINT_URL"] == ISOLATED_ENDPOINT
    assert "AWS_ACCESS_KEY_ID" not in env and "AWS_SECRET_ACCESS_KEY" not in env
    assert env["AWS_SHARED_CREDENTIALS_FILE"] == os.devnull and env["AWS_CONFIG_FILE"] == os.devnull
    from mlops_cli.emulator.jobs.runtime import Settings, runtime

    runtime.configure(Settings(work_dir=Path("/nonexistent"), endpoint_url="http://127.0.0.1:4566"))
    try:
        open_env = container_environment("eu-west-1", {})
    finally:
        runtime.configure(None)
    assert open_env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566" and "AWS_ACCESS_KEY_ID" in open_env


def test_the_emulator_refuses_an_s3_submit_directory_to_an_isolated_job(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from mlops_cli.emulator.jobs.errors import JobFailure
    from mlops_cli.emulator.jobs.toolkit import Hyperparameters
    from mlops_cli.emulator.jobs.training import TrainingRun
    from mlops_cli.emulator.jobs.workspace import HostWorkspace

    workspace = HostWorkspace("algo-1", tmp_path / "algo-1")
    downloads: list[Any] = []
    storage = SimpleNamespace(download_file=lambda *args: downloads.append(args))

    def install(submit: str, isolated: bool) -> None:
        run = SimpleNamespace(
            hyperparameters=Hyperparameters.split({"sagemaker_submit_directory": json.dumps(submit)}),
            isolated=isolated,
            name="job",
        )
        TrainingRun._install_code(run, workspace, storage)  # type: ignore[arg-type]

    with pytest.raises(JobFailure, match="network isolation"):
        install("s3://b/code/sourcedir.tar.gz", isolated=True)
    assert downloads == []
    # the code channel's file, at its container path, is unpacked from the job's own input folder
    import io
    import tarfile

    archive = workspace.rewrite("/opt/ml/input/data/code/sourcedir.tar.gz")
    Path(archive).parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        data = b"print('hi')\n"
        member = tarfile.TarInfo("train.py")
        member.size = len(data)
        tar.addfile(member, io.BytesIO(data))
    install("/opt/ml/input/data/code/sourcedir.tar.gz", isolated=True)
    assert (workspace.code_dir / "train.py").read_bytes() == b"print('hi')\n"


# --- the emulator refuses a log group key CloudWatch Logs may not use -------------------------------------------


def test_a_log_group_key_without_the_logs_statement_is_refused_as_aws_does(clients: AwsClients) -> None:
    from botocore.exceptions import ClientError

    kms, logs = clients.client("kms"), clients.client("logs")
    bare = kms.create_key()["KeyMetadata"]["Arn"]  # the default key policy: the account's IAM only
    with pytest.raises(ClientError, match="not allowed to be used") as refused:
        logs.create_log_group(logGroupName="/aws/sagemaker/TrainingJobs", kmsKeyId=bare)
    assert refused.value.response["Error"]["Code"] == "InvalidParameterException"
    logs.create_log_group(logGroupName="/aws/sagemaker/TrainingJobs")
    with pytest.raises(ClientError, match="not allowed to be used"):
        logs.associate_kms_key(logGroupName="/aws/sagemaker/TrainingJobs", kmsKeyId=bare)
    kms.put_key_policy(KeyId=bare, PolicyName="default", Policy=json.dumps(documents_key_policy()))
    logs.associate_kms_key(logGroupName="/aws/sagemaker/TrainingJobs", kmsKeyId=bare)
    [group] = logs.describe_log_groups(logGroupNamePrefix="/aws/sagemaker/TrainingJobs")["logGroups"]
    assert group["kmsKeyId"] == bare


def documents_key_policy() -> dict[str, Any]:
    from mlops_cli.services.storage import documents

    return documents.key_policy("aws", "eu-west-1", ACCOUNT)


def test_storage_init_encrypts_a_job_log_group_sagemaker_made_before_it(clients: AwsClients, config: Config) -> None:
    logs = clients.client("logs")
    logs.create_log_group(logGroupName="/aws/sagemaker/ProcessingJobs")  # as a job's first log line makes it
    report = init_storage(clients, config)
    action = {c.name: c.action for c in report.controls}["log group /aws/sagemaker/ProcessingJobs"]
    assert action == Action.UPDATED
    key = clients.client("kms").describe_key(KeyId=config.names().kms_alias)["KeyMetadata"]["Arn"]
    [group] = logs.describe_log_groups(logGroupNamePrefix="/aws/sagemaker/ProcessingJobs")["logGroups"]
    assert (group["kmsKeyId"], group["retentionInDays"]) == (key, 365)


def test_the_pipelines_training_step_of_an_isolated_job_gets_its_code_as_a_channel(clients: AwsClients) -> None:
    from mlops_cli.services import pipeline_definition as pd

    config = make_config("network.isolation=true")
    role = f"arn:aws:iam::{ACCOUNT}:role/churn-local-sagemaker-execution"
    inputs = pd.PipelineInputs(
        image="i", role_arn=role, key_arn=None, preprocess_code="s3://b/code/p/", train_submit_directory=CODE_URI
    )
    arguments = pd._train_step(clients, config, inputs)["Arguments"]
    assert arguments["EnableNetworkIsolation"] is True
    submit = json.loads(arguments["HyperParameters"]["sagemaker_submit_directory"])
    assert submit == "/opt/ml/input/data/code/sourcedir.tar.gz"
    channels = {c["ChannelName"]: c for c in arguments["InputDataConfig"]}
    assert list(channels) == ["train", "validation", "code"]
    assert channels["code"]["DataSource"]["S3DataSource"]["S3Uri"] == CODE_URI


def test_deploy_delete_removes_the_serving_role(clients: AwsClients, config: Config) -> None:
    from mlops_cli.services import deploy

    roles.ensure_serving_role(clients, config, deploy.endpoint_name(config), None)
    assert "role churn-local-sagemaker-serving" in deploy.delete(clients, config).deleted
    names = [r["RoleName"] for r in clients.client("iam").list_roles()["Roles"]]
    assert "churn-local-sagemaker-serving" not in names
    assert deploy.delete(clients, config).deleted == []  # twice: nothing left to delete


# --- network isolation of the endpoint's model ---------------------------------------------------------------------

SERVING_ENVIRONMENT = {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}


@pytest.fixture
def emulated_models(clients: AwsClients) -> Iterator[Any]:
    """SageMaker's CreateModel as the emulator serves it (moto alone drops EnableNetworkIsolation)."""
    from mlops_cli.emulator.serving import api

    [patch] = [p for p in api.PATCHES if p.name == "create_model"]
    applied = patch.apply()
    try:
        yield clients.client("sagemaker")
    finally:
        if applied:
            patch.revert()


def _variant_servers(sagemaker: Any, tmp_path: Path, models: dict[str, bool]) -> dict[str, Any]:
    from moto.sagemaker.models import sagemaker_backends

    from mlops_cli.emulator.serving.plans import plan_fleet
    from mlops_cli.emulator.serving.variant import VariantServer

    for name, isolated in models.items():
        sagemaker.create_model(
            ModelName=name,
            ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/churn-local-sagemaker-serving",
            PrimaryContainer={"Image": "sklearn:1.4-2", "Environment": SERVING_ENVIRONMENT},
            EnableNetworkIsolation=isolated,
        )
    variants = [{"VariantName": name, "ModelName": name, "InstanceType": "ml.m5.large"} for name in models]
    sagemaker.create_endpoint_config(EndpointConfigName="c", ProductionVariants=variants)
    backend = sagemaker_backends[ACCOUNT]["eu-west-1"]
    plan = plan_fleet(backend, backend.endpoint_configs["c"])
    return {v.name: VariantServer("e", tmp_path / v.name, v, "eu-west-1", log=None) for v in plan.variants}  # type: ignore[arg-type]


def test_an_isolated_models_server_gets_no_aws_endpoint_nor_credentials(emulated_models: Any, tmp_path: Path) -> None:
    from mlops_cli.emulator.jobs.run import ISOLATED_ENDPOINT
    from mlops_cli.emulator.jobs.runtime import Settings, runtime

    servers = _variant_servers(emulated_models, tmp_path, {"isolated": True, "connected": False})
    assert emulated_models.describe_model(ModelName="isolated")["EnableNetworkIsolation"] is True
    assert emulated_models.describe_model(ModelName="connected")["EnableNetworkIsolation"] is False
    runtime.configure(Settings(work_dir=tmp_path, endpoint_url="http://127.0.0.1:4566"))
    try:
        isolated = servers["isolated"].server_environment(SERVING_ENVIRONMENT)
        connected = servers["connected"].server_environment(SERVING_ENVIRONMENT)
    finally:
        runtime.configure(None)
    assert isolated["AWS_ENDPOINT_URL"] == ISOLATED_ENDPOINT
    assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} & set(isolated)
    assert isolated["AWS_SHARED_CREDENTIALS_FILE"] == os.devnull and isolated["AWS_CONFIG_FILE"] == os.devnull
    assert connected["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566" and "AWS_ACCESS_KEY_ID" in connected
    assert isolated["SAGEMAKER_PROGRAM"] == connected["SAGEMAKER_PROGRAM"] == "inference.py"


def test_an_isolated_model_cannot_fetch_its_code_from_s3(emulated_models: Any, tmp_path: Path) -> None:
    """The serving container downloads an s3:// SAGEMAKER_SUBMIT_DIRECTORY itself: with no network it cannot."""
    from mlops_cli.emulator.serving.errors import FleetFailure

    servers = _variant_servers(emulated_models, tmp_path, {"isolated": True})
    downloads: list[Any] = []
    s3 = types.SimpleNamespace(download_file=lambda *args: downloads.append(args))
    with pytest.raises(FleetFailure, match="network isolation gives it no network"):
        servers["isolated"]._code_dir(s3, "s3://b/code/sourcedir.tar.gz", True)
    assert downloads == []


def test_deploy_creates_the_model_with_the_configs_network_isolation(emulated_models: Any, clients: AwsClients) -> None:
    """Isolation (like the role and the VPC) cannot change on a model: turning it on gives a new, isolated model."""
    from mlops_cli.services import deploy

    package = f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:model-package/churn/1"
    version = types.SimpleNamespace(number=1, arn=package)
    role = f"arn:aws:iam::{ACCOUNT}:role/churn-local-sagemaker-serving"

    def model(*overrides: str) -> dict[str, Any]:
        name = deploy._ensure_model(clients, make_config(*overrides), version, role)
        return {"ModelName": name, **emulated_models.describe_model(ModelName=name)}

    connected = model()
    assert (connected["ModelName"], connected["EnableNetworkIsolation"]) == ("churn-local-v1", False)
    isolated = model("network.isolation=true")
    assert isolated["EnableNetworkIsolation"] is True and isolated["ModelName"] != "churn-local-v1"
    assert model("network.isolation=true")["ModelName"] == isolated["ModelName"]  # found again, not made again
    assert model()["ModelName"] == "churn-local-v1"
    in_vpc = model("network.vpc={subnet_ids: [subnet-2, subnet-1], security_group_ids: [sg-1]}")
    assert in_vpc["VpcConfig"]["Subnets"] == ["subnet-2", "subnet-1"]
    assert in_vpc["ModelName"] not in ("churn-local-v1", isolated["ModelName"])
    same_vpc = model("network.vpc={subnet_ids: [subnet-1, subnet-2], security_group_ids: [sg-1]}")
    assert same_vpc["ModelName"] == in_vpc["ModelName"]  # the same subnets in another order: the same model
