"""evaluate.py under the Processing contract: the trained model.tar.gz scored on the test split."""

from __future__ import annotations

import json
import struct
import tarfile
import zlib
from pathlib import Path
from typing import Any

import joblib
import pytest
from sklearn.metrics import roc_auc_score

from tests.container.conftest import model_frame, output_dir
from tests.container.contract import JobResult, files_under, run_processing

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


@pytest.fixture(scope="module")
def evaluated(
    tmp_path_factory: pytest.TempPathFactory, preprocessed: JobResult, trained: JobResult, schema: dict[str, Any]
) -> JobResult:
    # model.tar.gz as SageMaker packs /opt/ml/model.
    archive = tmp_path_factory.mktemp("artifact") / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path, relative in files_under(trained.opt_ml / "model"):
            tar.add(path, arcname=relative)
    result = run_processing(
        tmp_path_factory.mktemp("evaluate"),
        "evaluate.py",
        ARGUMENTS,
        {"model": [(archive, "model.tar.gz")], "test": files_under(output_dir(preprocessed, "test"))},
        ["evaluation"],
        schema,
    )
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
    assert png_size((folder / "roc_curve.png").read_bytes()) == (600, 580)
    assert png_size((folder / "confusion_matrix.png").read_bytes()) == (520, 500)


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
