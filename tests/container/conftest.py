"""Shared, session-scoped runs: the sample data preprocessed once and a model trained once, reused by the tests that
only read their outputs (each run is a subprocess of a second or two)."""

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
    """Features and labels read with plain pandas, independently of mlops_schema: NaN for gaps, numbers as floats."""
    df = pd.concat(pd.read_csv(path) for path in sorted(folder.glob("*.csv")))
    features = [c for c in schema["columns"] if c["name"] not in (schema["key"], schema["target"])]
    x = pd.DataFrame(
        {
            c["name"]: df[c["name"]].astype(float) if c["type"] in ("int", "float") else df[c["name"]].astype(object)
            for c in features
        }
    )
    return x, (df[schema["target"]] == "yes").to_numpy(dtype=int)


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
