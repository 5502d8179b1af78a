"""Scheduled preprocessing: the pipeline definition, expressions, the starters' roles, apply/delete convergence and
the crontab line (executed with bash)."""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mlops_cli.aws.session import AwsClients
from mlops_cli.config.models import Config
from mlops_cli.errors import ConfigError, UsageError
from mlops_cli.services import pipeline_definition as pd
from mlops_cli.services import preprocess, schedule
from mlops_cli.services.convergence import Action
from tests.unit.conftest import make_config

REGION, ACCOUNT = "eu-west-1", "123456789012"
BUCKET = f"churn-local-{ACCOUNT}-{REGION}-data"


def schedule_config(*overrides: str) -> Config:
    return make_config(
        "storage.encryption=s3",
        "preprocess.schedule.expression=rate(1 day)",
        "preprocess.schedule.on_new_data=true",
        *overrides,
    )


@pytest.fixture
def config() -> Config:
    return schedule_config()


@pytest.fixture
def bucket(clients: AwsClients) -> str:
    s3 = clients.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket=BUCKET, Key="raw/churn/ingest_date=2026-01-05/customers.csv", Body=b"customer_id\n1\n")
    return BUCKET


def inputs(clients: AwsClients, config: Config) -> pd.PipelineInputs:
    return schedule.pipeline_inputs(clients, config)


# --- expressions ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "rule"),
    [
        ("cron(0 3 * * * *)", "exactly one of day-of-month and day-of-week"),
        ("cron(0 3 * * ?)", "has 5 fields"),
        ("cron(61 3 * * ? *)", "minutes field: 61 is outside 0-59"),
        ("rate(1 days)", "singular unit for 1"),
        ("rate(0 minutes)", "at least 1"),
        ("every day", "neither rate(...) nor cron(...)"),
    ],
)
def test_a_bad_expression_is_a_config_error_naming_the_rule(expression: str, rule: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make_config(f"preprocess.schedule.expression={expression}")
    assert caught.value.exit_code == 2
    assert rule in str(caught.value)


def test_an_unknown_schedule_setting_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        make_config("preprocess.schedule.expression=rate(1 day)", "preprocess.schedule.cron_expr=x")


def test_next_runs_of_cron_and_rate() -> None:
    after = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)  # a Monday
    runs = schedule.next_runs("cron(30 3 ? * MON-FRI *)", "UTC", after, 3)
    assert runs == [dt.datetime(2026, 3, d, 3, 30, tzinfo=dt.UTC) for d in (3, 4, 5)]
    berlin = schedule.next_runs("cron(0 3 * * ? *)", "Europe/Berlin", after, 1)
    assert berlin == [dt.datetime(2026, 3, 3, 2, 0, tzinfo=dt.UTC)]
    assert schedule.next_runs("rate(2 hours)", "UTC", after, 2) == [
        after + dt.timedelta(hours=2),
        after + dt.timedelta(hours=4),
    ]


# --- definition ----------------------------------------------------------------------------------------------------


def test_the_processing_step_is_the_preprocess_run_request(
    clients: AwsClients, config: Config, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: dict[str, Any] = {}
    monkeypatch.setattr(
        clients.client("sagemaker"), "create_processing_job", lambda **request: sent.update(request), raising=False
    )
    preprocess.start_preprocessing(clients, config)
    definition = pd.build_definition(clients, config, inputs(clients, config))
    step = definition["Steps"][0]
    assert definition["Version"] == "2020-12-01"
    assert [p["Name"] for p in definition["Parameters"]] == ["InputPrefix", "BatchDate"]
    assert definition["Parameters"][0]["DefaultValue"] == f"s3://{bucket}/raw/churn/"
    arguments = copy.deepcopy(step["Arguments"])
    raw = next(i for i in arguments["ProcessingInputs"] if i["InputName"] == "raw")
    assert raw["S3Input"]["S3Uri"] == {"Get": "Parameters.InputPrefix"}
    for output in arguments["ProcessingOutputConfig"]["Outputs"]:
        assert output["S3Output"]["S3Uri"] == {
            "Std:Join": {
                "On": "/",
                "Values": [
                    f"s3://{bucket}/processed/churn",
                    {"Get": "Execution.PipelineExecutionId"},
                    output["OutputName"],
                ],
            }
        }
    # apart from the name, the S3 locations and the digest of the data it read (`mlops pipeline run` compares it),
    # exactly what `preprocess run` sends
    sent.pop("ProcessingJobName")
    sent["Tags"] = [tag for tag in sent["Tags"] if tag["Key"] != "mlops:input-digest"]
    for request in (sent, arguments):
        for item in request["ProcessingInputs"]:
            item["S3Input"]["S3Uri"] = "-"
        for output in request["ProcessingOutputConfig"]["Outputs"]:
            output["S3Output"]["S3Uri"] = "-"
    assert arguments == sent


def test_continuous_training_adds_train_evaluate_condition_register(clients: AwsClients, bucket: str) -> None:
    config = schedule_config("preprocess.schedule.continuous_training=true", "register.min_metric=0.8")
    definition = pd.build_definition(clients, config, inputs(clients, config))
    steps = {s["Name"]: s for s in pd.all_steps(definition["Steps"])}
    assert [s["Name"] for s in definition["Steps"]] == ["Preprocess", "Train", "Evaluate", "CheckObjective"]
    channel = steps["Train"]["Arguments"]["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"]
    assert channel == {"Get": "Steps.Preprocess.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri"}
    assert steps["Evaluate"]["PropertyFiles"][0]["PropertyFileName"] == "EvaluationReport"
    condition = steps["CheckObjective"]["Arguments"]["Conditions"][0]
    assert condition["Type"] == "GreaterThanOrEqualTo"
    assert condition["LeftValue"]["Std:JsonGet"]["Path"] == "metrics.auc"
    assert {"Name": "MinMetric", "Type": "Float", "DefaultValue": 0.8} in definition["Parameters"]
    assert steps["Register"]["Arguments"]["ModelApprovalStatus"] == "PendingManualApproval"
    assert pd.definition_problems(definition) == []


@pytest.mark.parametrize(
    ("breakage", "problem"),
    [
        (lambda d: d["Steps"].append(copy.deepcopy(d["Steps"][0])), "used twice"),
        (lambda d: d["Steps"][0].update(DependsOn=["Nowhere"]), "unknown step 'Nowhere'"),
        (lambda d: d["Parameters"].__setitem__(0, {**d["Parameters"][0], "Name": "Input_Prefix"}), "no '_'"),
        (
            lambda d: d["Steps"][0]["Arguments"]["ProcessingInputs"][1]["S3Input"].update(S3Uri={"Get": "Steps.X.Y"}),
            "unknown step 'X'",
        ),
    ],
)
def test_a_broken_definition_is_rejected(
    clients: AwsClients, config: Config, bucket: str, breakage: Any, problem: str
) -> None:
    definition = pd.build_definition(clients, config, inputs(clients, config))
    breakage(definition)
    with pytest.raises(ConfigError) as caught:
        pd.validate_definition(definition)
    assert problem in str(caught.value)


# --- roles ---------------------------------------------------------------------------------------------------------


def role_policy(clients: AwsClients, role: str) -> dict[str, Any]:
    document = clients.client("iam").get_role_policy(RoleName=role, PolicyName=schedule.POLICY_NAME)["PolicyDocument"]
    return json.loads(document) if isinstance(document, str) else document


def test_starter_roles_may_only_start_this_pipeline(clients: AwsClients, config: Config, bucket: str) -> None:
    result = schedule.apply(clients, config)
    iam = clients.client("iam")
    for role, service in (
        ("churn-local-scheduler", "scheduler.amazonaws.com"),
        ("churn-local-events", "events.amazonaws.com"),
    ):
        trust = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
        assert [s["Principal"]["Service"] for s in trust["Statement"]] == [service]
        statements = role_policy(clients, role)["Statement"]
        sagemaker = [s for s in statements if str(s["Action"]).startswith("sagemaker:")]
        assert sagemaker == [
            {
                "Sid": "StartThisPipeline",
                "Effect": "Allow",
                "Action": "sagemaker:StartPipelineExecution",
                "Resource": result.pipeline_arn,
            }
        ]
        assert all(s["Action"] in ("sagemaker:StartPipelineExecution", "sqs:SendMessage") for s in statements)
    passes = [s for s in role_policy(clients, "churn-local-pipeline")["Statement"] if s["Action"] == "iam:PassRole"]
    assert [s["Resource"] for s in passes] == [f"arn:aws:iam::{ACCOUNT}:role/churn-local-sagemaker-execution"]
    assert "*" not in json.dumps(role_policy(clients, "churn-local-pipeline")).replace("-*", "").replace("/*", "")


# --- apply / delete ------------------------------------------------------------------------------------------------


def test_apply_creates_then_changes_nothing(clients: AwsClients, config: Config, bucket: str) -> None:
    first = schedule.apply(clients, config)
    assert {c.action for c in first.controls} == {Action.CREATED}
    found = clients.client("scheduler").get_schedule(Name="churn-local-preprocess")
    assert found["ScheduleExpression"] == "rate(1 day)"
    assert found["Target"]["Arn"] == first.pipeline_arn
    assert found["Target"]["DeadLetterConfig"]["Arn"].endswith(":churn-local-schedule-dlq")
    rule = clients.client("events").describe_rule(Name="churn-local-new-data")
    assert json.loads(rule["EventPattern"])["detail"]["object"]["key"] == [{"prefix": "raw/churn/"}]
    clients.call_log.calls.clear()
    again = schedule.apply(clients, config)
    assert {c.action for c in again.controls} == {Action.UNCHANGED}
    assert clients.call_log.writes() == {}


def test_a_changed_expression_updates_the_schedule_in_place(clients: AwsClients, config: Config, bucket: str) -> None:
    schedule.apply(clients, config)
    changed = schedule_config(
        "preprocess.schedule.expression=cron(0 3 * * ? *)", "preprocess.schedule.timezone=Europe/Berlin"
    )
    result = schedule.apply(clients, changed)
    actions = {c.name: c.action for c in result.controls}
    assert actions["schedule"] == Action.UPDATED
    assert {a for n, a in actions.items() if n != "schedule"} == {Action.UNCHANGED}
    found = clients.client("scheduler").get_schedule(Name="churn-local-preprocess")
    assert (found["ScheduleExpression"], found["ScheduleExpressionTimezone"]) == ("cron(0 3 * * ? *)", "Europe/Berlin")


def test_pause_resume_and_status(
    clients: AwsClients, config: Config, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # moto 5.2.5 lacks ListPipelineExecutionSteps (the emulator adds it): one failed step stands in
    steps = {
        "PipelineExecutionSteps": [
            {
                "StepName": "Preprocess",
                "StepStatus": "Failed",
                "FailureReason": "bad rows",
                "Metadata": {"ProcessingJob": {"Arn": "arn:aws:sagemaker:eu-west-1:1:processing-job/pipelines-x"}},
            }
        ]
    }
    monkeypatch.setattr(clients.client("sagemaker"), "list_pipeline_execution_steps", lambda **_: steps, raising=False)
    schedule.apply(clients, config)
    assert schedule.set_enabled(clients, config, False) == {"schedule": "DISABLED", "rule": "DISABLED"}
    paused = schedule.status(clients, config)
    assert (paused.state, paused.rule_state, paused.next_runs) == ("DISABLED", "DISABLED", [])
    schedule.set_enabled(clients, config, True)
    resumed = schedule.status(clients, config)
    assert resumed.state == "ENABLED" and len(resumed.next_runs) == 3
    arn = schedule.run_now(clients, config)
    executions = schedule.status(clients, config).executions
    assert [e.arn for e in executions] == [arn]
    assert [(s.name, s.status, s.job, s.failure_reason) for s in executions[0].steps] == [
        ("Preprocess", "Failed", "pipelines-x", "bad rows")
    ]


def test_delete_twice_succeeds(clients: AwsClients, config: Config, bucket: str) -> None:
    schedule.apply(clients, config)
    first = schedule.delete(clients, config)
    assert first.absent == []
    second = schedule.delete(clients, config)
    assert second.deleted == []
    assert schedule.status(clients, config).pipeline_exists is False


def test_apply_without_a_schedule_is_a_usage_error(clients: AwsClients) -> None:
    with pytest.raises(UsageError):
        schedule.apply(clients, make_config("storage.encryption=s3"))


# --- cron line -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "fields"),
    [
        ("rate(1 day)", "0 0 * * *"),
        ("rate(15 minutes)", "*/15 * * * *"),
        ("rate(6 hours)", "0 */6 * * *"),
        ("cron(0 3 ? * 2-6 *)", "0 3 * * 1-5"),
        ("cron(30 2 1 * ? *)", "30 2 1 * *"),
    ],
)
def test_crontab_fields(expression: str, fields: str) -> None:
    assert schedule.crontab_schedule(expression) == fields


@pytest.mark.skipif(shutil.which("flock") is None, reason="needs util-linux flock")
@pytest.mark.parametrize("exit_code", [0, 1])
def test_the_cron_line_runs_under_a_lock_logs_and_fails_loudly(tmp_path: Path, exit_code: int) -> None:
    stub_dir = tmp_path / "bin"
    stub_dir.mkdir()
    record = tmp_path / "args.txt"
    stub = stub_dir / "mlops"
    stub.write_text(f'#!/bin/bash\necho "$@" > {record}\necho "ran mlops"\necho oops >&2\nexit {exit_code}\n')
    stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    config_file = tmp_path / "configs" / "prod.yaml"
    state = tmp_path / "state"
    line = schedule.cron_line(schedule_config(), config_file, executable=str(stub), state_dir=state)
    fields, command = line.split(" ", 5)[:5], line.split(" ", 5)[5]
    assert " ".join(fields) == "0 0 * * *"
    env = {**os.environ, "PATH": f"{stub_dir}:/usr/bin:/bin"}
    done = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == exit_code
    assert record.read_text().split() == ["preprocess", "run", "--wait", "-c", str(config_file.resolve()), "--json"]
    log = (state / "churn-local-preprocess.log").read_text()
    assert "ran mlops" in log and "oops" in log
    # while another run holds the lock, the line exits non-zero at once and mlops does not start
    record.unlink()
    with open(state / "churn-local-preprocess.lock", "w") as held:
        import fcntl

        fcntl.flock(held, fcntl.LOCK_EX)
        locked = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, check=False)
    assert locked.returncode != 0
    assert not record.exists()
