"""preprocess.py under the Processing contract, on the committed sample batches."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.container.conftest import (
    PREPROCESS_OUTPUTS,
    SPLITS,
    generated_rows,
    generated_schema,
    output_dir,
    preprocess_arguments,
    read_output,
)
from tests.container.contract import DATA, JobResult, run_processing, sample_files

# The generator's kind of bad row → the rule preprocessing reports, and how its reason reads.
EXPECTED_REJECTS = {
    "unknown_plan": ("plan:not_allowed", r"plan: 'enterprise' is not one of basic, pro, team"),
    "negative_tenure": ("tenure_months:below_min", r"tenure_months: -\d+ is below the minimum 0"),
    "non_numeric_charges": ("monthly_charges:not_a_number", r"monthly_charges: '(n/a|12,5O)' is not a number"),
    "missing_target": ("churned:missing_target", r"churned: missing target"),
    "invalid_target": ("churned:not_bool", r"churned: 'maybe' is not yes/no"),
}


def profile_of(result: JobResult, host: str = "algo-1") -> dict[str, Any]:
    return json.loads((output_dir(result, "profile") / host / "profile.json").read_text())


def run(tmp_path: Path, schema: dict[str, Any], raw: list[tuple[Path, str]], *extra: str, **hosts: Any) -> JobResult:
    return run_processing(
        tmp_path, "preprocess.py", preprocess_arguments(*extra), {"raw": raw}, PREPROCESS_OUTPUTS, schema, **hosts
    )


def test_every_bad_row_is_rejected_with_its_reason(preprocessed: JobResult, bad_rows: dict[str, set[str]]) -> None:
    rejects = read_output(preprocessed, "rejects")
    assert len(rejects) == sum(len(bad_rows[kind]) for kind in EXPECTED_REJECTS) == 30
    for kind, (rule, reason) in EXPECTED_REJECTS.items():
        of_kind = rejects[rejects["reject_kind"] == rule]
        assert set(of_kind["customer_id"]) == bad_rows[kind], kind
        assert of_kind["reject_reason"].str.fullmatch(reason).all(), of_kind["reject_reason"].tolist()
    assert set(rejects["source_file"]) == {rel for _, rel in sample_files()}
    # The raw text is kept as it was in the file, 'n/a' included.
    assert {"n/a", "12,5O"} <= set(rejects["monthly_charges"])


def test_exact_duplicates_are_removed(preprocessed: JobResult, bad_rows: dict[str, set[str]]) -> None:
    rows = pd.concat([read_output(preprocessed, name) for name in SPLITS])
    assert not rows.duplicated().any()
    counts = rows["customer_id"].value_counts()
    assert (counts[sorted(bad_rows["exact_duplicate"])] == 1).all()
    assert profile_of(preprocessed)["duplicates_removed"] == len(bad_rows["exact_duplicate"]) == 6


def test_profile_counts_match_the_files(preprocessed: JobResult) -> None:
    profile = profile_of(preprocessed)
    raw_rows = {rel: len(pd.read_csv(path, dtype=str)) for path, rel in sample_files()}
    assert {f["path"]: f["rows"] for f in profile["input_files"]} == raw_rows
    assert profile["rows_in"] == sum(raw_rows.values()) == 3600
    assert profile["rows_rejected"] == len(read_output(preprocessed, "rejects")) == 30
    assert sum(profile["rejects_by_kind"].values()) == sum(profile["rejects_by_reason"].values()) == 30
    assert profile["reject_rate"] == pytest.approx(30 / 3600, abs=1e-6)
    assert profile["rows_out"] == profile["rows_in"] - profile["rows_rejected"] - profile["duplicates_removed"]
    for name in SPLITS:
        split = read_output(preprocessed, name)
        balance = profile["splits"][name]
        assert balance["rows"] == len(split)
        assert balance["yes"] == (split["churned"] == "yes").sum()
        assert balance["no"] == (split["churned"] == "no").sum()
    assert sum(profile["splits"][name]["rows"] for name in SPLITS) == profile["rows_out"]
    assert profile["missing_rate"]["churned"] == 0
    assert 0.01 < profile["missing_rate"]["total_charges"] < 0.03
    assert profile["columns"]["tenure_months"]["min"] >= 0
    assert set(profile["columns"]["plan"]["counts"]) == {"basic", "pro", "team"}
    assert profile["host"] == "algo-1"


def test_splits_are_disjoint_by_key_and_decided_by_its_hash(
    preprocessed: JobResult, bad_rows: dict[str, set[str]]
) -> None:
    keys = {name: set(read_output(preprocessed, name)["customer_id"]) for name in SPLITS}
    assert not keys["train"] & keys["validation"]
    assert not keys["train"] & keys["test"]
    assert not keys["validation"] & keys["test"]
    for name, expected in keys.items():
        for key in expected:
            position = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64
            assert name == ("test" if position < 0.15 else "validation" if position < 0.30 else "train"), key
    total = sum(len(k) for k in keys.values())
    assert 0.12 < len(keys["validation"]) / total < 0.18 and 0.12 < len(keys["test"]) / total < 0.18
    # A returning customer keeps both rows, in one split (see the limits in preprocess.py's docstring).
    rows = pd.concat([read_output(preprocessed, name).assign(split=name) for name in SPLITS])
    returning = rows[rows["customer_id"].isin(bad_rows["returning"])]
    assert len(returning) == 2 * len(bad_rows["returning"])
    assert (returning.groupby("customer_id")["split"].nunique() == 1).all()


def test_outputs_are_canonical(preprocessed: JobResult, schema: dict[str, Any]) -> None:
    train = read_output(preprocessed, "train")
    assert list(train.columns) == [column["name"] for column in schema["columns"]]
    assert set(train["has_partner"]) == {"yes", "no"}
    assert train["tenure_months"].str.fullmatch(r"\d+").all()
    assert (train["region"] == "").any()  # a legitimate gap stays a gap, not a reject
    assert list(train["customer_id"]) == sorted(train["customer_id"])


def test_reordered_inputs_give_identical_outputs(
    tmp_path: Path, preprocessed: JobResult, schema: dict[str, Any]
) -> None:
    # Other names, so the files are read in the reverse order.
    renamed = [(path, f"{chr(ord('c') - i)}/{Path(rel).name}") for i, (path, rel) in enumerate(sample_files())]
    result = run(tmp_path, schema, renamed)
    assert result.returncode == 0, result.describe()
    for name in SPLITS:
        again = (output_dir(result, name) / "part-algo-1.csv").read_bytes()
        assert again == (output_dir(preprocessed, name) / "part-algo-1.csv").read_bytes(), name
    # The rejects name their source files, which differ on purpose; everything else is identical.
    rejects, before = (read_output(r, "rejects").drop(columns="source_file") for r in (result, preprocessed))
    pd.testing.assert_frame_equal(rejects, before)


def test_two_sharded_workers_give_the_same_union_as_one(
    tmp_path: Path, preprocessed: JobResult, schema: dict[str, Any]
) -> None:
    files = sample_files()
    shards = {"algo-1": [files[0], files[2]], "algo-2": [files[1]]}  # ShardedByS3Key: each worker its own files
    results = [run(tmp_path / host, schema, shard, host=host, hosts=tuple(shards)) for host, shard in shards.items()]
    for result in results:
        assert result.returncode == 0, result.describe()
    for name in (*SPLITS, "rejects"):
        union = pd.concat([read_output(result, name) for result in results], ignore_index=True)
        single = read_output(preprocessed, name)
        key = list(single.columns)
        pd.testing.assert_frame_equal(
            union.sort_values(key).reset_index(drop=True), single.sort_values(key).reset_index(drop=True)
        )
    profiles = [profile_of(result, host) for result, host in zip(results, shards, strict=True)]
    assert [p["host"] for p in profiles] == ["algo-1", "algo-2"]
    assert sum(p["rows_in"] for p in profiles) == profile_of(preprocessed)["rows_in"]
    assert sum(p["duplicates_removed"] for p in profiles) == profile_of(preprocessed)["duplicates_removed"]


def test_a_worker_without_files_writes_empty_parts(tmp_path: Path, schema: dict[str, Any]) -> None:
    result = run(tmp_path, schema, [], host="algo-3", hosts=("algo-1", "algo-2", "algo-3"))
    assert result.returncode == 0, result.describe()
    train = (output_dir(result, "train") / "part-algo-3.csv").read_text().splitlines()
    assert train == [",".join(column["name"] for column in schema["columns"])]
    assert profile_of(result, "algo-3")["rows_in"] == 0


def test_a_batch_without_the_target_column_fails_naming_it(tmp_path: Path, schema: dict[str, Any]) -> None:
    source = DATA / "ingest_date=2026-01-19" / "customers.csv"
    broken = tmp_path / "no_target.csv"
    pd.read_csv(source, dtype=str, keep_default_na=False).drop(columns="churned").to_csv(broken, index=False)
    raw = [*sample_files()[:2], (broken, "ingest_date=2026-01-26/customers.csv")]
    result = run(tmp_path / "job", schema, raw)
    assert result.returncode != 0
    assert result.failure is not None
    assert "ingest_date=2026-01-26/customers.csv: missing column 'churned'" in result.failure
    assert "missing column 'churned'" in result.stderr
    assert not (output_dir(result, "train") / "part-algo-1.csv").exists()


def test_a_reject_rate_over_the_limit_fails_with_the_rate_and_reasons(tmp_path: Path, schema: dict[str, Any]) -> None:
    result = run(tmp_path, schema, sample_files(), "--max-reject-rate", "0.005")
    assert result.returncode == 1
    message = result.failure
    assert message is not None
    assert message.startswith("reject rate 0.83% (30 of 3600 rows) is above the limit 0.50%")
    assert "6 x plan:not_allowed (e.g. plan: 'enterprise' is not one of basic, pro, team)" in message
    # The evidence is written, the data to train on is not.
    assert len(read_output(result, "rejects")) == 30
    assert profile_of(result)["reject_rate"] > 0.005
    assert not (output_dir(result, "train") / "part-algo-1.csv").exists()


def test_parquet_input_without_pyarrow_fails_clearly(tmp_path: Path, schema: dict[str, Any]) -> None:
    parquet = tmp_path / "batch.parquet"
    parquet.write_bytes(b"PAR1")
    blocker = tmp_path / "no-pyarrow" / "pyarrow"  # an image without pyarrow: importing it fails
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('pyarrow is not installed')\n")
    result = run(
        tmp_path / "job",
        schema,
        [(parquet, "ingest_date=2026-01-26/batch.parquet")],
        env={"PYTHONPATH": str(blocker.parent)},
    )
    assert result.returncode == 1
    assert result.failure is not None and "needs pyarrow" in result.failure


def test_parquet_input_is_read_like_csv(tmp_path: Path, schema: dict[str, Any]) -> None:
    path, rel = sample_files()[0]
    parquet = tmp_path / "batch.parquet"
    pd.read_csv(path, dtype=str, keep_default_na=False).to_parquet(parquet)
    from_csv = run(tmp_path / "csv", schema, [(path, rel)])
    from_parquet = run(tmp_path / "parquet", schema, [(parquet, "batch.parquet")])
    for name in SPLITS:
        assert read_output(from_parquet, name).equals(read_output(from_csv, name)), name


def split_by_hash(key: str) -> str:
    """The split the contract gives a key with the default fractions (0.15 test, then 0.15 validation)."""
    position = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64
    return "test" if position < 0.15 else "validation" if position < 0.30 else "train"


def test_a_multiclass_profile_counts_each_class_per_split(multiclass_preprocessed: JobResult) -> None:
    schema = generated_schema("multiclass")
    profile = profile_of(multiclass_preprocessed)
    for name in SPLITS:
        split = read_output(multiclass_preprocessed, name)
        assert profile["splits"][name] == {
            "rows": len(split),
            "counts": {label: int((split["segment"] == label).sum()) for label in schema["classes"]},
        }
        assert set(split["segment"]) == set(schema["classes"])  # 500 rows: every class in every split
    rejects = read_output(multiclass_preprocessed, "rejects")
    assert rejects["reject_reason"].tolist() == ["segment: 'unknown' is not one of low, mid, high"] * 2
    assert "task multiclass" in multiclass_preprocessed.stdout
    assert "warning" not in multiclass_preprocessed.stdout


def test_a_regression_profile_describes_the_target_per_split(regression_preprocessed: JobResult) -> None:
    profile = profile_of(regression_preprocessed)
    for name in SPLITS:
        price = read_output(regression_preprocessed, name)["price"].astype(float)
        assert profile["splits"][name] == pytest.approx(
            {"rows": len(price), "min": price.min(), "max": price.max(), "mean": price.mean(), "std": price.std()},
            abs=1e-6,
        )
    rejects = read_output(regression_preprocessed, "rejects")
    assert rejects["reject_kind"].tolist() == ["price:not_a_number"] * 2


def keys_in(split: str, count: int, prefix: str) -> list[str]:
    """The first `count` keys `<prefix><n>` that the hash puts into `split`."""
    keys = (f"{prefix}{n}" for n in range(10_000))
    return [key for key in keys if split_by_hash(key) == split][:count]


def segment_rows(tmp_path: Path, groups: list[tuple[str, list[str]]]) -> list[tuple[Path, str]]:
    """A raw batch of the generated multiclass schema: each (class, keys) group as rows with that class."""
    base = generated_rows("multiclass").iloc[0]
    rows = [{**base.to_dict(), "id": key, "segment": label} for label, keys in groups for key in keys]
    path = tmp_path / "batch.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return [(path, "ingest_date=2026-02-01/houses.csv")]


def test_a_class_missing_from_a_split_is_said(tmp_path: Path) -> None:
    """The hash split is stratified only in expectation: a rare class may miss a split, and the job says so."""
    raw = segment_rows(
        tmp_path,
        [
            ("low", keys_in("train", 20, "L") + keys_in("validation", 5, "L") + keys_in("test", 5, "L")),
            ("mid", keys_in("train", 20, "M") + keys_in("validation", 5, "M") + keys_in("test", 5, "M")),
            ("high", keys_in("train", 2, "H")),
        ],
    )
    result = run(tmp_path / "job", generated_schema("multiclass"), raw)
    assert result.returncode == 0, result.describe()
    for split in ("validation", "test"):
        expected = f"warning: the {split} split has no row of the class(es) 'high' (2 rows) present in the data"
        assert expected in result.stdout
    assert "the train split has no row" not in result.stdout
    assert profile_of(result)["splits"]["test"]["counts"] == {"low": 5, "mid": 5, "high": 0}


def test_a_train_split_with_one_class_fails(tmp_path: Path) -> None:
    groups = [("low", keys_in("train", 20, "L")), ("mid", keys_in("validation", 3, "M") + keys_in("test", 3, "M"))]
    raw = segment_rows(tmp_path, groups)
    schema = generated_schema("multiclass")
    result = run(tmp_path / "job", schema, raw)
    assert result.returncode == 1
    assert result.failure is not None
    assert result.failure.startswith(
        "the train split holds only 'low' of the target 'segment' (classes in the data: low, mid): a classifier "
        "needs at least 2 classes to learn from"
    )
    assert profile_of(result)["splits"]["train"]["counts"] == {"low": 20, "mid": 0, "high": 0}
    assert not (output_dir(result, "train") / "part-algo-1.csv").exists()

    # One of several workers holds only part of the train split: the union may have both classes, so it warns.
    shard = run(tmp_path / "shard", schema, raw, host="algo-2", hosts=("algo-1", "algo-2"))
    assert shard.returncode == 0, shard.describe()
    assert "warning: the train split has no row of the class(es) 'mid' (6 rows)" in shard.stdout
