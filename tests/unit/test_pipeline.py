"""`mlops pipeline run`: the stage list, refusals before any AWS call, the lock, the run loop, and the skip
decisions of preprocess and train against moto."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from mlops_cli.aws.session import AwsClients
from mlops_cli.config.models import Config
from mlops_cli.errors import OperationFailed, PreconditionFailed, UsageError
from mlops_cli.services import pipeline
from mlops_cli.services.storage.stack import init_storage
from tests.unit.conftest import CONFIGS, make_config
from tests.unit.test_cli_errors import run

LOCAL = str(CONFIGS / "local.yaml")

# --- the stage list --------------------------------------------------------------------------------------------


def test_every_stage_by_default_in_order() -> None:
    assert pipeline.select_stages() == list(pipeline.STAGES)
    assert pipeline.STAGES[0] == "storage" and pipeline.STAGES[-1] == "smoke"


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("train", "evaluate", ["train", "evaluate"]),
        ("deploy", None, ["deploy", "gateway", "lb", "smoke"]),
        (None, "upload", ["storage", "upload"]),
        ("approve", "approve", ["approve"]),
    ],
)
def test_from_and_to_select_a_range(start: str | None, end: str | None, expected: list[str]) -> None:
    assert pipeline.select_stages(start, end) == expected


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("training", None, "--from 'training' is not a stage"),
        (None, "deployy", "--to 'deployy' is not a stage"),
        ("deploy", "train", "--from deploy comes after --to train"),
    ],
)
def test_bad_ranges_are_usage_errors(start: str | None, end: str | None, message: str) -> None:
    with pytest.raises(UsageError, match=message) as raised:
        pipeline.select_stages(start, end)
    assert raised.value.exit_code == 2 and "storage, upload, preprocess" in (raised.value.hint or "")


@pytest.fixture(autouse=True)
def region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")


@pytest.mark.parametrize(
    "args",
    [
        ["--from", "nope"],
        ["--to", "everything"],
        ["--from", "smoke", "--to", "storage"],
        ["--data", "/no/such/folder"],
        ["--tune", "--set", "train.tuning.ranges={}"],
    ],
)
def test_cli_refuses_before_any_aws_call(
    args: list[str], aws_calls: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["pipeline", "run", "-c", LOCAL, *args]) == 2
    assert aws_calls == []
    assert "error:" in capsys.readouterr().err


def test_tuning_needs_ranges() -> None:
    config = make_config("train.tuning.ranges={}")
    with pytest.raises(UsageError, match=r"--tune needs train\.tuning\.ranges"):
        pipeline.check_options(config, pipeline.Options(tune=True))
    pipeline.check_options(config, pipeline.Options(tune=True, stages=["deploy"]))  # no train stage: fine


def test_data_folder_default_and_missing(tmp_path: Path) -> None:
    config = make_config()
    assert pipeline.resolve_data(config, None, cwd=tmp_path) == (
        None,
        f"no data folder: {tmp_path / 'data' / 'churn'} does not exist (give --data PATH)",
    )
    (tmp_path / "data" / "churn").mkdir(parents=True)
    assert pipeline.resolve_data(config, None, cwd=tmp_path) == (tmp_path / "data" / "churn", None)
    with pytest.raises(UsageError, match="no such file"):
        pipeline.resolve_data(config, tmp_path / "missing")


# --- the lock --------------------------------------------------------------------------------------------------


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


ACCOUNT, REGION = "123456789012", "eu-west-1"


def test_lock_file_is_named_from_project_environment_account_and_region(cache_home: Path) -> None:
    config = make_config()
    path = pipeline.lock_path(config, ACCOUNT, REGION)
    assert path.parent == cache_home / "mlops" / "locks"
    assert path.name.startswith("pipeline-churn-local-") and path.suffix == ".lock"
    assert pipeline.lock_path(make_config("tags.team=other"), ACCOUNT, REGION) == path  # any file, same resources
    assert pipeline.lock_path(make_config("project=other"), ACCOUNT, REGION) != path
    assert pipeline.lock_path(make_config("environment=other"), ACCOUNT, REGION) != path
    assert pipeline.lock_path(config, "210987654321", REGION) != path
    assert pipeline.lock_path(config, ACCOUNT, "us-east-1") != path


def test_a_second_run_is_refused_naming_the_lock_and_the_pid(cache_home: Path) -> None:
    config = make_config()
    with pipeline.pipeline_lock(config, ACCOUNT, REGION) as path:
        assert path.with_name(path.name + ".pid").read_text().strip() == str(os.getpid())
        with pytest.raises(PreconditionFailed) as refused, pipeline.pipeline_lock(config, ACCOUNT, REGION):
            pass
        assert refused.value.exit_code == 3
        assert str(path) in refused.value.message and f"pid {os.getpid()}" in refused.value.message
        with pipeline.pipeline_lock(make_config("project=other"), ACCOUNT, REGION):
            pass  # another project's runs are independent
    with pipeline.pipeline_lock(config, ACCOUNT, REGION):
        pass  # released: the next run gets it


def test_a_lock_held_by_another_filelock_is_respected(cache_home: Path) -> None:
    import filelock

    config = make_config()
    path = pipeline.lock_path(config, ACCOUNT, REGION)
    path.parent.mkdir(parents=True)
    path.with_name(path.name + ".pid").write_text("4242\n")
    other = filelock.FileLock(str(path), timeout=0)
    with other, pytest.raises(PreconditionFailed, match="pid 4242"), pipeline.pipeline_lock(config, ACCOUNT, REGION):
        pass
    with pipeline.pipeline_lock(config, ACCOUNT, REGION) as held:
        assert held == path


def test_a_copy_of_the_config_elsewhere_does_not_bypass_the_lock(
    clients: AwsClients, config: Config, cache_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("local.yaml", "base.yaml"):
        shutil.copy(CONFIGS / name, copy / name)
    with pipeline.pipeline_lock(config, clients.account_id, clients.region) as path:  # a run of configs/local.yaml
        code = run(["pipeline", "run", "-c", str(copy / "local.yaml"), "--set", "aws.endpoint_url=", "--to", "storage"])
    assert code == 3
    assert str(path) in capsys.readouterr().err.replace("\n", "")
    assert clients.client("s3").list_buckets()["Buckets"] == []  # the refused run changed nothing


# --- the run loop ----------------------------------------------------------------------------------------------


def test_the_run_stops_at_the_first_failure_with_its_exit_code(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[str] = []

    def fake(stage: str, error: Exception | None = None) -> Any:
        def call(ctx: Any) -> pipeline.StageResult:
            ran.append(stage)
            if error:
                raise error
            return pipeline.StageResult(stage, pipeline.SKIPPED, summary="up to date")

        return call

    stages = {name: fake(name) for name in pipeline.STAGES}
    stages["train"] = fake("train", PreconditionFailed("no data", hint="upload some"))
    monkeypatch.setattr(pipeline, "_STAGES", stages)
    events: list[Any] = []
    result = pipeline.run(None, make_config(), pipeline.Options(), events.append)  # type: ignore[arg-type]
    assert ran == ["storage", "upload", "preprocess", "train"]
    assert [s.status for s in result.stages] == ["skipped", "skipped", "skipped", "failed"]
    assert result.exit_code == 3 and result.error is not None
    assert (result.error.stage, result.error.message, result.error.hint) == ("train", "no data", "upload some")
    started = [e.stage for e in events if isinstance(e, pipeline.StageStarted)]
    ended = [e.result.stage for e in events if isinstance(e, pipeline.StageEnded)]
    assert started == ended == ran


def test_a_run_without_failure_exits_0(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        pipeline, "_STAGES", {name: (lambda ctx, n=name: pipeline.StageResult(n, "ran")) for name in pipeline.STAGES}
    )
    options = pipeline.Options(stages=pipeline.select_stages("train", "evaluate"))
    result = pipeline.run(None, make_config(), options, lambda event: None)  # type: ignore[arg-type]
    assert [s.stage for s in result.stages] == ["train", "evaluate"] and result.exit_code == 0


# --- skip decisions against moto -------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def newest_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto (in-process) lists jobs oldest first whatever SortOrder says; AWS and the emulator honour it."""
    from mlops_cli.services import jobs

    original = jobs.list_jobs

    def listed(clients: AwsClients, kind: jobs.Kind, name_contains: str, limit: int = 20) -> list[dict[str, Any]]:
        found = list(reversed(original(clients, kind, name_contains, 1000)))
        return sorted(found, key=lambda summary: summary["CreationTime"], reverse=True)[:limit]

    monkeypatch.setattr(jobs, "list_jobs", listed)


def _stage(clients: AwsClients, config: Config, stage: str, **options: Any) -> pipeline.StageResult:
    result = pipeline.run(clients, config, pipeline.Options(stages=[stage], **options), lambda event: None)
    if result.exception is not None:
        raise result.exception
    return result.stages[0]


def _put_raw(clients: AwsClients, config: Config, date: str, body: str) -> None:
    bucket = config.names(clients.account_id).data_bucket
    key = f"{config.dataset.raw_prefix}ingest_date={date}/customers.csv"
    clients.client("s3").put_object(Bucket=bucket, Key=key, Body=body.encode())


def test_storage_and_upload_skip_when_nothing_changes(clients: AwsClients, config: Config, tmp_path: Path) -> None:
    batch = tmp_path / "ingest_date=2026-01-05"
    batch.mkdir()
    (batch / "customers.csv").write_text("customer_id,churned\nC1,yes\n")
    assert _stage(clients, config, "storage").status == "ran"
    assert _stage(clients, config, "storage").status == "skipped"
    first = _stage(clients, config, "upload", data=tmp_path)
    assert (first.status, first.figures["files_uploaded"]) == ("ran", 1)
    again = _stage(clients, config, "upload", data=tmp_path)
    assert (again.status, again.figures["files_uploaded"]) == ("skipped", 0)
    skipped = _stage(clients, config, "upload", data=None, data_reason="no data folder: data/churn")
    assert (skipped.status, skipped.summary) == ("skipped", "no data folder: data/churn")


def test_preprocess_runs_again_only_for_new_data_or_settings(clients: AwsClients, config: Config) -> None:
    init_storage(clients, config)
    _put_raw(clients, config, "2026-01-05", "customer_id,churned\nC1,yes\n")
    first = _stage(clients, config, "preprocess")  # moto completes every job at once
    assert first.status == "ran"
    again = _stage(clients, config, "preprocess")
    assert again.status == "skipped" and first.figures["processing_job"] in again.summary

    _put_raw(clients, config, "2026-01-12", "customer_id,churned\nC2,no\n")
    assert _stage(clients, config, "preprocess").status == "ran"  # a new batch
    assert _stage(clients, config, "preprocess").status == "skipped"
    _put_raw(clients, config, "2026-01-12", "customer_id,churned\nC2,yes\n")
    assert _stage(clients, config, "preprocess").status == "ran"  # a new version of a batch
    changed = make_config("preprocess.max_reject_rate=0.01")
    assert _stage(clients, changed, "preprocess").status == "ran"  # other arguments
    assert _stage(clients, changed, "preprocess").status == "skipped"


def test_train_runs_again_only_for_new_data_or_hyperparameters(clients: AwsClients, config: Config) -> None:
    from mlops_cli.services import jobs, preprocess

    init_storage(clients, config)
    _put_raw(clients, config, "2026-01-05", "customer_id,churned\nC1,yes\n")

    def preprocessed() -> str:
        """A processing job, with the splits a real one writes (moto's jobs write nothing)."""
        _stage(clients, config, "preprocess")
        state = preprocess.latest_completed(clients, config)
        for uri in preprocess.job_outputs(state).values():
            bucket, _, prefix = uri.removeprefix("s3://").partition("/")
            clients.client("s3").put_object(Bucket=bucket, Key=f"{prefix}/part-algo-1.csv", Body=b"a\n1\n")
        return state.name

    data_job = preprocessed()
    first = _stage(clients, config, "train")
    assert first.status == "ran"
    trained = jobs.describe_job(clients, jobs.Kind.TRAINING, first.figures["training_job"])
    assert jobs.job_tags(clients, trained)["mlops:data-job"] == data_job
    again = _stage(clients, config, "train")
    assert again.status == "skipped" and again.figures["training_job"] == trained.name

    assert _stage(clients, make_config("train.hyperparameters.C=0.5"), "train").status == "ran"
    assert _stage(clients, make_config("train.hyperparameters.C=0.5"), "train").status == "skipped"
    _put_raw(clients, config, "2026-01-12", "customer_id,churned\nC2,no\n")
    preprocessed()  # new preprocessing output: trained again
    assert _stage(clients, make_config("train.hyperparameters.C=0.5"), "train").status == "ran"


def test_a_failing_stage_carries_its_error(clients: AwsClients, config: Config) -> None:
    with pytest.raises(PreconditionFailed):
        _stage(clients, config, "preprocess")  # no bucket yet
    result = pipeline.run(clients, config, pipeline.Options(stages=["preprocess"]), lambda event: None)
    assert result.stages[0].status == "failed" and result.exit_code == 3
    assert isinstance(result.exception, PreconditionFailed)
    assert not isinstance(result.exception, OperationFailed)


def test_lb_is_skipped_without_an_lb_section(clients: AwsClients) -> None:
    config = make_config("lb=null")
    result = _stage(clients, config, "lb")
    assert (result.status, result.summary) == ("skipped", "no load balancer in the config (lb)")
