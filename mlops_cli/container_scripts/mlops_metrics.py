"""Binary-classification metrics and the log lines SageMaker turns into job metrics.

Training and evaluation must compute and print metrics identically: the tuning objective and the registration
threshold compare `validation:auc` with `test:auc`. A line looks like `validation:auc=0.851234;` and the job's
MetricDefinitions capture it with the regex `validation:auc=([0-9.]+);`.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, log_loss, precision_score, recall_score, roc_auc_score

METRICS = ("auc", "accuracy", "f1", "precision", "recall", "logloss")
THRESHOLD = 0.5  # a probability of "yes" at or above it is predicted "yes"


def binary_metrics(y_true: np.ndarray, proba: np.ndarray, threshold: float = THRESHOLD) -> dict[str, float | None]:
    """Every metric in METRICS; AUC is None when only one class is present (it is undefined then)."""
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


def metric_lines(prefix: str, metrics: dict[str, float | None]) -> list[str]:
    """`<prefix>:<name>=<value>;` with six decimals (never exponent notation, so the simple regex matches);
    undefined metrics are left out rather than printed as nan, which no regex would parse."""
    return [
        f"{prefix}:{name}={value:.6f};" for name, value in metrics.items() if value is not None and math.isfinite(value)
    ]
