"""How jobs and their results look to a person."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType

from mlops_cli.ui.tables import table


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if hasattr(value, "strftime") else str(value or "")


def started_view(kind: str, name: str, details: dict[str, Any], group: str) -> str:
    lines = [f"Started {kind} job [bold]{name}[/bold]."]
    lines += [f"  {key}: {value}" for key, value in details.items()]
    lines.append(f"Follow it with `mlops {group} logs {name} --follow`, or `mlops {group} status {name}`.")
    return "\n".join(lines)


def state_view(state: Any) -> RenderableType:
    d = state.description
    rows = [
        ("status", f"{state.status}" + (f" ({state.secondary_status})" if state.secondary_status else "")),
        ("created", _when(state.created)),
        ("ended", _when(state.ended)),
    ]
    if state.failure_reason:
        rows.append(("failure reason", state.failure_reason))
    for metric in d.get("FinalMetricDataList", []):
        rows.append((metric["MetricName"], f"{metric['Value']:.4f}"))
    if artifacts := d.get("ModelArtifacts", {}).get("S3ModelArtifacts"):
        rows.append(("model", artifacts))
    for output in d.get("ProcessingOutputConfig", {}).get("Outputs", []):
        rows.append((f"output {output['OutputName']}", output["S3Output"]["S3Uri"]))
    if best := d.get("BestTrainingJob"):
        objective = best.get("FinalHyperParameterTuningJobObjectiveMetric", {})
        rows.append(
            ("best trial", f"{best['TrainingJobName']} {objective.get('MetricName', '')}={objective.get('Value', '')}")
        )
    if counters := d.get("TrainingJobStatusCounters"):
        rows.append(("trials", ", ".join(f"{k} {v}" for k, v in counters.items() if v)))
    return table(f"{state.kind.capitalize()} job {state.name}", ["", ""], rows)


def jobs_view(kind: str, summaries: list[dict[str, Any]], status_key: str, name_key: str) -> RenderableType:
    if not summaries:
        return f"No {kind} jobs yet."
    rows = []
    for summary in summaries:
        objective = summary.get("FinalHyperParameterTuningJobObjectiveMetric") or {}
        rows.append(
            (
                summary[name_key],
                summary[status_key],
                _when(summary.get("CreationTime")),
                f"{objective['MetricName']}={objective['Value']:.4f}" if objective else summary.get("objective", ""),
            )
        )
    return table(f"{kind.capitalize()} jobs", ["name", "status", "created", "objective"], rows)


def preprocess_summary_view(summary: Any) -> RenderableType:
    rows = [
        ("rows in", summary.rows_in),
        ("rows out", summary.rows_out),
        ("rejected", summary.rejected),
        ("duplicates removed", summary.duplicates_removed),
    ]
    rows += [(f"split {name}", count) for name, count in summary.splits.items()]
    rows += [(f"rejected: {reason}", count) for reason, count in sorted(summary.rejects_by_reason.items())]
    rows += [(f"output {name}", uri) for name, uri in summary.outputs.items()]
    return Group(table(f"Preprocessing {summary.job_name}: {summary.status}", ["", ""], rows))


def training_result_view(result: Any) -> RenderableType:
    rows = [("status", result.status)]
    rows += [(name, f"{value:.4f}") for name, value in sorted(result.metrics.items())]
    rows += [(f"hyperparameter {k}", v) for k, v in sorted(result.hyperparameters.items())]
    if result.model_uri:
        rows.append(("model", result.model_uri))
    return table(f"Training job {result.job_name}", ["", ""], rows)


def evaluation_view(run: Any, evaluation: dict[str, Any]) -> RenderableType:
    metrics = evaluation.get("metrics", {})
    # a metric undefined on the test rows (AUC of one class) is left blank
    rows = [(f"test {name}", "" if value is None else f"{value:.4f}") for name, value in metrics.items()]
    rows += class_rows(evaluation)
    rows += [("rows", evaluation.get("rows", "")), ("written to", run.output_uri)]
    if run.chosen:
        rows.insert(0, ("model of", f"{run.training_job} ({run.chosen})"))
    return table(f"Evaluation of {run.training_job}", ["", ""], rows)


def _best_first(objective: str) -> Any:
    """Trials best first ('maximize validation:auc', 'minimize validation:rmse'); those without a value last."""
    sign = 1 if objective.startswith("minimize") else -1
    return lambda trial: (trial["objective"] is None, sign * (trial["objective"] or 0.0))


def class_rows(evaluation: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """The classes' part of evaluation.json as rows: binary's confusion matrix; multiclass's (a row per true class)
    and its recall per class. Nothing for regression."""
    matrix = evaluation.get("confusion_matrix", {})
    rows: list[tuple[str, Any]] = []
    if matrix.get("matrix") and evaluation.get("task", "binary") == "binary":
        rows.append((f"{prefix}confusion matrix [[tn, fp], [fn, tp]]", str(matrix["matrix"])))
    elif matrix.get("matrix"):
        labels = matrix.get("labels") or []
        rows += [
            (
                f"{prefix}confusion matrix, true {label}",
                ", ".join(f"{p} {n}" for p, n in zip(labels, counts, strict=False)),
            )
            for label, counts in zip(labels, matrix["matrix"], strict=False)
        ]
    recall = evaluation.get("recall_per_class", {})
    rows += [(f"{prefix}recall of {name}", "" if value is None else f"{value:.4f}") for name, value in recall.items()]
    return rows


def tuning_result_view(result: Any) -> RenderableType:
    rows = [
        (
            trial["job_name"],
            trial["status"],
            "" if trial["objective"] is None else f"{trial['objective']:.4f}",
            ", ".join(f"{k}={v}" for k, v in sorted(trial["hyperparameters"].items())),
        )
        for trial in sorted(result.trials, key=_best_first(result.objective))
    ]
    best = f"best: {result.best_job} ({result.best_value:.4f})" if result.best_value is not None else "no best trial"
    return Group(
        table(
            f"Tuning job {result.job_name}: {result.status}, {result.objective}",
            ["trial", "status", "objective", "hyperparameters"],
            rows,
        ),
        best,
    )
