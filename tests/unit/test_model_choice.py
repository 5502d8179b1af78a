"""Which model evaluate, register and the pipeline take: `latest` is the best trial of the newest tuning job when
it is newer than the newest training job (never merely the newest trial), a name takes that job, and the output
says which and why.

moto completes a tuning job at once with a made-up best training job; each test sets the best trial the tuner
would report, and real (moto) training jobs named as SageMaker names a tuning job's trials."""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace
from typing import Any

import pytest

from mlops_cli.aws.session import AwsClients
from mlops_cli.config.models import Config
from mlops_cli.errors import PreconditionFailed, UsageError
from mlops_cli.services import pipeline, preprocess, register, train
from tests.unit.test_cli_errors import run
from tests.unit.test_pipeline import newest_first, region  # noqa: F401 (autouse fixtures)
from tests.unit.test_register_runs import backend, preprocessed, registry_config, trained

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
CLI_SETTINGS = ["--set", "aws.endpoint_url=", "--set", "storage.encryption=s3"]


@pytest.fixture
def config() -> Config:
    return registry_config()


def _at(job_name: str, minutes: int, kind: str = "training") -> None:
    """Pin a job's creation time (moto stamps the wall clock; the order is what these tests are about)."""
    jobs = backend().training_jobs if kind == "training" else backend().hyper_parameter_tuning_jobs
    jobs[job_name].creation_time = T0 + dt.timedelta(minutes=minutes)


def _trial(clients: AwsClients, like: str, name: str, auc: float) -> str:
    """A completed training job named like a tuning job's trial, on the same data as `like`."""
    sagemaker = clients.client("sagemaker")
    d = sagemaker.describe_training_job(TrainingJobName=like)
    sagemaker.create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={
            "TrainingImage": d["AlgorithmSpecification"]["TrainingImage"],
            "TrainingInputMode": "File",
        },
        RoleArn=d["RoleArn"],
        InputDataConfig=d["InputDataConfig"],
        OutputDataConfig=d["OutputDataConfig"],
        ResourceConfig=d["ResourceConfig"],
        StoppingCondition=d["StoppingCondition"],
        HyperParameters={"C": "0.5"},
    )
    backend().training_jobs[name].final_metric_data_list = [
        {"MetricName": "validation:auc", "Value": auc, "Timestamp": T0}
    ]
    return name


def _tuned(clients: AwsClients, config: Config, like: str, at: int) -> tuple[str, str, str]:
    """A completed tuning job created `at` minutes after T0 whose best trial (001, AUC 0.8348) is older than its
    newest trial (004, AUC 0.8308). Returns (tuning job, best trial, newest trial)."""
    name = train.start_tuning(clients, config).job_name
    best = _trial(clients, like, f"{name}-001-1a2b3c4d", 0.8348)
    newest = _trial(clients, like, f"{name}-004-5e6f7a8b", 0.8308)
    _at(name, at, "tuning")
    _at(best, at + 1)
    _at(newest, at + 9)
    backend().hyper_parameter_tuning_jobs[name].best_training_job = {
        "TrainingJobName": best,
        "TrainingJobStatus": "Completed",
        "FinalHyperParameterTuningJobObjectiveMetric": {
            "Type": "Maximize",
            "MetricName": "validation:auc",
            "Value": 0.8348,
        },
    }
    return name, best, newest


@pytest.fixture
def plain(clients: AwsClients, config: Config) -> str:
    """A training job of `train run`, created at T0."""
    preprocessed(clients, config)
    job = trained(clients, config, {"validation:auc": 0.8100})
    _at(job, 0)
    return job


def test_latest_is_the_best_trial_of_a_newer_tuning_job_not_its_newest_trial(
    clients: AwsClients, config: Config, plain: str
) -> None:
    tuning, best, newest = _tuned(clients, config, plain, at=10)
    reason = f"best of tuning job {tuning} (validation:auc 0.8348)"
    registration = register.register_model(clients, config)
    assert registration.version.training_job == best != newest
    assert registration.chosen == reason
    evaluation = train.start_evaluation(clients, config)
    assert (evaluation.training_job, evaluation.chosen) == (best, reason)
    choice = train.choose_model(clients, config)
    assert (choice.training_job, choice.tuning_job, choice.reason) == (best, tuning, reason)
    assert (choice.objective_metric, choice.objective_value) == ("validation:auc", 0.8348)


def test_a_training_job_newer_than_the_newest_tuning_job_is_latest(
    clients: AwsClients, config: Config, plain: str
) -> None:
    _tuned(clients, config, plain, at=-30)  # tuned before the plain job
    assert register.register_model(clients, config, "latest").version.training_job == plain
    choice = train.choose_model(clients, config)
    assert (choice.training_job, choice.reason, choice.tuning_job) == (plain, "newest training job", None)


def test_a_job_named_explicitly_is_taken_and_said_so(clients: AwsClients, config: Config, plain: str) -> None:
    tuning, best, newest = _tuned(clients, config, plain, at=10)
    named = train.choose_model(clients, config, training_job=newest)
    assert (named.training_job, named.reason) == (newest, "named with --training-job")
    assert train.choose_model(clients, config, training_job=plain).training_job == plain
    by_tuning = train.choose_model(clients, config, tuning_job=tuning)
    assert by_tuning.training_job == best
    assert by_tuning.reason == f"best of tuning job {tuning} (validation:auc 0.8348), named with --tuning-job"
    registration = register.register_model(clients, config, tuning_job=tuning)
    assert (registration.version.training_job, registration.chosen) == (best, by_tuning.reason)


def test_naming_both_a_training_and_a_tuning_job_is_a_usage_error(clients: AwsClients, config: Config) -> None:
    clients.call_log.calls.clear()
    with pytest.raises(UsageError, match="give one of them") as refused:
        train.choose_model(clients, config, training_job="a", tuning_job="b")
    assert refused.value.exit_code == 2 and clients.call_log.total() == 0


def test_a_tuning_job_still_running_has_no_best_trial_yet(clients: AwsClients, config: Config, plain: str) -> None:
    tuning, _, _ = _tuned(clients, config, plain, at=10)
    backend().hyper_parameter_tuning_jobs[tuning].hyper_parameter_tuning_job_status = "InProgress"
    with pytest.raises(PreconditionFailed, match="is InProgress"):
        train.choose_model(clients, config, tuning_job=tuning)
    assert train.choose_model(clients, config).training_job == plain  # only completed tuning jobs are "latest"


def test_the_pipeline_takes_the_same_model_as_the_commands(clients: AwsClients, config: Config, plain: str) -> None:
    tuning, best, _ = _tuned(clients, config, plain, at=10)
    result = pipeline.run(clients, config, pipeline.Options(stages=["register"]), lambda event: None)
    assert result.exception is None
    figures = result.stages[0].figures
    assert figures["training_job"] == best
    assert figures["chosen"] == f"best of tuning job {tuning} (validation:auc 0.8348)"
    assert f"model: {best} (best of tuning job {tuning} (validation:auc 0.8348))" in _text(result)


def _text(result: pipeline.PipelineResult) -> str:
    from rich.console import Console

    from mlops_cli.ui.pipeline_views import summary_view

    console = Console(width=400, record=True)
    console.print(summary_view(result))
    return console.export_text()


def test_cli_says_which_model_and_why(
    clients: AwsClients, config: Config, plain: str, capsys: pytest.CaptureFixture[str]
) -> None:
    tuning, best, _ = _tuned(clients, config, plain, at=10)
    capsys.readouterr()
    assert run(["--json", "register", "model", "-c", _local(), *CLI_SETTINGS]) == 0
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert out["version"]["training_job"] == best
    assert out["chosen"] == f"best of tuning job {tuning} (validation:auc 0.8348)"

    assert run(["train", "evaluate", "-c", _local(), *CLI_SETTINGS, "--tuning-job", tuning, "--no-wait"]) == 0
    assert f"best of tuning job {tuning} (validation:auc 0.8348), named with --tuning-job" in capsys.readouterr().out
    args = ["train", "evaluate", "-c", _local(), *CLI_SETTINGS, "--training-job", best, "--tuning-job", tuning]
    assert run(args) == 2
    assert "give one of them" in capsys.readouterr().err


def _local() -> str:
    from tests.unit.conftest import CONFIGS

    return str(CONFIGS / "local.yaml")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["register", "model", "--training-job", "a", "--tuning-job", "b"], "give one"),
        (["train", "evaluate", "--training-job", "a", "--tuning-job", "b"], "give one"),
        (["train", "evaluate", "a", "--tuning-job", "b"], "give one"),
        (["train", "evaluate", "a", "--training-job", "b"], "give one"),
        (["pipeline", "run", "--from", "evaluate", "--training-job", "a", "--tuning-job", "b"], "give one"),
        (["pipeline", "run", "--tuning-job", "b"], "this run trains one"),
        (["pipeline", "run", "--from", "train", "--training-job", "a"], "this run trains one"),
    ],
)
def test_conflicting_model_names_are_refused_before_any_aws_call(
    args: list[str], message: str, aws_calls: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run([*args, "-c", _local()]) == 2
    assert aws_calls == []  # nor was the emulator started
    assert message in capsys.readouterr().err


def test_the_pipeline_takes_a_named_model(clients: AwsClients, config: Config, plain: str) -> None:
    tuning, best, newest = _tuned(clients, config, plain, at=10)
    options = pipeline.Options(stages=["register"], training_job=newest)
    result = pipeline.run(clients, config, options, lambda event: None)
    assert result.exception is None
    assert (result.stages[0].figures["training_job"], result.stages[0].figures["chosen"]) == (
        newest,
        "named with --training-job",
    )
    result = pipeline.run(clients, config, pipeline.Options(stages=["register"], tuning_job=tuning), lambda e: None)
    assert result.stages[0].figures["training_job"] == best


def test_a_tuning_job_of_another_environment_sharing_the_name_prefix_is_not_latest(clients: AwsClients) -> None:
    # tuning job names keep 17 characters of <project>-<env>: both are customer-churn-pr-<date>-<random>
    mine = registry_config("project=customer-churn", "environment=prelive")
    other = registry_config("project=customer-churn", "environment=prerelease")
    assert train.tuning_job_prefix(mine) == train.tuning_job_prefix(other)
    preprocessed(clients, mine)
    plain = trained(clients, mine)
    _at(plain, 0)
    preprocessed(clients, other)
    like = trained(clients, other)
    _at(like, 0)
    _, theirs, _ = _tuned(clients, other, like, at=10)
    choice = train.choose_model(clients, mine)
    assert (choice.training_job, choice.reason) == (plain, "newest training job")
    assert train.choose_model(clients, other).training_job == theirs


def test_an_up_to_date_train_stage_hands_on_the_newer_tuning_jobs_best_trial(
    clients: AwsClients, config: Config, plain: str
) -> None:
    tuning, best, _ = _tuned(clients, config, plain, at=10)
    result = pipeline.run(clients, config, pipeline.Options(stages=["train", "register"]), lambda event: None)
    assert result.exception is None
    trained_stage, registered = result.stages
    assert trained_stage.status == "skipped" and trained_stage.summary.startswith(f"{plain} already trained")
    assert f"the model taken: {best} (best of tuning job {tuning}" in trained_stage.summary
    assert trained_stage.figures["tuning_job"] == tuning
    assert registered.figures["training_job"] == best


def test_jobs_started_in_the_same_second_all_start(
    clients: AwsClients, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Frozen(dt.datetime):
        @classmethod
        def now(cls, tz: dt.tzinfo | None = None) -> Frozen:  # type: ignore[override]
            return cls(2026, 3, 1, 12, 0, 0, tzinfo=tz)

    for module in (train, preprocess):
        monkeypatch.setattr(module, "dt", SimpleNamespace(datetime=Frozen, UTC=dt.UTC))
    preprocessed(clients, config)  # none of these is refused as a name in use
    plain = [trained(clients, config), trained(clients, config)]
    tuned = [train.start_tuning(clients, config).job_name, train.start_tuning(clients, config).job_name]
    second = preprocess.start_preprocessing(clients, config).job_name
    assert len({second, *plain, *tuned}) == 5 and second in backend().processing_jobs
    assert set(tuned) <= set(backend().hyper_parameter_tuning_jobs)
    # model choice still finds them by their name prefix
    assert all(name.startswith(train.tuning_job_prefix(config)) for name in tuned)
    assert all(name.startswith(train.job_prefix(config)) for name in plain)
