"""Shared, session-scoped runs: the sample data preprocessed once and a model trained once, reused by the tests that
only read their outputs (each run is a subprocess of a second or two); the same for a multiclass and a regression
dataset that the tests generate (small, deterministic, not churn)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.container.contract import (
    ROOT,
    SCRIPTS,
    JobResult,
    files_under,
    run_processing,
    run_training,
    sample_files,
    schema_from_config,
)

SPLITS = ("train", "validation", "test")
PREPROCESS_OUTPUTS = (*SPLITS, "rejects", "profile")
# hist_gradient_boosting with few iterations: quick, and still well above the 0.80 validation AUC bar.
QUICK_MODEL = {"algorithm": '"hist_gradient_boosting"', "max_iter": "60", "learning_rate": "0.1"}


def preprocess_arguments(*extra: str) -> list[str]:
    """Every path argument given explicitly, with /opt/ml/ paths the harness maps (as the emulator does)."""
    return [
        "--raw-dir",
        "/opt/ml/processing/input/raw",
        "--output-dir",
        "/opt/ml/processing/output",
        "--schema",
        "/opt/ml/processing/input/code/schema.json",
        "--config-dir",
        "/opt/ml/config",
        *extra,
    ]


def output_dir(result: JobResult, name: str) -> Path:
    return result.opt_ml / "processing" / "output" / name


def read_output(result: JobResult, name: str) -> pd.DataFrame:
    """Every part file of one output, as text (the exact canonical form written)."""
    files = sorted(output_dir(result, name).glob("part-*.csv"))
    return pd.concat([pd.read_csv(f, dtype=str, keep_default_na=False) for f in files], ignore_index=True)


def model_frame(folder: Path, schema: dict[str, Any]) -> tuple[pd.DataFrame, np.ndarray]:
    """Features and labels read with plain pandas, independently of mlops_schema: NaN for gaps, numbers as floats.

    Labels as the model learns them: binary 0/1 (1 = the positive label, "yes" for a schema without a task),
    multiclass the class names, regression floats.
    """
    target = schema["target"]
    df = pd.concat(pd.read_csv(path, dtype={target: str}) for path in sorted(folder.glob("*.csv")))
    features = [c for c in schema["columns"] if c["name"] not in (schema["key"], target)]
    x = pd.DataFrame(
        {
            c["name"]: df[c["name"]].astype(float) if c["type"] in ("int", "float") else df[c["name"]].astype(object)
            for c in features
        }
    )
    task = schema.get("task", "binary")
    if task == "regression":
        return x, df[target].astype(float).to_numpy()
    if task == "multiclass":
        return x, df[target].to_numpy(dtype=object)
    return x, (df[target] == schema.get("positive_label", "yes")).to_numpy(dtype=int)


# A generated dataset: features of every type (gaps in a float), a string key, and a target per task.
GENERATED_COLUMNS: list[dict[str, Any]] = [
    {"name": "id", "type": "string", "nullable": False},
    {"name": "size", "type": "float", "nullable": True, "min": 0},
    {"name": "rooms", "type": "int", "nullable": True, "min": 1, "max": 9},
    {"name": "colour", "type": "category", "nullable": True, "values": ["red", "green", "blue"]},
    {"name": "garden", "type": "bool", "nullable": True},
]
# Declared out of alphabetical order on purpose: scikit-learn sorts class names, the schema keeps this order.
SEGMENTS = ["low", "mid", "high"]
SOLD = ["sold", "kept"]  # a binary category target: the last value, "kept", is the positive class
TARGETS: dict[str, dict[str, Any]] = {
    "binary": {"name": "outcome", "type": "category", "nullable": False, "values": SOLD},
    "multiclass": {"name": "segment", "type": "category", "nullable": False, "values": SEGMENTS},
    "regression": {"name": "price", "type": "float", "nullable": False},
}


def generated_schema(task: str) -> dict[str, Any]:
    """schema.json as the tool writes it for a generated dataset of the task."""
    target = TARGETS[task]
    extra: dict[str, Any] = {}
    if task != "regression":
        extra["classes"] = target["values"]
    if task == "binary":
        extra["positive_label"] = target["values"][-1]
    columns = [*GENERATED_COLUMNS, target]
    return {"name": f"houses-{task}", "key": "id", "target": target["name"], "columns": columns, "task": task, **extra}


def generated_rows(task: str, rows: int = 500, seed: int = 12) -> pd.DataFrame:
    """Raw rows (text, as in a CSV) whose target follows the features plus noise, so a model has something to
    learn; a few rows break the schema (an unknown class, a non-numeric target) and must be rejected."""
    rng = np.random.default_rng(seed)
    size = rng.gamma(4.0, 20.0, rows)
    rooms = rng.integers(1, 10, rows)
    colour = rng.choice(["red", "green", "blue"], rows)
    garden = rng.random(rows) < 0.4
    effect = pd.Series(colour).map({"red": 15.0, "green": 0.0, "blue": -10.0}).to_numpy()
    value = 1.2 * size + 9.0 * rooms + effect + 12.0 * garden + rng.normal(0, 10, rows)
    if task == "multiclass":
        cuts = np.quantile(value, [0.45, 0.8])  # unbalanced on purpose: 45% low, 35% mid, 20% high
        target = np.array(SEGMENTS, dtype=object)[np.searchsorted(cuts, value)]
    elif task == "binary":
        target = np.where(value > np.quantile(value, 0.6), SOLD[1], SOLD[0]).astype(object)
    else:
        target = np.array([f"{v:.2f}" for v in value], dtype=object)
    frame = pd.DataFrame(
        {
            "id": [f"H{i:05d}" for i in range(rows)],
            "size": [f"{v:.1f}" for v in size],
            "rooms": rooms.astype(str),
            "colour": colour,
            "garden": np.where(garden, "yes", "no"),
            TARGETS[task]["name"]: target,
        }
    )
    frame.loc[rng.random(rows) < 0.03, "size"] = ""  # legitimate gaps
    bad = frame.columns[-1]
    frame.loc[[7, 311], bad] = "n/a" if task == "regression" else "unknown"
    return frame


def generated_files(folder: Path, task: str) -> list[tuple[Path, str]]:
    """The generated rows as two batches under Hive-style partition folders, as in S3."""
    frame = generated_rows(task)
    files = []
    for number, part in enumerate((frame.iloc[: len(frame) // 2], frame.iloc[len(frame) // 2 :]), start=1):
        path = folder / f"batch-{number}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        part.to_csv(path, index=False)
        files.append((path, f"ingest_date=2026-02-0{number}/houses.csv"))
    return files


def train_channels(preprocessed: JobResult) -> dict[str, Any]:
    return {name: files_under(output_dir(preprocessed, name)) for name in ("train", "validation")}


def load_script_module(name: str) -> ModuleType:
    """A container script module imported in-process (mlops_cli/container_scripts/ is not a package)."""
    if str(SCRIPTS) not in sys.path:
        sys.path.insert(0, str(SCRIPTS))
    return importlib.import_module(name)


@pytest.fixture(scope="session")
def schema() -> dict[str, Any]:
    return schema_from_config()


@pytest.fixture(scope="session")
def preprocessed(tmp_path_factory: pytest.TempPathFactory, schema: dict[str, Any]) -> JobResult:
    result = run_processing(
        tmp_path_factory.mktemp("preprocess"),
        "preprocess.py",
        preprocess_arguments(),
        {"raw": sample_files()},
        PREPROCESS_OUTPUTS,
        schema,
    )
    assert result.returncode == 0, result.describe()
    return result


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, preprocessed: JobResult, schema: dict[str, Any]) -> JobResult:
    channels = {name: files_under(output_dir(preprocessed, name)) for name in ("train", "validation")}
    result = run_training(tmp_path_factory.mktemp("train"), channels, QUICK_MODEL, schema)
    assert result.returncode == 0, result.describe()
    return result


def preprocess_generated(folder: Path, task: str) -> JobResult:
    """preprocess.py run on the generated dataset of the task."""
    raw = generated_files(folder / "raw", task)
    result = run_processing(
        folder / "job",
        "preprocess.py",
        preprocess_arguments(),
        {"raw": raw},
        PREPROCESS_OUTPUTS,
        generated_schema(task),
    )
    assert result.returncode == 0, result.describe()
    return result


@pytest.fixture(scope="session")
def multiclass_preprocessed(tmp_path_factory: pytest.TempPathFactory) -> JobResult:
    return preprocess_generated(tmp_path_factory.mktemp("preprocess-multiclass"), "multiclass")


@pytest.fixture(scope="session")
def regression_preprocessed(tmp_path_factory: pytest.TempPathFactory) -> JobResult:
    return preprocess_generated(tmp_path_factory.mktemp("preprocess-regression"), "regression")


@pytest.fixture(scope="session")
def multiclass_trained(tmp_path_factory: pytest.TempPathFactory, multiclass_preprocessed: JobResult) -> JobResult:
    """The default algorithm (hist_gradient_boosting), quick."""
    channels = train_channels(multiclass_preprocessed)
    result = run_training(
        tmp_path_factory.mktemp("train-multiclass"), channels, QUICK_MODEL, generated_schema("multiclass")
    )
    assert result.returncode == 0, result.describe()
    return result


@pytest.fixture(scope="session")
def regression_trained(tmp_path_factory: pytest.TempPathFactory, regression_preprocessed: JobResult) -> JobResult:
    channels = train_channels(regression_preprocessed)
    result = run_training(
        tmp_path_factory.mktemp("train-regression"), channels, QUICK_MODEL, generated_schema("regression")
    )
    assert result.returncode == 0, result.describe()
    return result


@pytest.fixture(scope="session")
def bad_rows() -> dict[str, set[str]]:
    """customer_ids of every deliberately bad row, by kind, from the sample data's own generator."""
    spec = importlib.util.spec_from_file_location("churn_sample_generator", ROOT / "data" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses need the module registered
    spec.loader.exec_module(module)
    kinds: dict[str, set[str]] = {"returning": set()}
    for batch in module.generate_batches():
        for kind, ids in batch.bad_rows.items():
            kinds.setdefault(kind, set()).update(ids)
        kinds["returning"].update(batch.returning)
    return kinds
