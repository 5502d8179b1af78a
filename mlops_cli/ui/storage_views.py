"""How storage results look to a person."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Group, RenderableType

from mlops_cli.ui.tables import human_bytes, styled, table


def _short(value: Any, limit: int = 70) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict | list):
        if isinstance(value, dict) and "Statement" in value:
            return f"policy ({len(value['Statement'])} statements)"
        if isinstance(value, list) and value and isinstance(value[0], dict) and "ID" in value[0]:
            return f"{len(value)} rules: " + ", ".join(rule["ID"] for rule in value)
        text = json.dumps(value, separators=(",", ":"))
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def init_view(report: Any) -> RenderableType:
    rows = [(c.name, styled(c.action.value), _short(c.expected)) for c in report.controls]
    title = f"Storage for s3://{report.bucket} ({report.region})"
    return table(title, ["control", "result", "setting"], rows)


def status_view(report: Any) -> RenderableType:
    rows = [
        (c.name, styled(c.state.value), _short(c.expected), "" if c.state.value == "ok" else _short(c.actual))
        for c in report.controls
    ]
    drifted = len(report.drifted)
    summary = (
        "[green]everything matches the config[/green]"
        if not drifted
        else (f"[red]{drifted} control(s) differ from the config[/red]: run `mlops storage init` to repair them")
    )
    return Group(
        table(f"Storage status of s3://{report.bucket}", ["control", "state", "expected", "actual"], rows), summary
    )


def upload_view(report: Any) -> RenderableType:
    rows = [
        (
            item.ingest_date,
            item.key.rsplit("/", 1)[-1],
            human_bytes(item.size),
            styled("skipped" if item.plan.value == "skip" else "uploaded"),
        )
        for item in report.items
    ]
    summary = (
        f"{report.files_sent} file(s) uploaded ({human_bytes(report.bytes_sent)}), {report.skipped} already there, "
        "every object's SHA-256 verified."
    )
    title = f"Upload to s3://{report.bucket}/{report.items[0].key.split('ingest_date=')[0]}"
    return Group(table(title, ["batch", "file", "size", "result"], rows), summary)


def listing_view(listing: Any) -> RenderableType:
    if not listing.batches:
        return f"No batches under s3://{listing.bucket}/{listing.prefix} yet: upload one with `mlops storage upload`."
    rows = []
    for batch in listing.batches:
        for index, file in enumerate(batch.files):
            rows.append(
                (
                    batch.ingest_date if index == 0 else "",
                    file.key.rsplit("/", 1)[-1] if "/" in file.key else file.key,
                    human_bytes(file.size),
                    file.versions,
                    file.last_modified[:19],
                )
            )
    total = sum(b.size for b in listing.batches)
    return Group(
        table(f"s3://{listing.bucket}/{listing.prefix}", ["ingest date", "file", "size", "versions", "modified"], rows),
        f"{len(listing.batches)} batch(es), {sum(len(b.files) for b in listing.batches)} file(s), {human_bytes(total)}",
    )


def delete_view(report: Any) -> str:
    if not report.deleted:
        return f"Bucket {report.bucket} does not exist: nothing to delete."
    kept = f" Kept: {', '.join(report.kept)}." if report.kept else ""
    return f"Deleted bucket {report.bucket} ({report.versions_deleted} object version(s)).{kept}"
