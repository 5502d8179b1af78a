"""SageMaker Processing job: score the trained model on the held-out test split.

Entrypoint (the prebuilt scikit-learn image, the code input holding this folder)::

    python3 /opt/ml/processing/input/code/evaluate.py [--model-dir DIR] [--test-dir DIR] [--output-dir DIR]
        [--config-dir DIR]

--model-dir holds the training job's model.tar.gz (or its extracted files): model.joblib, schema.json and
metadata.json. --test-dir holds preprocessing's test/part-*.csv. Writes to --output-dir:

    evaluation.json      {"metrics": {auc, accuracy, f1, precision, recall, logloss},
                          "confusion_matrix": {"labels": ["no", "yes"], "matrix": [[tn, fp], [fn, tp]]},
                          "roc_curve": {"fpr", "tpr", "thresholds"} (at most 200 points; the first threshold,
                          scikit-learn's +inf "nothing is positive", is null), "rows", "positive_rate", "threshold",
                          "model": metadata.json,
                          "binary_classification_metrics": SageMaker Model Monitor's model-quality format, what the
                          Model Registry's ModelQuality statistics point at}
    roc_curve.png, confusion_matrix.png

and prints `test:auc=0.851234;` lines. On failure the reason goes to <config-dir>/../output/message (ExitMessage).
"""

from __future__ import annotations

import argparse
import json
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import joblib
import mlops_schema as ms
import numpy as np
from mlops_jobs import JobError, run_job, say
from mlops_metrics import THRESHOLD, binary_metrics, metric_lines
from mlops_plots import confusion_chart, roc_chart
from sklearn.metrics import confusion_matrix, roc_curve

MAX_ROC_POINTS = 200
MODEL_FILES = ("model.joblib", "schema.json", "metadata.json")
MODEL_QUALITY_METRICS = ("auc", "accuracy", "f1", "precision", "recall")


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


def roc_points(y: np.ndarray, proba: np.ndarray) -> dict[str, list[float | None]]:
    """The ROC curve thinned to at most MAX_ROC_POINTS evenly spread points, the first and last always kept."""
    fpr, tpr, thresholds = roc_curve(y, proba)
    if len(fpr) > MAX_ROC_POINTS:
        keep = np.unique(np.rint(np.linspace(0, len(fpr) - 1, MAX_ROC_POINTS)).astype(int))
        fpr, tpr, thresholds = fpr[keep], tpr[keep], thresholds[keep]
    return {
        "fpr": [round(float(v), 6) for v in fpr],
        "tpr": [round(float(v), 6) for v in tpr],
        "thresholds": [round(float(v), 6) if np.isfinite(v) else None for v in thresholds],
    }


def model_quality(metrics: dict[str, float | None]) -> dict[str, Any]:
    """Model Monitor's binary_classification_metrics: {"auc": {"value": 0.85, "standard_deviation": "NaN"}, ...}."""
    return {name: {"value": metrics[name], "standard_deviation": "NaN"} for name in MODEL_QUALITY_METRICS}


def evaluate(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.model_dir
        archive = args.model_dir / "model.tar.gz"
        if archive.is_file():
            extract_model(archive, Path(scratch))
            folder = Path(scratch)
            say(f"extracted {archive}")
        model, schema, metadata = load_model(folder)
    say(f"model: {metadata.get('algorithm')} from {metadata.get('training_job_name')}")

    clean = ms.load_clean_folder(args.test_dir, schema)
    y = ms.labels(clean, schema)
    if len(np.unique(y)) < 2:
        raise JobError(f"the test split ({len(y)} rows) holds only one class: the model cannot be judged on it")
    proba = model.predict_proba(ms.model_inputs(clean, schema))[:, 1]
    metrics = binary_metrics(y, proba)
    for line in metric_lines("test", metrics):
        say(line)

    matrix = confusion_matrix(y, (proba >= THRESHOLD).astype(int), labels=[0, 1]).tolist()
    curve = roc_points(y, proba)
    labels = [ms.NEGATIVE_LABEL, ms.POSITIVE_LABEL]
    document = {
        "metrics": metrics,
        "confusion_matrix": {"labels": labels, "matrix": matrix},
        "roc_curve": curve,
        "rows": len(y),
        "positive_rate": round(float(y.mean()), 6),
        "threshold": THRESHOLD,
        "model": metadata,
        "binary_classification_metrics": model_quality(metrics),
    }
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / "evaluation.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    (args.output_dir / "roc_curve.png").write_bytes(roc_chart(curve["fpr"], curve["tpr"], metrics["auc"], len(y)))
    (args.output_dir / "confusion_matrix.png").write_bytes(confusion_chart(matrix, labels, THRESHOLD))
    say(f"evaluation done: {len(y)} test rows, test:auc={metrics['auc']:.6f}, written to {args.output_dir}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    expected = (ms.SchemaError, ms.MissingColumnError, ms.DataError)
    return run_job(lambda: evaluate(args), args.config_dir.parent / "output" / "message", expected)


if __name__ == "__main__":
    raise SystemExit(main())
