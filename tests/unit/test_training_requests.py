"""What the tool asks SageMaker for: least-privilege roles, content-addressed code, names within AWS's limits."""

from __future__ import annotations

import datetime as dt
import json
import tarfile
from io import BytesIO

import pytest

from mlops_cli.aws.images import sklearn_image_uri
from mlops_cli.aws.naming import ResourceNames, sagemaker_name_problems
from mlops_cli.aws.session import AwsClients
from mlops_cli.config.models import Config
from mlops_cli.errors import UsageError
from mlops_cli.services import train
from mlops_cli.services.code import bundle_files, sourcedir_tarball, upload_bundle
from mlops_cli.services.roles import ensure_execution_role, execution_policy
from mlops_cli.services.schema import schema_document
from mlops_cli.services.storage.stack import init_storage
from tests.unit.conftest import make_config


def test_execution_policy_is_scoped_to_the_project(clients: AwsClients, config: Config) -> None:
    key = "arn:aws:kms:eu-west-1:123456789012:key/abc"
    policy = execution_policy(config, clients, key)
    bucket = "arn:aws:s3:::churn-local-123456789012-eu-west-1-data"
    for statement in policy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert all(not a.endswith(":*") and a != "*" for a in actions), statement
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if "*" in resources:  # only actions that have no resource type, and then with a condition or login only
            assert set(actions) <= {"cloudwatch:PutMetricData", "ecr:GetAuthorizationToken"}
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["ReadProjectData"]["Resource"] == [
        f"{bucket}/{p}*" for p in ("raw/", "processed/", "code/", "models/")
    ]
    assert by_sid["WriteProjectOutputs"]["Resource"] == [
        f"{bucket}/{p}*" for p in ("processed/", "models/", "capture/")
    ]
    assert by_sid["RolloutAlarms"]["Resource"] == "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:churn-local-*"
    assert by_sid["ProjectKey"]["Resource"] == key
    assert by_sid["PullScikitLearnImage"]["Resource"].endswith(":141502667606:repository/sagemaker-scikit-learn")
    assert "JobNetworkInterfaces" not in by_sid


def test_role_converges_and_never_uses_managed_policies(clients: AwsClients, config: Config) -> None:
    first = ensure_execution_role(clients, config, None)
    assert [c.action.value for c in first.controls] == ["created", "created"]
    iam = clients.client("iam")
    assert iam.list_attached_role_policies(RoleName="churn-local-sagemaker-execution")["AttachedPolicies"] == []
    trust = iam.get_role(RoleName="churn-local-sagemaker-execution")["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    clients.call_log.calls.clear()
    again = ensure_execution_role(clients, config, None)
    assert [c.action.value for c in again.controls] == ["unchanged", "unchanged"]
    assert clients.call_log.writes() == {}
    assert again.arn == "arn:aws:iam::123456789012:role/churn-local-sagemaker-execution"


def test_configured_role_is_used_as_is(clients: AwsClients) -> None:
    config = make_config("aws.role_arn=arn:aws:iam::123456789012:role/existing")
    assert ensure_execution_role(clients, config, None).arn == "arn:aws:iam::123456789012:role/existing"
    assert clients.call_log.total() == 0


def test_code_is_uploaded_once_per_content(clients: AwsClients, config: Config) -> None:
    init_storage(clients, config)
    files = {"a.py": b"print(1)\n", "schema.json": b"{}"}
    first = upload_bundle(clients, config, files)
    assert first.uploaded and first.s3_prefix == f"s3://churn-local-123456789012-eu-west-1-data/code/{first.sha256}/"
    clients.call_log.calls.clear()
    second = upload_bundle(clients, config, files)
    assert not second.uploaded and second.sha256 == first.sha256
    assert clients.call_log.writes() == {}
    changed = upload_bundle(clients, config, {**files, "a.py": b"print(2)\n"})
    assert changed.uploaded and changed.sha256 != first.sha256


def test_sourcedir_tarball_is_reproducible_and_holds_the_scripts(config: Config) -> None:
    files = bundle_files(config, ("train.py", "inference.py"))
    tarball = sourcedir_tarball(files)
    assert tarball == sourcedir_tarball(dict(reversed(list(files.items()))))
    with tarfile.open(fileobj=BytesIO(tarball)) as tar:
        names = sorted(tar.getnames())
        assert {"mlops_schema.py", "schema.json", "train.py", "inference.py"} <= set(names)
        assert all(n in ("schema.json", "train.py", "inference.py") or n.startswith("mlops_") for n in names)
        schema = json.loads(tar.extractfile("schema.json").read())  # type: ignore[union-attr]
    assert schema == schema_document(config.dataset)


def test_schema_document_keeps_order_and_rules(config: Config) -> None:
    document = schema_document(config.dataset)
    assert document["key"] == "customer_id" and document["target"] == "churned"
    assert [c["name"] for c in document["columns"]][:3] == ["customer_id", "tenure_months", "monthly_charges"]
    plan = next(c for c in document["columns"] if c["name"] == "plan")
    assert plan == {"name": "plan", "type": "category", "nullable": True, "values": ["basic", "pro", "team"]}
    target = next(c for c in document["columns"] if c["name"] == "churned")
    assert target["nullable"] is False


def test_hyperparameters_are_json_encoded_and_overrides_checked(config: Config) -> None:
    merged = train._hyperparameters(config, {"C": "0.5"})
    assert merged["C"] == 0.5 and merged["algorithm"] == "logistic_regression"
    assert {k: train._encode(v) for k, v in merged.items()}["algorithm"] == '"logistic_regression"'
    with pytest.raises(UsageError, match="unknown hyperparameter 'epochs'"):
        train._hyperparameters(config, {"epochs": "3"})


def test_metric_definitions_parse_the_scripts_lines() -> None:
    import re

    line = "validation:auc=0.851234;\ntrain:auc=0.9;\nvalidation:logloss=4.2e-01;"
    found = {d["Name"]: re.findall(d["Regex"], line) for d in train.metric_definitions("binary")}
    assert found["validation:auc"] == ["0.851234"] and found["validation:logloss"] == ["4.2e-01"]


def test_tuning_ranges_follow_the_api_shapes() -> None:
    config = make_config(
        "train.tuning.strategy=Random",  # Grid takes categorical ranges only
        "train.tuning.ranges={C: {type: continuous, min: 0.01, max: 10, scaling: Logarithmic},"
        " max_depth: {type: integer, min: 2, max: 8}, algorithm: {type: categorical, values: [random_forest]}}",
    )
    ranges = train._parameter_ranges(config)
    assert ranges["ContinuousParameterRanges"] == [
        {"Name": "C", "MinValue": "0.01", "MaxValue": "10.0", "ScalingType": "Logarithmic"}
    ]
    assert ranges["IntegerParameterRanges"] == [
        {"Name": "max_depth", "MinValue": "2", "MaxValue": "8", "ScalingType": "Auto"}
    ]
    assert ranges["CategoricalParameterRanges"] == [{"Name": "algorithm", "Values": ["random_forest"]}]


def test_job_names_fit_aws_limits() -> None:
    names = ResourceNames("a" * 20, "b" * 10, "ap-southeast-2")
    now = dt.datetime(2026, 1, 5, 3, 4, 5)
    for kind in ("pre", "trn", "evl"):
        assert sagemaker_name_problems(names.job_name(kind, now, "ab12")) == []
    tuning = names.tuning_job_name(now)
    assert len(tuning) <= 32 and sagemaker_name_problems(tuning) == []


def test_image_uri_by_region() -> None:
    assert sklearn_image_uri("eu-west-1", "1.4-2") == (
        "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3"
    )
    with pytest.raises(UsageError, match="af-south-1"):
        sklearn_image_uri("af-south-1", "1.4-2")
