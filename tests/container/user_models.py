"""Models as a user's own training script may write them under the project's model contract (model.joblib with
predict, and predict_proba with classes_ for classification; schema.json; metadata.json with at least the task):
another estimator than train.py's, fitted in the test process on rows read with plain pandas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder


def plain_features(rows: pd.DataFrame, schema: dict[str, Any]) -> pd.DataFrame:
    """The feature columns of text rows (as in the CSV files), independently of mlops_schema: NaN for gaps,
    numbers as floats, the rest as objects."""
    frame = {}
    for column in schema["columns"]:
        name = column["name"]
        if name in (schema["key"], schema["target"]):
            continue
        text = rows[name].replace("", np.nan)
        frame[name] = text.astype(float) if column["type"] in ("int", "float") else text.astype(object)
    return pd.DataFrame(frame)


def write_user_model(
    folder: Path, estimator: Any, x: pd.DataFrame, y: np.ndarray, schema: dict[str, Any], metadata: dict[str, Any]
) -> Any:
    """Fit a pipeline (imputation, one-hot encoding, the estimator) and save it with the schema and the given
    metadata.json; returns the fitted pipeline."""
    numeric = [c["name"] for c in schema["columns"] if c["name"] in x.columns and c["type"] in ("int", "float")]
    categorical = [name for name in x.columns if name not in numeric]
    features = ColumnTransformer(
        [
            ("numeric", SimpleImputer(strategy="median"), numeric),
            ("categorical", OneHotEncoder(handle_unknown="ignore"), categorical),
        ]
    )
    model = Pipeline([("features", features), ("model", estimator)]).fit(x, y)
    folder.mkdir(parents=True)
    joblib.dump(model, folder / "model.joblib")
    (folder / "schema.json").write_text(json.dumps(schema), encoding="utf-8")
    (folder / "metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
    return model
