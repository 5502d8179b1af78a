"""The hyperparameters mlops_cli/container_scripts/train.py reads, and what each estimator accepts for them (scikit-learn's
own parameter constraints), so a job that could only fail is refused before it starts. The task decides the
estimators: classifiers for binary and multiclass, regressors for regression."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from mlops_cli.aws.limits import AWS_INTEGER_MAX

HYPERPARAMETERS = {
    "algorithm": str,
    "n_estimators": int,
    "max_depth": int,
    "learning_rate": float,
    "max_iter": int,
    "min_samples_leaf": int,
    "C": float,
    "class_weight": str,
    "alpha": float,
    "random_state": int,
}
CLASSIFICATION_ALGORITHMS = ("logistic_regression", "random_forest", "hist_gradient_boosting")
REGRESSION_ALGORITHMS = ("ridge", "random_forest", "hist_gradient_boosting")
ALGORITHMS = ("logistic_regression", "random_forest", "hist_gradient_boosting", "ridge")  # of every task
DEFAULT_ALGORITHM = "hist_gradient_boosting"  # mlops_cli/container_scripts/train.py's default, for every task
_CLASSIFIERS = {
    "logistic_regression": "LogisticRegression",
    "random_forest": "RandomForestClassifier",
    "hist_gradient_boosting": "HistGradientBoostingClassifier",
}
_REGRESSORS = {
    "ridge": "Ridge",
    "random_forest": "RandomForestRegressor",
    "hist_gradient_boosting": "HistGradientBoostingRegressor",
}
# Hyperparameters that only one kind of task has, and why the other cannot take them.
_CLASSIFICATION_ONLY = {
    "C": "C is LogisticRegression's regularization strength, and regression has no logistic_regression (ridge's "
    "is alpha)",
    "class_weight": "class_weight weighs the classes of a classifier, and a regression target has no classes",
}
_REGRESSION_ONLY = {
    "alpha": "alpha is Ridge's regularization strength, and ridge is a regressor (logistic_regression's is C)",
}
CLASS_WEIGHTS = ("none", "balanced")
_SEED_MAX = 2**32 - 1  # numpy's random seeds are 32-bit unsigned


@dataclass(frozen=True)
class NumberRule:
    """What one estimator accepts for one numeric hyperparameter (scikit-learn's own parameter constraints)."""

    integer: bool
    minimum: float
    above: bool = False  # the minimum itself is refused (C > 0)
    maximum: float = math.inf
    unlimited: bool = False  # null or 'none' means no limit (max_depth)

    def text(self) -> str:
        kind = "a whole number" if self.integer else "a number"
        low = f"{'>' if self.above else '>='} {self.minimum:g}"
        high = f" and <= {self.maximum:.0f}" if self.maximum != math.inf else ""
        return f"{kind} {low}{high}" + (", or none for no limit" if self.unlimited else "")

    def problem(self, value: Any) -> str | None:
        if self.unlimited and (value is None or (isinstance(value, str) and value.strip().lower() in ("none", ""))):
            return None
        number = _as_number(value)
        if (
            number is None
            or not math.isfinite(number)
            or (self.integer and not number.is_integer())
            or number < self.minimum
            or (self.above and number == self.minimum)
            or number > self.maximum
        ):
            return f"must be {self.text()}"
        return None


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return float(value) if abs(value) < 2**63 else math.inf
    if isinstance(value, float):
        return value
    try:
        return float(str(value))
    except (ValueError, OverflowError):
        return None


_WHOLE_AT_LEAST_1 = NumberRule(integer=True, minimum=1, maximum=AWS_INTEGER_MAX)
# Which estimator reads which hyperparameter, and what it accepts (train.py ignores the others, with a log line).
HYPERPARAMETER_RULES: dict[str, dict[str, NumberRule | tuple[str, ...]]] = {
    "n_estimators": {  # HistGradientBoosting takes it as max_iter
        "random_forest": _WHOLE_AT_LEAST_1,
        "hist_gradient_boosting": _WHOLE_AT_LEAST_1,
    },
    "max_depth": {
        "random_forest": NumberRule(integer=True, minimum=1, maximum=AWS_INTEGER_MAX, unlimited=True),
        "hist_gradient_boosting": NumberRule(integer=True, minimum=1, maximum=AWS_INTEGER_MAX, unlimited=True),
    },
    "learning_rate": {"hist_gradient_boosting": NumberRule(integer=False, minimum=0, above=True)},
    "max_iter": {
        "logistic_regression": NumberRule(integer=True, minimum=0, maximum=AWS_INTEGER_MAX),
        "hist_gradient_boosting": _WHOLE_AT_LEAST_1,
    },
    "min_samples_leaf": {"random_forest": _WHOLE_AT_LEAST_1, "hist_gradient_boosting": _WHOLE_AT_LEAST_1},
    "C": {"logistic_regression": NumberRule(integer=False, minimum=0, above=True)},
    "class_weight": dict.fromkeys(CLASSIFICATION_ALGORITHMS, CLASS_WEIGHTS),
    "alpha": {"ridge": NumberRule(integer=False, minimum=0, above=True)},
    "random_state": dict.fromkeys(ALGORITHMS, NumberRule(integer=True, minimum=0, maximum=_SEED_MAX)),
}


def task_algorithms(task: str | None) -> tuple[str, ...]:
    """The algorithms train.py has for the task (every algorithm when the task is not known)."""
    if task is None:
        return ALGORITHMS
    return REGRESSION_ALGORITHMS if task == "regression" else CLASSIFICATION_ALGORITHMS


def estimator(algorithm: str, task: str | None = None) -> str:
    """The scikit-learn estimator train.py fits for the algorithm and task."""
    if task == "regression" or (task is None and algorithm not in _CLASSIFIERS):
        return _REGRESSORS[algorithm]
    return _CLASSIFIERS[algorithm]


def hyperparameter_problem(name: str, value: Any, algorithms: tuple[str, ...], task: str | None = None) -> str | None:
    """Why `value` cannot be given as `name` to the estimators of `algorithms` for `task`, or None. A hyperparameter
    that none of them reads is still checked against the estimators of the task that do (the config may switch
    algorithm). Without a task, every task's estimators count."""
    if name not in HYPERPARAMETERS:
        return f"unknown hyperparameter '{name}' (known: {', '.join(HYPERPARAMETERS)})"
    if task == "regression" and name in _CLASSIFICATION_ONLY:
        return f"hyperparameter {name} does not apply to regression: {_CLASSIFICATION_ONLY[name]}"
    if task in ("binary", "multiclass") and name in _REGRESSION_ONLY:
        return f"hyperparameter {name} does not apply to {task} classification: {_REGRESSION_ONLY[name]}"
    offered = task_algorithms(task)
    if name == "algorithm":
        if value in ALGORITHMS and value not in offered:
            kind = "regression" if task == "regression" else "classification"
            return f"algorithm {value!r} is not for {kind} (the {task} task has {', '.join(offered)})"
        if value not in offered:
            return f"algorithm {value!r} is not one of {', '.join(offered)}"
        return None
    rules = {algorithm: rule for algorithm, rule in HYPERPARAMETER_RULES[name].items() if algorithm in offered}
    readers = [a for a in algorithms if a in rules] or list(rules)
    for algorithm in readers:
        rule = rules[algorithm]
        if isinstance(rule, tuple):
            text = value.strip().lower() if isinstance(value, str) else value
            problem = None if text in (*rule, None) else f"must be one of {', '.join(rule)}"
        else:
            problem = rule.problem(value)
        if problem:
            return f"hyperparameter {name}={value!r} {problem} ({estimator(algorithm, task)}'s rule for {name})"
    return None
