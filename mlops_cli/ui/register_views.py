"""How experiments (runs) and the model registry (versions) look to a person."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text

from mlops_cli.ui.job_views import class_rows
from mlops_cli.ui.tables import table

STATUS_STYLES = {"Approved": "green", "Rejected": "red", "PendingManualApproval": "yellow"}


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if hasattr(value, "strftime") else str(value or "")


def _value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}" if value.is_integer() or abs(value) >= 1000 else f"{value:.4f}".rstrip("0").rstrip(".")
    return str(value)


def _status(status: str) -> Text:
    return Text(status, style=STATUS_STYLES.get(status, ""))


def _hyperparameters(values: dict[str, Any]) -> str:
    return ", ".join(f"{name}={_value(value)}" for name, value in sorted(values.items()))


def _metrics(values: dict[str, float], first: str | None) -> str:
    names = sorted(values, key=lambda name: (name != first, not name.startswith("validation:"), name))
    return ", ".join(f"{name}={values[name]:.4f}" for name in names)


# --- runs ----------------------------------------------------------------------------------------------------------


def runs_view(experiment: str, runs: list[Any], sort_key: str | None, objective: str) -> RenderableType:
    if not runs:
        return f"No training runs yet in experiment {experiment}. Start one with `mlops train run --wait`."
    metric = sort_key if sort_key and sort_key != "created" else objective
    names = sorted({name for run in runs for name in run.hyperparameters})
    # the hyperparameters that tell the runs apart get the column; those all runs share are said once, below
    varying = [n for n in names if len({repr(run.hyperparameters.get(n)) for run in runs}) > 1] or names
    shared = {n: runs[0].hyperparameters.get(n) for n in names if n not in varying}
    prefix = f"{experiment}-"  # every run of the experiment starts with it; `compare` accepts names without it
    rows = [
        (
            run.job_name.removeprefix(prefix),
            run.status,
            _when(run.ended or run.created)[:16],
            "" if metric not in run.metrics else f"{run.metrics[metric]:.4f}",
            "\n".join(f"{n}={_value(run.hyperparameters[n])}" for n in varying if n in run.hyperparameters),
            "\n".join(
                f"{name.removeprefix('validation:')} {value:.3f}"
                for name, value in sorted(run.metrics.items())
                if name.startswith("validation:") and name != metric
            ),
        )
        for run in runs
    ]
    order = f"sorted by {sort_key}" if sort_key and sort_key != "created" else "newest first"
    result = table(
        f"Runs in experiment {experiment} ({order}; names without '{prefix}')",
        ["run", "status", "ended", metric, "hyperparameters", "validation"],
        rows,
    )
    result.columns[0].no_wrap = True
    if shared and len(runs) > 1:
        result.caption = f"All runs: {_hyperparameters(shared)}"
        result.caption_justify = "left"
    return result


def comparison_view(comparison: Any, code: list[Any] | None = None) -> RenderableType:
    a, b = comparison.a, comparison.b

    def section(title: str, rows: list[Any], *, difference: bool = False) -> RenderableType:
        columns = ["", "A", "B", "B - A"] if difference else ["", "A", "B", ""]
        cells = []
        for row in rows:
            mark = Text("") if row.same else Text("differs", style="yellow")
            last = Text(f"{row.difference:+.4f}") if difference and row.difference is not None else mark
            cells.append((row.name, _value(row.a), _value(row.b), last))
        return table(title, columns, cells)

    return Group(
        f"A: {a}\nB: {b}",
        section("Hyperparameters", comparison.hyperparameters),
        section("Metrics", comparison.metrics, difference=True),
        section("Data (channels, processing job, object versions)", comparison.data),
        section("Model", comparison.model),
        *([section("Code (sha256 of the bundles)", [_short_digests(row) for row in code])] if code else []),
    )


def _short_digests(row: Any) -> Any:
    """A code row with each 64-digit sha256 cut to its first 12 digits, as people compare them (--json has all)."""
    import dataclasses
    import re

    def short(value: Any) -> Any:
        return f"{value[:12]}…" if isinstance(value, str) and re.fullmatch(r"[0-9a-f]{64}", value) else value

    return dataclasses.replace(row, a=short(row.a), b=short(row.b))


# --- versions ------------------------------------------------------------------------------------------------------


def _version_rows(version: Any) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = [
        ("status", _status(version.status)),
        ("approval description", version.approval_description or ""),
        ("created", _when(version.created)),
        ("modified", _when(version.modified)),
        ("training job", version.training_job or ""),
        (
            "objective",
            f"{version.objective_metric or 'objective'}={version.objective:.4f}"
            if version.objective is not None
            else "",
        ),
        ("model data", version.model_data_url),
        ("image", version.image),
        ("model quality metrics", version.metrics_uri or "none (no evaluation when it was registered)"),
        ("description", version.description or ""),
        ("arn", version.arn),
    ]
    rows += [(f"environment {k}", v) for k, v in sorted(version.environment.items())]
    rows += [(f"metadata {k}", v) for k, v in sorted(version.metadata.items())]
    return [(name, value) for name, value in rows if value != ""]


def registration_view(registration: Any) -> RenderableType:
    version = registration.version
    if registration.action == "unchanged":
        headline = f"Training job {version.training_job} is version {version.number} already: unchanged."
    else:
        headline = f"Registered version {version.number} in model package group {registration.group}."
    parts: list[RenderableType] = [headline]
    if registration.chosen:
        parts.append(f"Model of training job {version.training_job}: {registration.chosen}.")
    if registration.decision and registration.decision.reason:
        parts.append(registration.decision.reason)
    parts.append(table(f"Version {version.number}", ["", ""], _version_rows(version)))
    if version.status == "PendingManualApproval":
        parts.append(f"Approve it with `mlops register approve {version.number} --reason …`.")
    return Group(*parts)


def approval_view(change: Any) -> RenderableType:
    version = change.version
    if change.action == "unchanged":
        return f"Version {version.number} is {version.status} already: unchanged."
    return Group(
        f"Version {version.number}: {change.previous_status} → {version.status}.",
        table(f"Version {version.number}", ["", ""], _version_rows(version)),
    )


def listing_view(listing: Any) -> RenderableType:
    if not listing.versions:
        return (
            f"Model package group {listing.group} has no versions yet. "
            "Register one with `mlops register model` after `mlops train run --wait`."
        )
    rows = [
        (
            str(v.number),
            _status(v.status),
            "" if v.objective is None else f"{v.objective:.4f}",
            v.training_job or "",
            _when(v.created),
            _when(v.modified),
            Text("deployed", style="bold green") if v.number in listing.deployed_versions else "",
            v.approval_description or "",
        )
        for v in listing.versions
    ]
    metric = next((v.objective_metric for v in listing.versions if v.objective_metric), "objective")
    endpoint = (
        f"endpoint {listing.deployment.endpoint}: {listing.deployment.status}"
        if listing.deployment
        else "no endpoint deployed"
    )
    return table(
        f"Model package group {listing.group} ({endpoint})",
        ["version", "status", metric, "training job", "created", "modified", "", "approval description"],
        rows,
    )


def version_view(details: Any) -> RenderableType:
    version = details.version
    rows = _version_rows(version)
    rows.insert(1, ("deployed", f"yes, on {details.deployment.endpoint}" if details.deployed else "no"))
    rows += [(f"training {name}", f"{value:.4f}") for name, value in sorted(details.training_metrics.items())]
    evaluation = details.evaluation or {}
    rows += [(f"test {name}", _value(value)) for name, value in sorted(evaluation.get("metrics", {}).items())]
    rows += class_rows(evaluation, "test ")
    return table(f"Model version {version.number}", ["", ""], rows)
