"""SageMaker pipeline executions that run their steps on the emulator (moto 5.2.5 marks them Succeeded at once and
runs nothing): jobs in dependency order, references between steps, failures, conditions, stop."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from tests.e2e.conftest import JobKit

pytestmark = pytest.mark.e2e

IMAGE = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3"

# Copies its input folder's files to its output with a line added, and writes a report with a score.
PREPARE = """
import json, os, sys
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
names = sorted(os.listdir(args["--in"])) if os.path.isdir(args["--in"]) else []
for name in names:
    text = open(os.path.join(args["--in"], name)).read()
    open(os.path.join(args["--out"], name), "w").write(text + args["--tag"] + "\\n")
json.dump({"metrics": {"score": {"value": float(args["--score"])}}, "files": names},
          open(os.path.join(args["--out"], "report.json"), "w"))
print("prepared", names)
"""

FAIL = """
import sys
open(sys.argv[1] + "/message", "w").write("bad batch: no rows")
sys.exit(2)
"""


def processing_step(
    jobs: JobKit, name: str, code: str, input_uri: Any, output_uri: Any, **extra: Any
) -> dict[str, Any]:
    arguments = {
        "RoleArn": jobs.ROLE,
        "AppSpecification": {
            "ImageUri": IMAGE,
            "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/job.py"],
            "ContainerArguments": extra.pop("arguments", None)
            or [
                *("--in", "/opt/ml/processing/input/data", "--out", "/opt/ml/processing/output/data"),
                *("--tag", {"Get": "Execution.PipelineExecutionId"}, "--score", {"Get": "Parameters.Score"}),
            ],
        },
        "ProcessingInputs": [
            _input("code", code, "/opt/ml/processing/input/code"),
            _input("data", input_uri, "/opt/ml/processing/input/data"),
        ],
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": "data",
                    "S3Output": {
                        "S3Uri": output_uri,
                        "LocalPath": "/opt/ml/processing/output/data",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
        "ProcessingResources": {
            "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 1}
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 60},
    }
    return {"Name": name, "Type": "Processing", "Arguments": arguments, **extra}


def _input(name: str, uri: Any, path: str) -> dict[str, Any]:
    return {
        "InputName": name,
        "S3Input": {
            "S3Uri": uri,
            "LocalPath": path,
            "S3DataType": "S3Prefix",
            "S3InputMode": "File",
            "S3DataDistributionType": "FullyReplicated",
        },
    }


def definition(steps: list[dict[str, Any]], score: float = 0.9) -> str:
    parameters = [
        {"Name": "InputData", "Type": "String", "DefaultValue": "s3://nowhere/raw/"},
        {"Name": "Score", "Type": "Float", "DefaultValue": score},
        {"Name": "Mode", "Type": "String", "DefaultValue": "full"},
    ]
    return json.dumps({"Version": "2020-12-01", "Metadata": {}, "Parameters": parameters, "Steps": steps})


def create(jobs: JobKit, prefix: str, steps: list[dict[str, Any]]) -> str:
    name = jobs.name(prefix)
    jobs.sagemaker.create_pipeline(PipelineName=name, PipelineDefinition=definition(steps), RoleArn=jobs.ROLE)
    return name


def wait_execution(jobs: JobKit, arn: str, timeout: float = 40.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        described = dict(jobs.sagemaker.describe_pipeline_execution(PipelineExecutionArn=arn))
        if described["PipelineExecutionStatus"] not in ("Executing", "Stopping"):
            return described
        assert time.monotonic() < deadline, f"execution {arn} still {described['PipelineExecutionStatus']}"
        time.sleep(0.3)


def steps_of(jobs: JobKit, arn: str) -> dict[str, dict[str, Any]]:
    listed = jobs.sagemaker.list_pipeline_execution_steps(PipelineExecutionArn=arn)["PipelineExecutionSteps"]
    return {step["StepName"]: step for step in listed}


def test_steps_run_in_order_with_references_and_parameters(jobs: JobKit) -> None:
    code = jobs.put("prepare/job.py", PREPARE)
    jobs.put("raw/batch-1/a.csv", "x,y")
    first = processing_step(jobs, "Prepare", code, {"Get": "Parameters.InputData"}, f"s3://{jobs.bucket}/prepared")
    second = processing_step(
        jobs,
        "Again",
        code,
        {"Get": "Steps.Prepare.ProcessingOutputConfig.Outputs['data'].S3Output.S3Uri"},
        {"Std:Join": {"On": "/", "Values": [f"s3://{jobs.bucket}", "again", {"Get": "Execution.PipelineExecutionId"}]}},
    )
    name = create(jobs, "ordered", [second, first])  # order in the definition does not matter
    arn = jobs.sagemaker.start_pipeline_execution(
        PipelineName=name, PipelineParameters=[{"Name": "InputData", "Value": f"s3://{jobs.bucket}/raw/batch-1/"}]
    )["PipelineExecutionArn"]
    assert (
        jobs.sagemaker.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"] == "Executing"
    )

    described = wait_execution(jobs, arn)
    assert described["PipelineExecutionStatus"] == "Succeeded", described.get("FailureReason")
    steps = steps_of(jobs, arn)
    assert {step: steps[step]["StepStatus"] for step in steps} == {"Prepare": "Succeeded", "Again": "Succeeded"}
    assert steps["Again"]["StartTime"] >= steps["Prepare"]["EndTime"]
    execution_id = arn.rsplit("/", 1)[1]
    job = jobs.describe("processing", f"pipelines-{execution_id}-Prepare")
    assert steps["Prepare"]["Metadata"] == {"ProcessingJob": {"Arn": job["ProcessingJobArn"]}}
    twice = jobs.s3.get_object(Bucket=jobs.bucket, Key=f"again/{execution_id}/a.csv")["Body"].read().decode()
    assert twice == f"x,y{execution_id}\n{execution_id}\n"
    summaries = jobs.sagemaker.list_pipeline_executions(PipelineName=name)["PipelineExecutionSummaries"]
    assert [(item["PipelineExecutionArn"], item["PipelineExecutionStatus"]) for item in summaries] == [
        (arn, "Succeeded")
    ]


def test_a_failing_step_fails_the_execution_and_skips_the_rest(jobs: JobKit) -> None:
    fail = jobs.put("fail/job.py", FAIL)
    code = jobs.put("prepare/job.py", PREPARE)
    broken = processing_step(
        jobs, "Broken", fail, f"s3://{jobs.bucket}/prepare/", f"s3://{jobs.bucket}/out", arguments=["/opt/ml/output"]
    )
    after = processing_step(jobs, "After", code, f"s3://{jobs.bucket}/prepare/", f"s3://{jobs.bucket}/after")
    after["DependsOn"] = ["Broken"]
    name = create(jobs, "failing", [broken, after])
    arn = jobs.sagemaker.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]

    described = wait_execution(jobs, arn)
    assert described["PipelineExecutionStatus"] == "Failed"
    assert "Broken" in described["FailureReason"] and "bad batch: no rows" in described["FailureReason"]
    steps = steps_of(jobs, arn)
    assert list(steps) == ["Broken"]
    assert steps["Broken"]["StepStatus"] == "Failed"
    assert "bad batch: no rows" in steps["Broken"]["FailureReason"]


def test_a_condition_on_a_property_file_and_a_parameter_chooses_the_branch(jobs: JobKit) -> None:
    code = jobs.put("prepare/job.py", PREPARE)
    jobs.put("raw/r.csv", "1")
    evaluate = processing_step(jobs, "Evaluate", code, f"s3://{jobs.bucket}/raw/", f"s3://{jobs.bucket}/eval")
    evaluate["PropertyFiles"] = [{"PropertyFileName": "Report", "OutputName": "data", "FilePath": "report.json"}]
    score = {
        "Std:JsonGet": {"PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.Report"}, "Path": "metrics.score.value"}
    }
    check = {
        "Name": "Check",
        "Type": "Condition",
        "Arguments": {
            "Conditions": [
                {"Type": "GreaterThanOrEqualTo", "LeftValue": score, "RightValue": 0.5},
                {"Type": "In", "QueryValue": {"Get": "Parameters.Mode"}, "Values": ["full", "quick"]},
            ],
            "IfSteps": [{"Name": "Good", "Type": "Fail", "Arguments": {"ErrorMessage": "(if branch)"}}],
            "ElseSteps": [
                {
                    "Name": "TooLow",
                    "Type": "Fail",
                    "Arguments": {"ErrorMessage": {"Std:Join": {"On": " ", "Values": ["score", score]}}},
                }
            ],
        },
    }
    name = create(jobs, "condition", [evaluate, check])
    low = jobs.sagemaker.start_pipeline_execution(
        PipelineName=name, PipelineParameters=[{"Name": "Score", "Value": "0.2"}]
    )
    described = wait_execution(jobs, low["PipelineExecutionArn"])
    assert described["PipelineExecutionStatus"] == "Failed"
    steps = steps_of(jobs, low["PipelineExecutionArn"])
    assert steps["Check"]["Metadata"] == {"Condition": {"Outcome": "False"}}
    assert set(steps) == {"Evaluate", "Check", "TooLow"}
    assert steps["TooLow"]["Metadata"] == {"Fail": {"ErrorMessage": "score 0.2"}}

    high = jobs.sagemaker.start_pipeline_execution(PipelineName=name)  # Score defaults to 0.9
    steps = steps_of(jobs, high["PipelineExecutionArn"]) if wait_execution(jobs, high["PipelineExecutionArn"]) else {}
    assert steps["Check"]["Metadata"] == {"Condition": {"Outcome": "True"}}
    assert set(steps) == {"Evaluate", "Check", "Good"}


def test_invalid_definitions_are_refused(jobs: JobKit) -> None:
    cases = {
        "not json": "not valid JSON",
        json.dumps({"Version": "2019-01-01", "Steps": [{"Name": "A", "Type": "Fail"}]}): "Version",
        json.dumps(
            {"Version": "2020-12-01", "Steps": [{"Name": "A", "Type": "Fail"}, {"Name": "A", "Type": "Fail"}]}
        ): "used twice",
        json.dumps({"Version": "2020-12-01", "Steps": [{"Name": "A", "Type": "Magic"}]}): "unknown Type",
        json.dumps({"Version": "2020-12-01", "Steps": [{"Name": "A", "Type": "Fail", "DependsOn": ["B"]}]}): "'B'",
        json.dumps(
            {
                "Version": "2020-12-01",
                "Steps": [{"Name": "A", "Type": "Fail", "Arguments": {"ErrorMessage": {"Get": "Parameters.X"}}}],
            }
        ): "parameter 'X'",
    }
    for text, message in cases.items():
        with pytest.raises(ClientError) as raised:
            jobs.sagemaker.create_pipeline(PipelineName=jobs.name("bad"), PipelineDefinition=text, RoleArn=jobs.ROLE)
        assert raised.value.response["Error"]["Code"] == "ValidationException"
        assert message in raised.value.response["Error"]["Message"]


def test_an_object_under_a_rules_prefix_starts_the_pipeline_with_the_targets_parameters(
    jobs: JobKit, emulator_client: Any
) -> None:
    events = emulator_client("events")
    code = jobs.put("prepare/job.py", PREPARE)
    step = processing_step(jobs, "Prepare", code, {"Get": "Parameters.InputData"}, f"s3://{jobs.bucket}/prepared")
    name = create(jobs, "triggered", [step])
    pipeline_arn = jobs.sagemaker.describe_pipeline(PipelineName=name)["PipelineArn"]
    jobs.s3.put_bucket_notification_configuration(
        Bucket=jobs.bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    pattern = {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [jobs.bucket]}, "object": {"key": [{"prefix": "incoming/"}]}},
    }
    rule = jobs.name("incoming")
    events.put_rule(Name=rule, EventPattern=json.dumps(pattern))
    parameters = [{"Name": "InputData", "Value": f"s3://{jobs.bucket}/incoming/"}]
    target = {
        "Id": "pipeline",
        "Arn": pipeline_arn,
        "RoleArn": "arn:aws:iam::123456789012:role/events-start-pipeline",
        "SageMakerPipelineParameters": {"PipelineParameterList": parameters},
    }
    events.put_targets(Rule=rule, Targets=[target])
    try:
        jobs.put("elsewhere/x.csv", "1")  # outside the prefix: nothing starts
        jobs.put("incoming/batch.csv", "a,b")
        deadline = time.monotonic() + 5
        while not (
            summaries := jobs.sagemaker.list_pipeline_executions(PipelineName=name)["PipelineExecutionSummaries"]
        ):
            assert time.monotonic() < deadline, "no execution started within 5 s"
            time.sleep(0.2)
        time.sleep(0.5)
        summaries = jobs.sagemaker.list_pipeline_executions(PipelineName=name)["PipelineExecutionSummaries"]
        assert len(summaries) == 1
        arn = summaries[0]["PipelineExecutionArn"]
        given = jobs.sagemaker.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn)["PipelineParameters"]
        assert given == parameters
        assert wait_execution(jobs, arn)["PipelineExecutionStatus"] == "Succeeded"
        assert jobs.s3.get_object(Bucket=jobs.bucket, Key="prepared/batch.csv")["Body"].read().startswith(b"a,b")
    finally:
        events.remove_targets(Rule=rule, Ids=["pipeline"])
        events.delete_rule(Name=rule)


def schedule_target(pipeline_arn: str, value: str) -> dict[str, Any]:
    return {
        "Arn": pipeline_arn,
        "RoleArn": "arn:aws:iam::123456789012:role/scheduler-start-pipeline",
        "SageMakerPipelineParameters": {"PipelineParameterList": [{"Name": "InputData", "Value": value}]},
    }


def test_an_invalid_schedule_expression_is_refused(jobs: JobKit, emulator_client: Any) -> None:
    scheduler = emulator_client("scheduler")
    target = schedule_target("arn:aws:sagemaker:eu-west-1:123456789012:pipeline/none", "s3://b/")
    with pytest.raises(ClientError) as raised:
        scheduler.create_schedule(
            Name=jobs.name("bad-cron"),
            ScheduleExpression="cron(0 3 * * MON *)",
            FlexibleTimeWindow={"Mode": "OFF"},
            Target=target,
        )
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert "day-of-month and day-of-week" in raised.value.response["Error"]["Message"]


@pytest.mark.slow
def test_a_rate_schedule_fires_within_about_a_minute(jobs: JobKit, emulator_client: Any) -> None:
    scheduler = emulator_client("scheduler")
    code = jobs.put("prepare/job.py", PREPARE)
    step = processing_step(jobs, "Prepare", code, {"Get": "Parameters.InputData"}, f"s3://{jobs.bucket}/prepared")
    name = create(jobs, "scheduled", [step])
    pipeline_arn = jobs.sagemaker.describe_pipeline(PipelineName=name)["PipelineArn"]
    schedule = jobs.name("every-minute")
    scheduler.create_schedule(
        Name=schedule,
        ScheduleExpression="rate(1 minute)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target=schedule_target(pipeline_arn, f"s3://{jobs.bucket}/prepare/"),
        State="ENABLED",
    )
    try:
        deadline = time.monotonic() + 85
        while not jobs.sagemaker.list_pipeline_executions(PipelineName=name)["PipelineExecutionSummaries"]:
            assert time.monotonic() < deadline, "the schedule did not fire"
            time.sleep(1)
    finally:
        scheduler.delete_schedule(Name=schedule)
