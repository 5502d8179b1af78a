"""evaluate.py under the Processing contract: the trained model.tar.gz scored on the test split, for the churn
(binary) model and for generated multiclass and regression datasets; every figure is recomputed here with
scikit-learn from the model's own predictions on the test rows read with plain pandas."""

from __future__ import annotations

import json
import shutil
import struct
import tarfile
import zlib
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    precision_recall_curve,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
)
from sklearn.neighbors import KNeighborsClassifier
from sklearn.tree import DecisionTreeRegressor

from tests.container.conftest import SEGMENTS, generated_schema, model_frame, output_dir
from tests.container.contract import JobResult, files_under, run_processing
from tests.container.user_models import write_user_model

ARGUMENTS = [
    "--model-dir",
    "/opt/ml/processing/input/model",
    "--test-dir",
    "/opt/ml/processing/input/test",
    "--output-dir",
    "/opt/ml/processing/output/evaluation",
    "--config-dir",
    "/opt/ml/config",
]


def png_size(data: bytes) -> tuple[int, int]:
    """Check a PNG's structure (signature, IHDR first, chunk CRCs, pixel data size) and return (width, height)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks = 8, []
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind, body = data[position + 4 : position + 8], data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert crc == zlib.crc32(kind + body), kind
        chunks.append((kind, body))
        position += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1] == (b"IEND", b"")
    width, height, depth, color_type = struct.unpack(">IIBB", chunks[0][1][:10])
    assert (depth, color_type) == (8, 2)
    pixels = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    assert len(pixels) == height * (1 + 3 * width)
    assert pixels.count(b"\xff") < len(pixels) * 0.98  # something is drawn
    return width, height


def run_evaluate(workdir: Path, model_dir: Path, test_dir: Path, schema: dict[str, Any]) -> JobResult:
    """evaluate.py on a model folder packed into model.tar.gz as SageMaker packs /opt/ml/model."""
    archive = workdir / "artifact" / "model.tar.gz"
    archive.parent.mkdir(parents=True)
    with tarfile.open(archive, "w:gz") as tar:
        for path, relative in files_under(model_dir):
            tar.add(path, arcname=relative)
    return run_processing(
        workdir / "job",
        "evaluate.py",
        ARGUMENTS,
        {"model": [(archive, "model.tar.gz")], "test": files_under(test_dir)},
        ["evaluation"],
        schema,
    )


def evaluation_of(result: JobResult) -> dict[str, Any]:
    return json.loads((output_dir(result, "evaluation") / "evaluation.json").read_text())


def written(result: JobResult) -> set[str]:
    return {path.name for path in output_dir(result, "evaluation").iterdir()}


@pytest.fixture(scope="module")
def evaluated(
    tmp_path_factory: pytest.TempPathFactory, preprocessed: JobResult, trained: JobResult, schema: dict[str, Any]
) -> JobResult:
    folder = tmp_path_factory.mktemp("evaluate")
    result = run_evaluate(folder, trained.opt_ml / "model", output_dir(preprocessed, "test"), schema)
    assert result.returncode == 0, result.describe()
    return result


def test_test_auc_equals_an_independent_computation(
    evaluated: JobResult, preprocessed: JobResult, trained: JobResult, schema: dict[str, Any]
) -> None:
    evaluation = json.loads((output_dir(evaluated, "evaluation") / "evaluation.json").read_text())
    model = joblib.load(trained.opt_ml / "model" / "model.joblib")
    x_test, y_test = model_frame(output_dir(preprocessed, "test"), schema)
    auc = roc_auc_score(y_test, model.predict_proba(x_test)[:, 1])
    assert evaluation["metrics"]["auc"] == pytest.approx(auc, abs=1e-12)
    assert evaluated.metrics()["test:auc"] == pytest.approx(auc, abs=1e-6)
    assert auc >= 0.80
    assert evaluation["rows"] == len(y_test) == 491
    assert evaluation["positive_rate"] == pytest.approx(y_test.mean(), abs=1e-6)


def test_evaluation_document_shape(evaluated: JobResult, trained: JobResult) -> None:
    evaluation = json.loads((output_dir(evaluated, "evaluation") / "evaluation.json").read_text())
    assert set(evaluation["metrics"]) == {"auc", "accuracy", "f1", "precision", "recall", "logloss"}
    matrix = evaluation["confusion_matrix"]
    assert matrix["labels"] == ["no", "yes"]
    (tn, fp), (fn, tp) = matrix["matrix"]
    assert tn + fp + fn + tp == evaluation["rows"]
    assert (tn + tp) / evaluation["rows"] == pytest.approx(evaluation["metrics"]["accuracy"])
    assert (fn + tp) / evaluation["rows"] == pytest.approx(evaluation["positive_rate"])
    curve = evaluation["roc_curve"]
    assert 2 <= len(curve["fpr"]) == len(curve["tpr"]) == len(curve["thresholds"]) <= 200
    assert (curve["fpr"][0], curve["tpr"][0], curve["fpr"][-1], curve["tpr"][-1]) == (0, 0, 1, 1)
    assert curve["fpr"] == sorted(curve["fpr"]) and curve["tpr"] == sorted(curve["tpr"])
    assert evaluation["model"] == json.loads((trained.opt_ml / "model" / "metadata.json").read_text())
    quality = evaluation["binary_classification_metrics"]
    assert set(quality) == {"auc", "accuracy", "f1", "precision", "recall"}
    for name, entry in quality.items():
        assert entry == {"value": evaluation["metrics"][name], "standard_deviation": "NaN"}


def test_charts_are_valid_pngs(evaluated: JobResult) -> None:
    folder = output_dir(evaluated, "evaluation")
    assert written(evaluated) == {
        "evaluation.json",
        "roc_curve.png",
        "precision_recall.png",
        "calibration.png",
        "confusion_matrix.png",
    }
    assert png_size((folder / "roc_curve.png").read_bytes()) == (600, 580)
    assert png_size((folder / "precision_recall.png").read_bytes()) == (600, 580)
    assert png_size((folder / "calibration.png").read_bytes()) == (600, 580)
    assert png_size((folder / "confusion_matrix.png").read_bytes()) == (520, 500)


def test_binary_precision_recall_and_calibration_equal_scikit_learn(
    evaluated: JobResult, preprocessed: JobResult, trained: JobResult, schema: dict[str, Any]
) -> None:
    evaluation = evaluation_of(evaluated)
    assert evaluation["task"] == "binary"
    model = joblib.load(trained.opt_ml / "model" / "model.joblib")
    x_test, y_test = model_frame(output_dir(preprocessed, "test"), schema)
    proba = model.predict_proba(x_test)[:, 1]

    curve = evaluation["precision_recall_curve"]
    assert curve["average_precision"] == pytest.approx(average_precision_score(y_test, proba), abs=1e-6)
    precision, recall, thresholds = precision_recall_curve(y_test, proba)
    assert 2 <= len(curve["precision"]) == len(curve["recall"]) == len(curve["thresholds"]) <= 200
    # thinned to at most 200 of scikit-learn's points, in its order, the first and last kept
    expected = {(round(p, 6), round(r, 6)): t for p, r, t in zip(precision, recall, [*thresholds, None], strict=True)}
    points = list(zip(curve["precision"], curve["recall"], curve["thresholds"], strict=True))
    for p, r, t in points:
        assert (p, r) in expected
        assert t is None if expected[(p, r)] is None else t == pytest.approx(expected[(p, r)], abs=1e-6)
    assert points[0][:2] == (round(precision[0], 6), round(recall[0], 6))
    assert points[-1] == (1.0, 0.0, None)
    assert curve["recall"] == sorted(curve["recall"], reverse=True)

    calibration = evaluation["calibration"]
    observed, predicted = calibration_curve(y_test, proba, n_bins=10, strategy="uniform")
    bins = calibration["bins"]
    assert [b["observed_rate"] for b in bins] == pytest.approx(observed, abs=1e-6)
    assert [b["mean_predicted"] for b in bins] == pytest.approx(predicted, abs=1e-6)
    assert sum(b["rows"] for b in bins) == len(y_test)
    for b in bins:
        assert b["upper"] == pytest.approx(b["lower"] + 0.1)
        assert b["lower"] <= b["mean_predicted"] <= b["upper"]


# ------------------------------------------------------------------------------------- multiclass and regression


@pytest.fixture(scope="module")
def multiclass_evaluated(
    tmp_path_factory: pytest.TempPathFactory, multiclass_preprocessed: JobResult, multiclass_trained: JobResult
) -> JobResult:
    folder = tmp_path_factory.mktemp("evaluate-multiclass")
    test_dir = output_dir(multiclass_preprocessed, "test")
    result = run_evaluate(folder, multiclass_trained.opt_ml / "model", test_dir, generated_schema("multiclass"))
    assert result.returncode == 0, result.describe()
    return result


@pytest.fixture(scope="module")
def regression_evaluated(
    tmp_path_factory: pytest.TempPathFactory, regression_preprocessed: JobResult, regression_trained: JobResult
) -> JobResult:
    folder = tmp_path_factory.mktemp("evaluate-regression")
    test_dir = output_dir(regression_preprocessed, "test")
    result = run_evaluate(folder, regression_trained.opt_ml / "model", test_dir, generated_schema("regression"))
    assert result.returncode == 0, result.describe()
    return result


def check_multiclass(evaluation: dict[str, Any], model: Any, x: pd.DataFrame, y: np.ndarray) -> None:
    """Every figure of a multiclass evaluation.json against scikit-learn on the model's own predictions."""
    predicted = model.predict(x).astype(str)
    proba = model.predict_proba(x)
    assert evaluation["task"] == "multiclass"
    assert evaluation["rows"] == len(y)
    assert evaluation["metrics"] == pytest.approx(
        {
            "accuracy": accuracy_score(y, predicted),
            "macro_f1": f1_score(y, predicted, average="macro"),
            "logloss": log_loss(y, proba, labels=model.classes_),
        },
        abs=1e-12,
    )
    assert evaluation["confusion_matrix"] == {
        "labels": SEGMENTS,  # the declared order, not scikit-learn's sorted one
        "matrix": confusion_matrix(y, predicted, labels=SEGMENTS).tolist(),
    }
    recalls = recall_score(y, predicted, labels=SEGMENTS, average=None)
    assert evaluation["recall_per_class"] == pytest.approx(dict(zip(SEGMENTS, recalls, strict=True)), abs=1e-12)
    assert list(evaluation["recall_per_class"]) == SEGMENTS
    quality = evaluation["multiclass_classification_metrics"]
    weighted = {
        "accuracy": accuracy_score(y, predicted),
        "weighted_f1": f1_score(y, predicted, average="weighted"),
        "weighted_precision": precision_score(y, predicted, average="weighted", zero_division=0),
        "weighted_recall": recall_score(y, predicted, average="weighted"),
    }
    for name, value in weighted.items():
        assert quality[name]["value"] == pytest.approx(value, abs=1e-12)
        assert quality[name]["standard_deviation"] == "NaN"
    counts = pd.crosstab(pd.Series(y, name="actual"), pd.Series(predicted, name="predicted"))
    for actual in SEGMENTS:
        for guess in SEGMENTS:
            expected = int(counts.loc[actual, guess]) if guess in counts.columns else 0
            assert quality["confusion_matrix"][actual][guess] == expected


def test_multiclass_metrics_equal_scikit_learn(
    multiclass_evaluated: JobResult, multiclass_preprocessed: JobResult, multiclass_trained: JobResult
) -> None:
    evaluation = evaluation_of(multiclass_evaluated)
    model_dir = multiclass_trained.opt_ml / "model"
    model = joblib.load(model_dir / "model.joblib")
    x, y = model_frame(output_dir(multiclass_preprocessed, "test"), generated_schema("multiclass"))
    assert set(y) == set(SEGMENTS) and len(y) >= 50
    check_multiclass(evaluation, model, x, y)
    assert evaluation["metrics"]["accuracy"] > 0.6  # the generated target follows the features
    assert evaluation["model"] == json.loads((model_dir / "metadata.json").read_text())
    logged = multiclass_evaluated.metrics("multiclass")
    assert set(logged) == {"test:accuracy", "test:macro_f1", "test:logloss"}
    for name, value in evaluation["metrics"].items():
        assert logged[f"test:{name}"] == pytest.approx(value, abs=1e-6)
    assert {"positive_rate", "roc_curve", "binary_classification_metrics"}.isdisjoint(evaluation)


def test_multiclass_chart_is_the_confusion_matrix(multiclass_evaluated: JobResult) -> None:
    assert written(multiclass_evaluated) == {"evaluation.json", "confusion_matrix.png"}
    width, height = png_size((output_dir(multiclass_evaluated, "evaluation") / "confusion_matrix.png").read_bytes())
    assert width >= 3 * 160 and height >= 3 * 160


def test_regression_metrics_equal_scikit_learn(
    regression_evaluated: JobResult, regression_preprocessed: JobResult, regression_trained: JobResult
) -> None:
    evaluation = evaluation_of(regression_evaluated)
    model = joblib.load(regression_trained.opt_ml / "model" / "model.joblib")
    x, y = model_frame(output_dir(regression_preprocessed, "test"), generated_schema("regression"))
    predicted = model.predict(x)
    mse = mean_squared_error(y, predicted)
    assert evaluation["task"] == "regression"
    assert evaluation["rows"] == len(y)
    assert evaluation["metrics"] == pytest.approx(
        {"rmse": mse**0.5, "mae": mean_absolute_error(y, predicted), "r2": r2_score(y, predicted)}, abs=1e-9
    )
    assert evaluation["metrics"]["r2"] > 0.5
    quality = evaluation["regression_metrics"]
    expected = {"mae": mean_absolute_error(y, predicted), "mse": mse, "rmse": mse**0.5, "r2": r2_score(y, predicted)}
    assert set(quality) == set(expected)
    for name, value in expected.items():
        assert quality[name] == {"value": pytest.approx(value, abs=1e-9), "standard_deviation": "NaN"}
    logged = regression_evaluated.metrics("regression")
    assert set(logged) == {"test:rmse", "test:mae", "test:r2"}
    for name, value in evaluation["metrics"].items():
        assert logged[f"test:{name}"] == pytest.approx(value, abs=1e-6)
    assert {"confusion_matrix", "recall_per_class"}.isdisjoint(evaluation)


def test_regression_charts_are_predicted_vs_actual_and_residuals(regression_evaluated: JobResult) -> None:
    folder = output_dir(regression_evaluated, "evaluation")
    assert written(regression_evaluated) == {"evaluation.json", "predicted_vs_actual.png", "residuals.png"}
    for name in ("predicted_vs_actual.png", "residuals.png"):
        width, height = png_size((folder / name).read_bytes())
        assert width > 500 and height > 500


def user_model(folder: Path, estimator: Any, preprocessed: JobResult, task: str, metadata: dict[str, Any]) -> Any:
    """Another estimator fitted on the train split, saved with the minimal metadata.json (task, classes)."""
    schema = generated_schema(task)
    x, y = model_frame(output_dir(preprocessed, "train"), schema)
    return write_user_model(folder, estimator, x, y, schema, metadata)


def test_a_user_multiclass_model_in_the_contract_is_scored(tmp_path: Path, multiclass_preprocessed: JobResult) -> None:
    model_dir = tmp_path / "model"
    model = user_model(
        model_dir,
        KNeighborsClassifier(n_neighbors=7),
        multiclass_preprocessed,
        "multiclass",
        {"task": "multiclass", "classes": sorted(SEGMENTS)},
    )
    test_dir = output_dir(multiclass_preprocessed, "test")
    result = run_evaluate(tmp_path, model_dir, test_dir, generated_schema("multiclass"))
    assert result.returncode == 0, result.describe()
    x, y = model_frame(test_dir, generated_schema("multiclass"))
    check_multiclass(evaluation_of(result), model, x, y)


def test_a_user_regression_model_in_the_contract_is_scored(tmp_path: Path, regression_preprocessed: JobResult) -> None:
    model_dir = tmp_path / "model"
    model = user_model(
        model_dir,
        DecisionTreeRegressor(max_depth=5, random_state=0),
        regression_preprocessed,
        "regression",
        {"task": "regression"},
    )
    test_dir = output_dir(regression_preprocessed, "test")
    result = run_evaluate(tmp_path, model_dir, test_dir, generated_schema("regression"))
    assert result.returncode == 0, result.describe()
    x, y = model_frame(test_dir, generated_schema("regression"))
    assert evaluation_of(result)["metrics"]["rmse"] == pytest.approx(mean_squared_error(y, model.predict(x)) ** 0.5)


def test_a_multiclass_test_split_of_one_class_is_still_judged(
    tmp_path: Path, multiclass_preprocessed: JobResult, multiclass_trained: JobResult
) -> None:
    """Unlike binary (no AUC without both classes), accuracy and recall mean something on one class."""
    test = pd.concat(
        pd.read_csv(path, dtype=str, keep_default_na=False)
        for path in sorted(output_dir(multiclass_preprocessed, "test").glob("*.csv"))
    )
    (tmp_path / "test").mkdir()
    test[test["segment"] == "mid"].to_csv(tmp_path / "test" / "part-0.csv", index=False)
    schema = generated_schema("multiclass")
    result = run_evaluate(tmp_path, multiclass_trained.opt_ml / "model", tmp_path / "test", schema)
    assert result.returncode == 0, result.describe()
    evaluation = evaluation_of(result)
    model = joblib.load(multiclass_trained.opt_ml / "model" / "model.joblib")
    x, y = model_frame(tmp_path / "test", schema)
    assert set(y) == {"mid"}
    assert list(evaluation["recall_per_class"]) == ["mid"]
    assert evaluation["recall_per_class"]["mid"] == pytest.approx(float(np.mean(model.predict(x) == "mid")))


@pytest.mark.parametrize("damage", ["task", "classes"])
def test_a_model_whose_files_disagree_is_refused(
    tmp_path: Path, multiclass_preprocessed: JobResult, multiclass_trained: JobResult, damage: str
) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(multiclass_trained.opt_ml / "model", model_dir)
    metadata = json.loads((model_dir / "metadata.json").read_text())
    if damage == "task":
        metadata["task"] = "regression"
        message = "the model's metadata.json says task 'regression', its schema.json 'multiclass'"
    else:
        metadata["classes"] = SEGMENTS  # the declared order; predict_proba's columns are sorted
        message = "metadata.json's classes ['low', 'mid', 'high'] differ from the model's classes"
    (model_dir / "metadata.json").write_text(json.dumps(metadata))
    test_dir = output_dir(multiclass_preprocessed, "test")
    result = run_evaluate(tmp_path, model_dir, test_dir, generated_schema("multiclass"))
    assert result.returncode == 1
    assert result.failure is not None and message in result.failure


def test_a_model_folder_without_the_model_fails(
    tmp_path: Path, preprocessed: JobResult, schema: dict[str, Any]
) -> None:
    stray = tmp_path / "notes.txt"
    stray.write_text("not a model")
    result = run_processing(
        tmp_path / "job",
        "evaluate.py",
        ARGUMENTS,
        {"model": [(stray, "notes.txt")], "test": files_under(output_dir(preprocessed, "test"))},
        ["evaluation"],
        schema,
    )
    assert result.returncode == 1
    assert result.failure is not None
    assert "lacks model.joblib, schema.json, metadata.json" in result.failure


def test_test_rows_without_a_target_are_refused(
    tmp_path: Path, regression_preprocessed: JobResult, regression_trained: JobResult
) -> None:
    """With a nullable target preprocessing keeps such rows; scoring them would fail inside scikit-learn (or, for
    a class, count the gap as one)."""
    schema = generated_schema("regression")
    schema["columns"][-1]["nullable"] = True
    model_dir = tmp_path / "model"
    shutil.copytree(regression_trained.opt_ml / "model", model_dir)
    (model_dir / "schema.json").write_text(json.dumps(schema))
    test = pd.concat(
        pd.read_csv(path, dtype=str, keep_default_na=False)
        for path in sorted(output_dir(regression_preprocessed, "test").glob("*.csv"))
    )
    test.iloc[[3, 5], test.columns.get_loc("price")] = ""
    (tmp_path / "test").mkdir()
    test.to_csv(tmp_path / "test" / "part-0.csv", index=False)
    result = run_evaluate(tmp_path, model_dir, tmp_path / "test", schema)
    assert result.returncode == 1
    assert result.failure is not None
    assert "the test split has 2 rows without a target 'price'" in result.failure
