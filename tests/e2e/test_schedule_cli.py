"""Continuous preprocessing end to end on the emulator: a new batch starts the pipeline, a schedule fires it, a
failing step is reported, and applying again changes nothing."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.e2e.test_storage_cli import ROOT, Cli

pytestmark = pytest.mark.e2e

SCHEDULE = "preprocess.schedule={expression: 'rate(1 minute)', on_new_data: true}"


class ScheduledCli(Cli):
    """The project's CLI with the schedule of this test module in the config."""

    def __call__(self, *args: str, config: str = "configs/local.yaml") -> Any:
        return super().__call__(*args, "--set", SCHEDULE, config=config)


@pytest.fixture(scope="module")
def project(emulator: Any) -> ScheduledCli:
    cli = ScheduledCli(f"sc{int(time.time() * 1000) % 10**9}")
    cli.json("storage", "init")
    cli.json("storage", "upload", "data/churn/ingest_date=2026-01-05")
    applied = cli.json("preprocess", "schedule", "apply")
    assert applied["rule"] and applied["expression"] == "rate(1 minute)"
    return cli


def executions(project: Cli) -> list[dict[str, Any]]:
    return project.json("preprocess", "schedule", "status")["executions"]


def wait_for(project: Cli, predicate: Any, seconds: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = executions(project)
        if predicate(found):
            return found
        time.sleep(1)
    raise AssertionError(f"not within {seconds} s: {executions(project)}")


def finished(execution: dict[str, Any]) -> bool:
    return execution["status"] in ("Succeeded", "Failed", "Stopped")


def test_applying_again_changes_nothing_and_a_new_expression_updates_in_place(project: ScheduledCli) -> None:
    again = project.json("preprocess", "schedule", "apply")
    assert {c["action"] for c in again["controls"]} == {"unchanged"}
    changed = Cli.__call__(
        project,
        "preprocess",
        "schedule",
        "apply",
        "--json",
        "--set",
        "preprocess.schedule={expression: 'rate(5 minutes)', on_new_data: true}",
    )
    assert changed.returncode == 0, changed.stderr
    import json

    updated = {c["name"]: c["action"] for c in json.loads(changed.stdout)["controls"] if c["action"] != "unchanged"}
    assert updated == {"schedule": "updated"}
    assert project.json("preprocess", "schedule", "apply")["expression"] == "rate(1 minute)"  # back for the others


def test_a_new_batch_starts_the_pipeline_which_processes_it(project: ScheduledCli) -> None:
    before = len(executions(project))
    project.json("storage", "upload", "data/churn/ingest_date=2026-01-12")
    found = wait_for(project, lambda runs: len(runs) > before, 15)
    newest = wait_for(project, lambda runs: finished(runs[0]), 60)[0]
    assert newest["status"] == "Succeeded", newest
    [step] = newest["steps"]
    assert step["name"] == "Preprocess" and step["status"] == "Succeeded" and step["job"]
    assert found


def test_a_failing_step_fails_the_execution_with_its_reason(project: ScheduledCli, tmp_path: Path) -> None:
    source = pd.read_csv(ROOT / "data/churn/ingest_date=2026-01-19/customers.csv", dtype=str)
    batch = tmp_path / "ingest_date=2026-02-09"
    batch.mkdir()
    source.drop(columns=["churned"]).head(30).to_csv(batch / "customers.csv", index=False)
    before = len(executions(project))
    project.json("storage", "upload", str(batch))
    wait_for(project, lambda runs: len(runs) > before, 15)
    newest = wait_for(project, lambda runs: finished(runs[0]), 60)[0]
    assert newest["status"] == "Failed"
    [step] = newest["steps"]
    assert step["status"] == "Failed" and "churned" in step["failure_reason"]
    status = project("preprocess", "schedule", "status")
    assert "Failed" in status.stdout and "Preprocess" in status.stdout


@pytest.mark.slow
def test_a_rate_schedule_starts_an_execution_within_a_minute(project: ScheduledCli) -> None:
    seen = {run["arn"] for run in executions(project)}
    runs = wait_for(project, lambda runs: any(run["arn"] not in seen for run in runs), 90)
    assert any(run["arn"] not in seen for run in runs)
