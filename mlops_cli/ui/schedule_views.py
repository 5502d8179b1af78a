"""How scheduled preprocessing looks to a person: what apply changed, the schedule's state and the last runs."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType

from mlops_cli.ui.tables import table


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if hasattr(value, "strftime") else str(value or "")


def apply_view(result: Any) -> RenderableType:
    rows = [(c.name, str(c.action)) for c in result.controls]
    title = f"Pipeline {result.pipeline} on {result.expression}" + (f", and rule {result.rule}" if result.rule else "")
    return table(title, ["resource", "action"], rows)


def status_view(status: Any) -> RenderableType:
    if not status.pipeline_exists and not status.expression:
        return "There is no schedule yet. Create it with `mlops preprocess schedule apply`."
    head = [
        (
            "schedule",
            f"{status.schedule}: {status.expression or '-'} ({status.timezone or '-'}) {status.state or 'absent'}",
        ),
        ("next runs", ", ".join(_when(t) for t in status.next_runs) or "-"),
        ("rule", f"{status.rule} {status.rule_state}" if status.rule else "-"),
    ]
    rows = []
    for execution in status.executions:
        rows.append(
            (
                execution.arn.rsplit("/", 1)[-1],
                execution.status,
                _when(execution.started),
                "",
                "",
                execution.failure_reason or "",
            )
        )
        for step in execution.steps:
            seconds = "" if step.seconds is None else f"{step.seconds:.0f}s"
            rows.append(
                ("  " + step.name, step.status, _when(step.started), step.job or "", seconds, step.failure_reason or "")
            )
    return Group(
        table(f"Scheduled preprocessing ({status.pipeline})", [], head),
        table("Last executions", ["execution / step", "status", "started", "job", "took", "reason"], rows),
    )
