"""The pure parts of the emulator's pipelines: definitions, references, conditions, schedule expressions."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from mlops_cli.emulator.pipelines import conditions, expressions
from mlops_cli.emulator.pipelines.definition import DefinitionError, order, parse
from mlops_cli.emulator.pipelines.execution import job_name
from mlops_cli.emulator.pipelines.resolve import Context, ResolveError, resolve, walk


def test_steps_are_ordered_by_depends_on_and_references() -> None:
    steps = [
        {"Name": "C", "Type": "Fail", "Arguments": {"ErrorMessage": {"Get": "Steps.B.TrainingJobName"}}},
        {"Name": "B", "Type": "Training", "DependsOn": ["A"], "Arguments": {}},
        {"Name": "A", "Type": "Processing", "Arguments": {}},
    ]
    definition = parse(json.dumps({"Version": "2020-12-01", "Steps": steps}))
    assert order(definition) == ["A", "B", "C"]


def test_a_cycle_is_refused() -> None:
    steps = [{"Name": "A", "Type": "Fail", "DependsOn": ["B"]}, {"Name": "B", "Type": "Fail", "DependsOn": ["A"]}]
    with pytest.raises(DefinitionError, match="cycle"):
        parse(json.dumps({"Version": "2020-12-01", "Steps": steps}))


def test_references_resolve() -> None:
    described = {"ProcessingOutputConfig": {"Outputs": [{"OutputName": "train", "S3Output": {"S3Uri": "s3://b/t"}}]}}
    context = Context(
        parameters={"P": 2.5},
        execution={"PipelineExecutionId": "abc"},
        steps={"S": described},
        property_file=lambda step, name: {"a": {"b": [{"c": 7}]}},
    )
    value = {
        "uri": {"Get": "Steps.S.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri"},
        "joined": {
            "Std:Join": {"On": "/", "Values": ["x", {"Get": "Execution.PipelineExecutionId"}, {"Get": "Parameters.P"}]}
        },
        "json": {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.S.PropertyFiles.F"}, "Path": "a.b[0].c"}},
    }
    assert resolve(value, context) == {"uri": "s3://b/t", "joined": "x/abc/2.5", "json": 7}
    with pytest.raises(ResolveError):
        walk(described, "ProcessingOutputConfig.Outputs['test'].S3Output")


def test_conditions() -> None:
    assert conditions.holds({"Type": "LessThanOrEqualTo", "LeftValue": "0.3", "RightValue": 0.3})
    assert not conditions.holds({"Type": "GreaterThan", "LeftValue": 1, "RightValue": 2})
    assert conditions.holds({"Type": "In", "QueryValue": "a", "Values": ["b", "a"]})
    assert conditions.holds({"Type": "Not", "Condition": {"Type": "Equals", "LeftValue": 1, "RightValue": 2}})
    either = {
        "Type": "Or",
        "Conditions": [
            {"Type": "Equals", "LeftValue": "x", "RightValue": "y"},
            {"Type": "LessThan", "LeftValue": 1, "RightValue": 2},
        ],
    }
    assert conditions.all_hold([either])


def test_job_names_fit() -> None:
    assert job_name("abc", "Pre process_" + "x" * 80) == ("pipelines-abc-Pre-process-" + "x" * 80)[:63]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("cron(0 3 * * * *)", "exactly one of"),
        ("cron(0 3 ? * MON)", "6 fields"),
        ("cron(61 3 ? * MON *)", "out of range"),
        ("rate(1 minutes)", "'minute' for 1"),
        ("rate(0 hours)", "positive"),
        ("every day", "invalid ScheduleExpression"),
    ],
)
def test_invalid_expressions(text: str, problem: str) -> None:
    with pytest.raises(expressions.ExpressionError, match=problem):
        expressions.parse(text)


def test_next_fire_times() -> None:
    after = datetime(2024, 6, 3, 1, 30, tzinfo=UTC)  # a Monday
    cron = expressions.parse("cron(0 3 ? * MON *)")
    assert expressions.next_after(cron, after, "Europe/Berlin", after) == datetime(2024, 6, 10, 1, 0, tzinfo=UTC)
    assert expressions.next_after(cron, after, "UTC", after) == datetime(2024, 6, 3, 3, 0, tzinfo=UTC)
    every = expressions.parse("cron(*/15 * * * ? *)")
    assert expressions.next_after(every, after, None, after) == datetime(2024, 6, 3, 1, 45, tzinfo=UTC)
    rate = expressions.parse("rate(5 minutes)")
    anchor = datetime(2024, 6, 3, 1, 0, tzinfo=UTC)
    assert expressions.next_after(rate, after, None, anchor) == datetime(2024, 6, 3, 1, 35, tzinfo=UTC)
    at = expressions.parse("at(2024-06-03T05:00:00)")
    assert expressions.next_after(at, after, "UTC", after) == datetime(2024, 6, 3, 5, 0, tzinfo=UTC)
    assert expressions.next_after(at, datetime(2024, 7, 1, tzinfo=UTC), "UTC", after) is None
