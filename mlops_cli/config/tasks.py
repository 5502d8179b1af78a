"""The learning tasks (binary, multiclass, regression): which target each takes, the metrics the container scripts
print for it (mlops_cli/container_scripts/mlops_metrics.py computes them), and its default tuning objective. Kept
free of numpy and scikit-learn: `config validate` reads it."""

from __future__ import annotations

import sys
from typing import Literal

Task = Literal["binary", "multiclass", "regression"]

# mlops_metrics.METRICS: what train.py prints for train and validation, and evaluate.py for test
METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("auc", "accuracy", "f1", "precision", "recall", "logloss"),
    "multiclass": ("accuracy", "macro_f1", "logloss"),
    "regression": ("rmse", "mae", "r2"),
}
# mlops_metrics.DEFAULT_OBJECTIVES: the objective when the config names none
DEFAULT_OBJECTIVES: dict[str, tuple[str, Literal["maximize", "minimize"]]] = {
    "binary": ("validation:auc", "maximize"),
    "multiclass": ("validation:macro_f1", "maximize"),
    "regression": ("validation:rmse", "minimize"),
}
LOWER_IS_BETTER = frozenset({"logloss", "rmse", "mae"})
# The values a metric can take: a threshold outside them is never (or always) met.
METRIC_RANGES: dict[str, tuple[float, float]] = {
    **dict.fromkeys(("auc", "accuracy", "f1", "precision", "recall", "macro_f1"), (0.0, 1.0)),
    **dict.fromkeys(("logloss", "rmse", "mae"), (0.0, float("inf"))),
    "r2": (float("-inf"), 1.0),
}
# The binary job metrics as they have always been defined (churn's jobs keep reporting exactly these); the other
# tasks report train and validation for every metric of the task.
_BINARY_JOB_METRICS = (
    "train:auc",
    "train:accuracy",
    "validation:auc",
    "validation:accuracy",
    "validation:f1",
    "validation:precision",
    "validation:recall",
    "validation:logloss",
)
TARGET_TYPES = "bool, category, int or float"


def job_metrics(task: str) -> tuple[str, ...]:
    """The metrics a training job of this task reports (its MetricDefinitions), and so the objectives it offers."""
    if task == "binary":
        return _BINARY_JOB_METRICS
    return tuple(f"{split}:{name}" for split in ("train", "validation") for name in METRICS[task])


def natural_goal(metric: str) -> Literal["maximize", "minimize"]:
    """The direction in which `metric` (`validation:rmse` or `rmse`) gets better."""
    return "minimize" if metric.rsplit(":", 1)[-1] in LOWER_IS_BETTER else "maximize"


def passing_threshold(metric: str, goal: str) -> float:
    """A threshold every value of `metric` meets in the goal's direction (the metric's worst value, or the largest
    finite float where it has none): what "no register.min_metric" means where a number is needed."""
    low, high = METRIC_RANGES.get(metric.rsplit(":", 1)[-1], (float("-inf"), float("inf")))
    worst = low if goal == "maximize" else high
    if worst in (float("inf"), float("-inf")):
        return sys.float_info.max if worst > 0 else -sys.float_info.max
    return worst


def infer_task(column_type: str, values: list[str] | None) -> Task | None:
    """The task a target column of this type implies, or None when its type cannot be a target."""
    if column_type == "bool":
        return "binary"
    if column_type == "category":
        return "binary" if len(values or ()) == 2 else "multiclass"
    if column_type in ("int", "float"):
        return "regression"
    return None


def task_problem(task: str, target: str, column_type: str, values: list[str] | None) -> str | None:
    """Why the target column `target` cannot be learned as `task`, or None."""
    article = "an" if column_type == "int" else "a"
    kind = (
        f"a category of {len(values or ())} value(s)"
        if column_type == "category"
        else f"{article} {column_type} column"
    )
    described = f"the target '{target}' is {kind}"
    if task == "binary" and not (column_type == "bool" or (column_type == "category" and len(values or ()) == 2)):
        return f"task binary needs a bool target or a category with exactly 2 values; {described}"
    if task == "multiclass" and column_type != "category":
        return f"task multiclass needs a category target (its values are the classes); {described}"
    if task == "regression" and column_type not in ("int", "float"):
        return f"task regression needs an int or float target; {described}"
    return None
