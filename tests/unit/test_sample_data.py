"""The committed sample data (data/churn/) is reproducible, has the declared schema, carries the
deliberate bad rows in every batch, and has a learnable but realistic churn signal."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mlops_cli.config.loader import load_config

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "data" / "generate.py"
DATA = ROOT / "data" / "churn"
DATES = ("2026-01-05", "2026-01-12", "2026-01-19")
ROWS_PER_BATCH = 1200

# What the data must satisfy is the schema the configs declare, not the generator's own constants.
DATASET = load_config(Path(__file__).resolve().parents[2] / "configs" / "local.yaml").config.dataset
COLUMNS = list(DATASET.columns)
CATEGORIES = {
    name: set(col.values) if col.type == "category" else {"yes", "no"}
    for name, col in DATASET.columns.items()
    if col.type in ("category", "bool") and name != DATASET.target
}
NUMERIC_RANGES = {
    name: (col.min if col.min is not None else float("-inf"), col.max if col.max is not None else float("inf"))
    for name, col in DATASET.columns.items()
    if col.type in ("int", "float")
}
NUMERIC = list(NUMERIC_RANGES)
CATEGORICAL = list(CATEGORIES)


def _path(date: str, root: Path = DATA) -> Path:
    return root / f"ingest_date={date}" / "customers.csv"


def _read_raw(path: Path) -> pd.DataFrame:
    """Every field as the exact string in the file ('' when empty), so no defect is parsed away."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    """data/ is not a package: load the script as a module (registered, so its dataclass works)."""
    spec = importlib.util.spec_from_file_location("churn_sample_generator", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def batches() -> dict[str, pd.DataFrame]:
    return {date: _read_raw(_path(date)) for date in DATES}


def _bad_masks(df: pd.DataFrame) -> dict[str, pd.Series]:
    """One boolean mask per kind of deliberate bad row, found from the data alone."""
    tenure = pd.to_numeric(df["tenure_months"], errors="coerce")
    charges = pd.to_numeric(df["monthly_charges"], errors="coerce")
    return {
        "unknown_plan": df["plan"] == "enterprise",
        "negative_tenure": tenure < 0,
        "non_numeric_charges": charges.isna() & (df["monthly_charges"] != ""),
        "missing_target": df["churned"] == "",
        "invalid_target": ~df["churned"].isin(["yes", "no", ""]),
        "exact_duplicate": df.duplicated(keep="first"),
    }


def _clean(df: pd.DataFrame) -> pd.DataFrame:
    """What a preprocessing step would keep: no bad rows, numbers parsed, empty fields as NaN."""
    bad = np.logical_or.reduce(list(_bad_masks(df).values()))
    out = df[~bad].replace("", np.nan)
    out[NUMERIC] = out[NUMERIC].apply(pd.to_numeric)
    return out


def test_committed_files_equal_generator_output(tmp_path: Path) -> None:
    # Runs the real command line, exactly as documented in data/README.md.
    subprocess.run([sys.executable, str(GENERATOR), "--out", str(tmp_path), "--quiet"], check=True, cwd=ROOT)
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.csv"))
    committed = sorted(p.relative_to(DATA) for p in DATA.rglob("*.csv"))
    assert generated == committed == [_path(d, Path()) for d in DATES]
    for rel in committed:
        assert (tmp_path / rel).read_bytes() == (DATA / rel).read_bytes(), f"{rel} is stale: rerun the generator"


def test_generation_is_deterministic(generator: ModuleType, tmp_path: Path) -> None:
    def run(name: str, seed: int) -> dict[str, bytes]:
        generator.generate(tmp_path / name, rows=200, batches=3, seed=seed)
        return {str(p.relative_to(tmp_path / name)): p.read_bytes() for p in (tmp_path / name).rglob("*.csv")}

    first = run("a", seed=1)
    assert len(first) == 3
    assert run("b", seed=1) == first
    assert run("c", seed=2) != first


def test_file_format(batches: dict[str, pd.DataFrame]) -> None:
    total = 0
    for date in DATES:
        raw = _path(date).read_bytes()
        total += len(raw)
        assert b"\r" not in raw
        assert raw.endswith(b"\n")
        assert raw.split(b"\n", 1)[0].decode() == ",".join(COLUMNS)
        assert len(batches[date]) == ROWS_PER_BATCH
    assert total < 600_000


def test_schema(batches: dict[str, pd.DataFrame]) -> None:
    df = pd.concat(batches.values(), ignore_index=True)
    assert list(df.columns) == COLUMNS
    assert df["customer_id"].str.fullmatch(r"C\d{7}").all()

    # Categories stay within the declared sets; the only stranger is the deliberate 'enterprise'.
    for column, allowed in CATEGORIES.items():
        values = set(df[column]) - {""}
        extra = values - allowed
        assert extra == ({"enterprise"} if column == "plan" else set()), column
    assert set(df["churned"]) == {"yes", "no", "", "maybe"}

    # Only these columns are ever empty (besides the deliberate missing targets), and rarely.
    empty = (df == "").mean()
    assert set(empty[empty > 0].index) == {"total_charges", "region", "last_login_days", "churned"}
    assert 0.01 <= empty["total_charges"] <= 0.03
    assert 0.005 <= empty["region"] <= 0.02
    assert 0.02 <= empty["last_login_days"] <= 0.04

    clean = _clean(df)
    for column, (low, high) in NUMERIC_RANGES.items():
        values = clean[column].dropna()
        assert values.between(low, high).all(), column
    for column in ("tenure_months", "support_calls", "last_login_days"):
        assert (clean[column].dropna() % 1 == 0).all(), column
    # Two decimals at most, as written.
    assert df["monthly_charges"].str.fullmatch(r"\d+\.\d{2}|n/a|12,5O").all()


@pytest.mark.parametrize("date", DATES)
def test_every_kind_of_bad_row_in_every_batch(batches: dict[str, pd.DataFrame], date: str) -> None:
    df = batches[date]
    masks = _bad_masks(df)
    for kind, mask in masks.items():
        assert 1 <= mask.sum() <= 5, f"{kind} in {date}: {int(mask.sum())} rows"
    # Both spellings of the non-numeric charge, so a reader that maps 'n/a' to NaN still meets '12,5O'.
    assert set(df.loc[masks["non_numeric_charges"], "monthly_charges"]) == {"n/a", "12,5O"}
    # About 1% of the rows, not a mess.
    assert np.logical_or.reduce(list(masks.values())).mean() <= 0.02


def test_customer_ids_unique_except_duplicates_and_returning(batches: dict[str, pd.DataFrame]) -> None:
    seen: dict[str, pd.Series] = {}
    for i, date in enumerate(DATES):
        df = batches[date].drop_duplicates()  # exact duplicates are checked above
        assert df["customer_id"].is_unique, date
        returning = df[df["customer_id"].isin(seen)]
        # Nobody comes back in the first batch; later a few, with updated values (later tenure).
        assert (len(returning) == 0) if i == 0 else (1 <= len(returning) <= 10), date
        for _, row in returning.iterrows():
            before = seen[row["customer_id"]]
            assert int(row["tenure_months"]) > int(before["tenure_months"])
        seen.update({row["customer_id"]: row for _, row in df.iterrows()})


def _pipeline(model: object) -> Pipeline:
    features = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), NUMERIC),
            (
                "cat",
                make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")),
                CATEGORICAL,
            ),
        ]
    )
    return make_pipeline(features, model)


def test_signal_is_learnable_but_realistic(batches: dict[str, pd.DataFrame]) -> None:
    train = _clean(pd.concat([batches[DATES[0]], batches[DATES[1]]], ignore_index=True))
    train = train.drop_duplicates("customer_id", keep="last")  # a returning customer's latest row wins
    test = _clean(batches[DATES[2]])
    y_train, y_test = train["churned"] == "yes", test["churned"] == "yes"

    churn_rate = pd.concat([y_train, y_test]).mean()
    assert 0.20 <= churn_rate <= 0.30

    model = _pipeline(LogisticRegression(max_iter=1000)).fit(train, y_train)
    auc = roc_auc_score(y_test, model.predict_proba(test)[:, 1])
    baseline = _pipeline(DummyClassifier(strategy="most_frequent")).fit(train, y_train)
    baseline_auc = roc_auc_score(y_test, baseline.predict_proba(test)[:, 1])

    assert 0.80 <= auc <= 0.95, auc  # learnable, but not a toy
    assert baseline_auc <= 0.55 and auc - baseline_auc >= 0.25
