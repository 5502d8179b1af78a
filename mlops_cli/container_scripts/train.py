"""SageMaker training script (script mode in the prebuilt scikit-learn image, run by the sagemaker-training toolkit).

The toolkit extracts sourcedir.tar.gz (this folder plus schema.json) into /opt/ml/code and runs
`python train.py --algorithm hist_gradient_boosting --max_iter 200 ...`: the hyperparameters, JSON-decoded, sorted
by key, as `--key value` (a one-letter key such as C as `-C value`).

The schema's task (binary, multiclass, regression) decides the estimator, the metrics and the baseline.

Hyperparameters: algorithm, n_estimators, max_depth, learning_rate, max_iter, min_samples_leaf, C, class_weight
(none | balanced), alpha (> 0), random_state. Algorithms per task:
    binary, multiclass  logistic_regression | random_forest | hist_gradient_boosting (the scikit-learn classifiers)
    regression          ridge | random_forest | hist_gradient_boosting (Ridge and the regressors)
Each algorithm uses the hyperparameters that apply to it and logs the others as ignored (C and class_weight mean
nothing to a regressor, alpha nothing to a classifier); for hist_gradient_boosting `n_estimators` is a synonym of
`max_iter` (its number of boosting iterations).

Environment: SM_CHANNEL_TRAIN and SM_CHANNEL_VALIDATION (preprocessing's CSV parts), SM_MODEL_DIR, SM_OUTPUT_DATA_DIR,
SM_OUTPUT_DIR (for the failure file), TRAINING_JOB_NAME or SM_TRAINING_ENV (for the job name).

Writes to SM_MODEL_DIR (SageMaker packs it into model.tar.gz):
    model.joblib   one scikit-learn Pipeline: the ColumnTransformer fitted on train only, then the estimator. Only
                   standard scikit-learn classes, so the inference handler unpickles it without this script;
                   it takes mlops_schema.model_inputs(clean records). Binary: classes_ are [0, 1] and
                   predict_proba's column 1 is P(positive_label); multiclass: classes_ are the class names seen in
                   the train split (text, sorted), predict_proba's columns in that order; regression: predict.
    schema.json    the schema it was trained with, for the inference handler's input checks;
    metadata.json  task, classes (predict_proba's column order as class names; [] for regression), positive_label
                   (binary; else null), target, algorithm, hyperparameters (as given to the estimator), metrics,
                   the baseline's metrics (majority class, or the mean for regression), features, rows per split,
                   versions, job name, created_at;
    code/          inference.py and every mlops_*.py module from this folder: the serving container runs
                   code/inference.py (SAGEMAKER_SUBMIT_DIRECTORY=/opt/ml/model/code), so the model and the code that
                   checks its requests travel together. inference.py must therefore be in sourcedir.tar.gz next to
                   this script; without it the job fails before training rather than produce a model that cannot
                   serve.
and metrics.json to SM_OUTPUT_DATA_DIR.

Prints metric lines for the job's MetricDefinitions, e.g. `validation:auc=0.851234;` (regex
`validation:auc=([-+0-9.eE]+);`), for train and validation, the task's metrics (mlops_metrics.METRICS): binary auc,
accuracy, f1, precision, recall, logloss; multiclass accuracy, macro_f1, logloss (and per-class recall in
metrics.json as `<split>:recall_per_class`); regression rmse, mae, r2.
On failure: the reason, then the traceback, in $SM_OUTPUT_DIR/failure (SageMaker's FailureReason), exit code 1.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from pathlib import Path
from typing import Any, NoReturn

import joblib
import mlops_schema as ms
import numpy as np
import sklearn
from mlops_jobs import JobError, run_job, say
from mlops_metrics import metric_lines, predicted_classes, recall_per_class, task_metrics
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

HERE = Path(__file__).resolve().parent
HANDLER = "inference.py"
SERVING_MODULES = "mlops_*.py"  # what inference.py imports; train.py, preprocess.py, evaluate.py stay out
# Which hyperparameters each algorithm reads, and its defaults for those left unset (random_state comes on top).
CLASSIFIER_DEFAULTS: dict[str, dict[str, Any]] = {
    "logistic_regression": {"C": 1.0, "max_iter": 1000, "class_weight": None},
    "random_forest": {"n_estimators": 300, "max_depth": None, "min_samples_leaf": 10, "class_weight": None},
    "hist_gradient_boosting": {
        "max_iter": 200,
        "learning_rate": 0.05,
        "max_depth": 3,
        "min_samples_leaf": 20,
        "class_weight": None,
    },
}
REGRESSOR_DEFAULTS: dict[str, dict[str, Any]] = {
    "ridge": {"alpha": 1.0},
    "random_forest": {"n_estimators": 300, "max_depth": None, "min_samples_leaf": 10},
    "hist_gradient_boosting": {"max_iter": 200, "learning_rate": 0.05, "max_depth": 3, "min_samples_leaf": 20},
}
DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {
    "binary": CLASSIFIER_DEFAULTS,
    "multiclass": CLASSIFIER_DEFAULTS,
    "regression": REGRESSOR_DEFAULTS,
}
ESTIMATORS: dict[str, dict[str, Any]] = {
    "binary": {
        "logistic_regression": LogisticRegression,
        "random_forest": RandomForestClassifier,
        "hist_gradient_boosting": HistGradientBoostingClassifier,
    },
    "regression": {
        "ridge": Ridge,
        "random_forest": RandomForestRegressor,
        "hist_gradient_boosting": HistGradientBoostingRegressor,
    },
}
ESTIMATORS["multiclass"] = ESTIMATORS["binary"]
HYPERPARAMETERS = (
    "n_estimators",
    "max_depth",
    "learning_rate",
    "max_iter",
    "min_samples_leaf",
    "C",
    "class_weight",
    "alpha",
)


class HyperparameterError(JobError):
    """A hyperparameter the script cannot use; the failure reason says which and why."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so a bad hyperparameter reaches the failure file."""

    def error(self, message: str) -> NoReturn:
        raise HyperparameterError(f"invalid hyperparameters: {message}")


def integer_or_none(text: str) -> int | None:
    """max_depth may be unlimited: the toolkit turns a JSON null into '' ('None' and 'none' are accepted too)."""
    return None if text.strip().lower() in ("", "none", "null") else integer(text)


def integer(text: str) -> int:
    """A whole number; tuning jobs may send integer hyperparameters as '57.0'."""
    value = float(text)
    if not value.is_integer():
        raise ValueError(text)
    return int(value)


def positive_number(text: str) -> float:
    value = float(text)
    if not value > 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"'{text}' is not a number above 0")
    return value


def none_or_balanced(text: str) -> str | None:
    value = text.strip().lower()
    if value not in ("none", "balanced", ""):
        raise argparse.ArgumentTypeError(f"'{text}' is not none or balanced")
    return "balanced" if value == "balanced" else None


def parse_hyperparameters(argv: list[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    """The hyperparameters given; one that is absent is absent from the namespace too (argparse.SUPPRESS), so that
    an explicit null (max_depth: unlimited) is told apart from "not given" (the algorithm's default)."""
    parser = _Parser(
        description="Train the dataset's model (SageMaker script mode).", argument_default=argparse.SUPPRESS
    )
    parser.add_argument("--algorithm", default="hist_gradient_boosting")
    parser.add_argument("--n_estimators", type=integer)
    parser.add_argument("--max_depth", type=integer_or_none)
    parser.add_argument("--learning_rate", type=float)
    parser.add_argument("--max_iter", type=integer)
    parser.add_argument("--min_samples_leaf", type=integer)
    parser.add_argument("-C", "--C", dest="C", type=float)
    parser.add_argument("--class_weight", type=none_or_balanced)
    parser.add_argument("--alpha", type=positive_number)
    parser.add_argument("--random_state", type=integer, default=42)
    return parser.parse_known_args(argv)


def resolve_hyperparameters(args: argparse.Namespace, task: str) -> dict[str, Any]:
    """The values the estimator gets: the given ones that apply to the task's algorithm, defaults for the rest."""
    defaults = DEFAULTS[task]
    if args.algorithm not in defaults:
        known = {name for table in DEFAULTS.values() for name in table}
        if args.algorithm in known:
            raise HyperparameterError(
                f"algorithm '{args.algorithm}' does not do {task} (for {task}: one of {', '.join(defaults)})"
            )
        raise HyperparameterError(f"unknown algorithm '{args.algorithm}' (one of {', '.join(defaults)})")
    given = {name: getattr(args, name) for name in HYPERPARAMETERS if hasattr(args, name)}
    if args.algorithm == "hist_gradient_boosting" and "max_iter" not in given and "n_estimators" in given:
        given["max_iter"] = given.pop("n_estimators")
    resolved = dict(defaults[args.algorithm], random_state=args.random_state)
    ignored = sorted(name for name in given if name not in resolved)
    if ignored:
        say(f"hyperparameters ignored by {args.algorithm}: {', '.join(ignored)}")
    resolved.update({name: value for name, value in given.items() if name in resolved})
    return resolved


def build_estimator(task: str, algorithm: str, params: dict[str, Any]) -> Any:
    return ESTIMATORS[task][algorithm](**params)


def build_pipeline(schema: ms.Schema, estimator: Any) -> Pipeline:
    """Imputation, scaling and one-hot encoding fitted together with the model, so serving applies exactly the
    training-time preprocessing to raw records (no training/serving skew)."""
    numeric = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    categorical = Pipeline(
        [
            ("impute", SimpleImputer(strategy="most_frequent")),
            ("onehot", OneHotEncoder(handle_unknown="ignore")),
        ]
    )
    features = ColumnTransformer(
        [("numeric", numeric, schema.numeric_features), ("categorical", categorical, schema.categorical_features)],
        sparse_threshold=0.0,  # dense: HistGradientBoosting does not take sparse input
    )
    return Pipeline([("features", features), ("model", estimator)])


def channel(name: str) -> Path:
    variable = f"SM_CHANNEL_{name.upper()}"
    if variable not in os.environ:
        raise JobError(f"no '{name}' channel ({variable} is not set): give the training job a {name} input")
    return Path(os.environ[variable])


def load_split(name: str, schema: ms.Schema) -> tuple[Any, np.ndarray]:
    clean = ms.load_clean_folder(channel(name), schema)
    missing = int(clean[schema.target].isna().sum())
    if missing:
        raise JobError(
            f"the {name} channel has {missing} rows without a target '{schema.target}': nothing to learn or judge "
            "them by (declare the target nullable: false so that preprocessing rejects them)"
        )
    y = ms.labels(clean, schema)
    say(f"{name}: {len(y)} rows, {describe_target(y, schema)}")
    return ms.model_inputs(clean, schema), y


def describe_target(y: np.ndarray, schema: ms.Schema) -> str:
    if schema.task == "regression":
        return f"target mean {y.mean():.6g}, std {y.std():.6g}, min {y.min():.6g}, max {y.max():.6g}"
    if schema.task == "multiclass":
        return ", ".join(f"{name} {int((y == name).sum())}" for name in schema.classes)
    return f"{int(y.sum())} positive ({y.mean():.1%})"


def job_name() -> str | None:
    if os.environ.get("TRAINING_JOB_NAME"):
        return os.environ["TRAINING_JOB_NAME"]
    training_env = json.loads(os.environ.get("SM_TRAINING_ENV") or "{}")
    return training_env.get("job_name")


def model_classes(model: Any) -> list[str]:
    """A multiclass model's classes_ as text: predict_proba's column order."""
    return [str(name) for name in model.classes_]


def scores(model: Any, x: Any, task: str) -> np.ndarray:
    """What the task's metrics take: P(positive), every class's probability, or the predicted value."""
    if task == "binary":
        return model.predict_proba(x)[:, 1]
    if task == "multiclass":
        return model.predict_proba(x)
    return model.predict(x)


def score(model: Any, x: Any, y: np.ndarray, task: str) -> dict[str, Any]:
    """The task's metrics on one split; multiclass adds per-class recall (a dict, kept out of the metric lines)."""
    classes = model_classes(model) if task == "multiclass" else None
    predicted = scores(model, x, task)
    metrics: dict[str, Any] = dict(task_metrics(task, y, predicted, classes))
    if classes is not None:
        # A class the model never saw but the split holds has a recall too: 0, as it is never predicted.
        every = classes + sorted(set(y.tolist()) - set(classes))
        metrics["recall_per_class"] = recall_per_class(y, predicted_classes(predicted, classes), every)
    return metrics


def evaluate(model: Any, x: Any, y: np.ndarray, prefix: str, task: str) -> dict[str, Any]:
    metrics = score(model, x, y, task)
    for line in metric_lines(prefix, {k: v for k, v in metrics.items() if k != "recall_per_class"}):
        say(line)
    return {f"{prefix}:{name}": value for name, value in metrics.items()}


def baseline_metrics(x_train: Any, y_train: np.ndarray, x_val: Any, y_val: np.ndarray, task: str) -> dict[str, Any]:
    """What always predicting the majority class (the mean, for regression) scores: the floor any model must clear
    by far."""
    if task == "regression":
        baseline: Any = DummyRegressor(strategy="mean").fit(x_train, y_train)
    else:
        baseline = DummyClassifier(strategy="most_frequent").fit(x_train, y_train)
    classes = model_classes(baseline) if task == "multiclass" else None
    metrics = task_metrics(task, y_val, scores(baseline, x_val, task), classes)
    return {f"validation:{name}": value for name, value in metrics.items()}


def check_train_classes(y_train: np.ndarray, schema: ms.Schema) -> None:
    """A classifier needs 2 classes; a multiclass train split lacking some declared class still trains (the model
    then knows only the classes it saw, and metadata.json's classes say which)."""
    if not schema.is_classification:
        return
    seen = set(np.unique(y_train).tolist())
    names = [name for i, name in enumerate(schema.classes) if (i if schema.task == "binary" else name) in seen]
    if len(names) < 2:
        raise JobError(f"the train channel holds only one class ({', '.join(names)}): nothing to learn")
    if len(names) < len(schema.classes):
        unseen = [name for name in schema.classes if name not in names]
        say(f"warning: the train channel has no row of {', '.join(unseen)}: the model cannot predict them")


def classes_of(model: Any, schema: ms.Schema) -> list[str]:
    """predict_proba's columns as class names: binary models learn 0/1, [negative, positive]; a multiclass model
    has the names it saw in train; a regressor has none."""
    if schema.task == "binary":
        return list(schema.classes)
    return model_classes(model) if schema.task == "multiclass" else []


def serving_code(folder: Path = HERE) -> list[Path]:
    """The files model.tar.gz's code/ needs: the inference handler and the shared modules it imports.

    Checked before training starts: a missing handler is a packaging mistake, and finding it after the fit would
    waste the job (or, worse, yield a model whose endpoint cannot start).
    """
    handler = folder / HANDLER
    if not handler.is_file():
        raise JobError(
            f"{HANDLER} is missing next to {Path(__file__).name} in {folder}: the model would have no serving code "
            f"(code/{HANDLER} in model.tar.gz); bundle container_scripts/{HANDLER} into the job's sourcedir.tar.gz"
        )
    return [handler, *sorted(folder.glob(SERVING_MODULES))]


def save(model_dir: Path, model: Any, metadata: dict[str, Any], code: list[Path]) -> None:
    model_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, model_dir / "model.joblib")
    shutil.copyfile(HERE / "schema.json", model_dir / "schema.json")
    (model_dir / "metadata.json").write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
    code_dir = model_dir / "code"
    if code_dir.exists():  # a rerun in the same folder: code/ must hold this run's files and nothing else
        shutil.rmtree(code_dir)
    code_dir.mkdir()
    for path in code:
        shutil.copyfile(path, code_dir / path.name)


def train(argv: list[str] | None = None) -> None:
    args, unknown = parse_hyperparameters(argv)
    if unknown:
        say(f"ignoring unknown arguments: {' '.join(unknown)}")
    schema = ms.load_schema(HERE / "schema.json")
    task = schema.task
    params = resolve_hyperparameters(args, task)
    code = serving_code()
    say(f"scikit-learn {sklearn.__version__}, Python {platform.python_version()}, algorithm {args.algorithm}")
    say(f"hyperparameters: {json.dumps(params, sort_keys=True)}")

    x_train, y_train = load_split("train", schema)
    x_val, y_val = load_split("validation", schema)
    check_train_classes(y_train, schema)
    model = build_pipeline(schema, build_estimator(task, args.algorithm, params))
    started = time.time()
    model.fit(x_train, y_train)
    say(f"fitted in {time.time() - started:.1f}s")

    metrics = {**evaluate(model, x_train, y_train, "train", task), **evaluate(model, x_val, y_val, "validation", task)}
    metadata = {
        "task": task,
        "classes": classes_of(model, schema),
        "positive_label": schema.positive_label,
        "target": schema.target,
        "algorithm": args.algorithm,
        "hyperparameters": params,
        "metrics": metrics,
        "baseline_metrics": baseline_metrics(x_train, y_train, x_val, y_val, task),
        "feature_columns": [column.name for column in schema.features],
        "numeric_features": schema.numeric_features,
        "categorical_features": schema.categorical_features,
        "rows": {"train": len(y_train), "validation": len(y_val)},
        "sklearn_version": sklearn.__version__,
        "python_version": platform.python_version(),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "training_job_name": job_name(),
    }
    model_dir = Path(os.environ.get("SM_MODEL_DIR", "/opt/ml/model"))
    save(model_dir, model, metadata, code)
    output_data = Path(os.environ.get("SM_OUTPUT_DATA_DIR", "/opt/ml/output/data"))
    output_data.mkdir(parents=True, exist_ok=True)
    (output_data / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    say(f"training done: {args.algorithm} saved to {model_dir}")


def main() -> int:
    failure_file = Path(os.environ.get("SM_OUTPUT_DIR", "/opt/ml/output")) / "failure"
    expected = (ms.SchemaError, ms.MissingColumnError, ms.DataError)
    return run_job(train, failure_file, expected)


if __name__ == "__main__":
    raise SystemExit(main())
