"""How a pipeline run looks to a person: a line per stage on stderr (with a spinner while a job or endpoint is
waited for), and a summary table of the stages on stdout."""

from __future__ import annotations

import re
from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text

from mlops_cli.ui.output import Output
from mlops_cli.ui.tables import table

STATUS_STYLES = {"ran": "green", "skipped": "dim", "failed": "bold red", "waiting": "yellow"}
STATUS_LABELS = {"ran": "ran", "skipped": "skipped (up to date)", "failed": "failed", "waiting": "waiting"}
_METRIC = re.compile(r"^(train|validation|test)_[a-z0-9_]+$")


class PipelineProgress:
    """Implements the pipeline's observer. Every stage's start and end is a line (so cron's log shows them);
    waits get the jobs' spinner (mlops_cli.ui.jobs.JobWatch), with the job's log when `show_logs`."""

    def __init__(self, out: Output, *, show_logs: bool = False) -> None:
        self.out = out
        self.show_logs = show_logs
        self._watch: Any = None

    def __enter__(self) -> PipelineProgress:
        return self

    def __exit__(self, *_: object) -> None:
        self._stop_watch()

    def _stop_watch(self) -> None:
        if self._watch is not None:
            self._watch.__exit__(None, None, None)
            self._watch = None

    def __call__(self, event: Any) -> None:
        from mlops_cli.services import pipeline

        if isinstance(event, pipeline.JobProgress):
            if self._watch is None:
                from mlops_cli.ui.jobs import JobWatch

                self._watch = JobWatch(self.out, show_logs=self.show_logs).__enter__()
            self._watch(event.state, event.lines)
        elif isinstance(event, pipeline.StageStarted):
            self.out.info(
                f"[bold]▶ {event.stage}[/bold] [dim]({event.number}/{event.total}, at {event.elapsed:.1f} s)[/dim]"
            )
        elif isinstance(event, pipeline.StageEnded):
            self._stop_watch()
            result = event.result
            style = STATUS_STYLES.get(result.status, "")
            label = STATUS_LABELS.get(result.status, result.status)
            summary = _short(result.summary).replace("[", r"\[")
            self.out.info(
                f"[{style}]■ {result.stage}: {label}[/{style}] in {result.seconds:.1f} s "
                f"[dim](at {event.elapsed:.1f} s)[/dim]: {summary}"
            )
            for warning in result.warnings:
                self.out.warn(warning.replace("[", r"\["))
            if result.hint and result.status == "waiting":
                self.out.info(f"  next: {result.hint}".replace("[", r"\["))
        elif isinstance(event, pipeline.Note):
            self.out.info(f"  {event.message}".replace("[", r"\["))


def _short(text: str, limit: int = 240) -> str:
    """The first line, at most `limit` characters (a job's failure reason can hold a whole traceback)."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


# How a metric is said in a sentence; a name not here is said as it is written
METRIC_LABELS = {
    "auc": "AUC",
    "f1": "F1",
    "macro_f1": "macro-F1",
    "logloss": "log loss",
    "rmse": "RMSE",
    "mae": "MAE",
    "r2": "R²",
}


def metric_label(name: str) -> str:
    return METRIC_LABELS.get(name, name.replace("_", " "))


def _clock(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes)}:{secs:04.1f}" if minutes else f"{secs:.1f} s"


def figures_text(figures: dict[str, Any]) -> str:
    """The key figures of a stage, in a few words."""
    f = figures
    parts: list[str] = []
    if "rows_in" in f:
        parts.append(f"rows {f['rows_in']} in, {f['rows_out']} out, {f['rejected']} rejected")
    if f.get("files_uploaded"):
        parts.append(f"{f['files_uploaded']} file(s), {f.get('bytes', 0)} bytes")
    for key, value in f.items():
        if _METRIC.match(key) and isinstance(value, float):
            split, _, name = key.partition("_")
            parts.append(f"{split} {metric_label(name)} {value:.4f}")
    if f.get("trials"):
        parts.append(f"{f['trials']} trials")
    if f.get("model_version") is not None:
        approval = f" ({f['approval']})" if f.get("approval") else ""
        parts.append(f"model version {f['model_version']}{approval}")
    if f.get("endpoint"):
        parts.append(f"endpoint {f['endpoint']}")
    if f.get("api_url"):
        parts.append(f"API {f['api_url']}")
    if f.get("lb_dns_name"):
        parts.append(f"LB {f['lb_dns_name']}" + (f" ({f['lb_url']})" if f.get("lb_url") else ""))
    if "predictions" in f:
        agree = "API = endpoint" if f.get("api_matches_endpoint") else "API ≠ endpoint"
        if "lb_matches_endpoint" in f:
            agree += ", LB = endpoint" if f["lb_matches_endpoint"] else ", LB ≠ endpoint"
        parts.append(f"{f['predictions']} predictions ({agree})")
    return "; ".join(parts)


def summary_view(result: Any) -> RenderableType:
    rows = []
    said = False  # which model the run took, and why: said at the first stage that took it
    for stage in result.stages:
        style = STATUS_STYLES.get(stage.status, "")
        details = _short(stage.summary)
        if figures := figures_text(stage.figures):
            details = f"{details}\n{figures}" if details else figures
        if stage.figures.get("chosen") and not said:
            details += f"\nmodel: {stage.figures['training_job']} ({stage.figures['chosen']})"
            said = True
        if stage.hint and stage.status in ("waiting", "failed"):
            details += f"\nnext: {stage.hint}"
        rows.append(
            (
                stage.stage,
                Text(STATUS_LABELS.get(stage.status, stage.status), style=style),
                _clock(stage.seconds),
                details,
            )
        )
    title = f"Pipeline {result.project}/{result.environment}"
    summary = table(title, ["stage", "result", "duration", "what it did"], rows)
    if result.error:
        footer = Text(
            f"Stopped at {result.error.stage} after {_clock(result.seconds)} (exit {result.error.exit_code}).",
            style="red",
        )
    else:
        waiting = [s.stage for s in result.stages if s.status == "waiting"]
        done = f"Done in {_clock(result.seconds)}"
        footer = Text(f"{done}; waiting: {', '.join(waiting)}." if waiting else f"{done}.")
    return Group(summary, footer)
