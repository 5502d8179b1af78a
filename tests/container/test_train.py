"""train.py under the training toolkit's contract, on the preprocessed sample data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import joblib
import pytest
import sklearn
from sklearn.dummy import DummyClassifier
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline

from tests.container import contract
from tests.container.conftest import model_frame, output_dir
from tests.container.contract import (
    SCRIPTS,
    TRAINING_METRIC_DEFINITIONS,
    Files,
    JobResult,
    files_under,
    run_training,
    sdk_encode,
)

# Hyperparameters as CreateTrainingJob's string map: SDK-style JSON strings, and an unquoted string that the
# toolkit passes on as it is. Small ensembles keep the tests quick.
HYPERPARAMETERS = {
    "logistic_regression": {"algorithm": "logistic_regression", "C": "0.5", "class_weight": "balanced"},
    "random_forest": sdk_encode({"algorithm": "random_forest", "n_estimators": 40, "min_samples_leaf": 10}),
    "hist_gradient_boosting": sdk_encode(
        {"algorithm": "hist_gradient_boosting", "max_iter": 60, "learning_rate": 0.1, "max_depth": None}
    ),
}
EXPECTED_PARAMS = {
    "logistic_regression": {"C": 0.5, "class_weight": "balanced"},
    "random_forest": {"n_estimators": 40, "min_samples_leaf": 10},
    "hist_gradient_boosting": {"max_iter": 60, "learning_rate": 0.1, "max_depth": None},
}


def channels(preprocessed: JobResult) -> dict[str, Files]:
    return {name: files_under(output_dir(preprocessed, name)) for name in ("train", "validation")}


def serving_code() -> list[str]:
    """What code/ in model.tar.gz must hold: the handler and the shared modules it imports, no job script."""
    return ["inference.py", *sorted(path.name for path in SCRIPTS.glob("mlops_*.py"))]


def check_code_folder(model_dir: Path) -> None:
    code = model_dir / "code"
    assert sorted(path.relative_to(code).as_posix() for path in code.rglob("*")) == sorted(serving_code())
    for name in serving_code():
        assert (code / name).read_bytes() == (SCRIPTS / name).read_bytes(), name


@pytest.mark.parametrize("algorithm", list(HYPERPARAMETERS))
def test_each_algorithm_trains_a_model_well_above_the_majority_baseline(
    tmp_path: Path, preprocessed: JobResult, schema: dict[str, Any], algorithm: str
) -> None:
    result = run_training(tmp_path, channels(preprocessed), HYPERPARAMETERS[algorithm], schema, job_name="job-7")
    assert result.returncode == 0, result.describe()
    metrics = result.metrics()
    assert set(metrics) == {d["Name"] for d in TRAINING_METRIC_DEFINITIONS}
    assert metrics["validation:auc"] >= 0.80, result.stdout
    assert f"scikit-learn {sklearn.__version__}" in result.stdout
    assert "train: 2544 rows" in result.stdout and "validation: 529 rows" in result.stdout

    model_dir = result.opt_ml / "model"
    model = joblib.load(model_dir / "model.joblib")
    assert isinstance(model, Pipeline)
    x_val, y_val = model_frame(output_dir(preprocessed, "validation"), schema)
    auc = roc_auc_score(y_val, model.predict_proba(x_val)[:, 1])
    assert auc == pytest.approx(metrics["validation:auc"], abs=1e-6)

    x_train, y_train = model_frame(output_dir(preprocessed, "train"), schema)
    baseline = DummyClassifier(strategy="most_frequent").fit(x_train, y_train)
    baseline_auc = roc_auc_score(y_val, baseline.predict_proba(x_val)[:, 1])
    assert auc - baseline_auc >= 0.25

    metadata = json.loads((model_dir / "metadata.json").read_text())
    assert metadata["algorithm"] == algorithm
    assert EXPECTED_PARAMS[algorithm].items() <= metadata["hyperparameters"].items()
    assert metadata["metrics"]["validation:auc"] == pytest.approx(metrics["validation:auc"], abs=1e-6)
    assert metadata["baseline_metrics"]["validation:auc"] == 0.5
    assert metadata["rows"] == {"train": 2544, "validation": 529}
    assert metadata["feature_columns"] == list(x_val.columns)
    assert (metadata["target"], metadata["positive_label"]) == ("churned", "yes")
    assert metadata["sklearn_version"] == sklearn.__version__
    assert metadata["training_job_name"] == "job-7"
    assert json.loads((model_dir / "schema.json").read_text()) == schema
    check_code_folder(model_dir)
    assert sorted(path.name for path in model_dir.iterdir()) == ["code", "metadata.json", "model.joblib", "schema.json"]
    assert json.loads((result.opt_ml / "output" / "data" / "metrics.json").read_text()) == metadata["metrics"]
    assert not (result.opt_ml / "output" / "failure").exists()


def header_only(tmp_path: Path, preprocessed: JobResult) -> Files:
    source = output_dir(preprocessed, "train") / "part-algo-1.csv"
    empty = tmp_path / "empty.csv"
    empty.write_text(source.read_text().splitlines()[0] + "\n")
    return [(empty, "part-algo-1.csv")]


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        (
            "unknown algorithm",
            "unknown algorithm 'gradient_boosting' (one of logistic_regression, random_forest, hist_gradient_boosting)",
        ),
        ("bad value", "invalid hyperparameters: argument --n_estimators: invalid integer value: 'many'"),
        ("empty train channel", "/opt_ml/input/data/train holds no rows"),
    ],
)
def test_a_training_error_writes_the_failure_file(
    tmp_path: Path, preprocessed: JobResult, schema: dict[str, Any], case: str, reason: str
) -> None:
    data = channels(preprocessed)
    hyperparameters = {"algorithm": '"hist_gradient_boosting"'}
    if case == "unknown algorithm":
        hyperparameters = {"algorithm": '"gradient_boosting"'}
    elif case == "bad value":
        hyperparameters["n_estimators"] = '"many"'
    else:
        data["train"] = header_only(tmp_path, preprocessed)
    result = run_training(tmp_path / "job", data, hyperparameters, schema)
    assert result.returncode == 1
    failure = result.failure
    assert failure is not None
    first_line = failure.splitlines()[0]
    assert reason in first_line
    assert "Traceback" in failure
    assert result.stderr.rstrip().splitlines()[-1] == f"ERROR: {first_line}"
    assert not (result.opt_ml / "model" / "model.joblib").exists()


def test_training_without_the_inference_handler_fails_before_fitting(
    tmp_path: Path, preprocessed: JobResult, schema: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sourcedir.tar.gz without inference.py would give a model.tar.gz the serving container cannot run."""
    scripts = tmp_path / "scripts"
    shutil.copytree(SCRIPTS, scripts, ignore=shutil.ignore_patterns("inference.py", "__pycache__"))
    monkeypatch.setattr(contract, "SCRIPTS", scripts)  # what the harness installs as the job's code
    result = run_training(tmp_path / "job", channels(preprocessed), {"algorithm": '"logistic_regression"'}, schema)
    assert result.returncode == 1
    assert result.failure is not None
    first_line = result.failure.splitlines()[0]
    assert first_line.startswith("inference.py is missing next to train.py in ")
    assert "bundle container_scripts/inference.py into the job's sourcedir.tar.gz" in first_line
    assert "fitted in" not in result.stdout
    assert not (result.opt_ml / "model" / "model.joblib").exists()
    assert not (result.opt_ml / "model" / "code").exists()
