"""The dataset schema and record validation, shared by every script that reads raw records.

The same rules must hold in preprocessing (which rows are rejected), training and evaluation (how a cleaned CSV is
typed) and the inference handler (which request records are accepted), or the served model would see data it was
never trained on. So they live in one module, shipped next to each script: in the processing job's code folder, in
the training job's sourcedir.tar.gz and in model.tar.gz's code/ folder.

It runs inside SageMaker's prebuilt scikit-learn images, so it imports only the standard library, numpy and pandas,
and keeps to Python 3.9 syntax.

schema.json (written by the `mlops` tool from the config's `dataset` section)::

    {"name": "churn", "key": "customer_id", "target": "churned",
     "task": "binary", "classes": ["no", "yes"], "positive_label": "yes",
     "columns": [{"name": "tenure_months", "type": "int", "min": 0, "max": 600, "nullable": true}, ...]}

Types: int, float, string, bool (yes/no/true/false/1/0, any case), category (one of `values`).

Tasks and the target they need: binary (a bool target, or a category with exactly 2 values), multiclass (a category
with 2+ values), regression (an int or float target). `classes` (classification only) are the class names as text in
the declared order; `positive_label` (binary only) is the last of them. A schema.json without `task` was written
before tasks existed: binary with a bool target, classes no/yes.

Canonical cleaned form: ints as pandas' nullable Int64, floats as float64, strings and categories as str, bools as
"yes"/"no"; a missing value is NA (an empty field once written as CSV).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

TYPES = ("int", "float", "string", "bool", "category")
TASKS = ("binary", "multiclass", "regression")
CLASSIFICATION_TASKS = ("binary", "multiclass")
NUMERIC_TYPES = ("int", "float")
TRUE_WORDS = frozenset({"yes", "true", "1"})
FALSE_WORDS = frozenset({"no", "false", "0"})
POSITIVE_LABEL = "yes"
NEGATIVE_LABEL = "no"
REJECT_REASON = "reject_reason"
REJECT_KIND = "reject_kind"
# Several problems of one row are joined with this; a kind is "<column>:<rule>", so it never contains it.
SEPARATOR = "; "
Problem = tuple[pd.Series, pd.Series, str]  # (row mask, reason text per row, rule name)


class SchemaError(ValueError):
    """schema.json itself is wrong: the job cannot decide what a valid record is."""


class MissingColumnError(ValueError):
    """A file or request lacks columns the schema requires; names them and where they were expected."""

    def __init__(self, missing: list[str], expected: list[str], source: str | None = None) -> None:
        self.missing = missing
        self.source = source
        names = ", ".join(f"'{name}'" for name in missing)
        where = f"{source}: " if source else ""
        noun = "column" if len(missing) == 1 else "columns"
        super().__init__(f"{where}missing {noun} {names} (expected the columns {', '.join(expected)})")


class DataError(ValueError):
    """Records that cannot be used as they are (no rows, rows that break the schema where none may)."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool = True
    min: float | None = None
    max: float | None = None
    values: tuple[str, ...] | None = None

    @property
    def is_numeric(self) -> bool:
        return self.type in NUMERIC_TYPES


@dataclass(frozen=True)
class Schema:
    name: str
    key: str
    target: str
    columns: tuple[Column, ...]
    task: str = "binary"
    # Class names as text in the declared order (binary: negative then positive); () for regression.
    classes: tuple[str, ...] = (NEGATIVE_LABEL, POSITIVE_LABEL)
    positive_label: str | None = POSITIVE_LABEL  # binary only

    @property
    def is_classification(self) -> bool:
        return self.task in CLASSIFICATION_TASKS

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]

    @property
    def features(self) -> list[Column]:
        """Every column the model sees: all but the key (an identifier, no signal) and the target."""
        return [column for column in self.columns if column.name not in (self.key, self.target)]

    @property
    def numeric_features(self) -> list[str]:
        return [column.name for column in self.features if column.is_numeric]

    @property
    def categorical_features(self) -> list[str]:
        """category, bool and string features: all one-hot encoded by the training pipeline."""
        return [column.name for column in self.features if not column.is_numeric]

    def required(self, require_target: bool = True, require_key: bool = True) -> list[Column]:
        """The columns a record must carry: inference requests need neither the target nor the key."""
        return [
            column
            for column in self.columns
            if (require_target or column.name != self.target) and (require_key or column.name != self.key)
        ]


def schema_from_dict(data: dict[str, Any]) -> Schema:
    """Build and check a Schema from schema.json's content; a wrong schema fails here, not halfway through a job."""
    try:
        columns = tuple(_column_from_dict(item) for item in data["columns"])
        name, key, target = str(data["name"]), str(data["key"]), str(data["target"])
    except (KeyError, TypeError) as exc:
        raise SchemaError(f"schema.json is malformed: {exc!r}") from exc
    names = [column.name for column in columns]
    if len(set(names)) != len(names):
        raise SchemaError(f"schema.json declares a column twice: {names}")
    for role, column_name in (("key", key), ("target", target)):
        if column_name not in names:
            raise SchemaError(f"schema.json: the {role} column '{column_name}' is not among the columns")
    task, classes, positive = _task_of(data, columns[names.index(target)])
    return Schema(
        name=name, key=key, target=target, columns=columns, task=task, classes=classes, positive_label=positive
    )


def _task_of(data: dict[str, Any], target: Column) -> tuple[str, tuple[str, ...], str | None]:
    """(task, classes, positive_label), checked against the target column's type."""
    if "task" not in data:  # written before tasks existed: the binary bool target of those versions
        if target.type != "bool":
            raise SchemaError(
                f"schema.json: the target '{target.name}' must be a bool (yes/no) column "
                "(this schema.json has no 'task', so it is binary)"
            )
        return "binary", (NEGATIVE_LABEL, POSITIVE_LABEL), POSITIVE_LABEL
    task = data["task"]
    if task not in TASKS:
        raise SchemaError(f"schema.json: unknown task '{task}' (one of {', '.join(TASKS)})")
    if task == "regression":
        if not target.is_numeric:
            raise SchemaError(
                f"schema.json: the target '{target.name}' is a {target.type} column; regression needs an int or "
                "float target"
            )
        if data.get("classes") or data.get("positive_label") is not None:
            raise SchemaError("schema.json: a regression schema has no 'classes' or 'positive_label'")
        return task, (), None
    declared = (NEGATIVE_LABEL, POSITIVE_LABEL) if target.type == "bool" else target.values
    if target.type not in ("bool", "category") or declared is None:
        raise SchemaError(
            f"schema.json: the target '{target.name}' is a {target.type} column; {task} classification needs a "
            "category target" + (" or a bool target" if task == "binary" else "")
        )
    if task == "binary" and len(declared) != 2:
        raise SchemaError(
            f"schema.json: the target '{target.name}' has {len(declared)} values ({', '.join(declared)}); "
            "binary classification needs exactly 2 (use the multiclass task)"
        )
    if task == "multiclass" and target.type != "category":
        raise SchemaError(f"schema.json: the target '{target.name}' is a bool column; multiclass needs a category")
    if task == "multiclass" and len(declared) < 2:
        raise SchemaError(f"schema.json: the target '{target.name}' has one value; multiclass needs 2 or more")
    given = data.get("classes")
    classes = declared if given is None else tuple(str(value) for value in given)
    if len(set(classes)) != len(classes) or set(classes) != set(declared):
        raise SchemaError(
            f"schema.json: classes {list(classes)} must be the target '{target.name}' values {list(declared)}"
        )
    if task == "multiclass":
        if data.get("positive_label") is not None:
            raise SchemaError("schema.json: 'positive_label' is for binary classification only")
        return task, classes, None
    positive = str(data.get("positive_label", classes[-1]))
    if positive != classes[-1]:
        raise SchemaError(
            f"schema.json: positive_label '{positive}' must be the last of the classes {list(classes)} "
            "(the second column of predict_proba)"
        )
    return task, classes, positive


def _column_from_dict(item: dict[str, Any]) -> Column:
    kind = item["type"]
    if kind not in TYPES:
        raise SchemaError(f"schema.json: column '{item.get('name')}' has unknown type '{kind}' (one of {TYPES})")
    values = item.get("values")
    if kind == "category" and not values:
        raise SchemaError(f"schema.json: category column '{item['name']}' has no 'values'")
    return Column(
        name=str(item["name"]),
        type=kind,
        nullable=bool(item.get("nullable", True)),
        min=item.get("min"),
        max=item.get("max"),
        values=tuple(str(v) for v in values) if values else None,
    )


def load_schema(path: str | Path) -> Schema:
    """Read schema.json. Scripts find it next to themselves, or in the model folder for evaluation."""
    path = Path(path)
    if not path.is_file():
        raise SchemaError(f"schema file {path} does not exist (it is shipped next to the container scripts)")
    with path.open(encoding="utf-8") as handle:
        return schema_from_dict(json.load(handle))


def read_raw_csv(path: str | Path) -> pd.DataFrame:
    """Every field as the exact text in the file ('' when empty): pandas would otherwise read 'n/a' as missing
    and turn a bad value into a legitimate gap."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def check_columns(
    df: pd.DataFrame,
    schema: Schema,
    require_target: bool = True,
    source: str | None = None,
    require_key: bool = True,
) -> None:
    """Raise MissingColumnError naming the absent columns (and the file), before any row-level check runs."""
    expected = [column.name for column in schema.required(require_target, require_key)]
    missing = [name for name in expected if name not in df.columns]
    if missing:
        raise MissingColumnError(missing, expected, source)


def validate(
    df: pd.DataFrame, schema: Schema, require_target: bool = True, require_key: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split records into (clean, rejects).

    clean: the valid rows in canonical form, the schema's columns in schema order (without the target when
    require_target is False: inference requests do not carry it; without the key when require_key is False: a
    client may leave out the identifier, and it is not checked then even if present), the input's index kept.
    rejects: the invalid rows exactly as given (all input columns) plus `reject_reason` (human readable, e.g.
    "plan: 'enterprise' is not one of basic, pro, team") and `reject_kind` ("plan:not_allowed"); a row with several
    problems has them all, joined with "; ".
    Values of any type are accepted (JSON requests carry numbers); they are judged by their text.
    """
    check_columns(df, schema, require_target, require_key=require_key)
    rows = df.reset_index(drop=True)  # positional labels inside: the caller's index may repeat
    values: dict[str, pd.Series] = {}
    reasons: list[pd.Series] = []
    kinds: list[pd.Series] = []
    for column in schema.required(require_target, require_key):
        text = _as_text(rows[column.name])
        parsed, problems = _PARSERS[column.type](text, column)
        problems.extend(_missing_problems(text, column, schema))
        values[column.name] = parsed
        for mask, reason, kind in problems:
            reasons.append(reason[mask])
            kinds.append(pd.Series(f"{column.name}:{kind}", index=rows.index[mask.to_numpy()], dtype=object))
    reason_per_row = _join_per_row(reasons, rows.index)
    bad = reason_per_row.notna().to_numpy()
    clean = pd.DataFrame(values, index=rows.index).loc[~bad]
    clean.index = df.index[~bad]
    rejects = df.loc[bad].copy()
    rejects[REJECT_REASON] = reason_per_row[bad].to_numpy()
    rejects[REJECT_KIND] = _join_per_row(kinds, rows.index)[bad].to_numpy()
    return clean, rejects


def _as_text(series: pd.Series) -> pd.Series:
    """Stripped text of every value, '' for missing ones (None, NaN, NA), whatever the input dtype."""
    if series.dtype == object and not series.isna().any():
        return series.astype(str).str.strip()
    return series.map(lambda v: "" if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v).strip())


def _missing_problems(text: pd.Series, column: Column, schema: Schema) -> list[Problem]:
    if column.nullable:
        return []
    what = "missing target" if column.name == schema.target else "missing value"
    rule = "missing_target" if column.name == schema.target else "missing_value"
    return [(text == "", pd.Series(f"{column.name}: {what}", index=text.index), rule)]


def _parse_number(text: pd.Series, column: Column) -> tuple[pd.Series, list[Problem]]:
    def says(ending: str) -> pd.Series:
        return column.name + ": " + text + ending

    missing = text == ""
    numbers = pd.to_numeric(text.where(~missing), errors="coerce").astype("float64")
    not_number = ~missing & ~np.isfinite(numbers)
    kind_word = "an integer" if column.type == "int" else "a number"
    quoted = column.name + ": '" + text + f"' is not {kind_word}"
    problems: list[Problem] = [(not_number, quoted, "not_a_number")]
    number = ~missing & ~not_number
    if column.type == "int":
        problems.append((number & (numbers % 1 != 0), says(" is not an integer"), "not_an_integer"))
    if column.min is not None:
        below = number & (numbers < column.min)
        problems.append((below, says(f" is below the minimum {_number(column.min)}"), "below_min"))
    if column.max is not None:
        above = number & (numbers > column.max)
        problems.append((above, says(f" is above the maximum {_number(column.max)}"), "above_max"))
    bad = np.logical_or.reduce([mask for mask, _, _ in problems])
    numbers = numbers.where(~bad)
    parsed = numbers.round().astype("Int64") if column.type == "int" else numbers
    return parsed, problems


def _parse_bool(text: pd.Series, column: Column) -> tuple[pd.Series, list[Problem]]:
    lowered = text.str.lower()
    parsed = pd.Series(np.nan, index=text.index, dtype=object)
    parsed[lowered.isin(TRUE_WORDS)] = POSITIVE_LABEL
    parsed[lowered.isin(FALSE_WORDS)] = NEGATIVE_LABEL
    invalid = (text != "") & parsed.isna()
    return parsed, [(invalid, column.name + ": '" + text + "' is not yes/no", "not_bool")]


def _parse_category(text: pd.Series, column: Column) -> tuple[pd.Series, list[Problem]]:
    allowed = list(column.values or ())
    invalid = (text != "") & ~text.isin(allowed)
    reason = column.name + ": '" + text + "' is not one of " + ", ".join(allowed)
    return text.where(text.isin(allowed), np.nan).astype(object), [(invalid, reason, "not_allowed")]


def _parse_string(text: pd.Series, column: Column) -> tuple[pd.Series, list[Problem]]:
    return text.where(text != "", np.nan).astype(object), []


_PARSERS = {
    "int": _parse_number,
    "float": _parse_number,
    "bool": _parse_bool,
    "category": _parse_category,
    "string": _parse_string,
}


def _number(value: float) -> str:
    """0.0 reads as 0 in a message about an int column."""
    return str(int(value)) if float(value).is_integer() else str(value)


def _join_per_row(parts: list[pd.Series], index: pd.Index) -> pd.Series:
    """One text per row with every problem of that row, in schema column order; NaN for a valid row."""
    parts = [part for part in parts if len(part)]
    if not parts:
        return pd.Series(np.nan, index=index, dtype=object)
    joined = pd.concat(parts).groupby(level=0, sort=False).agg(SEPARATOR.join)
    return joined.reindex(index)


def model_inputs(clean: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """The feature frame the model pipeline takes: numbers as float64 with NaN, the rest as objects with NaN.

    The fitted pipeline's imputers expect NaN for a gap, so both training and serving convert through here.
    """
    numeric = set(schema.numeric_features)
    data = {}
    for column in schema.features:
        series = clean[column.name]
        if column.name in numeric:
            data[column.name] = series.to_numpy(dtype="float64", na_value=np.nan)
        else:
            data[column.name] = series.astype(object).where(series.notna(), np.nan).to_numpy()
    return pd.DataFrame(data, index=clean.index)


def labels(clean: pd.DataFrame, schema: Schema) -> np.ndarray:
    """The target as the estimator learns it: binary → int64 0/1 (1 = positive_label, so a binary model's classes_
    are [0, 1] whatever the class names); multiclass → the class names (object array of str); regression →
    float64."""
    target = clean[schema.target]
    if schema.task == "regression":
        return target.to_numpy(dtype="float64", na_value=np.nan)
    if schema.task == "multiclass":
        return target.astype(str).to_numpy(dtype=object)
    return (target == schema.positive_label).to_numpy(dtype="int64")


def csv_files(folder: str | Path) -> list[Path]:
    """Every CSV under a folder, recursively, in a stable order (several workers' part files, for instance)."""
    return sorted(path for path in Path(folder).rglob("*") if path.is_file() and path.suffix.lower() == ".csv")


def load_clean_folder(folder: str | Path, schema: Schema) -> pd.DataFrame:
    """Read a split written by preprocessing (all its part files) back into canonical, typed form.

    Every row must pass: a reject here means the folder was not produced by preprocessing with this schema, and
    training or scoring on silently dropped rows would hide that.
    """
    files = csv_files(folder)
    if not files:
        raise DataError(f"{folder} holds no CSV files")
    frames = []
    for path in files:
        frame = read_raw_csv(path)
        check_columns(frame, schema, source=str(path))
        frames.append(frame)
    raw = pd.concat(frames, ignore_index=True)
    if raw.empty:
        raise DataError(f"{folder} holds no rows (files: {', '.join(p.name for p in files)})")
    clean, rejects = validate(raw, schema)
    if len(rejects):
        example = rejects[REJECT_REASON].iloc[0]
        raise DataError(
            f"{folder}: {len(rejects)} of {len(raw)} rows do not match the schema (first: {example}); "
            "use the output of the preprocessing job made with the same schema"
        )
    return clean
