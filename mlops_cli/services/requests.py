"""Prediction requests built from a user's rows, in the formats the inference handler accepts."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from mlops_cli.config.models import Dataset
from mlops_cli.errors import UsageError


def request_from_json(text: str, source: str) -> bytes:
    """`{"instances": [...]}`, a list of records, or one record: always sent as {"instances": [...]}."""
    try:
        data: Any = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{source} is not JSON: {exc}") from None
    if isinstance(data, dict) and "instances" not in data:
        data = [data]
    if isinstance(data, list):
        data = {"instances": data}
    return json.dumps(data).encode()


def request_from_csv(text: str, dataset: Dataset) -> bytes:
    """Rows in the schema's feature order, no header. A file with a header row (the processed splits, say) is
    reordered by its column names, and the key and target columns are left out."""
    rows = list(csv.reader(io.StringIO(text)))
    features = list(dataset.features)
    if rows and set(features) <= set(rows[0]):
        header, rows = rows[0], rows[1:]
        rows = [[row[header.index(name)] for name in features] for row in rows]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode()


def request_body(data: str | None, file: Path | None, dataset: Dataset) -> tuple[bytes, str]:
    """(body, content type) from --data or --file."""
    if (data is None) == (file is None):
        raise UsageError("Give exactly one of --data JSON or --file rows.csv|rows.json.")
    if data is not None:
        return request_from_json(data, "--data"), "application/json"
    assert file is not None
    if not file.is_file():
        raise UsageError(f"{file}: no such file.")
    text = file.read_text(encoding="utf-8")
    if file.suffix.lower() == ".csv":
        return request_from_csv(text, dataset), "text/csv"
    return request_from_json(text, str(file)), "application/json"
