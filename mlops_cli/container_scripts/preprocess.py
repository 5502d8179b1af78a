"""SageMaker Processing job: validate raw batches, drop exact duplicates, split train/validation/test by key.

Entrypoint (the prebuilt scikit-learn image, the code input holding this folder and schema.json)::

    python3 /opt/ml/processing/input/code/preprocess.py [--raw-dir DIR] [--output-dir DIR] [--schema FILE]
        [--config-dir DIR] [--validation-fraction 0.15] [--test-fraction 0.15] [--max-reject-rate 0.05]

Reads every CSV (and Parquet, when pyarrow is installed) under --raw-dir, recursively, in sorted order. Writes, under
--output-dir, each subfolder being its own ProcessingOutput:

    train/part-<host>.csv, validation/part-<host>.csv, test/part-<host>.csv
        the clean rows in canonical form (see mlops_schema), the schema's columns in order, sorted by key;
    rejects/part-<host>.csv
        the invalid rows as they were in the file, with source_file, reject_reason and reject_kind;
    profile/<host>/profile.json
        rows in and out, rejects by reason and kind, duplicates, split sizes and the target's balance per split
        (binary: rows, the positive and negative counts, positive_rate; multiclass: rows and counts per class;
        regression: rows, min, max, mean, std of the target), missing rates, per-column statistics, input files
        with their row counts.

Fails (exit 1, the reason in <config-dir>/../output/message, which SageMaker returns as ExitMessage) when a file lacks
a schema column, when more than --max-reject-rate of the rows are invalid, or (classification, one worker) when the
train split would hold fewer than 2 classes; the rejects and profile are written first, to show why.

The split is decided by a hash of the row's key alone, so it does not depend on file order or on how files are
sharded, and every row of one customer lands in the same split (no leakage between train and test).
Classification is therefore stratified only in expectation, not exactly: an exact stratification assigns a row by
its rank within its class, so each new batch (or another sharding) would move existing keys from one split to
another, and a customer once scored as test data would turn up in train. The hash keeps every key where it was; the
job says (a warning line) when a class present in the data has no row in a split, which happens with rare classes.

Several workers (instance_count > 1 with ShardedByS3Key): each worker sees only its files and writes its own
part-<host>.csv; the union of the parts equals one worker's output over all files, because validation is per row
and the split per key. Two limits of working without a shuffle between workers:
- exact duplicates are removed among the rows one worker sees; a row repeated in two files that land on different
  workers is kept twice (in the same split). The sample data repeats rows only within a file.
- a customer that re-appears in a later batch with new values is kept with both rows (again in the same split):
  keeping only the latest row needs all batches on one worker.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlops_schema as ms
import pandas as pd
from mlops_jobs import JobError, read_hosts, run_job, say

SPLITS = ("train", "validation", "test")
SOURCE_COLUMN = "source_file"
TOP_REASONS = 5


@dataclass
class Inputs:
    """What one worker read: the rows as in the files (plus their source file), each file's row count, and the
    files it skipped."""

    rows: pd.DataFrame
    files: list[dict[str, Any]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Validate, deduplicate and split raw batches (SageMaker Processing).")
    parser.add_argument("--raw-dir", type=Path, default=Path("/opt/ml/processing/input/raw"))
    parser.add_argument("--output-dir", type=Path, default=Path("/opt/ml/processing/output"))
    parser.add_argument("--schema", type=Path, default=Path("/opt/ml/processing/input/code/schema.json"))
    parser.add_argument("--config-dir", type=Path, default=Path("/opt/ml/config"))
    parser.add_argument("--validation-fraction", type=float, default=0.15)
    parser.add_argument("--test-fraction", type=float, default=0.15)
    parser.add_argument("--max-reject-rate", type=float, default=0.05)
    return parser.parse_args(argv)


def check_fractions(args: argparse.Namespace) -> None:
    """Refuse a split that leaves no training data before reading anything."""
    val, test = args.validation_fraction, args.test_fraction
    if not (0 <= val < 1 and 0 <= test < 1 and val + test < 1):
        raise JobError(f"--validation-fraction {val} and --test-fraction {test} must be in [0, 1) and sum below 1")
    if not 0 <= args.max_reject_rate <= 1:
        raise JobError(f"--max-reject-rate {args.max_reject_rate} must be in [0, 1]")


def discover(raw_dir: Path) -> tuple[list[Path], list[Path]]:
    """(data files, ignored files) under raw_dir, sorted, so that every run reads them in the same order."""
    if not raw_dir.is_dir():
        raise JobError(f"the raw data folder {raw_dir} does not exist")
    files = sorted(path for path in raw_dir.rglob("*") if path.is_file())
    data = [path for path in files if path.suffix.lower() in (".csv", ".parquet")]
    return data, [path for path in files if path not in data]


def read_file(path: Path, name: str, schema: ms.Schema) -> pd.DataFrame:
    """One file's rows, every schema column present (else the job fails naming the file and the column)."""
    if path.suffix.lower() == ".parquet":
        try:
            import pyarrow  # noqa: F401  (pandas' Parquet engine)
        except ImportError:
            raise JobError(f"{name}: Parquet input needs pyarrow, which is not installed in this image") from None
        frame = pd.read_parquet(path, engine="pyarrow")
    else:
        try:
            frame = ms.read_raw_csv(path)
        except pd.errors.EmptyDataError as exc:
            raise JobError(f"{name}: the file is empty (not even a header row)") from exc
    ms.check_columns(frame, schema, source=name)
    frame = frame[schema.names].copy()
    frame[SOURCE_COLUMN] = name
    return frame


def read_inputs(raw_dir: Path, schema: ms.Schema, single_host: bool) -> Inputs:
    data_files, ignored = discover(raw_dir)
    if not data_files and single_host:
        raise JobError(f"no CSV or Parquet files under {raw_dir}")
    frames, counts = [], []
    for path in data_files:
        name = path.relative_to(raw_dir).as_posix()
        frame = read_file(path, name, schema)
        say(f"read {name}: {len(frame)} rows")
        frames.append(frame)
        counts.append({"path": name, "rows": len(frame)})
    if frames:
        rows = pd.concat(frames, ignore_index=True)
    else:  # a worker whose shard holds no file: empty parts, with headers
        rows = pd.DataFrame(columns=[*schema.names, SOURCE_COLUMN], dtype=object)
    return Inputs(rows=rows, files=counts, ignored=[p.relative_to(raw_dir).as_posix() for p in ignored])


def split_of(key: str, validation_fraction: float, test_fraction: float) -> str:
    """The split of a key: sha256 of the key as a number in [0, 1), compared with the fractions.

    Stable across runs, machines, file orders and shardings, and the same for every row of one key.
    """
    position = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") / 2.0**64
    if position < test_fraction:
        return "test"
    if position < test_fraction + validation_fraction:
        return "validation"
    return "train"


def assign_splits(clean: pd.DataFrame, schema: ms.Schema, args: argparse.Namespace) -> dict[str, pd.DataFrame]:
    keys = clean[schema.key].astype(str)
    split = keys.map(lambda key: split_of(key, args.validation_fraction, args.test_fraction))
    return {name: sort_rows(clean[split == name], schema.names) for name in SPLITS}


def sort_rows(df: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Order rows by content (the key first), so outputs are byte-identical whatever order the files came in."""
    return df.sort_values(columns, kind="mergesort", na_position="first").reset_index(drop=True)


def reject_rows(rejects: pd.DataFrame, schema: ms.Schema) -> pd.DataFrame:
    columns = [*schema.names, SOURCE_COLUMN, ms.REJECT_REASON, ms.REJECT_KIND]
    return sort_rows(rejects[columns], [schema.key, ms.REJECT_REASON, *schema.names, SOURCE_COLUMN])


def count_kinds(rejects: pd.DataFrame) -> dict[str, int]:
    """Problems by "<column>:<rule>"; a row with two problems counts once for each."""
    kinds = rejects[ms.REJECT_KIND].str.split(ms.SEPARATOR).explode()
    return {str(kind): int(n) for kind, n in kinds.value_counts().sort_index().items()}


def count_reasons(rejects: pd.DataFrame) -> dict[str, int]:
    counts = rejects[ms.REJECT_REASON].value_counts()
    return {str(reason): int(n) for reason, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))}


def column_stats(series: pd.Series, column: ms.Column) -> dict[str, Any]:
    """min/max/mean/std for numbers, counts for categories and bools, the number of distinct values for strings."""
    present = series.dropna()
    if column.is_numeric:
        values = present.astype("float64")
        return {
            "type": column.type,
            "min": _round(values.min()),
            "max": _round(values.max()),
            "mean": _round(values.mean()),
            "std": _round(values.std()),
        }
    if column.type == "string":
        return {"type": column.type, "distinct": int(present.nunique())}
    return {"type": column.type, "counts": {str(k): int(v) for k, v in present.value_counts().sort_index().items()}}


def _round(value: float) -> float | None:
    """JSON has no NaN: an empty or single-row column has no mean or std."""
    return None if pd.isna(value) else round(float(value), 6)


def class_balance(frame: pd.DataFrame, schema: ms.Schema) -> dict[str, Any]:
    """The target in one split, as the task sees it."""
    rows = len(frame)
    target = frame[schema.target]
    if schema.task == "regression":
        values = target.dropna().astype("float64")
        return {
            "rows": rows,
            "min": _round(values.min()),
            "max": _round(values.max()),
            "mean": _round(values.mean()),
            "std": _round(values.std()),
        }
    if schema.task == "multiclass":
        return {"rows": rows, "counts": {name: int((target == name).sum()) for name in schema.classes}}
    negative, positive = schema.classes
    positives = int((target == positive).sum())
    return {
        "rows": rows,
        positive: positives,
        negative: rows - positives,
        "positive_rate": round(positives / rows, 6) if rows else None,
    }


def check_classes(deduplicated: pd.DataFrame, splits: dict[str, pd.DataFrame], schema: ms.Schema, hosts: int) -> None:
    """Say which classes of the data a split lacks (the hash split is stratified only in expectation), and refuse a
    train split with fewer than 2 classes: no classifier can be fitted on it.

    With several workers, each holds only its shard's part of the train split; the union may still have every
    class, so a worker only warns (train.py refuses a train channel with one class).
    """
    if not schema.is_classification:
        return
    present = [name for name in schema.classes if (deduplicated[schema.target] == name).any()]
    for split, frame in splits.items():
        missing = [name for name in present if not (frame[schema.target] == name).any()]
        if missing:
            rows = ", ".join(f"'{name}' ({int((deduplicated[schema.target] == name).sum())} rows)" for name in missing)
            say(f"warning: the {split} split has no row of the class(es) {rows} present in the data")
    in_train = [name for name in present if (splits["train"][schema.target] == name).any()]
    if len(in_train) < 2 and hosts == 1:
        held = f"only '{in_train[0]}'" if in_train else "no row"
        raise JobError(
            f"the train split holds {held} of the target '{schema.target}' (classes in the data: "
            f"{', '.join(present) or 'none'}): a classifier needs at least 2 classes to learn from; add data with "
            "the other classes, or lower --validation-fraction / --test-fraction"
        )


def build_profile(
    host: str,
    inputs: Inputs,
    rejects: pd.DataFrame,
    deduplicated: pd.DataFrame,
    duplicates: int,
    splits: dict[str, pd.DataFrame],
    schema: ms.Schema,
    args: argparse.Namespace,
) -> dict[str, Any]:
    rows_in = len(inputs.rows)
    return {
        "host": host,
        "dataset": schema.name,
        "input_files": inputs.files,
        "ignored_files": inputs.ignored,
        "rows_in": rows_in,
        "rows_rejected": len(rejects),
        "reject_rate": round(len(rejects) / rows_in, 6) if rows_in else 0.0,
        "max_reject_rate": args.max_reject_rate,
        "rejects_by_reason": count_reasons(rejects),
        "rejects_by_kind": count_kinds(rejects),
        "duplicates_removed": duplicates,
        "rows_out": len(deduplicated),
        "split_fractions": {"validation": args.validation_fraction, "test": args.test_fraction},
        "splits": {name: class_balance(frame, schema) for name, frame in splits.items()},
        "missing_rate": {
            name: round(float(deduplicated[name].isna().mean()), 6) if len(deduplicated) else 0.0
            for name in schema.names
        },
        "columns": {column.name: column_stats(deduplicated[column.name], column) for column in schema.columns},
    }


def check_reject_rate(profile: dict[str, Any], rejects: pd.DataFrame, rejects_file: Path) -> None:
    """Fail when the feed is broken rather than train on what is left; name the rate, limit and top reasons."""
    rate, limit = profile["reject_rate"], profile["max_reject_rate"]
    if rate <= limit:
        return
    examples = rejects.groupby(ms.REJECT_KIND)[ms.REJECT_REASON].first()
    kinds = sorted(profile["rejects_by_kind"].items(), key=lambda item: (-item[1], item[0]))[:TOP_REASONS]
    top = "; ".join(f"{n} x {kind} (e.g. {examples.get(kind, kind)})" for kind, n in kinds)
    raise JobError(
        f"reject rate {rate:.2%} ({profile['rows_rejected']} of {profile['rows_in']} rows) is above the limit "
        f"{limit:.2%} (--max-reject-rate {limit}); top reasons: {top}; every rejected row is in {rejects_file}"
    )


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)


def preprocess(args: argparse.Namespace) -> None:
    check_fractions(args)
    host, hosts = read_hosts(args.config_dir)
    schema = ms.load_schema(args.schema)
    say(
        f"preprocess on {host} of {len(hosts)} host(s): dataset {schema.name}, {len(schema.columns)} columns, "
        f"task {schema.task}"
    )

    inputs = read_inputs(args.raw_dir, schema, single_host=len(hosts) == 1)
    for name in inputs.ignored:
        say(f"ignored {name}: neither .csv nor .parquet")
    clean, rejects = ms.validate(inputs.rows, schema)
    say(f"validated {len(inputs.rows)} rows: {len(rejects)} rejected")
    deduplicated = clean.drop_duplicates(keep="first")
    duplicates = len(clean) - len(deduplicated)
    say(f"removed {duplicates} exact duplicate rows")
    splits = assign_splits(deduplicated, schema, args)

    part = f"part-{host}.csv"
    rejects_file = args.output_dir / "rejects" / part
    write_csv(reject_rows(rejects, schema), rejects_file)
    profile = build_profile(host, inputs, rejects, deduplicated, duplicates, splits, schema, args)
    profile_file = args.output_dir / "profile" / host / "profile.json"
    profile_file.parent.mkdir(parents=True, exist_ok=True)
    profile_file.write_text(json.dumps(profile, indent=2) + "\n", encoding="utf-8")
    check_reject_rate(profile, rejects, rejects_file)
    check_classes(deduplicated, splits, schema, len(hosts))

    for name, frame in splits.items():
        write_csv(frame, args.output_dir / name / part)
        say(f"wrote {name}/{part}: {len(frame)} rows")
    say(
        f"preprocess done on {host}: files={len(inputs.files)} rows_in={profile['rows_in']} "
        f"rejected={profile['rows_rejected']} ({profile['reject_rate']:.2%}) duplicates={duplicates} "
        f"rows_out={profile['rows_out']} " + " ".join(f"{name}={len(frame)}" for name, frame in splits.items())
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    message_file = args.config_dir.parent / "output" / "message"
    expected = (ms.SchemaError, ms.MissingColumnError, ms.DataError)
    return run_job(lambda: preprocess(args), message_file, expected)


if __name__ == "__main__":
    raise SystemExit(main())
