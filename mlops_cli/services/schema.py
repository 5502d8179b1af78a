"""The dataset schema as the container scripts read it (schema.json), derived from the config's dataset section:
the columns, and the task with its classes (binary and multiclass) and positive label (binary)."""

from __future__ import annotations

from typing import Any

from mlops_cli.config.models import Dataset


def schema_document(dataset: Dataset) -> dict[str, Any]:
    columns = []
    for name, column in dataset.columns.items():
        entry: dict[str, Any] = {"name": name, "type": column.type, "nullable": column.nullable}
        if name == dataset.target:
            entry["nullable"] = False  # a row without its label cannot be learned from
        if column.values is not None:
            entry["values"] = column.values
        if column.min is not None:
            entry["min"] = column.min
        if column.max is not None:
            entry["max"] = column.max
        columns.append(entry)
    document: dict[str, Any] = {
        "name": dataset.name,
        "key": dataset.key,
        "target": dataset.target,
        "columns": columns,
        "task": dataset.resolved_task,
    }
    if dataset.classes:  # binary and multiclass: the class names, in the order the config declares them
        document["classes"] = dataset.classes
    if dataset.positive_label is not None:
        document["positive_label"] = dataset.positive_label
    return document
