"""Metrics per task and the log lines SageMaker turns into job metrics.

Training and evaluation must compute and print metrics identically: the tuning objective and the registration
threshold compare `validation:<metric>` with `test:<metric>`. A line looks like `validation:auc=0.851234;` and the
job's MetricDefinitions capture it with the regex `validation:auc=([0-9.]+);`.

Per task (METRICS): binary → auc, accuracy, f1, precision, recall, logloss (P(positive) at THRESHOLD);
multiclass → accuracy, macro_f1, logloss (per-class recall comes separately from recall_per_class: a dict does not
fit a metric line); regression → rmse, mae, r2.

Runs inside SageMaker's scikit-learn images (1.2 and later): only APIs that exist there, Python 3.9 syntax.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
)

METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("auc", "accuracy", "f1", "precision", "recall", "logloss"),
    "multiclass": ("accuracy", "macro_f1", "logloss"),
    "regression": ("rmse", "mae", "r2"),
}
# The tuning objective and its direction when the config names none.
DEFAULT_OBJECTIVES: dict[str, tuple[str, str]] = {
    "binary": ("validation:auc", "maximize"),
    "multiclass": ("validation:macro_f1", "maximize"),
    "regression": ("validation:rmse", "minimize"),
}
THRESHOLD = 0.5  # a probability of the positive class at or above it is predicted positive


def task_metrics(
    task: str, y_true: np.ndarray, scores: np.ndarray, classes: Sequence[str] | None = None
) -> dict[str, float | None]:
    """Every metric of METRICS[task], in that order.

    scores: binary → P(positive) (1-D, y_true 0/1); multiclass → predict_proba (2-D, columns in `classes` order,
    y_true the class names); regression → the predictions (1-D). A metric that is undefined on these rows (AUC with
    one class, R² with one row) is None.
    """
    if task == "binary":
        return binary_metrics(y_true, scores)
    if task == "multiclass":
        if classes is None:
            raise ValueError("multiclass metrics need the classes (the column order of the probabilities)")
        return multiclass_metrics(y_true, scores, classes)
    if task == "regression":
        return regression_metrics(y_true, scores)
    raise ValueError(f"unknown task '{task}' (one of {', '.join(METRICS)})")


def binary_metrics(y_true: np.ndarray, proba: np.ndarray, threshold: float = THRESHOLD) -> dict[str, float | None]:
    """Every binary metric; AUC is None when only one class is present (it is undefined then)."""
    y_true = np.asarray(y_true).astype(int)
    proba = np.asarray(proba, dtype=float)
    predicted = (proba >= threshold).astype(int)
    both_classes = len(np.unique(y_true)) == 2
    return {
        "auc": float(roc_auc_score(y_true, proba)) if both_classes else None,
        "accuracy": float(accuracy_score(y_true, predicted)),
        "f1": float(f1_score(y_true, predicted, zero_division=0)),
        "precision": float(precision_score(y_true, predicted, zero_division=0)),
        "recall": float(recall_score(y_true, predicted, zero_division=0)),
        "logloss": float(log_loss(y_true, np.clip(proba, 1e-15, 1 - 1e-15), labels=[0, 1])),
    }


def predicted_classes(proba: np.ndarray, classes: Sequence[str]) -> np.ndarray:
    """The most probable class of each row (the first in `classes` order on a tie, as scikit-learn's predict)."""
    return np.asarray(list(classes), dtype=object)[np.argmax(np.asarray(proba, dtype=float), axis=1)]


def multiclass_metrics(y_true: np.ndarray, proba: np.ndarray, classes: Sequence[str]) -> dict[str, float | None]:
    """accuracy, macro_f1 (over the classes present in y_true or predicted, scikit-learn's default) and logloss.

    A class of y_true the model never saw (absent from its train split, so not in `classes`) gets probability 0:
    the log loss then says how costly that gap is instead of failing.
    """
    y_true = np.asarray(y_true, dtype=object).astype(str)
    proba = np.asarray(proba, dtype=float)
    names = [str(name) for name in classes]
    if proba.ndim != 2 or proba.shape[1] != len(names):
        raise ValueError(f"expected probabilities with {len(names)} columns ({', '.join(names)}), got {proba.shape}")
    predicted = predicted_classes(proba, names).astype(str)
    unseen = sorted(set(y_true) - set(names))
    if unseen:
        proba = np.hstack([proba, np.zeros((len(proba), len(unseen)))])
        names = names + unseen
    # log_loss reads the columns in sorted label order, whatever order `labels` is given in; it clips 0s itself.
    order = np.argsort(np.asarray(names, dtype=str), kind="stable")
    return {
        "accuracy": float(accuracy_score(y_true, predicted)),
        "macro_f1": float(f1_score(y_true, predicted, average="macro", zero_division=0)),
        "logloss": float(log_loss(y_true, proba[:, order], labels=np.asarray(names, dtype=str)[order])),
    }


def recall_per_class(y_true: np.ndarray, predicted: np.ndarray, classes: Sequence[str]) -> dict[str, float]:
    """The recall of each class, in `classes` order. A class absent from y_true has no recall (nothing to find):
    it is left out rather than reported as 0."""
    y_true = np.asarray(y_true, dtype=object).astype(str)
    predicted = np.asarray(predicted, dtype=object).astype(str)
    present = [str(name) for name in classes if str(name) in set(y_true)]
    if not present:
        return {}
    values = recall_score(y_true, predicted, labels=present, average=None, zero_division=0)
    return {name: float(values[i]) for i, name in enumerate(present)}


def regression_metrics(y_true: np.ndarray, predictions: np.ndarray) -> dict[str, float | None]:
    """rmse, mae and r2; r2 is None below two rows (undefined)."""
    y_true = np.asarray(y_true, dtype=float)
    predictions = np.asarray(predictions, dtype=float)
    return {
        "rmse": float(math.sqrt(mean_squared_error(y_true, predictions))),
        "mae": float(mean_absolute_error(y_true, predictions)),
        "r2": float(r2_score(y_true, predictions)) if len(y_true) >= 2 else None,
    }


def metric_lines(prefix: str, metrics: dict[str, float | None]) -> list[str]:
    """`<prefix>:<name>=<value>;` with six decimals (never exponent notation, so the simple regex matches);
    undefined metrics are left out rather than printed as nan, which no regex would parse."""
    return [
        f"{prefix}:{name}={value:.6f};" for name, value in metrics.items() if value is not None and math.isfinite(value)
    ]
