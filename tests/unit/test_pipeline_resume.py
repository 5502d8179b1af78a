"""`mlops pipeline run` after Ctrl-C: a job the interrupted run started (still InProgress, with the input digest a
new job would carry) is waited for, never started a second time — in every run stage (preprocess, train, tune,
evaluate). A running job with other inputs is not the same work: a new one starts.

moto completes every job at once; these tests hold a new job InProgress the way a real one is, interrupt the wait
(KeyboardInterrupt where the poll sleeps), and let the job end at the next poll of the run that follows."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from mlops_cli.aws.session import AwsClients
from mlops_cli.config.models import Config
from mlops_cli.services import jobs, pipeline, preprocess, train
from tests.unit.test_pipeline import newest_first, region  # noqa: F401 (autouse fixtures)
from tests.unit.test_register_runs import backend, preprocessed, registry_config, trained


@pytest.fixture
def config() -> Config:
    return registry_config()


def _run(clients: AwsClients, config: Config, stage: str, **options: Any) -> pipeline.PipelineResult:
    return pipeline.run(clients, config, pipeline.Options(stages=[stage], **options), lambda event: None)


def _all_jobs() -> list[Any]:
    b = backend()
    return [*b.processing_jobs.values(), *b.training_jobs.values(), *b.hyper_parameter_tuning_jobs.values()]


def _status_attribute(job: Any) -> str:
    return next(
        a
        for a in ("processing_job_status", "training_job_status", "hyper_parameter_tuning_job_status")
        if hasattr(job, a)
    )


def _hold_new_jobs_in_progress(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> None:
    """Jobs started through `module.name` stay InProgress (moto would complete them at once)."""
    original: Callable[..., Any] = getattr(module, name)

    def started(*args: Any, **kwargs: Any) -> Any:
        before = {id(job) for job in _all_jobs()}
        result = original(*args, **kwargs)
        for job in _all_jobs():
            if id(job) not in before:
                setattr(job, _status_attribute(job), "InProgress")
        return result

    monkeypatch.setattr(module, name, started)


def _interrupt_the_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(jobs.time, "sleep", interrupted)


def _end_jobs_at_the_next_poll(
    monkeypatch: pytest.MonkeyPatch, on_end: Callable[[Any], None] = lambda job: None
) -> None:
    def poll(seconds: float) -> None:
        for job in _all_jobs():
            if getattr(job, _status_attribute(job)) == "InProgress":
                setattr(job, _status_attribute(job), "Completed")
                on_end(job)

    monkeypatch.setattr(jobs.time, "sleep", poll)


def _interrupted_run(
    monkeypatch: pytest.MonkeyPatch,
    clients: AwsClients,
    config: Config,
    module: Any,
    start: str,
    stage: str,
    **options: Any,
) -> pipeline.PipelineResult:
    """A run of `stage` whose job (started through `module.start`) stays InProgress, and whose wait is interrupted."""
    _hold_new_jobs_in_progress(monkeypatch, module, start)
    _interrupt_the_wait(monkeypatch)
    return _run(clients, config, stage, **options)


def _names(kind: str) -> list[str]:
    b = backend()
    found = {"processing": b.processing_jobs, "training": b.training_jobs, "tuning": b.hyper_parameter_tuning_jobs}
    return sorted(found[kind])


def test_train_after_ctrl_c_waits_for_the_job_it_started(
    clients: AwsClients, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    preprocessed(clients, config)
    interrupted = _interrupted_run(monkeypatch, clients, config, train, "start_training", "train")
    assert interrupted.exit_code == 130
    [started] = _names("training")

    _end_jobs_at_the_next_poll(monkeypatch)
    again = _run(clients, config, "train")
    assert again.exit_code == 0 and _names("training") == [started]  # no second, identical job
    stage = again.stages[0]
    assert (stage.status, stage.figures["training_job"]) == ("ran", started)
    assert "resumed" in stage.summary


def test_a_running_job_with_other_inputs_is_not_waited_for(
    clients: AwsClients, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    preprocessed(clients, config)
    assert _interrupted_run(monkeypatch, clients, config, train, "start_training", "train").exit_code == 130
    [first] = _names("training")

    _end_jobs_at_the_next_poll(monkeypatch)
    other = _run(clients, registry_config("train.hyperparameters.C=0.5"), "train")
    assert other.exit_code == 0 and len(_names("training")) == 2
    assert other.stages[0].figures["training_job"] != first and "resumed" not in other.stages[0].summary


def test_preprocess_after_ctrl_c_waits_for_the_job_it_started(
    clients: AwsClients, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    preprocessed(clients, config)
    backend().processing_jobs.clear()  # the bucket and its raw batch stay; no job has read them yet
    interrupted = _interrupted_run(monkeypatch, clients, config, preprocess, "start_preprocessing", "preprocess")
    assert interrupted.exit_code == 130
    [started] = _names("processing")

    _end_jobs_at_the_next_poll(monkeypatch)
    again = _run(clients, config, "preprocess")
    assert again.exit_code == 0 and _names("processing") == [started]
    assert again.stages[0].status == "ran" and again.stages[0].summary.startswith(f"{started} (resumed")


def test_evaluate_after_ctrl_c_waits_for_the_job_it_started(
    clients: AwsClients, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    preprocessed(clients, config)
    model = trained(clients, config)
    assert _interrupted_run(monkeypatch, clients, config, train, "start_evaluation", "evaluate").exit_code == 130
    evaluations = [name for name in _names("processing") if "-evl-" in name]
    assert len(evaluations) == 1

    def write_evaluation(job: Any) -> None:  # what evaluate.py writes when the job ends
        output = backend().processing_jobs[job.processing_job_name].processing_output_config["Outputs"][0]
        bucket, _, key = output["S3Output"]["S3Uri"].removeprefix("s3://").partition("/")
        body = json.dumps({"metrics": {"auc": 0.83}, "rows": 10}).encode()
        clients.client("s3").put_object(Bucket=bucket, Key=f"{key}/evaluation.json", Body=body)

    _end_jobs_at_the_next_poll(monkeypatch, write_evaluation)
    again = _run(clients, config, "evaluate")
    assert again.exit_code == 0
    assert [name for name in _names("processing") if "-evl-" in name] == evaluations
    stage = again.stages[0]
    assert (stage.status, stage.figures["training_job"], stage.figures["test_auc"]) == ("ran", model, 0.83)
    assert "resumed" in stage.summary


def test_tune_after_ctrl_c_waits_for_the_tuning_job_it_started(
    clients: AwsClients, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    preprocessed(clients, config)
    assert _interrupted_run(monkeypatch, clients, config, train, "start_tuning", "train", tune=True).exit_code == 130
    [started] = _names("tuning")

    # moto lacks ListTrainingJobsForHyperParameterTuningJob and makes up the best trial: give it a real one
    monkeypatch.setattr(train, "tuning_trials", lambda clients, name: [])
    best = trained(clients, config)
    objective = {"Type": "Maximize", "MetricName": "validation:auc", "Value": 0.91}
    backend().hyper_parameter_tuning_jobs[started].best_training_job = {
        "TrainingJobName": best,
        "FinalHyperParameterTuningJobObjectiveMetric": objective,
    }
    _end_jobs_at_the_next_poll(monkeypatch)
    again = _run(clients, config, "train", tune=True)
    assert again.exit_code == 0 and _names("tuning") == [started]
    stage = again.stages[0]
    assert (stage.status, stage.figures["tuning_job"], stage.figures["training_job"]) == ("ran", started, best)
    assert "resumed" in stage.summary
