"""Preprocessing, training, tuning and evaluation end to end: the CLI against the emulator, which runs the real
container scripts on the sample data."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from tests.e2e.test_storage_cli import ROOT, Cli

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def project(emulator: Any) -> Cli:
    cli = Cli(f"pt{int(time.time() * 1000) % 10**9}")
    cli.json("storage", "init")
    cli.json("storage", "upload", "data/churn")
    return cli


@pytest.fixture(scope="module")
def preprocessed(project: Cli) -> dict[str, Any]:
    return project.json("preprocess", "run", "--wait")


@pytest.fixture(scope="module")
def trained(project: Cli, preprocessed: dict[str, Any]) -> dict[str, Any]:
    return project.json("train", "run", "--wait")


@pytest.fixture(scope="module")
def big_batch(project: Cli, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A 40,000-row batch: preprocessing it takes seconds, long enough to time out or interrupt the wait."""
    out = tmp_path_factory.mktemp("big")
    subprocess.run(
        [sys.executable, "data/generate.py", "--out", str(out), "--rows", "40000", "--batches", "1", "--quiet"],
        cwd=ROOT,
        check=True,
    )
    [folder] = out.iterdir()
    project.json("storage", "upload", str(folder), "--date", "2026-03-01")
    return "2026-03-01"


def s3_objects(s3: Any, uri: str) -> dict[str, bytes]:
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=prefix.rstrip("/") + "/")
    return {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listing.get("Contents", [])}


def csv_rows(s3: Any, uri: str) -> pd.DataFrame:
    frames = [pd.read_csv(io.BytesIO(body), dtype=str, keep_default_na=False) for body in s3_objects(s3, uri).values()]
    return pd.concat(frames, ignore_index=True)


def test_preprocessing_summary_matches_its_outputs(preprocessed: dict[str, Any], emulator_client: Any) -> None:
    s3 = emulator_client("s3")
    assert preprocessed["status"] == "Completed"
    assert preprocessed["rows_in"] == 3600 and preprocessed["rejected"] == 30
    for split in ("train", "validation", "test"):
        assert len(csv_rows(s3, preprocessed["outputs"][split])) == preprocessed["splits"][split]
    assert sum(preprocessed["splits"].values()) == preprocessed["rows_out"] == 3600 - 30 - 6
    rejects = csv_rows(s3, preprocessed["outputs"]["rejects"])
    assert len(rejects) == preprocessed["rejected"]
    reasons = " ".join(preprocessed["rejects_by_reason"])
    for expected in ("plan: 'enterprise'", "missing target", "'maybe' is not yes/no", "'n/a' is not a number"):
        assert expected in reasons
    assert set(rejects["reject_reason"]) == set(preprocessed["rejects_by_reason"])


def test_training_completes_with_real_metrics(trained: dict[str, Any], emulator_client: Any) -> None:
    assert trained["status"] == "Completed"
    assert trained["metrics"]["validation:auc"] >= 0.80
    s3 = emulator_client("s3")
    bucket, _, key = trained["model_uri"].removeprefix("s3://").partition("/")
    with tarfile.open(fileobj=io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())) as tar:
        metadata = json.loads(tar.extractfile("metadata.json").read())  # type: ignore[union-attr]
        assert "model.joblib" in tar.getnames()
    baseline = metadata["baseline_metrics"]["validation:auc"]
    assert baseline <= 0.55 < trained["metrics"]["validation:auc"] - 0.25  # the data has real signal
    manifest = json.loads(
        s3.get_object(Bucket=bucket, Key=key.replace("output/model.tar.gz", "input-manifest.json"))["Body"].read()
    )
    assert manifest["objects"] and all(o["version_id"] for o in manifest["objects"])
    sagemaker = emulator_client("sagemaker")
    job = sagemaker.describe_training_job(TrainingJobName=trained["job_name"])
    assert {d["Name"] for d in job["AlgorithmSpecification"]["MetricDefinitions"]} >= {"validation:auc", "train:auc"}
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]][-1] == "Completed"


def test_tuning_runs_four_trials_and_beats_or_ties_the_default(project: Cli, trained: dict[str, Any]) -> None:
    tuned = project.json("train", "tune", "--wait", "--max-jobs", "4")
    assert len(tuned["trials"]) == 4 and tuned["counters"]["Completed"] == 4
    assert tuned["objective"] == "maximize validation:auc"
    assert tuned["best_value"] >= trained["metrics"]["validation:auc"] - 1e-9
    assert tuned["best_value"] == max(t["objective"] for t in tuned["trials"])
    # the tuning job is newer than the training job: `latest` is its best trial, not its newest one
    evaluated = project.json("train", "evaluate", "--wait")["run"]
    assert evaluated["training_job"] == tuned["best_job"]
    assert evaluated["chosen"] == f"best of tuning job {tuned['job_name']} (validation:auc {tuned['best_value']:.4f})"


def test_evaluation_writes_report_and_plots_with_the_true_auc(
    project: Cli, trained: dict[str, Any], emulator_client: Any, tmp_path: Path
) -> None:
    result = project.json("train", "evaluate", trained["job_name"], "--wait")
    files = s3_objects(emulator_client("s3"), result["run"]["output_uri"])
    names = {key.rsplit("/", 1)[-1] for key in files}
    assert names == {
        "evaluation.json",
        "roc_curve.png",
        "precision_recall.png",
        "calibration.png",
        "confusion_matrix.png",
    }
    assert all(body.startswith(b"\x89PNG\r\n\x1a\n") for key, body in files.items() if key.endswith(".png"))
    # score the test split independently with the model from S3
    s3 = emulator_client("s3")
    bucket, _, key = result["run"]["model_uri"].removeprefix("s3://").partition("/")
    with tarfile.open(fileobj=io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())) as tar:
        tar.extractall(tmp_path, filter="data")
    model = joblib.load(tmp_path / "model.joblib")
    test_dir = tmp_path / "test"
    test_dir.mkdir()
    for name, body in s3_objects(s3, result["run"]["test_uri"]).items():
        (test_dir / name.rsplit("/", 1)[-1]).write_bytes(body)
    sys.path.insert(0, str(ROOT / "mlops_cli" / "container_scripts"))
    try:
        import mlops_schema as ms

        schema = ms.load_schema(tmp_path / "schema.json")
        test = ms.load_clean_folder(test_dir, schema)
        features = ms.model_inputs(test, schema)
        truth = ms.labels(test, schema)
    finally:
        sys.path.remove(str(ROOT / "mlops_cli" / "container_scripts"))
    expected = roc_auc_score(truth, model.predict_proba(features)[:, 1])
    assert result["evaluation"]["metrics"]["auc"] == pytest.approx(expected, abs=1e-6)


def test_a_batch_without_the_target_fails_the_job_with_its_reason(project: Cli, tmp_path: Path) -> None:
    source = pd.read_csv(ROOT / "data/churn/ingest_date=2026-01-05/customers.csv", dtype=str)
    batch = tmp_path / "ingest_date=2026-02-02"
    batch.mkdir()
    source.drop(columns=["churned"]).head(50).to_csv(batch / "customers.csv", index=False)
    project.json("storage", "upload", str(batch))
    result = project("preprocess", "run", "--dates", "2026-02-02", "--wait")
    assert result.returncode == 1
    assert "failed" in result.stderr and "churned" in result.stderr.split("failed", 1)[1]


def test_a_training_error_is_the_failure_reason(project: Cli, preprocessed: dict[str, Any]) -> None:
    # a schema narrower than the data it was preprocessed with is valid config, and fails inside the job
    result = project("train", "run", "--wait", "--set", "dataset.columns.tenure_months.max=1")
    assert result.returncode == 1
    reason = result.stderr.split("failed:", 1)[1]
    assert reason.strip().startswith("AlgorithmError:") and "tenure_months" in reason


def test_two_workers_give_the_same_rows_and_splits(
    project: Cli, preprocessed: dict[str, Any], emulator_client: Any
) -> None:
    sharded = project.json(
        "preprocess",
        "run",
        "--wait",
        "--instance-count",
        "2",
        "--dates",
        "2026-01-05",
        "--dates",
        "2026-01-12",
        "--dates",
        "2026-01-19",
    )
    assert sorted(sharded["hosts"]) == ["algo-1", "algo-2"]
    s3 = emulator_client("s3")
    for split in ("train", "validation", "test", "rejects"):
        one = csv_rows(s3, preprocessed["outputs"][split])
        two = csv_rows(s3, sharded["outputs"][split])
        columns = [c for c in one.columns if c != "source_file"]
        assert rows_of(one, columns) == rows_of(two, columns), split


def rows_of(frame: pd.DataFrame, columns: list[str]) -> list[tuple[str, ...]]:
    return sorted(map(tuple, frame[columns].astype(str).values.tolist()))


def test_logs_follow_prints_while_running_and_timeout_exits_4(
    project: Cli, preprocessed: dict[str, Any], big_batch: str
) -> None:
    started = project.json("train", "run")  # --no-wait
    follow = project("train", "logs", started["job_name"], "--follow")
    assert follow.returncode == 0 and "validation:auc=" in follow.stdout
    timed_out = project("preprocess", "run", "--wait", "--timeout", "1", "--dates", big_batch)
    assert timed_out.returncode == 4 and "still InProgress" in timed_out.stderr and "logs" in timed_out.stderr


def test_ctrl_c_while_waiting_leaves_the_job_running(
    project: Cli, preprocessed: dict[str, Any], big_batch: str, emulator_client: Any
) -> None:
    command = [
        sys.executable,
        "-m",
        "mlops_cli",
        "preprocess",
        "run",
        "--wait",
        "--dates",
        big_batch,
        "-c",
        "configs/local.yaml",
        "--set",
        f"project={project.project}",
    ]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    first = ""
    while "Started processing job " not in first:  # printed once the job exists: the CLI now waits for it
        line = process.stderr.readline()
        assert line, "the CLI ended before starting the job"
        first += line
    job = first.split("Started processing job ", 1)[1].split()[0]
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=30)
    assert process.returncode == 130, first + rest
    assert "goes on running" in rest and "--follow" in rest
    sagemaker = emulator_client("sagemaker")
    # it was not stopped: it runs on to completion
    sagemaker.get_waiter("processing_job_completed_or_stopped").wait(
        ProcessingJobName=job, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    assert sagemaker.describe_processing_job(ProcessingJobName=job)["ProcessingJobStatus"] == "Completed"
