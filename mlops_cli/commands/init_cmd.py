"""`mlops init DIR --data FILE.csv --target COLUMN`: a new project from a CSV file nobody here wrote."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from mlops_cli.commands.common import root_options
from mlops_cli.ui.output import Output

TASKS = ("binary", "multiclass", "regression")


def init(
    ctx: typer.Context,
    directory: Path = typer.Argument(..., help="The project folder to create (it may exist; no file is overwritten)."),
    data: Path = typer.Option(..., "--data", help="The CSV file: UTF-8, comma-separated, a header row."),
    target: str = typer.Option(..., "--target", help="The column the model learns to predict."),
    key: str | None = typer.Option(
        None,
        "--key",
        help="The column that identifies a row. Default: the first one whose values are all there "
        "and all different (id-like names first).",
    ),
    task: str | None = typer.Option(
        None,
        "--task",
        help="binary | multiclass | regression. Default: from the target: yes/no or 2 categories → binary, 3+ "
        "categories → multiclass, numbers → regression.",
        show_default=False,
    ),
    name: str | None = typer.Option(None, "--name", help="The dataset's name. Default: the CSV file's name."),
    scripts: bool = typer.Option(
        False, "--scripts", help="Copy the shipped scripts into DIR/scripts/ and point the config at them, to edit."
    ),
    json_output: bool = typer.Option(False, "--json", help="Print the result as JSON on stdout, nothing else."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only results and errors."),
) -> None:
    """A new project from a CSV file: its configs, with the dataset's schema inferred, and the file as a first batch.

    Writes DIR/configs/{base,local,dev,prod}.yaml and DIR/data/<name>/ingest_date=<today>/<file>.csv (with
    --scripts, DIR/scripts/ too); then `cd DIR && mlops pipeline run -c configs/local.yaml` runs every stage.

    The schema is read from the first 100,000 rows (at most 32 MB of text), with preprocessing's rules (values
    stripped, an empty field is a missing value): bool when every value is yes/no, true/false or 1/0; int when
    every value is a whole number; float when every value is a number; category for other text with at most 20
    distinct values, each seen at least twice on average; string otherwise. A column is nullable when a value is
    missing, and gets min: 0 when no value is negative (no other bounds: one file's extremes would reject the next
    one's data). Check the schema in configs/base.yaml before the first run.

    Nothing is written when something is wrong (exit 2): a file that is not UTF-8 CSV, duplicate or unusable
    column names, a target that is not a column or has empty values, no column that can be the key, a file of the
    project that exists already."""
    from mlops_cli.errors import UsageError
    from mlops_cli.services.scaffold.project import InitRequest, init_project
    from mlops_cli.ui.init_views import init_view

    options = root_options(ctx)
    out = Output(json_mode=options.json or json_output, quiet=options.quiet or quiet)
    if task is not None and task not in TASKS:
        raise UsageError(f"--task {task!r} is not one of {', '.join(TASKS)}.")
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory} is a file, not a folder.")
    request = InitRequest(
        directory=directory,
        data=data,
        target=target,
        key=key,
        task=task,  # type: ignore[arg-type]  # checked against TASKS above
        name=name,
        scripts=scripts,
    )
    result = init_project(request)
    for warning in result.warnings:
        out.warn(warning)
    out.result(result, lambda: init_view(result))


def register(app: Any) -> None:
    app.command("init", no_args_is_help=True)(init)
