"""A dataset schema inferred from a CSV file nobody here wrote, with the standard library only (no pandas: `mlops
init` works without the [local] extra).

Only the first MAX_ROWS rows (and at most MAX_CHARS characters) are read: enough to tell a column's type, and a
bounded cost whatever the file's size. The rules follow what preprocessing accepts (container_scripts/
mlops_schema.py): values are judged stripped, and an empty field is a missing value. Per column, in file order:

- bool: every value is yes/no, true/false or 1/0 (any case);
- int: every value is a whole number written without a decimal point; float: every value is a finite number;
- category: other text with at most MAX_CATEGORY_VALUES distinct values, each seen at least twice on average;
- string: anything else.
"""

from __future__ import annotations

import csv
import math
import re
import statistics
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mlops_cli.errors import UsageError

MAX_ROWS = 100_000
MAX_CHARS = 32_000_000
MAX_COLUMNS = 500
MAX_CATEGORY_VALUES = 20
MAX_CLASSES = 50  # an explicit --task multiclass turns at most this many distinct target values into classes
MAX_SHOWN = 5  # names or lines an error message lists

BOOL_WORDS = frozenset({"yes", "no", "true", "false", "1", "0"})
_INTEGER = re.compile(r"^[-+]?[0-9]+$")
# the numbers pandas' to_numeric reads and the API's request model admits (no 1_000, inf or nan)
_NUMBER = re.compile(r"^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$")
_ID_NAME = re.compile(r"(^|[_\-\s.])(id|key|uuid)$|[a-z0-9]Id$|^ID$", re.IGNORECASE)
# the container scripts add these columns to rejected rows; the inference handler answers with these fields
RESERVED_COLUMNS = ("reject_reason", "reject_kind")
ANSWER_FIELDS = ("label", "probability", "probabilities", "value")

Task = Literal["binary", "multiclass", "regression"]
ColumnKind = Literal["int", "float", "string", "bool", "category"]


@dataclass
class ColumnProfile:
    """What the rows read say about one column."""

    name: str
    present: int = 0  # non-empty values
    missing: int = 0
    bool_like: bool = True
    integer_like: bool = True
    number_like: bool = True
    negative: bool = False
    distinct: dict[str, int] = field(default_factory=dict)  # value → count, while it stays small enough to matter
    many_distinct: bool = False  # distinct values past the point where they are kept (a key candidate still)
    numbers: list[float] = field(default_factory=list)  # numeric values (the target's spread)

    def add(self, raw: str, keep_numbers: bool) -> None:
        value = raw.strip()
        if not value:
            self.missing += 1
            return
        self.present += 1
        if self.bool_like and value.lower() not in BOOL_WORDS:
            self.bool_like = False
        if self.integer_like and not _INTEGER.match(value):
            self.integer_like = False
        if self.number_like:
            number = float(value) if _NUMBER.match(value) else math.nan
            if not math.isfinite(number):
                self.number_like = self.integer_like = False
            else:
                self.negative = self.negative or number < 0
                if keep_numbers:
                    self.numbers.append(number)
        if not self.many_distinct:
            self.distinct[value] = self.distinct.get(value, 0) + 1

    @property
    def rows(self) -> int:
        return self.present + self.missing

    @property
    def unique_and_complete(self) -> bool:
        if self.many_distinct or self.missing or not self.present:
            return False
        return all(count == 1 for count in self.distinct.values())

    @property
    def kind(self) -> ColumnKind:
        if self.present == 0:
            return "string"
        if self.bool_like:
            return "bool"
        if self.integer_like:
            return "int"
        if self.number_like:
            return "float"
        if self.is_categorical:
            return "category"
        return "string"

    @property
    def is_categorical(self) -> bool:
        count = len(self.distinct)
        return not self.many_distinct and count <= MAX_CATEGORY_VALUES and count * 2 <= self.present

    def sorted_values(self) -> list[str]:
        """The distinct values in a stable order: numerically when they are all numbers, else alphabetically."""
        values = list(self.distinct)
        if all(_NUMBER.match(v) for v in values):
            return sorted(values, key=float)
        return sorted(values)


@dataclass(frozen=True)
class InferredColumn:
    name: str
    type: ColumnKind
    nullable: bool
    values: tuple[str, ...] | None = None
    min: float | None = None
    note: str | None = None  # why it is declared so, when that is worth a comment


@dataclass(frozen=True)
class InferredDataset:
    """The schema `mlops init` writes, and what it was inferred from."""

    columns: tuple[InferredColumn, ...]
    key: str
    key_inferred: bool
    target: str
    task: Task
    classes: tuple[str, ...]  # classification: the target's values; () for regression
    target_std: float | None  # regression: the target's standard deviation in the rows read
    rows_read: int
    complete: bool  # every row of the file was read
    warnings: tuple[str, ...] = ()

    @property
    def column(self) -> dict[str, InferredColumn]:
        return {c.name: c for c in self.columns}


@dataclass
class _Sample:
    header: list[str]
    profiles: list[ColumnProfile]
    rows: int
    complete: bool


def infer_dataset(path: Path, target: str, key: str | None = None, task: Task | None = None) -> InferredDataset:
    """Read the start of `path` and decide every column's type, the key, and the task. Refuses (UsageError) what
    preprocessing could not use: no rows, duplicate or unusable column names, a target that is not a column or has
    gaps, no key."""
    sample = _read(path, target)
    profiles = {p.name: p for p in sample.profiles}
    if target not in profiles:
        raise UsageError(
            f"--target {target!r} is not a column of {path.name}.", hint=f"Its columns: {_listed(sample.header)}."
        )
    target_profile = profiles[target]
    if target_profile.missing:
        raise UsageError(
            f"the target {target!r} is empty in {target_profile.missing} of the {sample.rows} rows read: a row "
            "without its label cannot be learned from.",
            hint="Remove those rows from the file (or fill them in), then run mlops init again.",
        )
    key_name, key_inferred = _key(path, sample, profiles, target, key)
    task, classes, target_column, warnings = _task(target_profile, task)
    columns = []
    for profile in sample.profiles:
        if profile.name == target:
            columns.append(target_column)
        elif profile.name == key_name:
            note = "the key: an identifier, kept as text (007 stays 007)"
            columns.append(InferredColumn(profile.name, "string", nullable=False, note=note))
        else:
            columns.append(_column(profile))
            if profile.kind == "string" and profile.present:
                warnings.append(
                    f"column {profile.name!r} holds free text (many distinct values): as a feature it adds little; "
                    "remove it from dataset.columns in configs/base.yaml to leave it out"
                )
            if profile.present == 0:
                warnings.append(f"column {profile.name!r} is empty in every row read: declared a nullable string")
    std = statistics.pstdev(target_profile.numbers) if task == "regression" else None
    return InferredDataset(
        columns=tuple(columns),
        key=key_name,
        key_inferred=key_inferred,
        target=target,
        task=task,
        classes=classes,
        target_std=std,
        rows_read=sample.rows,
        complete=sample.complete,
        warnings=tuple(warnings),
    )


def check_utf8(path: Path) -> None:
    """The whole file must be UTF-8 (the container scripts read it so); checked in chunks, in constant memory."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                raise _not_utf8(path, offset + exc.start) from None
            offset += len(chunk)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise _not_utf8(path, offset + exc.start) from None


def _not_utf8(path: Path, position: int) -> UsageError:
    return UsageError(
        f"{path.name} is not UTF-8 text (an invalid byte at offset {position:,}).",
        hint="Save it as UTF-8 CSV (e.g. `iconv -f latin1 -t utf-8 in.csv > out.csv`), then run mlops init again.",
    )


def _read(path: Path, target: str) -> _Sample:
    if not path.is_file():
        raise UsageError(f"--data {path}: " + ("a folder, not a CSV file." if path.is_dir() else "no such file."))
    if path.stat().st_size == 0:
        raise UsageError(f"{path.name} is empty: a CSV file with a header row and data rows is needed.")
    check_utf8(path)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        chars = _Budget()
        reader = csv.reader(chars.lines(handle))
        try:
            header = next(reader, None)
            if header is None or not any(name.strip() for name in header):
                raise UsageError(f"{path.name} has no header row: its first line must name the columns.")
            _check_header(path, header)
            profiles = [ColumnProfile(name) for name in header]
            keep = [name == target for name in header]
            rows = 0
            for row in reader:
                if not row:
                    continue  # a blank line: pandas skips it too
                if len(row) != len(header):
                    raise UsageError(
                        f"{path.name} line {reader.line_num}: {len(row)} fields, but the header names "
                        f"{len(header)} columns.",
                        hint="Every row needs one field per column (an empty field for a missing value).",
                    )
                for profile, value, numbers in zip(profiles, row, keep, strict=True):
                    profile.add(value, numbers)
                rows += 1
                if rows % 1000 == 0:
                    _forget_large_distinct_sets(profiles)
                if rows >= MAX_ROWS or chars.spent >= MAX_CHARS:
                    break
            complete = next((row for row in reader if row), None) is None
        except csv.Error as exc:
            raise UsageError(f"{path.name} line {reader.line_num} is not valid CSV: {exc}.") from None
    if rows == 0:
        raise UsageError(f"{path.name} has a header row but no data rows.")
    return _Sample(header, profiles, rows, complete)


class _Budget:
    """Counts the characters the CSV reader takes, line by line."""

    def __init__(self) -> None:
        self.spent = 0

    def lines(self, handle: Any) -> Iterator[str]:
        for line in handle:
            self.spent += len(line)
            yield line


def _forget_large_distinct_sets(profiles: list[ColumnProfile]) -> None:
    """A column with many distinct values is no category; its set is kept only while it may still be a key
    (all values unique so far), so memory stays bounded by one column of the rows read, not by all of them."""
    for profile in profiles:
        if profile.many_distinct or len(profile.distinct) <= MAX_CLASSES:
            continue
        if not profile.unique_and_complete:
            profile.many_distinct = True
            profile.distinct = {}


def _check_header(path: Path, header: list[str]) -> None:
    if len(header) == 1 and any(sep in header[0] for sep in (";", "\t", "|")):
        raise UsageError(
            f"{path.name} has one column named {header[0][:80]!r}: the file is not comma-separated.",
            hint="Save it as CSV with commas between fields (the container scripts read it so).",
        )
    if len(header) > MAX_COLUMNS:
        raise UsageError(f"{path.name} has {len(header)} columns; mlops init takes at most {MAX_COLUMNS}.")
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise UsageError(
            f"{path.name} names a column twice: {_listed(duplicates)}.",
            hint="Rename the columns so that each name is used once.",
        )
    problems = [problem for name in header if (problem := _name_problem(name))]
    if not header[0].strip():  # pandas' to_csv writes its index so
        problems[0] = "the first column has no name (an index saved by pandas' to_csv?): name it, e.g. row_id"
    if problems:
        raise UsageError(
            f"{path.name} has column names the tool cannot use: " + "; ".join(problems[:MAX_SHOWN]) + ".",
            hint="Rename them in the header row, then run mlops init again (mlops does not rename columns: "
            "the names are the API's field names).",
        )


def _name_problem(name: str) -> str | None:
    if not name.strip():
        return "an empty name"
    if name != name.strip():
        return f"{name!r} starts or ends with a space"
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co") for ch in name):
        return f"{name!r} holds control or invisible characters"
    if name in RESERVED_COLUMNS:
        return f"{name!r} is a column preprocessing adds to rejected rows"
    return None


def _key(
    path: Path, sample: _Sample, profiles: dict[str, ColumnProfile], target: str, key: str | None
) -> tuple[str, bool]:
    if key is not None:
        profile = profiles.get(key)
        if profile is None:
            raise UsageError(
                f"--key {key!r} is not a column of {path.name}.", hint=f"Its columns: {_listed(sample.header)}."
            )
        if key == target:
            raise UsageError(
                "--key and --target name the same column: the key identifies a row, the target is "
                "what the model learns."
            )
        if profile.missing:
            raise UsageError(
                f"the key {key!r} is empty in {profile.missing} of the {sample.rows} rows read.",
                hint="Every row needs its key: preprocessing deduplicates and splits by it.",
            )
        if not profile.unique_and_complete:
            repeated = sorted(v for v, count in profile.distinct.items() if count > 1)
            shown = f" (e.g. {_listed(repeated)})" if repeated else ""
            raise UsageError(
                f"the key {key!r} repeats values{shown}: preprocessing keeps one row per key.",
                hint="Choose a column whose every value is different, or add one (e.g. the row number).",
            )
        return _usable_key(key), False
    candidates = [
        p.name
        for p in sample.profiles
        if p.name != target and p.unique_and_complete and p.kind in ("int", "string") and p.name not in ANSWER_FIELDS
    ]
    preferred = [name for name in candidates if _ID_NAME.search(name)]
    if not (preferred or candidates):
        raise UsageError(
            f"no column of {path.name} can be the key: none holds a value in every row, different in each.",
            hint="Pass --key COLUMN, or add an identifier column to the file, e.g. the row number: "
            f"{_numbering_command(path)} (for a file without line breaks inside quoted fields). Preprocessing "
            "deduplicates rows and splits them into train, validation and test by the key.",
        )
    return (preferred or candidates)[0], True


def _numbering_command(path: Path) -> str:
    import shlex

    program = """'{print (NR == 1 ? "row_id" : NR - 1) "," $0}'"""
    return f"`awk {program} {shlex.quote(path.name)} > {shlex.quote(path.stem + '_with_id.csv')}`"


def _usable_key(key: str) -> str:
    if key in ANSWER_FIELDS:
        raise UsageError(
            f"the key {key!r} would clash with the prediction's own field {key!r} (a prediction echoes the key).",
            hint="Rename that column in the file, or choose another key.",
        )
    return key


def _task(profile: ColumnProfile, task: Task | None) -> tuple[Task, tuple[str, ...], InferredColumn, list[str]]:
    """(task, classes, the target column, warnings): the task from the target's type, or the type the asked task
    needs when the values allow it (the contract: binary ⇔ yes/no or 2 categories; multiclass ⇔ categories;
    regression ⇔ a number)."""
    name, kind = profile.name, profile.kind
    values = profile.sorted_values() if not profile.many_distinct else []
    warnings: list[str] = []

    def category(note: str) -> InferredColumn:
        return InferredColumn(name, "category", nullable=False, values=tuple(values), note=note)

    if task is None:
        if kind == "bool":
            return "binary", ("no", "yes"), InferredColumn(name, "bool", nullable=False), warnings
        if kind == "category" and len(values) >= 2:
            inferred: Task = "binary" if len(values) == 2 else "multiclass"
            return inferred, tuple(values), category(_class_note(inferred, values)), warnings
        if kind in ("int", "float"):
            if kind == "int" and 2 < len(values) <= MAX_CATEGORY_VALUES and not profile.many_distinct:
                warnings.append(
                    f"the target {name!r} holds {len(values)} distinct whole numbers: a regression task was chosen; "
                    "if they are classes, run again with --task multiclass"
                )
            _varies(profile)
            return "regression", (), _column(profile), warnings
        message, hint = _no_task(profile)
        raise UsageError(message, hint=hint)
    if task == "regression":
        if kind not in ("int", "float"):
            raise UsageError(
                f"--task regression needs a numeric target, and {name!r} holds {_kind_text(profile)}.",
                hint="Leave out --task to classify by its values, or choose a numeric target.",
            )
        _varies(profile)
        return task, (), _column(profile), warnings
    if task == "binary":
        if kind == "bool":
            return task, ("no", "yes"), InferredColumn(name, "bool", nullable=False), warnings
        if len(values) == 2:
            return task, tuple(values), category(_class_note(task, values)), warnings
        count = "more than " + str(MAX_CATEGORY_VALUES) if profile.many_distinct else str(len(values))
        raise UsageError(
            f"--task binary needs a target with two values, and {name!r} holds {count} distinct values.",
            hint="Use --task multiclass for more classes, or leave out --task.",
        )
    if kind == "bool":
        raise UsageError(
            f"the target {name!r} holds yes/no values: that is a binary task, not multiclass.",
            hint="Leave out --task (or pass --task binary).",
        )
    if profile.many_distinct or len(values) > MAX_CLASSES:
        raise UsageError(
            f"--task multiclass: the target {name!r} holds more than {MAX_CLASSES} distinct values, too many "
            "classes to learn from one file.",
            hint="Group the values into fewer classes, or use --task regression for a numeric target.",
        )
    if len(values) < 2:
        raise UsageError(f"the target {name!r} holds a single value: there is nothing to classify.")
    return "multiclass", tuple(values), category(_class_note("multiclass", values)), warnings


def _varies(profile: ColumnProfile) -> None:
    if min(profile.numbers) == max(profile.numbers):
        raise UsageError(
            f"the target {profile.name!r} holds the single value {profile.numbers[0]:g} in the rows read: "
            "there is nothing to learn."
        )


def _class_note(task: Task, values: list[str]) -> str:
    if task == "binary":
        return f"the classes: {values[-1]!r}, the last listed, is the positive class (reorder to change it)"
    return f"the {len(values)} classes, as the model predicts them"


def _no_task(profile: ColumnProfile) -> tuple[str, str]:
    if profile.kind == "category" or (not profile.many_distinct and len(profile.distinct) == 1):
        return (
            f"the target {profile.name!r} holds a single value in the rows read: there is nothing to learn.",
            "Choose another target column, or a file with every class in it.",
        )
    if not profile.unique_and_complete and not profile.many_distinct and len(profile.distinct) <= MAX_CLASSES:
        return (
            f"the target {profile.name!r} holds text with {len(profile.distinct)} distinct values, too few repeats to "
            "take it for classes by itself.",
            "Pass --task multiclass (or --task binary for two values) to make each value a class.",
        )
    return (
        f"the target {profile.name!r} holds free text (many distinct values): neither classes nor a number.",
        "Choose a target column of classes (a few values repeated) or of numbers.",
    )


def _kind_text(profile: ColumnProfile) -> str:
    return {"bool": "yes/no values", "category": "categories", "string": "text"}.get(profile.kind, profile.kind)


def _column(profile: ColumnProfile) -> InferredColumn:
    kind = profile.kind
    nullable = profile.missing > 0
    if kind == "category":
        return InferredColumn(profile.name, kind, nullable, values=tuple(profile.sorted_values()))
    if kind in ("int", "float"):
        return InferredColumn(profile.name, kind, nullable, min=0.0 if not profile.negative else None)
    return InferredColumn(profile.name, kind, nullable)


def _listed(names: list[str]) -> str:
    shown = ", ".join(repr(name) for name in names[:MAX_SHOWN])
    return shown + (f" and {len(names) - MAX_SHOWN} more" if len(names) > MAX_SHOWN else "")
