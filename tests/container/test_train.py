"""train.py under the training toolkit's contract, on the preprocessed sample data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
    recall_score,
    roc_auc_score,
)
from sklearn.pipeline import Pipeline

from tests.container import contract
from tests.container.conftest import (
    QUICK_MODEL,
    generated_schema,
    model_frame,
    output_dir,
    preprocess_generated,
    read_output,
    train_channels,
)
from tests.container.contract import (
    SCRIPTS,
    TRAINING_METRIC_DEFINITIONS,
    Files,
    JobResult,
    files_under,
    metric_definitions,
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
    assert (metadata["task"], metadata["classes"]) == ("binary", ["no", "yes"])  # predict_proba's columns 0/1
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


# Per task and algorithm: the hyperparameters sent (with some that do not apply, to be logged as ignored) and what
# the estimator must have got.
TASK_RUNS = {
    ("multiclass", "logistic_regression"): (
        {"algorithm": "logistic_regression", "C": 2.0, "alpha": 3.0},
        {"C": 2.0},
        "alpha",
    ),
    ("multiclass", "random_forest"): ({"algorithm": "random_forest", "n_estimators": 30}, {"n_estimators": 30}, None),
    ("multiclass", "hist_gradient_boosting"): (
        {"algorithm": "hist_gradient_boosting", "max_iter": 40, "class_weight": "balanced"},
        {"max_iter": 40, "class_weight": "balanced"},
        None,
    ),
    ("regression", "ridge"): (
        {"algorithm": "ridge", "alpha": 0.5, "C": 2.0, "class_weight": "balanced"},
        {"alpha": 0.5},
        "C, class_weight",
    ),
    ("regression", "random_forest"): (
        {"algorithm": "random_forest", "n_estimators": 30, "min_samples_leaf": 3},
        {"n_estimators": 30, "min_samples_leaf": 3},
        None,
    ),
    ("regression", "hist_gradient_boosting"): (
        {"algorithm": "hist_gradient_boosting", "n_estimators": 60, "learning_rate": 0.1},
        {"max_iter": 60, "learning_rate": 0.1},
        None,
    ),
}


def recomputed(task: str, model: Pipeline, x: pd.DataFrame, y: np.ndarray) -> dict[str, float]:
    """The task's metrics computed here with scikit-learn from the saved model, not through mlops_metrics."""
    if task == "regression":
        predicted = model.predict(x)
        return {
            "rmse": float(np.sqrt(mean_squared_error(y, predicted))),
            "mae": mean_absolute_error(y, predicted),
            "r2": r2_score(y, predicted),
        }
    proba = model.predict_proba(x)
    classes = list(model.classes_)
    unseen = sorted(set(y) - set(classes))  # classes the model never saw: probability 0
    full = np.hstack([proba, np.zeros((len(y), len(unseen)))])
    labels = classes + unseen
    order = np.argsort(labels)
    return {
        "accuracy": accuracy_score(y, model.predict(x)),
        "macro_f1": f1_score(y, model.predict(x), average="macro", zero_division=0),
        "logloss": log_loss(y, full[:, order], labels=np.array(labels)[order]),
    }


def task_result(tmp_path: Path, preprocessed: JobResult, task: str, hyperparameters: dict[str, Any]) -> JobResult:
    schema = generated_schema(task)
    result = run_training(tmp_path, train_channels(preprocessed), sdk_encode(hyperparameters), schema, job_name="j-8")
    assert result.returncode == 0, result.describe()
    return result


@pytest.mark.parametrize(("task", "algorithm"), list(TASK_RUNS))
def test_each_task_trains_its_estimator_and_prints_the_metrics_scikit_learn_computes(
    tmp_path: Path, request: pytest.FixtureRequest, task: str, algorithm: str
) -> None:
    preprocessed: JobResult = request.getfixturevalue(f"{task}_preprocessed")
    hyperparameters, expected, ignored = TASK_RUNS[(task, algorithm)]
    result = task_result(tmp_path, preprocessed, task, hyperparameters)
    schema = generated_schema(task)
    metrics = result.metrics(task)
    assert set(metrics) == {d["Name"] for d in metric_definitions("train", "validation", task=task)}
    if ignored:
        assert f"hyperparameters ignored by {algorithm}: {ignored}" in result.stdout
    else:
        assert "hyperparameters ignored" not in result.stdout

    model_dir = result.opt_ml / "model"
    model = joblib.load(model_dir / "model.joblib")
    estimator = model.named_steps["model"]
    assert type(estimator).__name__ == ESTIMATORS[(task, algorithm)]
    assert expected.items() <= estimator.get_params().items()
    splits = {name: model_frame(output_dir(preprocessed, name), schema) for name in ("train", "validation")}
    for name, (x, y) in splits.items():
        for metric, value in recomputed(task, model, x, y).items():
            assert metrics[f"{name}:{metric}"] == pytest.approx(value, abs=1e-6), f"{name}:{metric}"

    (x_train, y_train), (x_val, y_val) = splits["train"], splits["validation"]
    metadata = json.loads((model_dir / "metadata.json").read_text())
    if task == "regression":
        baseline = recomputed(task, DummyRegressor().fit(x_train, y_train), x_val, y_val)
        assert metrics["validation:rmse"] < 0.5 * baseline["rmse"]
        assert (metadata["classes"], metadata["positive_label"]) == ([], None)
    else:
        baseline = recomputed(task, DummyClassifier(strategy="most_frequent").fit(x_train, y_train), x_val, y_val)
        assert metrics["validation:macro_f1"] > baseline["macro_f1"] + 0.3
        # predict_proba's columns: the class names as text, in scikit-learn's (sorted) order.
        assert list(model.classes_) == metadata["classes"] == ["high", "low", "mid"]
        assert metadata["positive_label"] is None
        recall = recall_score(y_val, model.predict(x_val), labels=metadata["classes"], average=None)
        assert metadata["metrics"]["validation:recall_per_class"] == pytest.approx(
            dict(zip(metadata["classes"], recall, strict=True)), abs=1e-12
        )
        assert not any("recall_per_class" in line for line in result.stdout.splitlines())
    assert metadata["baseline_metrics"] == pytest.approx(
        {f"validation:{name}": value for name, value in baseline.items()}, abs=1e-9
    )
    assert (metadata["task"], metadata["target"], metadata["algorithm"]) == (task, schema["target"], algorithm)
    assert expected.items() <= metadata["hyperparameters"].items()
    assert metadata["rows"] == {"train": len(y_train), "validation": len(y_val)}
    assert json.loads((result.opt_ml / "output" / "data" / "metrics.json").read_text()) == metadata["metrics"]
    assert json.loads((model_dir / "schema.json").read_text()) == schema
    check_code_folder(model_dir)


ESTIMATORS = {
    ("multiclass", "logistic_regression"): "LogisticRegression",
    ("multiclass", "random_forest"): "RandomForestClassifier",
    ("multiclass", "hist_gradient_boosting"): "HistGradientBoostingClassifier",
    ("regression", "ridge"): "Ridge",
    ("regression", "random_forest"): "RandomForestRegressor",
    ("regression", "hist_gradient_boosting"): "HistGradientBoostingRegressor",
}


@pytest.mark.parametrize(
    ("task", "hyperparameters", "reason"),
    [
        (
            "regression",
            {"algorithm": "logistic_regression"},
            "algorithm 'logistic_regression' does not do regression (for regression: one of ridge, random_forest, "
            "hist_gradient_boosting)",
        ),
        ("multiclass", {"algorithm": "ridge"}, "algorithm 'ridge' does not do multiclass (for multiclass: one of "),
        ("regression", {"algorithm": "ridge", "alpha": 0}, "argument --alpha: '0' is not a number above 0"),
    ],
)
def test_an_algorithm_or_value_that_does_not_fit_the_task_fails(
    tmp_path: Path, request: pytest.FixtureRequest, task: str, hyperparameters: dict[str, Any], reason: str
) -> None:
    preprocessed: JobResult = request.getfixturevalue(f"{task}_preprocessed")
    channels = train_channels(preprocessed)
    result = run_training(tmp_path, channels, sdk_encode(hyperparameters), generated_schema(task))
    assert result.returncode == 1
    assert result.failure is not None and reason in result.failure.splitlines()[0]
    assert not (result.opt_ml / "model" / "model.joblib").exists()


def test_a_multiclass_train_split_without_a_class_still_trains(
    tmp_path: Path, multiclass_preprocessed: JobResult
) -> None:
    """The model knows the classes it saw; metadata.json says which, and validation rows of the unseen class count
    against it (probability 0) instead of failing the job."""
    schema = generated_schema("multiclass")
    train = read_output(multiclass_preprocessed, "train")
    without_high = tmp_path / "train.csv"
    train[train["segment"] != "high"].to_csv(without_high, index=False)
    channels = {
        "train": [(without_high, "part-algo-1.csv")],
        **{"validation": train_channels(multiclass_preprocessed)["validation"]},
    }
    result = run_training(tmp_path / "job", channels, sdk_encode({"algorithm": "logistic_regression"}), schema)
    assert result.returncode == 0, result.describe()
    assert "warning: the train channel has no row of high: the model cannot predict them" in result.stdout
    model = joblib.load(result.opt_ml / "model" / "model.joblib")
    metadata = json.loads((result.opt_ml / "model" / "metadata.json").read_text())
    assert list(model.classes_) == metadata["classes"] == ["low", "mid"]
    x_val, y_val = model_frame(output_dir(multiclass_preprocessed, "validation"), schema)
    assert "high" in set(y_val)
    metrics = result.metrics("multiclass")
    for metric, value in recomputed("multiclass", model, x_val, y_val).items():
        assert metrics[f"validation:{metric}"] == pytest.approx(value, abs=1e-6), metric
    assert metadata["metrics"]["validation:recall_per_class"]["high"] == 0.0


def test_a_train_channel_with_one_class_fails(tmp_path: Path, multiclass_preprocessed: JobResult) -> None:
    train = read_output(multiclass_preprocessed, "train")
    only_low = tmp_path / "train.csv"
    train[train["segment"] == "low"].to_csv(only_low, index=False)
    channels = {**train_channels(multiclass_preprocessed), "train": [(only_low, "part-algo-1.csv")]}
    result = run_training(tmp_path / "job", channels, QUICK_MODEL, generated_schema("multiclass"))
    assert result.returncode == 1
    assert result.failure is not None
    assert result.failure.startswith("the train channel holds only one class (low): nothing to learn")


def test_a_binary_category_target_learns_its_last_value_as_positive(tmp_path: Path) -> None:
    """A binary task on a 2-valued category: the model learns 0/1 as for churn, 1 being positive_label."""
    schema = generated_schema("binary")
    preprocessed = preprocess_generated(tmp_path / "preprocess", "binary")
    result = run_training(tmp_path / "job", train_channels(preprocessed), QUICK_MODEL, schema)
    assert result.returncode == 0, result.describe()
    model = joblib.load(result.opt_ml / "model" / "model.joblib")
    metadata = json.loads((result.opt_ml / "model" / "metadata.json").read_text())
    assert list(model.classes_) == [0, 1]
    assert (metadata["task"], metadata["classes"], metadata["positive_label"]) == ("binary", ["sold", "kept"], "kept")
    x_val, y_val = model_frame(output_dir(preprocessed, "validation"), schema)
    raw = pd.read_csv(output_dir(preprocessed, "validation") / "part-algo-1.csv", dtype=str)["outcome"]
    assert y_val.tolist() == (raw == "kept").astype(int).tolist() and 0 < y_val.sum() < len(y_val)
    metrics = result.metrics("binary")
    assert metrics["validation:auc"] == pytest.approx(roc_auc_score(y_val, model.predict_proba(x_val)[:, 1]), abs=1e-6)
    assert metrics["validation:auc"] > 0.85
    assert "positive" in result.stdout  # the binary summary line of each split


def test_an_old_schema_without_a_task_trains_the_same_churn_model(
    tmp_path: Path, preprocessed: JobResult, trained: JobResult, schema: dict[str, Any]
) -> None:
    """A sourcedir.tar.gz whose schema.json predates tasks (no task, classes, positive_label): binary, as before."""
    old = {key: value for key, value in schema.items() if key not in ("task", "classes", "positive_label")}
    result = run_training(tmp_path, channels(preprocessed), QUICK_MODEL, old)
    assert result.returncode == 0, result.describe()
    assert result.metrics() == trained.metrics()
    metadata = json.loads((result.opt_ml / "model" / "metadata.json").read_text())
    assert (metadata["task"], metadata["classes"], metadata["positive_label"]) == ("binary", ["no", "yes"], "yes")
