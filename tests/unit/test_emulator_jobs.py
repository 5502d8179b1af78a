"""The job runner's pure parts: the training toolkit's encoding, metrics, sharding, sampling, listing, work folders;
and its process handling and moto wiring. The end-to-end behaviour is in tests/e2e/test_emulator_jobs*.py."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from moto.sagemaker.models import SageMakerModelBackend, sagemaker_backends
from moto.sagemaker.responses import SageMakerResponse

from mlops_cli.emulator import jobs
from mlops_cli.emulator.extensions.patching import add
from mlops_cli.emulator.jobs import inputs, listing, logs, process_tree, sampling, toolkit, tuning
from mlops_cli.emulator.jobs.metrics import MetricCollector, final_metric
from mlops_cli.emulator.jobs.workspace import HostWorkspace

# toolkit


def test_hyperparameters_are_decoded_as_json_with_the_raw_text_as_fallback() -> None:
    split = toolkit.Hyperparameters.split(
        {
            "sagemaker_program": '"train.py"',
            "sagemaker_submit_directory": '"s3://b/code/sourcedir.tar.gz"',
            "sagemaker_mpi_enabled": "true",
            "_tuning_objective_metric": "validation:auc",
            "n_estimators": "300",
            "learning_rate": "0.05",
            "algorithm": "gradient_boosting",  # not JSON: kept as text
            "class_weight": '{"0": 1, "1": 3}',
            "balanced": "true",
        }
    )
    assert split.user == {
        "n_estimators": 300,
        "learning_rate": 0.05,
        "algorithm": "gradient_boosting",
        "class_weight": {"0": 1, "1": 3},
        "balanced": True,
    }
    assert split.framework == {"sagemaker_mpi_enabled": True}
    assert split.sagemaker["sagemaker_program"] == "train.py"
    assert "_tuning_objective_metric" in split.sagemaker


def test_arguments_are_sorted_with_short_keys_and_dicts_as_the_toolkit_writes_them() -> None:
    args = toolkit.to_cmd_args(
        {"n_estimators": 300, "k": 5, "class_weight": {"1": 3, "0": 1}, "balanced": True, "ratio": 0.10}
    )
    assert args == [
        "--balanced",
        "True",
        "--class_weight",
        "0=1,1=3",
        "-k",
        "5",
        "--n_estimators",
        "300",
        "--ratio",
        "0.1",
    ]


def test_environment_variables_keep_strings_and_json_encode_the_rest() -> None:
    assert toolkit.to_env_vars({"hp_algorithm": "gbm", "hp_depth": 3, "hosts": ["algo-1"], "is_hetero": False}) == {
        "SM_HP_ALGORITHM": "gbm",
        "SM_HP_DEPTH": "3",
        "SM_HOSTS": '["algo-1"]',
        "SM_IS_HETERO": "false",
    }


def test_training_environment_points_into_the_host_work_folder(tmp_path: Path) -> None:
    workspace = HostWorkspace("algo-2", tmp_path / "algo-2")
    environment = toolkit.TrainingEnvironment(
        job_name="train-1",
        job_arn="arn:aws:sagemaker:eu-west-1:123456789012:training-job/train-1",
        region="eu-west-1",
        workspace=workspace,
        hosts=["algo-1", "algo-2"],
        instance_type="ml.m5.large",
        hyperparameters=toolkit.Hyperparameters.split(
            {"sagemaker_program": '"train.py"', "depth": "4", "export": '"/opt/ml/model/x"'}
        ).with_paths(workspace.rewrite),
        input_data_config={"train": {"TrainingInputMode": "File"}, "validation": {"TrainingInputMode": "File"}},
        request_environment={"MODEL_COPY": "/opt/ml/model/copy", "PLAIN": "x"},
    )
    env = environment.env_vars()
    opt_ml = str(tmp_path / "algo-2" / "opt_ml")
    assert environment.command() == [sys.executable, "train.py", "--depth", "4", "--export", f"{opt_ml}/model/x"]
    assert env["SM_MODEL_DIR"] == f"{opt_ml}/model"
    assert env["SM_CHANNEL_TRAIN"] == f"{opt_ml}/input/data/train"
    assert env["SM_CHANNELS"] == '["train","validation"]'
    assert env["SM_OUTPUT_DATA_DIR"] == f"{opt_ml}/output/data"
    assert env["SM_CURRENT_HOST"] == "algo-2" and env["SM_HOSTS"] == '["algo-1","algo-2"]'
    assert env["SM_HP_DEPTH"] == "4" and json.loads(env["SM_HPS"]) == {"depth": 4, "export": f"{opt_ml}/model/x"}
    assert json.loads(env["SM_USER_ARGS"]) == ["--depth", "4", "--export", f"{opt_ml}/model/x"]
    assert env["SM_MODULE_NAME"] == "train" and env["SM_NUM_GPUS"] == "0"
    assert json.loads(env["SM_TRAINING_ENV"])["channel_input_dirs"]["validation"] == f"{opt_ml}/input/data/validation"
    assert json.loads(env["SM_RESOURCE_CONFIG"])["current_host"] == "algo-2"
    assert (env["TRAINING_JOB_NAME"], env["SAGEMAKER_REGION"]) == ("train-1", "eu-west-1")
    assert (env["MODEL_COPY"], env["PLAIN"]) == (f"{opt_ml}/model/copy", "x")


def test_script_error_has_the_toolkits_shape() -> None:
    assert toolkit.script_error(["python", "train.py", "--x", "1"], 2, "KeyError: 'x'") == (
        'ExecuteUserScriptError:\nExitCode 2\nErrorMessage "KeyError: \'x\'"\nCommand "python train.py --x 1"'
    )


# work folders


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/opt/ml/processing/input", "W/processing/input"),
        ("--out=/opt/ml/model", "--out=W/model"),
        ("/opt/ml", "W"),
        ("a:/opt/ml/x,/opt/ml/y", "a:W/x,W/y"),
        ("/opt/mlflow/x", "/opt/mlflow/x"),
        ("/data/opt/ml/x", "/data/opt/ml/x"),
    ],
)
def test_container_paths_are_rewritten_only_where_they_are_paths(text: str, expected: str) -> None:
    workspace = HostWorkspace("algo-1", Path("/work/jobs/j/algo-1"))
    assert workspace.rewrite(text) == expected.replace("W", "/work/jobs/j/algo-1/opt_ml")


def test_local_paths_must_stay_under_opt_ml() -> None:
    workspace = HostWorkspace("algo-1", Path("/w"))
    assert workspace.path("/opt/ml/processing/input/data") == Path("/w/opt_ml/processing/input/data")
    for bad in ("/tmp/x", "/opt/ml/../../etc", "/opt/mlx"):
        with pytest.raises(ValueError):
            workspace.path(bad)


# inputs


@pytest.mark.parametrize(
    ("prefix", "key", "relative"),
    [
        ("data/train", "data/train/part-1.csv", "part-1.csv"),
        ("data/train/", "data/train/sub/part-1.csv", "sub/part-1.csv"),
        ("code/preprocess.py", "code/preprocess.py", "preprocess.py"),
        ("code/preprocess.py", "code/preprocess.py.bak", "preprocess.py.bak"),
        ("data/tr", "data/train/x.csv", "train/x.csv"),
        ("", "top.csv", "top.csv"),
        ("data/train/", "data/train/", ""),
    ],
)
def test_relative_path_of_an_object_under_a_prefix(prefix: str, key: str, relative: str) -> None:
    assert inputs.relative_path(prefix, key) == relative


def test_shards_are_disjoint_cover_all_keys_and_do_not_depend_on_order() -> None:
    keys = [f"data/part-{index:02d}.csv" for index in range(11)]
    shards = [inputs.shard(list(reversed(keys)), host, 3) for host in range(3)]
    assert shards[0] == ["data/part-00.csv", "data/part-03.csv", "data/part-06.csv", "data/part-09.csv"]
    assert sorted(key for shard in shards for key in shard) == sorted(keys)
    assert sum(len(shard) for shard in shards) == len(keys)
    assert inputs.shard(keys, 2, 3) == shards[2]
    assert inputs.keys_for_host(keys, "FullyReplicated", 1, 3) == sorted(keys)
    with pytest.raises(ValueError):
        inputs.shard(keys, 3, 3)


def test_manifest_and_uris() -> None:
    base, relatives = inputs.parse_manifest('[{"prefix": "s3://b/data/"}, "a.csv", "sub/b.csv"]')
    assert (base, relatives) == (inputs.S3Uri("b", "data/"), ["a.csv", "sub/b.csv"])
    assert (
        str(inputs.S3Uri.parse("s3://b/models").child("job/output/model.tar.gz"))
        == "s3://b/models/job/output/model.tar.gz"
    )
    assert str(inputs.S3Uri.parse("s3://b/models/").child("x")) == "s3://b/models/x"
    with pytest.raises(ValueError):
        inputs.parse_manifest('{"prefix": "s3://b/"}')
    with pytest.raises(ValueError):
        inputs.S3Uri.parse("https://b/x")
    with pytest.raises(ValueError):
        inputs.safe_relative("../../etc/passwd")


# metrics


def test_the_last_value_of_each_metric_wins_and_bad_definitions_never_match() -> None:
    at = dt.datetime(2026, 1, 1)
    collector = MetricCollector(
        [
            {"Name": "validation:auc", "Regex": r"validation:auc=([0-9\.]+)"},
            {"Name": "no-group", "Regex": r"validation:auc=[0-9\.]+"},
            {"Name": "broken", "Regex": r"([0-9"},
            {"Name": "train:loss", "Regex": r"loss: (\S+)"},
        ]
    )
    for line in ["validation:auc=0.5;", "epoch 1 loss: nan", "validation:auc=0.87;", "noise", "loss: 0.25"]:
        collector.feed(line, at)
    final = [metric.as_metric_data() for metric in collector.final()]
    assert final == [
        {"MetricName": "validation:auc", "Value": 0.87, "Timestamp": at},
        {"MetricName": "train:loss", "Value": 0.25, "Timestamp": at},
    ]
    assert final_metric(final, "train:loss") == 0.25
    assert final_metric(final, "absent") is None


# sampling


INTEGER = {"IntegerParameterRanges": [{"Name": "depth", "MinValue": "2", "MaxValue": "9", "ScalingType": "Linear"}]}


def test_sampling_is_seeded_by_the_tuning_job_name_and_stays_in_range() -> None:
    ranges = {
        **INTEGER,
        "ContinuousParameterRanges": [
            {"Name": "lr", "MinValue": "0.0001", "MaxValue": "0.1", "ScalingType": "Logarithmic"},
            {"Name": "momentum", "MinValue": "0.9", "MaxValue": "0.999", "ScalingType": "ReverseLogarithmic"},
            {"Name": "ratio", "MinValue": "0.1", "MaxValue": "0.5", "ScalingType": "Auto"},
        ],
        "CategoricalParameterRanges": [{"Name": "algorithm", "Values": ['"gbm"', '"rf"']}],
    }
    first = [sampling.Sampler(ranges, "Bayesian", seed="tune-a").next() for _ in range(2)]
    draws = sampling.Sampler(ranges, "Random", seed="tune-a")
    values = [draws.next() for _ in range(50)]
    assert values[0] == first[0] == first[1]  # the same name gives the same trials
    assert values != [sampling.Sampler(ranges, "Random", seed="tune-b").next() for _ in range(50)]
    for value in values:
        assert value is not None
        assert 2 <= json.loads(value["depth"]) <= 9 and isinstance(json.loads(value["depth"]), int)
        assert 0.0001 <= json.loads(value["lr"]) <= 0.1
        assert 0.9 <= json.loads(value["momentum"]) <= 0.999
        assert 0.1 <= json.loads(value["ratio"]) <= 0.5
        assert value["algorithm"] in ('"gbm"', '"rf"')
    small = sum(json.loads(value["lr"]) < 0.001 for value in values)
    assert small > 10  # log-uniform: a third of the draws fall in the lowest decade, not 1 %


def test_integer_ranges_reach_both_ends() -> None:
    draws = sampling.Sampler(INTEGER, "Random", seed="ends")
    assert {json.loads(draws.next()["depth"]) for _ in range(200)} == set(range(2, 10))  # type: ignore[index]


def test_grid_walks_the_categorical_product_then_ends() -> None:
    ranges = {
        "CategoricalParameterRanges": [
            {"Name": "algorithm", "Values": ["gbm", "rf"]},
            {"Name": "depth", "Values": ["3", "5", "7"]},
        ]
    }
    grid = sampling.Sampler(ranges, "Grid", seed="g")
    assert grid.grid_size == 6
    combinations = [grid.next() for _ in range(6)]
    assert combinations[0] == {"algorithm": "gbm", "depth": "3"}
    assert len({json.dumps(combination) for combination in combinations}) == 6
    assert grid.next() is None
    with pytest.raises(ValueError, match="Grid"):
        sampling.Sampler(INTEGER, "Grid", seed="g")


def grid_tuning_request(max_jobs: int | None) -> dict[str, Any]:
    limits = {"MaxParallelTrainingJobs": 2, **({} if max_jobs is None else {"MaxNumberOfTrainingJobs": max_jobs})}
    ranges = {"CategoricalParameterRanges": [{"Name": "a", "Values": ["x", "y"]}, {"Name": "b", "Values": list("123")}]}
    metric = "validation:auc"
    return {
        "HyperParameterTuningJobName": f"grid-{max_jobs}",
        "HyperParameterTuningJobConfig": {
            "Strategy": "Grid",
            "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": metric},
            "ResourceLimits": limits,
            "ParameterRanges": ranges,
        },
        "TrainingJobDefinition": {
            "AlgorithmSpecification": {"MetricDefinitions": [{"Name": metric, "Regex": "auc=([0-9.]+)"}]}
        },
    }


@pytest.mark.parametrize("max_jobs", [1, 4, 7, 20])
def test_grid_tuning_refuses_a_job_limit_other_than_the_grids_size(max_jobs: int) -> None:
    from moto.sagemaker.exceptions import ValidationError

    from mlops_cli.emulator.jobs.backend import JobsBackend

    backend = JobsBackend("eu-west-1", "123456789012")
    # SageMaker refuses the request; it does not run min(limit, grid) trials
    with pytest.raises(ValidationError, match=rf"MaxNumberOfTrainingJobs \({max_jobs}\) must equal .* \(6\)"):
        backend.start_tuning_job(grid_tuning_request(max_jobs))
    assert backend.hyper_parameter_tuning_jobs == {} and backend.job_runs == {}


@pytest.mark.parametrize("max_jobs", [None, 6])
def test_grid_tuning_runs_every_combination_when_the_limit_is_left_out_or_equal(max_jobs: int | None) -> None:
    request = grid_tuning_request(max_jobs)
    config = request["HyperParameterTuningJobConfig"]
    grid = sampling.Sampler(config["ParameterRanges"], "Grid", seed="g")
    assert tuning.trials_to_run(config, grid) == 6


@pytest.mark.parametrize(
    "ranges",
    [
        {"IntegerParameterRanges": [{"Name": "d", "MinValue": "9", "MaxValue": "2"}]},
        {"IntegerParameterRanges": [{"Name": "d", "MinValue": "0", "MaxValue": "5", "ScalingType": "Logarithmic"}]},
        {
            "ContinuousParameterRanges": [
                {"Name": "m", "MinValue": "0.5", "MaxValue": "1.5", "ScalingType": "ReverseLogarithmic"}
            ]
        },
        {"IntegerParameterRanges": [{"Name": "d", "MinValue": "a", "MaxValue": "5"}]},
        {"CategoricalParameterRanges": [{"Name": "c", "Values": []}]},
        {**INTEGER, "CategoricalParameterRanges": [{"Name": "depth", "Values": ["1"]}]},
    ],
)
def test_invalid_ranges_are_refused(ranges: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        sampling.Sampler(ranges, "Random", seed="x")


# tuning results


def fake_trial(name: str, status: str, value: float | None) -> tuning.Trial:
    metrics = [{"MetricName": "validation:auc", "Value": value}] if value is not None else None
    job = SimpleNamespace(training_job_name=name, training_job_status=status, final_metric_data_list=metrics)
    return tuning.Trial(job, {"depth": "3"})


def test_best_trial_and_counters_follow_the_objective() -> None:
    trials = [
        fake_trial("t-001", "Completed", 0.81),
        fake_trial("t-002", "Completed", 0.93),
        fake_trial("t-003", "Failed", None),
        fake_trial("t-004", "InProgress", None),
        fake_trial("t-005", "Completed", 0.93),
        fake_trial("t-006", "Completed", None),  # never printed the metric
        fake_trial("t-007", "Stopped", 0.99),  # a stopped trial is not a candidate
    ]
    maximize = tuning.Objective("validation:auc", "Maximize")
    minimize = tuning.Objective("validation:auc", "Minimize")
    assert tuning.best_trial(trials, maximize).job.training_job_name == "t-002"  # type: ignore[union-attr]
    assert tuning.best_trial(trials, minimize).job.training_job_name == "t-001"  # type: ignore[union-attr]
    assert tuning.best_trial(trials[2:4], maximize) is None
    training, objectives = tuning.status_counters(trials, maximize)
    assert training == {"Completed": 4, "InProgress": 1, "RetryableError": 0, "NonRetryableError": 1, "Stopped": 1}
    assert objectives == {"Succeeded": 3, "Pending": 1, "Failed": 3}
    assert tuning.trial_name("churn-tune", 7).startswith("churn-tune-007-")
    assert len(tuning.trial_name("x" * 32, 999)) == 45


# listing


def summary(name: str, status: str, minute: int, value: float | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"Name": name, "Status": status, "CreationTime": dt.datetime(2026, 1, 1, 0, minute)}
    item["LastModifiedTime"] = item["CreationTime"]
    if value is not None:
        item["Metric"] = {"Value": value}
    return item


def test_listing_filters_then_sorts_then_pages() -> None:
    items = [summary(f"churn-{index}", "Completed" if index % 2 else "Failed", index, index / 10) for index in range(7)]
    items.append(summary("other-9", "Completed", 9))
    keys = {"Name": "Name", "CreationTime": "CreationTime", "Metric": "Metric.Value"}
    request = {"NameContains": "CHURN", "StatusEquals": "Completed", "MaxResults": 2}
    chosen = listing.filter_summaries(items, request, name_key="Name", status_key="Status")
    assert [item["Name"] for item in chosen] == ["churn-1", "churn-3", "churn-5"]
    newest_first = listing.sort_summaries(chosen, "CreationTime", "Descending", keys, "CreationTime")
    page, token = listing.paginate(newest_first, request)
    assert ([item["Name"] for item in page], token) == (["churn-5", "churn-3"], "2")
    assert listing.paginate(newest_first, {**request, "NextToken": token}) == ([newest_first[2]], None)
    by_metric = listing.sort_summaries(items, "Metric", "Descending", keys, "CreationTime")
    assert [item["Name"] for item in by_metric][:2] == ["churn-6", "churn-5"]
    assert by_metric[-1]["Name"] == "other-9"  # no metric: last in either order
    after = {"CreationTimeAfter": dt.datetime(2026, 1, 1, 0, 5, tzinfo=dt.UTC)}
    assert [item["Name"] for item in listing.filter_summaries(items, after, name_key="Name", status_key="Status")] == [
        "churn-6",
        "other-9",
    ]
    assert listing.paginate(items * 2, {}) == ((items * 2)[:10], "10")  # SageMaker's default page: 10
    with pytest.raises(ValueError):
        listing.paginate(items, {"NextToken": "not-a-number"})


def test_list_training_jobs_applies_status_equals_to_the_page_as_documented() -> None:
    items = [
        summary(f"train-{index}", status, index) for index, status in enumerate(["Failed", "Completed", "Completed"])
    ]
    items[0]["TrainingEndTime"] = None
    how: dict[str, Any] = {
        "key": "TrainingJobSummaries",
        "name_key": "Name",
        "status_key": "Status",
        "sort_keys": {"Name": "Name", "CreationTime": "CreationTime"},
    }
    request = {"MaxResults": 2, "StatusEquals": "Completed"}
    page = listing.page_of(items, request, status_after_page=True, **how)
    assert ([item["Name"] for item in page["TrainingJobSummaries"]], page["NextToken"]) == (["train-1"], "2")
    page = listing.page_of(items, request, **how)  # other lists filter first
    assert ([item["Name"] for item in page["TrainingJobSummaries"]], page["NextToken"]) == (
        ["train-1", "train-2"],
        None,
    )
    assert "TrainingEndTime" not in listing.page_of(items, {}, **how)["TrainingJobSummaries"][0]


# logs


def test_log_stream_names_and_batches() -> None:
    assert logs.stream_name("train-1", "algo-2", 1_700_000_000.9) == "train-1/algo-2-1700000000"
    events = [{"timestamp": 3, "message": "c"}, {"timestamp": 1, "message": "a"}, {"timestamp": 1, "message": "b"}]
    assert [[event["message"] for event in batch] for batch in logs._batches(events)] == [["a", "b", "c"]]
    big = [{"timestamp": index, "message": "x" * 200_000} for index in range(12)]
    batches = logs._batches(big)
    assert [len(batch) for batch in batches] == [5, 5, 2]  # under 1 MB each


# processes


def test_terminate_ends_the_worker_and_what_it_started() -> None:
    worker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time; subprocess.Popen(['sleep', '30']); "
            "print('ready', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
    )
    assert worker.stdout is not None and worker.stdout.readline() == b"ready\n"
    family = process_tree.tree(worker.pid)
    assert len(family) == 2
    started = time.monotonic()
    process_tree.terminate(worker, grace=5)
    assert time.monotonic() - started < 3  # both obeyed SIGTERM at once
    assert worker.returncode == -signal.SIGTERM
    assert not any(_runs(pid) for pid in family)


def test_kill_does_not_wait_for_a_worker_that_ignores_sigterm() -> None:
    worker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('ready', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
    )
    assert worker.stdout is not None and worker.stdout.readline() == b"ready\n"
    process_tree.terminate(worker, grace=0.3)
    assert worker.returncode == -signal.SIGKILL


def _runs(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


# wiring into moto


def test_install_adds_the_missing_operations_and_uninstall_restores_moto(tmp_path: Path) -> None:
    assert not hasattr(SageMakerResponse, "stop_training_job")
    original_create = vars(SageMakerResponse)["create_training_job"]
    jobs.install(tmp_path, "http://127.0.0.1:1")
    try:
        assert sagemaker_backends.backend.__name__ == "JobsBackend"
        for operation in ("stop_training_job", "stop_hyper_parameter_tuning_job"):
            assert callable(getattr(SageMakerResponse, operation))
        assert vars(SageMakerResponse)["create_training_job"] is not original_create
        backend = sagemaker_backends["123456789012"]["eu-west-1"]
        assert backend._url_module.__name__ == "moto.sagemaker.urls"
    finally:
        jobs.uninstall()
    assert sagemaker_backends.backend is SageMakerModelBackend
    assert not hasattr(SageMakerResponse, "stop_training_job")
    assert vars(SageMakerResponse)["create_training_job"] is original_create


def test_adding_an_attribute_moto_already_has_fails_loudly() -> None:
    with pytest.raises(KeyError, match="exists already"):
        add(SageMakerResponse, "describe_training_job", lambda self: None).apply()


def test_nothing_runs_at_import_time() -> None:
    code = (
        "import threading; import mlops_cli.emulator.jobs.api, mlops_cli.emulator.jobs.backend; "
        "from moto.sagemaker.responses import SageMakerResponse; "
        "print(threading.active_count(), hasattr(SageMakerResponse, 'stop_training_job'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=dict(os.environ))
    assert out.stdout.split() == ["1", "False"]


def test_reverse_logarithmic_scaling_samples_one_minus_a_log_uniform_value() -> None:
    parameter = sampling.ParameterRange("m", "Continuous", 0.9, 0.999, "ReverseLogarithmic")
    rng = random.Random(1)
    values = [json.loads(sampling.draw(parameter, rng)) for _ in range(2000)]
    above = sum(value > 0.99 for value in values) / len(values)
    assert math.isclose(above, 0.5, abs_tol=0.05)  # log10(0.1/0.01) == log10(0.01/0.001): half the mass
