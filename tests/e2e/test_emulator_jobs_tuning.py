"""Hyperparameter tuning jobs in the emulator: real trials, the true best, counters, listing and stopping. Against
plain moto 5.2.5 a tuning job is Completed at once with a made-up best job, and the list/stop operations fail."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError

if TYPE_CHECKING:  # the `jobs` fixture's kit, from conftest.py
    from tests.e2e.conftest import JobKit

pytestmark = pytest.mark.e2e

# The score peaks at depth = 13, so the best trial is the one whose sampled depth is closest to 13.
SCORED = """
import sys, time
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
time.sleep(0.4)
print(f"validation:score={-(int(args['--depth']) - int(args['--peak'])) ** 2};")
"""


def tuning_request(jobs: JobKit, name: str, script: str, trials: int, parallel: int) -> dict[str, Any]:
    code = jobs.sourcedir(f"code/{name}/sourcedir.tar.gz", script)
    training = jobs.training_request("unused", code)
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random",
            "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "validation:score"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": trials, "MaxParallelTrainingJobs": parallel},
            "ParameterRanges": {
                "IntegerParameterRanges": [
                    {"Name": "depth", "MinValue": "1", "MaxValue": "25", "ScalingType": "Linear"}
                ]
            },
        },
        "TrainingJobDefinition": {
            "StaticHyperParameters": {**training["HyperParameters"], "peak": "13"},
            "AlgorithmSpecification": {
                "TrainingImage": training["AlgorithmSpecification"]["TrainingImage"],
                "TrainingInputMode": "File",
                "MetricDefinitions": [{"Name": "validation:score", "Regex": r"validation:score=(-?[0-9\.]+)"}],
            },
            "RoleArn": jobs.ROLE,
            "OutputDataConfig": training["OutputDataConfig"],
            "ResourceConfig": training["ResourceConfig"],
            "StoppingCondition": {"MaxRuntimeInSeconds": 60},
        },
    }


def trials_of(jobs: JobKit, name: str, **options: Any) -> list[dict[str, Any]]:
    listed = jobs.sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name, **options
    )
    summaries: list[dict[str, Any]] = listed["TrainingJobSummaries"]
    return summaries


def most_parallel(trials: list[dict[str, Any]]) -> int:
    """The largest number of trials that were training at the same moment."""
    intervals = [(trial["TrainingStartTime"], trial["TrainingEndTime"]) for trial in trials]
    return max(sum(start <= moment < end for start, end in intervals) for moment, _ in intervals)


def test_tuning_job_runs_its_trials_and_finds_the_true_best(jobs: JobKit) -> None:
    name = jobs.name("tune")
    request = tuning_request(jobs, name, SCORED, trials=4, parallel=2)
    arn = jobs.sagemaker.create_hyper_parameter_tuning_job(**request)["HyperParameterTuningJobArn"]
    assert jobs.describe("tuning", name)["HyperParameterTuningJobStatus"] == "InProgress"

    described = jobs.wait("tuning", name, timeout=30)

    assert described["HyperParameterTuningJobStatus"] == "Completed", described.get("FailureReason")
    trials = trials_of(jobs, name)
    assert len(trials) == 4
    assert all(re.fullmatch(rf"{name}-00[1-4]-[0-9a-f]{{8}}", trial["TrainingJobName"]) for trial in trials)
    scores = {}
    for trial in trials:
        depth = int(trial["TunedHyperParameters"]["depth"])
        assert 1 <= depth <= 25
        assert trial["TrainingJobStatus"] == "Completed" and trial["ObjectiveStatus"] == "Succeeded"
        metric = trial["FinalHyperParameterTuningJobObjectiveMetric"]
        assert metric == {"Type": "Maximize", "MetricName": "validation:score", "Value": float(-((depth - 13) ** 2))}
        scores[trial["TrainingJobName"]] = metric["Value"]
    best_name = max(scores, key=lambda trial_name: scores[trial_name])
    best = described["BestTrainingJob"]
    assert best["TrainingJobName"] == best_name
    assert best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == scores[best_name]
    assert (
        best["TunedHyperParameters"]
        == next(t for t in trials if t["TrainingJobName"] == best_name)["TunedHyperParameters"]
    )
    assert described["TrainingJobStatusCounters"] == {
        "Completed": 4,
        "InProgress": 0,
        "RetryableError": 0,
        "NonRetryableError": 0,
        "Stopped": 0,
    }
    assert described["ObjectiveStatusCounters"] == {"Succeeded": 4, "Pending": 0, "Failed": 0}
    assert "OverallBestTrainingJob" not in described
    assert most_parallel(trials) == 2

    by_score = trials_of(jobs, name, SortBy="FinalObjectiveMetricValue", SortOrder="Descending")
    assert by_score[0]["TrainingJobName"] == best_name
    assert [trial["TrainingJobName"] for trial in trials_of(jobs, name, MaxResults=3)] == sorted(scores)[:3]

    trial = jobs.describe("training", best_name)
    assert trial["TuningJobArn"] == arn
    assert trial["HyperParameters"] == {
        **request["TrainingJobDefinition"]["StaticHyperParameters"],
        **best["TunedHyperParameters"],
        "_tuning_objective_metric": "validation:score",
    }
    listed = jobs.sagemaker.list_hyper_parameter_tuning_jobs(NameContains=name)["HyperParameterTuningJobSummaries"]
    assert [(job["HyperParameterTuningJobName"], job["HyperParameterTuningJobStatus"]) for job in listed] == [
        (name, "Completed")
    ]


def test_stopping_a_tuning_job_stops_its_running_trials(jobs: JobKit) -> None:
    name = jobs.name("tune-stop")
    sleeper = "import time\ntime.sleep(60)\n"
    jobs.sagemaker.create_hyper_parameter_tuning_job(**tuning_request(jobs, name, sleeper, trials=4, parallel=2))
    jobs.wait("tuning", name, until=lambda described: described["TrainingJobStatusCounters"]["InProgress"] == 2)

    jobs.sagemaker.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    described = jobs.wait("tuning", name)

    assert described["HyperParameterTuningJobStatus"] == "Stopped"
    assert [trial["TrainingJobStatus"] for trial in trials_of(jobs, name)] == ["Stopped", "Stopped"]
    assert described["TrainingJobStatusCounters"]["Stopped"] == 2
    assert "BestTrainingJob" not in described


def test_tuning_job_whose_trials_all_fail_fails(jobs: JobKit) -> None:
    name = jobs.name("tune-fails")
    failing = "import sys\nprint('no data', file=sys.stderr)\nsys.exit(2)\n"
    jobs.sagemaker.create_hyper_parameter_tuning_job(**tuning_request(jobs, name, failing, trials=2, parallel=2))

    described = jobs.wait("tuning", name, timeout=30)

    assert described["HyperParameterTuningJobStatus"] == "Failed"
    assert described["FailureReason"].startswith("All 2 training jobs failed.")
    assert described["TrainingJobStatusCounters"]["NonRetryableError"] == 2
    assert described["ObjectiveStatusCounters"] == {"Succeeded": 0, "Pending": 0, "Failed": 2}
    assert {trial["ObjectiveStatus"] for trial in trials_of(jobs, name)} == {"Failed"}


def test_tuning_objective_must_be_a_defined_metric(jobs: JobKit) -> None:
    request = tuning_request(jobs, jobs.name("tune-bad"), SCORED, trials=1, parallel=1)
    request["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]["MetricName"] = "validation:auc"
    with pytest.raises(ClientError, match="not defined in the training job definition"):
        jobs.sagemaker.create_hyper_parameter_tuning_job(**request)
