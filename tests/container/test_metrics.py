"""mlops_metrics in-process: the metrics of each task, recomputed here with scikit-learn directly."""

from __future__ import annotations

import re
from types import ModuleType

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
)

from tests.container.conftest import load_script_module
from tests.container.contract import TASK_METRICS, metric_definitions

CLASSES = ["low", "mid", "high"]  # not sorted: scikit-learn's log_loss reads columns in sorted label order


@pytest.fixture(scope="module")
def mm() -> ModuleType:
    return load_script_module("mlops_metrics")


def probabilities(rows: int, seed: int = 3) -> np.ndarray:
    raw = np.random.default_rng(seed).random((rows, len(CLASSES))) + 0.05
    return raw / raw.sum(axis=1, keepdims=True)


def test_each_task_has_its_metrics_and_a_default_objective(mm: ModuleType) -> None:
    assert mm.METRICS == TASK_METRICS
    assert mm.DEFAULT_OBJECTIVES == {
        "binary": ("validation:auc", "maximize"),
        "multiclass": ("validation:macro_f1", "maximize"),
        "regression": ("validation:rmse", "minimize"),
    }


def test_multiclass_metrics_read_the_columns_in_the_classes_order(mm: ModuleType) -> None:
    proba = probabilities(40)
    y = np.array(CLASSES * 13 + ["low"], dtype=object)
    metrics = mm.task_metrics("multiclass", y, proba, CLASSES)
    predicted = np.array(CLASSES, dtype=object)[proba.argmax(axis=1)]
    sorted_columns = proba[:, [CLASSES.index(name) for name in sorted(CLASSES)]]
    assert metrics == pytest.approx(
        {
            "accuracy": accuracy_score(y, predicted),
            "macro_f1": f1_score(y, predicted, average="macro"),
            "logloss": log_loss(y, sorted_columns),
        },
        abs=1e-12,
    )
    assert list(metrics) == list(TASK_METRICS["multiclass"])


def test_a_class_missing_from_the_labels_or_from_the_model_does_not_fail(mm: ModuleType) -> None:
    proba = probabilities(6)
    only_low = np.array(["low"] * 6, dtype=object)  # a split where mid and high have no row
    metrics = mm.task_metrics("multiclass", only_low, proba, CLASSES)
    sorted_columns = proba[:, [CLASSES.index(name) for name in sorted(CLASSES)]]
    assert metrics["logloss"] == pytest.approx(log_loss(only_low, sorted_columns, labels=sorted(CLASSES)))
    predicted = mm.predicted_classes(proba, CLASSES)
    recall = mm.recall_per_class(only_low, predicted, CLASSES)
    assert recall == {"low": float(np.mean(predicted == "low"))}  # no row of mid or high: no recall to report

    # A model that never saw "high" (absent from its train split) judged on rows that hold it.
    seen = ["low", "mid"]
    two = proba[:, :2] / proba[:, :2].sum(axis=1, keepdims=True)
    y = np.array(["low", "mid", "high", "low", "mid", "high"], dtype=object)
    metrics = mm.task_metrics("multiclass", y, two, seen)
    assert metrics["accuracy"] == pytest.approx(np.mean(y == np.array(seen, dtype=object)[two.argmax(axis=1)]))
    assert np.isfinite(metrics["logloss"]) and metrics["logloss"] > 10  # probability 0 for the true class
    recall = mm.recall_per_class(y, mm.predicted_classes(two, seen), [*seen, "high"])
    assert recall["high"] == 0.0


def test_multiclass_metrics_need_the_classes(mm: ModuleType) -> None:
    with pytest.raises(ValueError, match="multiclass metrics need the classes"):
        mm.task_metrics("multiclass", np.array(["low"]), probabilities(1))
    with pytest.raises(ValueError, match="expected probabilities with 2 columns"):
        mm.task_metrics("multiclass", np.array(["low"]), probabilities(1), ["low", "mid"])


def test_regression_metrics_equal_scikit_learns(mm: ModuleType) -> None:
    rng = np.random.default_rng(5)
    y = rng.normal(100, 20, 50)
    predicted = y + rng.normal(0, 5, 50)
    assert mm.task_metrics("regression", y, predicted) == pytest.approx(
        {
            "rmse": np.sqrt(mean_squared_error(y, predicted)),
            "mae": mean_absolute_error(y, predicted),
            "r2": r2_score(y, predicted),
        },
        abs=1e-12,
    )
    assert mm.task_metrics("regression", y[:1], predicted[:1])["r2"] is None  # undefined on one row


def test_a_negative_metric_is_printed_with_its_sign_and_parsed(mm: ModuleType) -> None:
    """R² below 0 (a model worse than the mean) must still reach the job's metrics."""
    metrics = mm.task_metrics("regression", np.array([1.0, 2.0, 3.0]), np.array([3.0, 1.0, 4.0]))
    lines = mm.metric_lines("validation", metrics)
    assert lines[2] == f"validation:r2={metrics['r2']:.6f};" and metrics["r2"] < 0
    definition = next(d for d in metric_definitions("validation", task="regression") if d["Name"] == "validation:r2")
    assert float(re.findall(definition["Regex"], "\n".join(lines))[0]) == pytest.approx(metrics["r2"], abs=1e-6)


def test_an_unknown_task_is_refused(mm: ModuleType) -> None:
    with pytest.raises(ValueError, match="unknown task 'ranking'"):
        mm.task_metrics("ranking", np.array([1.0]), np.array([1.0]))
