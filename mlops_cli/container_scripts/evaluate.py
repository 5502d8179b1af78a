"""SageMaker Processing job: score the trained model on the held-out test split.

Entrypoint (the prebuilt scikit-learn image, the code input holding this folder)::

    python3 /opt/ml/processing/input/code/evaluate.py [--model-dir DIR] [--test-dir DIR] [--output-dir DIR]
        [--config-dir DIR]

--model-dir holds the training job's model.tar.gz (or its extracted files) in the project's model contract:
model.joblib (an object whose predict(features), and for classification predict_proba with classes_, takes
mlops_schema.model_inputs' frame: train.py's pipeline or a user training script's own estimator), schema.json and
metadata.json (its `task`, `classes` for classification; a model without `task` is binary, from before tasks).
--test-dir holds preprocessing's test/part-*.csv. Writes to --output-dir evaluation.json:

    every task   "task", "metrics" (mlops_metrics.METRICS[task] → value), "rows", "model": metadata.json
    binary       "confusion_matrix": {"labels": classes (negative, positive), "matrix": [[tn, fp], [fn, tp]]},
                 "roc_curve": {"fpr", "tpr", "thresholds"} (at most 200 points; the first threshold, scikit-learn's
                 +inf "nothing is positive", is null),
                 "precision_recall_curve": {"precision", "recall", "thresholds", "average_precision"} (at most 200
                 points, recall falling; the last point, recall 0 and precision 1, has no threshold: null),
                 "calibration": {"strategy": "uniform", "bins": [{"lower", "upper", "rows", "mean_predicted",
                 "observed_rate"}]} (10 equal-width bins of P(positive), those holding rows),
                 "positive_rate", "threshold",
                 "binary_classification_metrics": auc, accuracy, f1, precision, recall
    multiclass   "confusion_matrix": {"labels": classes, "matrix": [[...]]} (rows = actual, columns = predicted),
                 "recall_per_class": {class: recall} (classes present in the test split),
                 "multiclass_classification_metrics": accuracy, weighted_f1, weighted_precision, weighted_recall and
                 "confusion_matrix": {actual: {predicted: count}}
    regression   "regression_metrics": mae, mse, rmse, r2

The *_metrics sections are SageMaker Model Monitor's model-quality format ({"value": v, "standard_deviation":
"NaN"}), what the Model Registry's ModelQuality statistics point at. Charts: roc_curve.png, precision_recall.png,
calibration.png, confusion_matrix.png (binary); confusion_matrix.png (multiclass); predicted_vs_actual.png,
residuals.png (regression).

Prints `test:<metric>=0.851234;` lines for every metric of the task. On failure the reason goes to
<config-dir>/../output/message (ExitMessage).
"""

from __future__ import annotations

import argparse
import json
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import joblib
import mlops_metrics as mm
import mlops_plots as plots
import mlops_schema as ms
import numpy as np
from mlops_jobs import JobError, run_job, say
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    f1_score,
    mean_absolute_error,
    mean_squared_error,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_curve,
)

MAX_CURVE_POINTS = 200
CALIBRATION_BINS = 10
DECIMALS = 6
MODEL_FILES = ("model.joblib", "schema.json", "metadata.json")
MODEL_QUALITY_METRICS = ("auc", "accuracy", "f1", "precision", "recall")
Charts = dict[str, bytes]  # file name → PNG


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Score the trained model on the test split (SageMaker Processing).")
    parser.add_argument("--model-dir", type=Path, default=Path("/opt/ml/processing/input/model"))
    parser.add_argument("--test-dir", type=Path, default=Path("/opt/ml/processing/input/test"))
    parser.add_argument("--output-dir", type=Path, default=Path("/opt/ml/processing/output/evaluation"))
    parser.add_argument("--config-dir", type=Path, default=Path("/opt/ml/config"))
    return parser.parse_args(argv)


def extract_model(archive: Path, destination: Path) -> None:
    """Unpack model.tar.gz, refusing members that would land outside the destination or are links."""
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            target = (destination / member.name).resolve()
            if not (member.isfile() or member.isdir()) or destination.resolve() not in (target, *target.parents):
                raise JobError(f"{archive}: refusing the unsafe member '{member.name}'")
        if hasattr(tarfile, "data_filter"):  # Python 3.12, and 3.9.17+ backports: the safe filter as well
            tar.extractall(destination, filter="data")
        else:
            tar.extractall(destination)


def load_model(folder: Path) -> tuple[Any, ms.Schema, dict[str, Any]]:
    missing = [name for name in MODEL_FILES if not (folder / name).is_file()]
    if missing:
        raise JobError(f"the model in {folder} lacks {', '.join(missing)}: is it a model made by train.py?")
    metadata = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    return joblib.load(folder / "model.joblib"), ms.load_schema(folder / "schema.json"), metadata


def model_task(metadata: dict[str, Any], schema: ms.Schema) -> str:
    """The model's task; metadata.json and schema.json must agree on it (a swapped schema.json would score the
    model against the wrong target)."""
    task = metadata.get("task", "binary")  # models from before tasks were all binary
    if task != schema.task:
        raise JobError(f"the model's metadata.json says task '{task}', its schema.json '{schema.task}'")
    return str(task)


def column_classes(model: Any, metadata: dict[str, Any], schema: ms.Schema) -> list[str]:
    """The class of each predict_proba column, as text. A binary model learns 0/1 (mlops_schema.labels), named here
    by the schema's classes; a model that learned the names themselves keeps them. metadata.json's `classes`, when
    present, must say the same."""
    if not hasattr(model, "predict_proba") or not hasattr(model, "classes_"):
        raise JobError(f"the {schema.task} model has no predict_proba and classes_: it cannot be scored")
    learned = list(model.classes_)
    if schema.task == "binary" and all(isinstance(c, (int, np.integer)) and c in (0, 1) for c in learned):
        names = [schema.classes[int(c)] for c in learned]
    else:
        names = [str(c) for c in learned]
    recorded = metadata.get("classes")
    if recorded is not None and [str(c) for c in recorded] != names:
        raise JobError(f"metadata.json's classes {list(recorded)} differ from the model's classes {names}")
    unknown = [name for name in names if name not in schema.classes]
    if unknown:
        raise JobError(f"the model predicts classes {unknown} that are not the target's values {list(schema.classes)}")
    return names


def thinned(*columns: np.ndarray) -> list[np.ndarray]:
    """Curves thinned to at most MAX_CURVE_POINTS evenly spread points, the first and last always kept."""
    if len(columns[0]) <= MAX_CURVE_POINTS:
        return list(columns)
    keep = np.unique(np.rint(np.linspace(0, len(columns[0]) - 1, MAX_CURVE_POINTS)).astype(int))
    return [column[keep] for column in columns]


def rounded(values: np.ndarray) -> list[float | None]:
    """JSON numbers with DECIMALS decimals; infinite thresholds (and padding) are null."""
    return [round(float(v), DECIMALS) if np.isfinite(v) else None for v in values]


def roc_points(y: np.ndarray, proba: np.ndarray) -> dict[str, list[float | None]]:
    fpr, tpr, thresholds = thinned(*roc_curve(y, proba))
    return {"fpr": rounded(fpr), "tpr": rounded(tpr), "thresholds": rounded(thresholds)}


def precision_recall_points(y: np.ndarray, proba: np.ndarray) -> dict[str, Any]:
    precision, recall, thresholds = precision_recall_curve(y, proba)
    # scikit-learn's last point (recall 0, precision 1) has no threshold: pad with NaN, written as null.
    precision, recall, thresholds = thinned(precision, recall, np.append(thresholds, np.nan))
    return {
        "precision": rounded(precision),
        "recall": rounded(recall),
        "thresholds": rounded(thresholds),
        "average_precision": round(float(average_precision_score(y, proba)), DECIMALS),
    }


def calibration_bins(y: np.ndarray, proba: np.ndarray) -> dict[str, Any]:
    """Observed positive rate against mean P(positive) in equal-width bins, binned as scikit-learn's
    calibration_curve does (a probability on an edge belongs to the lower bin); empty bins are left out."""
    edges = np.linspace(0.0, 1.0, CALIBRATION_BINS + 1)
    bin_of = np.searchsorted(edges[1:-1], proba)
    bins = []
    for index in range(CALIBRATION_BINS):
        inside = bin_of == index
        if inside.any():
            bins.append(
                {
                    "lower": round(float(edges[index]), DECIMALS),
                    "upper": round(float(edges[index + 1]), DECIMALS),
                    "rows": int(inside.sum()),
                    "mean_predicted": round(float(proba[inside].mean()), DECIMALS),
                    "observed_rate": round(float(y[inside].mean()), DECIMALS),
                }
            )
    return {"strategy": "uniform", "bins": bins}


def model_quality(values: dict[str, float | None]) -> dict[str, Any]:
    """Model Monitor's format: {"auc": {"value": 0.85, "standard_deviation": "NaN"}, ...}."""
    return {name: {"value": value, "standard_deviation": "NaN"} for name, value in values.items()}


def binary_report(
    model: Any, features: Any, y: np.ndarray, schema: ms.Schema, metadata: dict[str, Any]
) -> tuple[dict[str, Any], Charts]:
    if len(np.unique(y)) < 2:
        raise JobError(f"the test split ({len(y)} rows) holds only one class: the model cannot be judged on it")
    names = column_classes(model, metadata, schema)
    if schema.positive_label not in names:
        raise JobError(f"the model's classes are {names}: it never learned '{schema.positive_label}'")
    proba = np.asarray(model.predict_proba(features), dtype=float)[:, names.index(schema.positive_label)]
    metrics = mm.binary_metrics(y, proba)
    matrix = confusion_matrix(y, (proba >= mm.THRESHOLD).astype(int), labels=[0, 1]).tolist()
    labels = list(schema.classes)
    roc = roc_points(y, proba)
    pr = precision_recall_points(y, proba)
    calibration = calibration_bins(y, proba)
    document = {
        "metrics": metrics,
        "confusion_matrix": {"labels": labels, "matrix": matrix},
        "roc_curve": roc,
        "precision_recall_curve": pr,
        "calibration": calibration,
        "rows": len(y),
        "positive_rate": round(float(y.mean()), DECIMALS),
        "threshold": mm.THRESHOLD,
        "binary_classification_metrics": model_quality({name: metrics[name] for name in MODEL_QUALITY_METRICS}),
    }
    positive_rate = float(y.mean())
    charts = {
        "roc_curve.png": plots.roc_chart(roc["fpr"], roc["tpr"], metrics["auc"], len(y)),
        "precision_recall.png": plots.precision_recall_chart(
            pr["recall"], pr["precision"], pr["average_precision"], positive_rate, len(y)
        ),
        "calibration.png": plots.calibration_chart(calibration["bins"], str(schema.positive_label), len(y)),
        "confusion_matrix.png": plots.confusion_chart(matrix, labels, mm.THRESHOLD),
    }
    return document, charts


def multiclass_report(
    model: Any, features: Any, y: np.ndarray, schema: ms.Schema, metadata: dict[str, Any]
) -> tuple[dict[str, Any], Charts]:
    names = column_classes(model, metadata, schema)
    proba = np.asarray(model.predict_proba(features), dtype=float)
    metrics = mm.task_metrics("multiclass", y, proba, names)
    predicted = mm.predicted_classes(proba, names).astype(str)
    actual = np.asarray(y, dtype=object).astype(str)
    labels = list(schema.classes)
    matrix = confusion_matrix(actual, predicted, labels=labels).tolist()
    weighted = {
        "accuracy": metrics["accuracy"],
        "weighted_f1": float(f1_score(actual, predicted, labels=labels, average="weighted", zero_division=0)),
        "weighted_precision": float(
            precision_score(actual, predicted, labels=labels, average="weighted", zero_division=0)
        ),
        "weighted_recall": float(recall_score(actual, predicted, labels=labels, average="weighted", zero_division=0)),
    }
    quality: dict[str, Any] = model_quality(weighted)
    quality["confusion_matrix"] = {
        labels[r]: {labels[c]: matrix[r][c] for c in range(len(labels))} for r in range(len(labels))
    }
    document = {
        "metrics": metrics,
        "confusion_matrix": {"labels": labels, "matrix": matrix},
        "recall_per_class": mm.recall_per_class(actual, predicted, labels),
        "rows": len(y),
        "multiclass_classification_metrics": quality,
    }
    return document, {"confusion_matrix.png": plots.confusion_chart(matrix, labels)}


def regression_report(model: Any, features: Any, y: np.ndarray) -> tuple[dict[str, Any], Charts]:
    if not callable(getattr(model, "predict", None)):
        raise JobError("the regression model has no predict method: it cannot be scored")
    predictions = np.asarray(model.predict(features), dtype=float).reshape(-1)
    if len(predictions) != len(y):
        raise JobError(f"the model made {len(predictions)} predictions for {len(y)} test rows")
    if not np.isfinite(predictions).all():
        raise JobError(f"the model predicted {int((~np.isfinite(predictions)).sum())} values that are not numbers")
    metrics = mm.task_metrics("regression", y, predictions)
    quality = {
        "mae": float(mean_absolute_error(y, predictions)),
        "mse": float(mean_squared_error(y, predictions)),
        "rmse": metrics["rmse"],
        "r2": metrics["r2"],
    }
    document = {"metrics": metrics, "rows": len(y), "regression_metrics": model_quality(quality)}
    shown = {"rmse": metrics["rmse"], "mae": metrics["mae"], "r2": metrics["r2"]}
    charts = {
        "predicted_vs_actual.png": plots.predicted_vs_actual_chart(y, predictions, shown),
        "residuals.png": plots.residuals_chart(y, predictions, shown),
    }
    return document, charts


def evaluate(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.model_dir
        archive = args.model_dir / "model.tar.gz"
        if archive.is_file():
            extract_model(archive, Path(scratch))
            folder = Path(scratch)
            say(f"extracted {archive}")
        model, schema, metadata = load_model(folder)
    task = model_task(metadata, schema)
    say(f"model: {metadata.get('algorithm')} ({task}) from {metadata.get('training_job_name')}")

    clean = ms.load_clean_folder(args.test_dir, schema)
    missing = int(clean[schema.target].isna().sum())
    if missing:  # a gap would be scored as a class ("no", or "nan") or fail inside scikit-learn
        raise JobError(
            f"the test split has {missing} rows without a target '{schema.target}': nothing to judge them by "
            "(declare the target nullable: false so that preprocessing rejects them)"
        )
    y = ms.labels(clean, schema)
    features = ms.model_inputs(clean, schema)
    if task == "binary":
        report, charts = binary_report(model, features, y, schema, metadata)
    elif task == "multiclass":
        report, charts = multiclass_report(model, features, y, schema, metadata)
    else:
        report, charts = regression_report(model, features, y)
    for line in mm.metric_lines("test", report["metrics"]):
        say(line)
    document = {"task": task, **report, "model": metadata}
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / "evaluation.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    for name, png in charts.items():
        (args.output_dir / name).write_bytes(png)
    first = mm.METRICS[task][0]
    say(
        f"evaluation done: {len(y)} test rows, test:{first}={report['metrics'][first]:.6f}, written to {args.output_dir}"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    expected = (ms.SchemaError, ms.MissingColumnError, ms.DataError)
    return run_job(lambda: evaluate(args), args.config_dir.parent / "output" / "message", expected)


if __name__ == "__main__":
    raise SystemExit(main())
